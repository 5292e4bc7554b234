import { ApiError, request } from "./http";
import type { Workspace } from "./types";

/**
 * All of the caller's workspaces (`GET /api/v2/workspaces?q=owner:me`), fetched once and filtered
 * by organization in the browser.
 *
 * A 404 means this server has no workspace support yet, which for the UI is the same as having
 * no workspaces. The body is Coder's `{workspaces, count}`; a bare array is accepted too because
 * the server's shape for this route is not pinned in the spec yet.
 */
export async function listMyWorkspaces(): Promise<Workspace[]> {
  let body: unknown;
  try {
    body = await request<unknown>("GET", `/api/v2/workspaces?q=${encodeURIComponent("owner:me")}`);
  } catch (e) {
    if (e instanceof ApiError && e.status === 404) return [];
    throw e;
  }
  if (Array.isArray(body)) return body as Workspace[];
  if (body && typeof body === "object" && Array.isArray((body as { workspaces?: unknown }).workspaces)) {
    return (body as { workspaces: Workspace[] }).workspaces;
  }
  throw new ApiError(0, { message: "Unexpected workspace list from the server.", detail: JSON.stringify(body) });
}
