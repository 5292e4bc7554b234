// Wire shapes of agentry's HTTP API, mirroring crates/sdk (snake_case, UUIDs and timestamps as
// strings). Only what the UI reads is typed; the server may send more.

export interface ValidationError {
  field: string;
  detail: string;
}

/** The body of every error response. */
export interface ErrorResponse {
  message: string;
  detail?: string;
  validations?: ValidationError[];
}

export interface BuildInfo {
  version: string;
  external_url: string;
  dashboard_url: string;
  deployment_id: string;
  /** `sandbox`, `unsandboxed` or `unavailable`. */
  workspace_isolation: string;
}

export interface SlimRole {
  name: string;
  display_name: string;
  /** The org an org role is held in; `""` for a site role (as in Coder). */
  organization_id: string;
}

export interface User {
  id: string;
  username: string;
  email: string;
  name: string;
  avatar_url: string;
  status: "active" | "suspended";
  login_type: "password";
  roles: SlimRole[];
  organization_ids: string[];
  created_at: string;
  updated_at: string;
  /** `0001-01-01T00:00:00Z` for a user who has never made a request. */
  last_seen_at: string;
}

/** `GET /api/v2/users`: one page, and how many users match in all. */
export interface GetUsersResponse {
  users: User[];
  count: number;
}

export interface CreateFirstUserRequest {
  email: string;
  username: string;
  password: string;
  name?: string;
}

export interface CreateFirstUserResponse {
  user_id: string;
  organization_id: string;
}

export interface LoginRequest {
  email: string;
  password: string;
}

export interface LoginResponse {
  session_token: string;
}

export interface Organization {
  id: string;
  name: string;
  display_name: string;
  description: string;
  icon: string;
  is_default: boolean;
  created_at: string;
  updated_at: string;
}

export interface CreateOrganizationRequest {
  name: string;
  display_name?: string;
  description?: string;
}

export interface OrganizationMember {
  organization_id: string;
  user_id: string;
  username: string;
  name: string;
  email: string;
  avatar_url: string;
  /** Assigned org roles; the implicit `organization-member` is not listed. */
  roles: SlimRole[];
  /** The user's site roles, `member` included. */
  global_roles: SlimRole[];
  created_at: string;
  updated_at: string;
}

export interface Permission {
  negate: boolean;
  resource_type: string;
  action: string;
}

export interface AssignableRole {
  name: string;
  display_name: string;
  /** `""` for a site role. */
  organization_id: string;
  site_permissions: Permission[];
  organization_permissions: Permission[];
  organization_member_permissions: Permission[];
  user_permissions: Permission[];
  assignable: boolean;
  built_in: boolean;
}

export interface AuthorizationObject {
  resource_type: string;
  /** A user id, or `me`. */
  owner_id?: string;
  organization_id?: string;
  resource_id?: string;
}

export interface AuthorizationCheck {
  object: AuthorizationObject;
  action: string;
}

export interface AuthorizationRequest {
  checks: Record<string, AuthorizationCheck>;
}

export type AuthorizationResponse = Record<string, boolean>;

/** A workspace agent's connection, as the server last saw it. */
export interface WorkspaceAgentStatus {
  /** `connected`, `disconnected` or `never_connected`. */
  status: string;
  version: string;
  replica_id?: string | null;
  connected_at?: string | null;
  last_seen_at?: string | null;
}

/** The fields of a workspace the agents UI needs (SPEC §3.4 lists the full shape). */
export interface Workspace {
  id: string;
  name: string;
  organization_id: string;
  owner_id?: string;
  /** `local` (the server runs its agent) or `external` (its user does). */
  kind?: string;
  agent?: WorkspaceAgentStatus;
}

export interface ChatTextPart {
  type: "text";
  text: string;
}

export interface ChatFilePart {
  type: "file";
  file_id: string;
}

export type ChatInputPart = ChatTextPart | ChatFilePart;

export interface CreateChatRequest {
  organization_id: string;
  content: ChatInputPart[];
  workspace_id?: string;
  model_config_id?: string;
}

/** `waiting` is idle (the normal finished state); `pending` is queued for the daemon. */
export type ChatStatus = "waiting" | "pending" | "running" | "paused" | "completed" | "error" | "requires_action";

export interface Chat {
  id: string;
  organization_id: string;
  owner_id: string;
  workspace_id?: string | null;
  parent_chat_id?: string | null;
  root_chat_id?: string;
  last_model_config_id?: string;
  title: string;
  status: ChatStatus;
  last_error?: string | null;
  created_at: string;
  updated_at: string;
  archived: boolean;
  pin_order?: number;
  labels?: Record<string, string>;
  has_unread?: boolean;
  /** Subagent chats, embedded under their root in list responses. */
  children?: Chat[];
}

export interface UpdateChatRequest {
  title?: string;
  archived?: boolean;
  pin_order?: number;
  labels?: Record<string, string>;
  workspace_id?: string | null;
}

/** One event of the `watch` WebSocket. `deleted` is also sent when a chat is archived. */
export interface ChatWatchEvent {
  kind: "created" | "status_change" | "title_change" | "deleted" | "action_required" | string;
  chat: Chat;
}

export interface ChatModel {
  id: string;
  provider: string;
  model: string;
  display_name: string;
  is_default: boolean;
}

export interface ChatModelProvider {
  provider: string;
  available: boolean;
  unavailable_reason?: string;
  models: ChatModel[];
}

export interface ChatModelsResponse {
  providers: ChatModelProvider[];
}

export type ProviderKind = "openai" | "anthropic" | "openai-compat";

export interface ChatProviderConfig {
  id: string;
  provider: string;
  display_name: string;
  enabled: boolean;
  has_api_key: boolean;
  base_url: string | null;
  created_at: string;
  updated_at: string;
}

export interface CreateChatProviderRequest {
  provider: string;
  display_name?: string;
  api_key?: string;
  base_url?: string;
  enabled?: boolean;
}

/** An empty `api_key` removes the key; an absent one leaves it. */
export type UpdateChatProviderRequest = Omit<Partial<CreateChatProviderRequest>, "provider">;

export interface ChatModelConfig {
  id: string;
  provider: string;
  model: string;
  display_name: string;
  enabled: boolean;
  is_default: boolean;
  context_limit: number;
  input_price_per_million: number | null;
  output_price_per_million: number | null;
  created_at: string;
  updated_at: string;
}

export interface CreateChatModelConfigRequest {
  provider: string;
  model: string;
  display_name?: string;
  is_default?: boolean;
  enabled?: boolean;
  context_limit?: number;
  input_price_per_million?: number;
  output_price_per_million?: number;
}

export type UpdateChatModelConfigRequest = Omit<Partial<CreateChatModelConfigRequest>, "provider">;

/** An API token or login session of a user (`GET /api/v2/users/{user}/keys`); never the secret. */
export interface ApiKey {
  id: string;
  user_id: string;
  name: string;
  /** `token` (an API token) or `password` (a login session). */
  login_type: string;
  scope: string;
  created_at: string;
  last_used: string | null;
  expires_at: string;
}

export interface CreateTokenRequest {
  token_name?: string;
  lifetime_seconds?: number;
}

export interface GenerateApiKeyResponse {
  key: string;
}
