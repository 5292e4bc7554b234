import { describe, expect, it } from "vitest";
import type { AssignableRole, OrganizationMember } from "../api/types";
import { memberRoleNames, roleLabel, sameRoles, toggleRole } from "./roles";

const roles: AssignableRole[] = [
  { name: "organization-admin", organization_id: "o1", assignable: false },
  { name: "agents-access", organization_id: "o1", assignable: true },
  { name: "organization-auditor", organization_id: "o1", assignable: true },
];

describe("member roles", () => {
  it("lists the member's roles in this org only, sorted", () => {
    const m: OrganizationMember = {
      organization_id: "o1",
      user_id: "u1",
      username: "bob",
      created_at: "",
      roles: [
        { name: "organization-auditor", organization_id: "o1" },
        { name: "agents-access", organization_id: "o1" },
        { name: "organization-admin", organization_id: "o2" },
      ],
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
