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
