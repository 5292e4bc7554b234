import { afterEach, describe, expect, it } from "vitest";
import { loadChatCreatePermissions } from "../agents/data";
import { chatCreateChecks } from "./authcheck";
import { createChat } from "./chats";
import { ApiError, plainDetail, setFetch, setUnauthorizedHandler } from "./http";
import { addMember, listOrganizations, removeMember, updateMemberRoles } from "./organizations";
import type { Organization } from "./types";
import { firstUserExists, listUsers, login, me, userOrganizations } from "./users";
import { listMyWorkspaces } from "./workspaces";

interface Call {
  method: string;
  url: string;
  body: unknown;
  credentials: RequestCredentials | undefined;
}

/** A fake server: answers each request from `routes` ("METHOD url" → [status, body]) and records it. */
function fakeServer(routes: Record<string, [number, unknown?]>): Call[] {
  const calls: Call[] = [];
  setFetch(async (input, init) => {
    const url = String(input);
    const method = init?.method ?? "GET";
    calls.push({
      method,
      url,
      body: typeof init?.body === "string" ? JSON.parse(init.body) : undefined,
      credentials: init?.credentials,
    });
    const route = routes[`${method} ${url}`];
    if (!route) return new Response(JSON.stringify({ message: "Route not found." }), { status: 404 });
    const [status, body] = route;
    return new Response(body === undefined ? null : typeof body === "string" ? body : JSON.stringify(body), { status });
  });
  return calls;
}

afterEach(() => setFetch((input, init) => fetch(input, init)));

const org = (id: string): Organization => ({
  id,
  name: id,
  display_name: id,
  description: "",
  icon: "",
  is_default: false,
  created_at: "",
  updated_at: "",
});

describe("http", () => {
  it("sends JSON with the session cookie (same-origin credentials)", async () => {
    const calls = fakeServer({ "POST /api/v2/users/login": [201, { session_token: "t" }] });
    await expect(login({ email: "a@example.com", password: "pw" })).resolves.toEqual({ session_token: "t" });
    expect(calls).toEqual([
      { method: "POST", url: "/api/v2/users/login", body: { email: "a@example.com", password: "pw" }, credentials: "same-origin" },
    ]);
  });

  it("turns an error body into an ApiError with message, detail and validations", async () => {
    fakeServer({
      "POST /api/v2/users/login": [400, { message: "Validation failed.", detail: "d", validations: [{ field: "email", detail: "bad" }] }],
    });
    const err = await login({ email: "", password: "" }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err).toMatchObject({ status: 400, message: "Validation failed.", detail: "d", validations: [{ field: "email", detail: "bad" }] });
  });

  it("describes a non-JSON failure by its status and body", async () => {
    fakeServer({ "GET /api/v2/users/me": [502, "Bad gateway from proxy"] });
    await expect(me()).rejects.toMatchObject({ status: 502, detail: "Bad gateway from proxy" });
  });

  it("shows a proxy's HTML error page by its title, never as markup", async () => {
    const page = "<!DOCTYPE html><html><head><title>403 Forbidden</title><style>b{}</style></head><body><h1>403 Forbidden</h1><hr>nginx</body></html>";
    fakeServer({ "GET /api/v2/organizations": [403, page] });
    const err = (await listOrganizations().catch((e: unknown) => e)) as ApiError;
    expect(err.status).toBe(403);
    expect(err.detail).toMatch(/^403 Forbidden — The answer came from something between you and the agentry server/);
    expect(err.detail).not.toContain("<");
  });

  it("reads an untitled HTML page's text and cuts long plain bodies", () => {
    expect(plainDetail("<html><body><p>Service &amp; more <b>down</b></p></body></html>", "text/html")).toMatch(/^Service & more down — /);
    expect(plainDetail("x".repeat(600), "text/plain")).toHaveLength(501);
    expect(plainDetail("  ", null)).toBeUndefined();
  });

  it("reports a lost session (401 on a signed-in call) but not a failed login or the me probe", async () => {
    let lost = 0;
    setUnauthorizedHandler(() => lost++);
    fakeServer({
      "GET /api/v2/organizations": [401, { message: "You are not signed in." }],
      "GET /api/v2/users/me": [401, { message: "You are not signed in." }],
      "POST /api/v2/users/login": [401, { message: "Incorrect email or password." }],
    });
    await expect(listOrganizations()).rejects.toMatchObject({ status: 401 });
    await expect(me()).resolves.toBeNull();
    await expect(login({ email: "a@example.com", password: "x" })).rejects.toMatchObject({ status: 401 });
    expect(lost).toBe(1);
    setUnauthorizedHandler(() => {});
  });

  it("reports an unreachable server as an ApiError", async () => {
    setFetch(() => Promise.reject(new TypeError("Failed to fetch")));
    await expect(me()).rejects.toMatchObject({ status: 0, message: "Could not reach the server.", detail: "Failed to fetch" });
  });
});

