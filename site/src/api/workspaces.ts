import { ApiError, request, seg } from "./http";
import type { CreateTemplateRequest, FullWorkspace, Template, Workspace, WorkspaceBuildLog, WorkspacesResponse } from "./types";

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

/** A page of the workspaces the caller may see, newest first (`q` as Coder's: `owner:me`, …). */
export function listWorkspaces(q = "", limit = 100): Promise<WorkspacesResponse> {
  const params = new URLSearchParams({ limit: String(limit) });
  if (q) params.set("q", q);
  return request("GET", `/api/v2/workspaces?${params}`);
}

/** Creates a workspace of `template` for the caller in `organization`; its first build starts. */
export function createWorkspace(organization: string, templateId: string, name: string): Promise<FullWorkspace> {
  return request("POST", `/api/v2/organizations/${seg(organization)}/members/me/workspaces`, { body: { template_id: templateId, name } });
}

/** Starts, stops or deletes a workspace by queueing a build. */
export function buildWorkspace(id: string, transition: "start" | "stop" | "delete"): Promise<unknown> {
  return request("POST", `/api/v2/workspaces/${seg(id)}/builds`, { body: { transition } });
}

/** A build's log so far. */
export function buildLogs(buildId: string): Promise<WorkspaceBuildLog[]> {
  return request("GET", `/api/v2/workspacebuilds/${seg(buildId)}/logs`);
}

/** Every template the caller may see, by organization then name. */
export function listTemplates(): Promise<Template[]> {
  return request("GET", "/api/v2/templates");
}

export function createTemplate(organization: string, req: CreateTemplateRequest): Promise<Template> {
  return request("POST", `/api/v2/organizations/${seg(organization)}/templates`, { body: req });
}
