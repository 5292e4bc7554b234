import { ApiError, request, seg } from "./http";
import type {
  ApiKey,
  AssignableRole,
  AuditLogResponse,
  BuildInfo,
  CreateTokenRequest,
  GenerateApiKeyResponse,
  CreateFirstUserRequest,
  CreateFirstUserResponse,
  GetUsersResponse,
  LoginRequest,
  LoginResponse,
  Organization,
  User,
} from "./types";

/** `GET /api/v2/users/first`: true once the first user exists (the server answers 404 before). */
export async function firstUserExists(): Promise<boolean> {
  try {
    await request<unknown>("GET", "/api/v2/users/first");
    return true;
  } catch (e) {
    if (e instanceof ApiError && e.status === 404) return false;
    throw e;
  }
}

export function createFirstUser(req: CreateFirstUserRequest): Promise<CreateFirstUserResponse> {
  return request("POST", "/api/v2/users/first", { body: req });
}

/** Logs in; the server also sets the HttpOnly session cookie every later call relies on. */
export function login(req: LoginRequest): Promise<LoginResponse> {
  return request("POST", "/api/v2/users/login", { body: req });
}

export async function logout(): Promise<void> {
  await request<unknown>("POST", "/api/v2/users/logout");
}

/** The signed-in user, or null when the session is missing or expired (401). */
export async function me(): Promise<User | null> {
  try {
    return await request<User>("GET", "/api/v2/users/me");
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) return null;
    throw e;
  }
}

export function buildInfo(): Promise<BuildInfo> {
  return request("GET", "/api/v2/buildinfo");
}

/** The signed-in user's API tokens and login sessions (never their secrets). */
export function listTokens(): Promise<ApiKey[]> {
  return request("GET", "/api/v2/users/me/keys");
}

/** Creates an API token; the answer holds the secret, shown this once. */
export function createToken(req: CreateTokenRequest): Promise<GenerateApiKeyResponse> {
  return request("POST", "/api/v2/users/me/keys", { body: req });
}

/** Revokes a token or session; it stops working at once on every server. */
export async function deleteToken(id: string): Promise<void> {
  await request<unknown>("DELETE", `/api/v2/users/me/keys/${seg(id)}`);
}

export interface UsersQuery {
  /** Coder's search string: words in the username or email, `status:…`, `role:…`. */
  q?: string;
  limit?: number;
  offset?: number;
}

/** `GET /api/v2/users`: one page of the users the caller may see, with the total count. */
export function listUsers(query: UsersQuery = {}): Promise<GetUsersResponse> {
  const params = new URLSearchParams();
  if (query.q) params.set("q", query.q);
  if (query.limit !== undefined) params.set("limit", String(query.limit));
  if (query.offset !== undefined) params.set("offset", String(query.offset));
  const qs = params.toString();
  return request("GET", qs ? `/api/v2/users?${qs}` : "/api/v2/users");
}

/** The organizations `user` (id, username or `me`) belongs to that the caller may see. */
export function userOrganizations(user: string): Promise<Organization[]> {
  return request("GET", `/api/v2/users/${seg(user)}/organizations`);
}

export interface CreateUserRequest {
  email: string;
  username: string;
  password: string;
  name?: string;
  /** Organizations to join; the default organization when absent. */
  organization_ids?: string[];
}

/** Creates a user with a password (site owners and user admins). */
export function createUser(req: CreateUserRequest): Promise<User> {
  return request("POST", "/api/v2/users", { body: req });
}

export function suspendUser(user: string): Promise<User> {
  return request("PUT", `/api/v2/users/${seg(user)}/status/suspend`);
}

export function activateUser(user: string): Promise<User> {
  return request("PUT", `/api/v2/users/${seg(user)}/status/activate`);
}

/** The site roles the caller may assign. */
export function siteRoles(): Promise<AssignableRole[]> {
  return request("GET", "/api/v2/users/roles");
}

/** Replaces a user's site roles. */
export function updateSiteRoles(user: string, roles: string[]): Promise<User> {
  return request("PUT", `/api/v2/users/${seg(user)}/roles`, { body: { roles } });
}

/** One user by id, username or `me` (404 when the caller may not see them). */
export function getUser(user: string): Promise<User> {
  return request("GET", `/api/v2/users/${seg(user)}`);
}

/** `GET /api/v2/audit`: newest first, `count` in all. */
export function listAuditLogs(limit: number, offset: number): Promise<AuditLogResponse> {
  return request("GET", `/api/v2/audit?limit=${limit}&offset=${offset}`);
}

/** Changes a password: your own (`user` = "me", with the current one) or, as the site owner, anyone's. */
export async function updatePassword(user: string, req: { old_password?: string; password: string }): Promise<void> {
  await request<unknown>("PUT", `/api/v2/users/${seg(user)}/password`, { body: req });
}
