// Wire shapes of agentry's HTTP API. The API's own types are generated from the OpenAPI
// document (docs/openapi.json) into schema.d.ts by openapi-typescript: run `npm run gen:api`
// after the document changes (CI fails while schema.d.ts is stale). This module names them for
// the UI and adds the few shapes the document does not describe (WebSocket events, narrowed
// unions the UI switches on).

import type { components } from "./schema";

type Schemas = components["schemas"];

export type ValidationError = Schemas["ValidationError"];
export type BuildInfo = Schemas["BuildInfo"];
export type SlimRole = Schemas["SlimRole"];
export type User = Schemas["User"];
export type AuditLog = Schemas["AuditLog"];
export type AuditLogResponse = Schemas["AuditLogResponse"];
export type GetUsersResponse = Schemas["GetUsersResponse"];
export type CreateFirstUserRequest = Schemas["CreateFirstUserRequest"];
export type CreateFirstUserResponse = Schemas["CreateFirstUserResponse"];
export type LoginRequest = Schemas["LoginRequest"];
export type LoginResponse = Schemas["LoginResponse"];
export type Organization = Schemas["Organization"];
export type CreateOrganizationRequest = Schemas["CreateOrganizationRequest"];
export type OrganizationMember = Schemas["OrganizationMember"];
export type Permission = Schemas["Permission"];
export type AssignableRole = Schemas["AssignableRole"];
export type AuthorizationObject = Schemas["AuthorizationObject"];
export type AuthorizationCheck = Schemas["AuthorizationCheck"];
export type AuthorizationRequest = Schemas["AuthorizationRequest"];
/** The fields of a workspace the agents UI reads (the API sends the whole `Workspace`). */
export type Workspace = Pick<Schemas["Workspace"], "id" | "name" | "organization_id"> &
  Partial<Pick<Schemas["Workspace"], "owner_id" | "kind" | "agent">>;
/** The whole workspace, as the workspaces page shows it. */
export type FullWorkspace = Schemas["Workspace"];
export type WorkspacesResponse = Schemas["WorkspacesResponse"];
export type Template = Schemas["Template"];
export type CreateTemplateRequest = Schemas["CreateTemplateRequest"];
export type WorkspaceBuildLog = Schemas["WorkspaceBuildLog"];
/** A workspace agent's connection, as the server last saw it. */
export type WorkspaceAgentStatus = Schemas["WorkspaceAgentStatus"];
export type ChatInputPart = Schemas["ChatInputPart"];
export type CreateChatRequest = Schemas["CreateChatRequest"];
export type Chat = Schemas["Chat"];
export type UpdateChatRequest = Schemas["UpdateChatRequest"];
export type ChatModel = Schemas["ChatModel"];
export type ChatModelProvider = Schemas["ChatModelProvider"];
export type ChatModelsResponse = Schemas["ChatModelsResponse"];
export type ChatProviderConfig = Schemas["ChatProviderConfig"];
export type CreateChatProviderRequest = Schemas["CreateChatProviderRequest"];
export type UpdateChatProviderRequest = Schemas["UpdateChatProviderRequest"];
export type ChatModelConfig = Schemas["ChatModelConfig"];
export type CreateChatModelConfigRequest = Schemas["CreateChatModelConfigRequest"];
export type UpdateChatModelConfigRequest = Schemas["UpdateChatModelConfigRequest"];
export type OrgChatDefaultModel = Schemas["OrgChatDefaultModel"];
export type ApiKey = Schemas["ApiKey"];
export type CreateTokenRequest = Schemas["CreateTokenRequest"];
export type GenerateApiKeyResponse = Schemas["GenerateApiKeyResponse"];
export type ChatBudget = Schemas["ChatBudget"];
export type ChatBudgetRequest = Schemas["ChatBudgetRequest"];
export type ChatUsageReport = Schemas["ChatUsageReport"];
export type ChatUsageEntry = Schemas["ChatUsageEntry"];

/** The body of every error response. */
export type ErrorResponse = Schemas["Response"];

export type AuthorizationResponse = Record<string, boolean>;

export interface ChatTextPart {
  type: "text";
  text: string;
}

export interface ChatFilePart {
  type: "file";
  file_id: string;
}

/**
 * The statuses the database allows (the document has `Chat.status` as a string for now):
 * `waiting` is idle (the normal finished state); `pending` is queued for the daemon.
 */
export type ChatStatus = "waiting" | "pending" | "running" | "error" | "requires_action";

/** One event of the `watch` WebSocket. `deleted` is also sent when a chat is archived. */
export interface ChatWatchEvent {
  kind: "created" | "status_change" | "title_change" | "deleted" | "action_required" | string;
  chat: Chat;
}

export type ProviderKind = Schemas["ChatProviderKind"];
