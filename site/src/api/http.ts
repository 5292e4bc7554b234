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
  return new ApiError(res.status, { message: `Request failed: ${statusText}.`, detail: plainDetail(text, res.headers.get("content-type")) });
}

/**
 * What to show of a body that is not agentry's error shape. A proxy or load balancer in front of
 * the server answers with an HTML page: its title says what happened, its markup is noise.
 */
export function plainDetail(text: string, contentType: string | null): string | undefined {
  const body = text.trim();
  if (body === "") return undefined;
  const html = /html/i.test(contentType ?? "") || /^<(!doctype|html|head|body)\b/i.test(body);
  if (!html) return body.length > 500 ? `${body.slice(0, 500)}…` : body;
  const said = htmlTitle(body) || htmlText(body);
  const note = "The answer came from something between you and the agentry server (a proxy?), not from agentry.";
  return said ? `${said} — ${note}` : note;
}

// Just enough of an HTML page's text without a DOM (the unit tests run under Node).
function htmlTitle(html: string): string {
  return decode(/<title[^>]*>([\s\S]*?)<\/title>/i.exec(html)?.[1] ?? "").trim();
}

function htmlText(html: string): string {
  const text = decode(
    html
      .replace(/<(script|style)[^>]*>[\s\S]*?<\/\1>/gi, " ")
      .replace(/<[^>]+>/g, " ")
      .replace(/\s+/g, " "),
  ).trim();
  return text.length > 200 ? `${text.slice(0, 200)}…` : text;
}

function decode(s: string): string {
  return s.replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&amp;/g, "&");
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
