import { describe, expect, it } from "vitest";
import type { AssignableRole, OrganizationMember } from "../api/types";
import { memberRoleNames, roleLabel, sameRoles, toggleRole } from "./roles";

function role(name: string, assignable: boolean): AssignableRole {
  return {
    name,
    display_name: name,
    organization_id: "o1",
    site_permissions: [],
    organization_permissions: [],
    organization_member_permissions: [],
    user_permissions: [],
    assignable,
    built_in: true,
  };
}

const roles: AssignableRole[] = [
  role("organization-admin", false),
  role("agents-access", true),
  role("organization-auditor", true),
];

describe("member roles", () => {
  it("lists the member's roles in this org only, sorted", () => {
    const m: OrganizationMember = {
      organization_id: "o1",
      user_id: "u1",
      username: "bob",
      name: "",
      email: "bob@example.com",
      avatar_url: "",
      created_at: "",
      updated_at: "",
      roles: [
        { name: "organization-auditor", display_name: "Organization Auditor", organization_id: "o1" },
        { name: "agents-access", display_name: "Agents Access", organization_id: "o1" },
        { name: "organization-admin", display_name: "Organization Admin", organization_id: "o2" },
      ],
      global_roles: [{ name: "member", display_name: "Member", organization_id: "" }],
    };
    expect(memberRoleNames(m)).toEqual(["agents-access", "organization-auditor"]);
  });

  it("toggles assignable roles on and off", () => {
    expect(toggleRole([], "agents-access", roles)).toEqual(["agents-access"]);
    expect(toggleRole(["agents-access", "organization-auditor"], "agents-access", roles)).toEqual(["organization-auditor"]);
  });

  it("refuses to toggle a role the caller may not assign, or an unknown one", () => {
    const current = ["organization-admin"];
    expect(toggleRole(current, "organization-admin", roles)).toBe(current);
    expect(toggleRole(current, "made-up", roles)).toBe(current);
  });

  it("compares role lists ignoring order", () => {
    expect(sameRoles(["a", "b"], ["b", "a"])).toBe(true);
    expect(sameRoles(["a"], ["a", "b"])).toBe(false);
  });

  it("labels roles without the organization prefix", () => {
    expect(roleLabel("organization-user-admin")).toBe("User admin");
    expect(roleLabel("agents-access")).toBe("Agents access");
    expect(roleLabel("organization-workspace-creation-ban")).toBe("Workspace creation ban");
  });
});