describe("users", () => {
  it("first user exists unless the server answers 404", async () => {
    fakeServer({ "GET /api/v2/users/first": [200, { message: "The first user has been created." }] });
    await expect(firstUserExists()).resolves.toBe(true);
    fakeServer({});
    await expect(firstUserExists()).resolves.toBe(false);
    fakeServer({ "GET /api/v2/users/first": [500, { message: "boom" }] });
    await expect(firstUserExists()).rejects.toThrow("boom");
  });

  it("lists users as Coder does: {users, count}, with the search and paging in the query", async () => {
    const page = { users: [], count: 42 };
    const calls = fakeServer({
      "GET /api/v2/users": [200, page],
      "GET /api/v2/users?q=ann+status%3Aactive&limit=20&offset=40": [200, page],
      "GET /api/v2/users/me/organizations": [200, [org("o1")]],
    });
    await expect(listUsers()).resolves.toEqual(page);
    await expect(listUsers({ q: "ann status:active", limit: 20, offset: 40 })).resolves.toEqual(page);
    await expect(userOrganizations("me")).resolves.toEqual([org("o1")]);
    expect(calls.map((c) => c.url)).toEqual([
      "/api/v2/users",
      "/api/v2/users?q=ann+status%3Aactive&limit=20&offset=40",
      "/api/v2/users/me/organizations",
    ]);
  });

  it("me is null when signed out (401)", async () => {
    fakeServer({ "GET /api/v2/users/me": [401, { message: "You are not signed in." }] });
    await expect(me()).resolves.toBeNull();
  });
});

describe("organizations", () => {
  it("escapes path segments and uses the documented methods", async () => {
    const member = { organization_id: "o", user_id: "u", username: "bob smith", roles: [], created_at: "" };
    const calls = fakeServer({
      "POST /api/v2/organizations/my%2Forg/members/bob%20smith": [200, member],
      "DELETE /api/v2/organizations/o/members/u": [204],
      "PUT /api/v2/organizations/o/members/u/roles": [200, member],
    });
    await addMember("my/org", "bob smith");
    await expect(removeMember("o", "u")).resolves.toBeUndefined();
    await updateMemberRoles("o", "u", ["agents-access"]);
    expect(calls.map((c) => [c.method, c.url, c.body])).toEqual([
      ["POST", "/api/v2/organizations/my%2Forg/members/bob%20smith", undefined],
      ["DELETE", "/api/v2/organizations/o/members/u", undefined],
      ["PUT", "/api/v2/organizations/o/members/u/roles", { roles: ["agents-access"] }],
    ]);
  });
});

describe("chat permissions", () => {
  it("asks one authcheck with one chat-create check per org, keyed by org id", () => {
    expect(chatCreateChecks([org("o1"), org("o2")])).toEqual({
      checks: {
        o1: { object: { resource_type: "chat", owner_id: "me", organization_id: "o1" }, action: "create" },
        o2: { object: { resource_type: "chat", owner_id: "me", organization_id: "o2" }, action: "create" },
      },
    });
  });

  it("loads the org list, then the answers", async () => {
    const calls = fakeServer({
      "GET /api/v2/organizations": [200, [org("o1"), org("o2")]],
      "POST /api/v2/authcheck": [200, { o1: true, o2: false }],
    });
    const p = await loadChatCreatePermissions();
    expect(p.allowed).toEqual({ o1: true, o2: false });
    expect(p.organizations.map((o) => o.id)).toEqual(["o1", "o2"]);
    expect(calls.map((c) => `${c.method} ${c.url}`)).toEqual(["GET /api/v2/organizations", "POST /api/v2/authcheck"]);
  });

  it("sends no authcheck when the user has no organizations", async () => {
    const calls = fakeServer({ "GET /api/v2/organizations": [200, []] });
    await expect(loadChatCreatePermissions()).resolves.toEqual({ organizations: [], allowed: {} });
    expect(calls).toHaveLength(1);
  });
});

describe("workspaces", () => {
  const url = "GET /api/v2/workspaces?q=owner%3Ame";
  const w = { id: "w1", name: "dev", organization_id: "o1" };

  it("treats a 404 (no workspace support on this server yet) as an empty list", async () => {
    fakeServer({});
    await expect(listMyWorkspaces()).resolves.toEqual([]);
  });

  it("reads Coder's {workspaces, count} and a bare array", async () => {
    fakeServer({ [url]: [200, { workspaces: [w], count: 1 }] });
    await expect(listMyWorkspaces()).resolves.toEqual([w]);
    fakeServer({ [url]: [200, [w]] });
    await expect(listMyWorkspaces()).resolves.toEqual([w]);
  });

  it("fails on other errors and on unexpected bodies", async () => {
    fakeServer({ [url]: [500, { message: "Internal error." }] });
    await expect(listMyWorkspaces()).rejects.toMatchObject({ status: 500 });
    fakeServer({ [url]: [200, { nope: true }] });
    await expect(listMyWorkspaces()).rejects.toThrow("Unexpected workspace list");
  });
});

describe("chats", () => {
  it("creates a chat with POST /api/experimental/chats", async () => {
    const chat = { id: "c1", organization_id: "o1" };
    const calls = fakeServer({ "POST /api/experimental/chats": [201, chat] });
    const req = { organization_id: "o1", content: [{ type: "text" as const, text: "hi" }], workspace_id: "w1" };
    await expect(createChat(req)).resolves.toEqual(chat);
    expect(calls[0]?.body).toEqual(req);
  });

  it("surfaces the server's refusal text", async () => {
    fakeServer({ "POST /api/experimental/chats": [403, { message: "You are not a member of the specified organization." }] });
    await expect(createChat({ organization_id: "o9", content: [{ type: "text", text: "hi" }] })).rejects.toMatchObject({
      status: 403,
      message: "You are not a member of the specified organization.",
    });
  });
});
