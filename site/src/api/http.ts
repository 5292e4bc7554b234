// The one place that talks HTTP. Every call is same-origin with the session cookie the server set
// at login, and every non-2xx answer becomes an `ApiError` carrying the server's message and detail.

import type { ErrorResponse, ValidationError } from "./types";

export class ApiError extends Error {
  readonly status: number;
  readonly detail: string | undefined;
  readonly validations: ValidationError[];

  constructor(status: number, body: ErrorResponse) {
    super(body.message);
    this.name = "ApiError";
    this.status = status;
    this.detail = body.detail ?? undefined;
    this.validations = body.validations ?? [];
  }
}

/** The fetch the API modules use; tests replace it with `setFetch`. */
let doFetch: typeof fetch = (input, init) => fetch(input, init);

export function setFetch(f: typeof fetch): void {
  doFetch = f;
}

/** Called when a signed-in call answers 401: the session expired or was revoked elsewhere. */
let onUnauthorized: () => void = () => {};

export function setUnauthorizedHandler(f: () => void): void {
  onUnauthorized = f;
}

/** Where a 401 is an ordinary answer (wrong password, not signed in yet), not a lost session. */
const unauthorizedIsExpected = new Set(["/api/v2/users/login", "/api/v2/users/me"]);

/** Turns a failed response into an ApiError, even when its body is not the JSON error shape. */
async function toError(res: Response): Promise<ApiError> {
  let text = "";
  try {
    text = await res.text();
  } catch {
    // The body could not be read; the status line is all we have.
  }
  try {
    const body = JSON.parse(text) as Partial<ErrorResponse>;
    if (body && typeof body.message === "string") {
      return new ApiError(res.status, {
        message: body.message,
        detail: typeof body.detail === "string" ? body.detail : undefined,
        validations: Array.isArray(body.validations) ? body.validations : undefined,
      });
    }
  } catch {
    // Not JSON (a proxy error page, for example).
  }
  const statusText = res.statusText || `HTTP ${res.status}`;
  return new ApiError(res.status, { message: `Request failed: ${statusText}.`, detail: text.trim() || undefined });
}

export interface RequestOptions {
  body?: unknown;
}

/** Sends a request and decodes the JSON answer; `undefined` for 204 or an empty body. */
export async function request<T>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
  const init: RequestInit = { method, credentials: "same-origin", headers: { Accept: "application/json" } };
  if (opts.body !== undefined) {
    init.headers = { ...init.headers, "Content-Type": "application/json" };
    init.body = JSON.stringify(opts.body);
  }
  let res: Response;
  try {
    res = await doFetch(path, init);
  } catch (e) {
    throw new ApiError(0, { message: "Could not reach the server.", detail: e instanceof Error ? e.message : String(e) });
  }
  if (!res.ok) {
    if (res.status === 401 && !unauthorizedIsExpected.has(path)) onUnauthorized();
    throw await toError(res);
  }
  if (res.status === 204) {
    return undefined as T;
  }
  const text = await res.text();
  return (text ? JSON.parse(text) : undefined) as T;
}

/** A path segment, escaped. */
export function seg(s: string): string {
  return encodeURIComponent(s);
}
