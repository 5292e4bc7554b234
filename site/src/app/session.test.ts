import { describe, expect, it } from "vitest";
import type { User } from "../api/types";
import { redirectFor } from "./session";

const user: User = {
  id: "u1",
  username: "alice",
  email: "a@example.com",
  name: "",
  avatar_url: "",
  status: "active",
  login_type: "password",
  roles: [
    { name: "owner", display_name: "Owner", organization_id: "" },
    { name: "organization-admin", display_name: "Organization Admin", organization_id: "o1" },
  ],
  organization_ids: ["o1"],
  created_at: "",
  updated_at: "",
  last_seen_at: "",
};

describe("redirectFor", () => {
  it("sends everyone to /setup until the first user exists", () => {
    expect(redirectFor({ status: "setup" }, "/agents")).toBe("/setup");
    expect(redirectFor({ status: "setup" }, "/login")).toBe("/setup");
    expect(redirectFor({ status: "setup" }, "/setup")).toBeNull();
  });

  it("sends signed-out visitors to /login", () => {
    expect(redirectFor({ status: "signed-out" }, "/settings/organizations")).toBe("/login?redirect=%2Fsettings%2Forganizations");
    expect(redirectFor({ status: "signed-out" }, "/agents/c1", "?x=1")).toBe("/login?redirect=%2Fagents%2Fc1%3Fx%3D1");
    expect(redirectFor({ status: "signed-out" }, "/")).toBe("/login");
    expect(redirectFor({ status: "signed-out" }, "/setup")).toBe("/login");
    expect(redirectFor({ status: "signed-out" }, "/login")).toBeNull();
  });

  it("sends signed-in users away from /, /login and /setup to the agents page", () => {
    const s = { status: "signed-in" as const, user };
    expect(redirectFor(s, "/")).toBe("/agents");
    expect(redirectFor(s, "/login")).toBe("/agents");
    // The deep link a signed-out visitor came with, but only a path on this site.
    expect(redirectFor(s, "/login", "?redirect=%2Fagents%2Fc1")).toBe("/agents/c1");
    for (const evil of ["https://evil.example", "//evil.example", "/\\evil.example", "javascript:alert(1)", "/login"]) {
      expect(redirectFor(s, "/login", `?redirect=${encodeURIComponent(evil)}`)).toBe("/agents");
    }
    expect(redirectFor(s, "/setup")).toBe("/agents");
    expect(redirectFor(s, "/settings/organizations/acme")).toBeNull();
  });

  it("does not redirect while loading or after a boot error", () => {
    expect(redirectFor({ status: "loading" }, "/x")).toBeNull();
    expect(redirectFor({ status: "error", error: new Error() }, "/x")).toBeNull();
  });
});

