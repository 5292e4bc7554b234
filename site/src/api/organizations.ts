import { request, seg } from "./http";
import type { AssignableRole, CreateOrganizationRequest, Organization, OrganizationMember } from "./types";

const base = "/api/v2/organizations";

export function listOrganizations(): Promise<Organization[]> {
  return request("GET", base);
}

/** `org` is an id or a name. */
export function getOrganization(org: string): Promise<Organization> {
  return request("GET", `${base}/${seg(org)}`);
}

export function createOrganization(req: CreateOrganizationRequest): Promise<Organization> {
  return request("POST", base, { body: req });
}

/** Every member, by username: the server answers a page at a time, so this follows the pages. */
export async function listMembers(org: string): Promise<OrganizationMember[]> {
  const page = 100;
  const all: OrganizationMember[] = [];
  for (;;) {
    const after = all.length > 0 ? `&after_id=${all[all.length - 1]!.user_id}` : "";
    const got = await request<OrganizationMember[]>("GET", `${base}/${seg(org)}/members?limit=${page}${after}`);
    all.push(...got);
    if (got.length < page) return all;
  }
}

/** `user` is an id or a username. */
export function addMember(org: string, user: string): Promise<OrganizationMember> {
  return request("POST", `${base}/${seg(org)}/members/${seg(user)}`);
}

export async function removeMember(org: string, user: string): Promise<void> {
  await request<unknown>("DELETE", `${base}/${seg(org)}/members/${seg(user)}`);
}

export function assignableRoles(org: string): Promise<AssignableRole[]> {
  return request("GET", `${base}/${seg(org)}/members/roles`);
}

/** Replaces the member's org roles with `roles`. */
export function updateMemberRoles(org: string, user: string, roles: string[]): Promise<OrganizationMember> {
  return request("PUT", `${base}/${seg(org)}/members/${seg(user)}/roles`, { body: { roles } });
}
