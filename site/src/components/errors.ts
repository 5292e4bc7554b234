import { ApiError } from "../api/http";
import type { ValidationError } from "../api/types";

export interface ErrorText {
  message: string;
  detail?: string;
  validations: ValidationError[];
}

/** What to show for a failure: the server's message, then its detail and field errors. */
export function errorText(error: unknown): ErrorText {
  if (error instanceof ApiError) {
    return { message: error.message, detail: error.detail, validations: error.validations };
  }
  if (error instanceof Error) return { message: error.message, validations: [] };
  return { message: String(error), validations: [] };
}
