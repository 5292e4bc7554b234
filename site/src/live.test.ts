// Runs the API modules against a real, freshly started agentry server:
//
//   AGENTRY_URL=http://127.0.0.1:3000 npm test
//
// Skipped when AGENTRY_URL is unset. The server must have no users yet (this creates the first
// one). Node's fetch keeps no cookies, so a tiny cookie jar stands in for the browser: the test
// thereby checks that login's HttpOnly session cookie alone authenticates later calls (with the
// page's Origin, as a browser sends it).

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadChatCreatePermissions } from "./agents/data";
import { createChat } from "./api/chats";
import { ApiError, request, setFetch } from "./api/http";
import {
  addMember,
  assignableRoles,
  createOrganization,
  listMembers,
  listOrganizations,
  removeMember,
  updateMemberRoles,
} from "./api/organizations";
import type { User } from "./api/types";
import { createFirstUser, firstUserExists, login, logout, me } from "./api/users";
import { listMyWorkspaces } from "./api/workspaces";

const base = process.env.AGENTRY_URL;

describe.skipIf(!base)("against a live server", () => {
  const cookies = new Map<string, string>();
  const suffix = Math.random().toString(36).slice(2, 8);
  const owner = { email: `owner-${suffix}@example.com`, username: `owner-${suffix}`, password: `pw-${suffix}-Secret!1` };

  beforeAll(() => {
    setFetch(async (input, init) => {
      const headers = new Headers(init?.headers);
      if (cookies.size) headers.set("Cookie", [...cookies].map(([k, v]) => `${k}=${v}`).join("; "));
      // Like a browser on the deployment's own page: cookie-authenticated writes must be
      // same-origin.
      headers.set("Origin", new URL(base ?? "").origin);
      const res = await fetch(`${base}${String(input)}`, { ...init, headers });
      for (const c of res.headers.getSetCookie()) {
        const [pair] = c.split(";");
        const [k, v] = (pair ?? "").split("=");
        if (k && v) cookies.set(k.trim(), v);
        else if (k) cookies.delete(k.trim());
      }
      return res;
    });
  });
  afterAll(() => setFetch((input, init) => fetch(input, init)));

  it("sets up the first user and signs in with the session cookie", async () => {
    expect(await firstUserExists()).toBe(false);
    const created = await createFirstUser({ ...owner, name: "Owner" });
    expect(created.organization_id).toBeTruthy();
    expect(await firstUserExists()).toBe(true);
    expect(await me()).toBeNull();
    await login({ email: owner.email, password: owner.password });
    expect(cookies.has("agentry_session_token")).toBe(true);
    expect((await me())?.username).toBe(owner.username);
  });

  it("shows the server's message and detail for a wrong password", async () => {
    const err = await login({ email: owner.email, password: "wrong" }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError).status).toBe(401);
    expect((err as ApiError).message).not.toBe("");
  });

  it("creates an organization and manages a member's roles", async () => {
    const org = await createOrganization({ name: `team-${suffix}`, display_name: `Team ${suffix}` });
    const orgs = await listOrganizations();
    expect(orgs.some((o) => o.id === org.id)).toBe(true);
    expect(orgs.some((o) => o.is_default)).toBe(true);

    const bob = await request<User>("POST", "/api/v2/users", {
      body: { email: `bob-${suffix}@example.com`, username: `bob-${suffix}`, password: `pw-${suffix}-Bob!2` },
    });
    const added = await addMember(org.name, bob.username);
    expect(added.user_id).toBe(bob.id);

    const roles = await assignableRoles(org.id);
    expect(roles.length).toBeGreaterThan(0);
    const grantable = roles.find((r) => r.name === "agents-access" && r.assignable);
    expect(grantable).toBeDefined();
    const updated = await updateMemberRoles(org.id, bob.id, ["agents-access"]);
    expect(updated.roles.map((r) => r.name)).toEqual(["agents-access"]);
    const members = await listMembers(org.id);
    expect(members.find((m) => m.user_id === bob.id)?.roles.map((r) => r.name)).toEqual(["agents-access"]);

    await removeMember(org.id, bob.id);
    expect((await listMembers(org.id)).some((m) => m.user_id === bob.id)).toBe(false);
  });

  it("answers one chat-create check per organization", async () => {
    const p = await loadChatCreatePermissions();
    expect(Object.keys(p.allowed).sort()).toEqual(p.organizations.map((o) => o.id).sort());
    for (const v of Object.values(p.allowed)) expect(typeof v).toBe("boolean");
  });

  it("lists workspaces (empty while the server has none) and creates a chat or refuses with a message", async () => {
    expect(Array.isArray(await listMyWorkspaces())).toBe(true);
    const orgs = await listOrganizations();
    const dflt = orgs.find((o) => o.is_default)!;
    try {
      const chat = await createChat({ organization_id: dflt.id, content: [{ type: "text", text: "hello" }] });
      expect(chat.organization_id).toBe(dflt.id);
    } catch (e) {
      // Before the chat API lands the route does not exist; afterwards a refusal (no model
      // configured, say) must still come back in the error shape the UI shows.
      expect(e).toBeInstanceOf(ApiError);
      expect((e as ApiError).message).not.toBe("");
    }
  });

  it("signs out", async () => {
    await logout();
    expect(await me()).toBeNull();
  });
});
