// Which organizations a model config is for: the rule the server applies, for the organization
// Models page (`organization_ids` null = every organization).

export interface ModelScope {
  enabled?: boolean;
  organization_id?: string | null;
  organization_ids?: string[] | null;
}

/** Whether chats in `org` may use the model (enabled or not). */
export function availableIn(m: ModelScope, org: string): boolean {
  if (m.organization_id) return m.organization_id === org;
  return m.organization_ids == null || m.organization_ids.includes(org);
}

/** The `organization_ids` that add `org` (unchanged when every organization has it). */
export function withOrg(m: ModelScope, org: string): string[] | null {
  if (m.organization_ids == null) return null;
  return m.organization_ids.includes(org) ? m.organization_ids : [...m.organization_ids, org];
}

/** The `organization_ids` without `org`; "every organization" becomes every other one of `all`. */
export function withoutOrg(m: ModelScope, org: string, all: string[]): string[] {
  return (m.organization_ids ?? all).filter((o) => o !== org);
}
