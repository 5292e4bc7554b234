import { describe, expect, it } from "vitest";
import type { GetUsersResponse, OrganizationMember, User } from "../api/types";
import { MAX_SUGGESTIONS, memberSuggestions, userSearch } from "./addMember";

function user(id: string, status: User["status"] = "active"): User {
  return {
    id,
    username: `user-${id}`,
    email: `${id}@example.com`,
    name: "",
    avatar_url: "",
    status,
    login_type: "password",
    roles: [{ name: "member", display_name: "Member", organization_id: "" }],
    organization_ids: [],
    created_at: "",
    updated_at: "",
    last_seen_at: "0001-01-01T00:00:00Z",
  };
}

function member(user_id: string): OrganizationMember {
  return {
    organization_id: "o",
    user_id,
    username: `user-${user_id}`,
    name: "",
    email: "",
    avatar_url: "",
    roles: [],
    global_roles: [],
    created_at: "",
    updated_at: "",
  };
}

const page = (users: User[]): GetUsersResponse => ({ users, count: users.length + 100 });

describe("memberSuggestions", () => {
  it("offers active users who are not members yet, from the users list's page", () => {
    const p = page([user("a"), user("b"), user("c", "suspended"), user("d")]);
    expect(memberSuggestions(p, [member("b")])).toEqual(["user-a", "user-d"]);
  });

  it("shows at most a few", () => {
    const p = page(Array.from({ length: 20 }, (_, i) => user(String(i))));
    expect(memberSuggestions(p, [])).toHaveLength(MAX_SUGGESTIONS);
  });
});

describe("userSearch", () => {
  it("sends typed words and never a filter", () => {
    expect(userSearch("  ann  smith ")).toBe("ann smith");
    expect(userSearch("status:suspended")).toBe("status suspended");
    expect(userSearch("")).toBe("");
  });
});
