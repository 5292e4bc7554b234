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
    // A detail that repeats the message or a field's error would be shown twice.
    const repeats = error.detail !== undefined && (error.detail === error.message || error.validations.some((v) => v.detail === error.detail));
    // A field error that only repeats the message (the catalogue names the field of some errors)
    // adds nothing either.
    const validations = error.validations.filter((v) => v.detail !== error.message);
    return { message: error.message, detail: repeats ? undefined : error.detail, validations };
  }
  if (error instanceof Error) return { message: error.message, validations: [] };
  return { message: String(error), validations: [] };
}
