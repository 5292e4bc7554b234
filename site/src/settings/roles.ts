// Role editing for a member row: the checkboxes start from the member's current org roles and
// only assignable roles can be toggled; what is saved is the full list (the PUT replaces it).

import type { AssignableRole, OrganizationMember } from "../api/types";

export function memberRoleNames(member: OrganizationMember): string[] {
  return member.roles.filter((r) => r.organization_id === member.organization_id).map((r) => r.name).sort();
}

/** Adds or removes `name`, unless the caller may not assign it. Returns a sorted list. */
export function toggleRole(current: string[], name: string, roles: AssignableRole[]): string[] {
  if (!roles.some((r) => r.name === name && r.assignable)) return current;
  const next = current.includes(name) ? current.filter((n) => n !== name) : [...current, name];
  return next.sort();
}

export function sameRoles(a: string[], b: string[]): boolean {
  const x = [...a].sort();
  const y = [...b].sort();
  return x.length === y.length && x.every((n, i) => n === y[i]);
}

/** `organization-user-admin` → `User admin`; the org prefix says nothing on an org page. */
export function roleLabel(name: string): string {
  const words = name.replace(/^organization-/, "").split("-").filter(Boolean);
  const text = words.join(" ");
  return text ? text.charAt(0).toUpperCase() + text.slice(1) : name;
}
export const roleDescriptions: Record<string, string> = {
  owner: "Everything in the deployment: users, organizations, providers, models and all chats.",
  auditor: "Reads everything in the deployment, including the audit log; changes nothing.",
  "user-admin": "Creates, suspends and edits users and their organization memberships.",
  "template-admin": "Manages templates in every organization and reads all workspaces.",
  "organization-admin": "Everything in this organization: members, roles, templates, workspaces and chats.",
  "organization-auditor": "Reads this organization's chats, workspaces and audit log; changes nothing.",
  "organization-user-admin": "Adds and removes members of this organization and assigns their roles (not admin).",
  "organization-template-admin": "Manages this organization's templates and reads its workspaces.",
  "organization-workspace-creation-ban": "May not create workspaces in this organization.",
  "agents-access": "May start and use agent chats in this organization.",
};

export function describeRole(name: string): string | undefined {
  return roleDescriptions[name];
}
