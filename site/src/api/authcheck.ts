import { request } from "./http";
import type { AuthorizationRequest, AuthorizationResponse, Organization } from "./types";

export function authcheck(req: AuthorizationRequest): Promise<AuthorizationResponse> {
  return request("POST", "/api/v2/authcheck", { body: req });
}

/** One check per organization, keyed by its id: may the caller create a chat they own there? */
export function chatCreateChecks(orgs: Organization[]): AuthorizationRequest {
  const checks: AuthorizationRequest["checks"] = {};
  for (const org of orgs) {
    checks[org.id] = {
      object: { resource_type: "chat", owner_id: "me", organization_id: org.id },
      action: "create",
    };
  }
  return { checks };
}

/**
 * Which organizations the caller may create chats in, as a map from org id to the answer.
 * With no organizations there is nothing to ask, so no request is sent.
 */
export async function chatCreatePermissions(orgs: Organization[]): Promise<AuthorizationResponse> {
  if (orgs.length === 0) return {};
  return authcheck(chatCreateChecks(orgs));
}

/** What the signed-in user may administer across the deployment; drives which pages they see. */
export interface SitePermissions {
  /** Providers and model configs (deployment-wide AI settings). */
  manageAi: boolean;
  /** Creating users, suspending them and assigning site roles. */
  manageUsers: boolean;
  /** Reading the audit log. */
  readAudit: boolean;
}

export async function sitePermissions(): Promise<SitePermissions> {
  const answer = await authcheck({
    checks: {
      manageAi: { object: { resource_type: "chat_provider" }, action: "update" },
      manageUsers: { object: { resource_type: "user" }, action: "create" },
      readAudit: { object: { resource_type: "audit_log" }, action: "read" },
    },
  });
  return { manageAi: answer.manageAi === true, manageUsers: answer.manageUsers === true, readAudit: answer.readAudit === true };
}
