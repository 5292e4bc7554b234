import type { ChatMessage, ChatQueuedMessage } from "../agents/streamReducer";
import type { components } from "./schema";
import { ApiError, request, seg } from "./http";
import type {
  Chat,
  ChatInputPart,
  ChatModelConfig,
  ChatModelsResponse,
  ChatProviderConfig,
  CreateChatModelConfigRequest,
  CreateChatProviderRequest,
  CreateChatRequest,
  OrgChatDefaultModel,
  UpdateChatModelConfigRequest,
  UpdateChatProviderRequest,
  UpdateChatRequest,
} from "./types";

export const chatsBase = "/api/experimental/chats";

/** `POST /api/experimental/chats`: creates a chat with its first user message. */
export function createChat(req: CreateChatRequest): Promise<Chat> {
  return request("POST", chatsBase, { body: req });
}

export interface ListChatsOptions {
  archived?: boolean;
  limit?: number;
  /** Only this organization's chats. */
  organizationId?: string | null;
  /** Everyone's chats the caller may read (org admins and auditors), not only their own. */
  everyone?: boolean;
  /** Words the title must contain (searched by the server). */
  search?: string;
}

/** Root chats, children embedded, pinned first then newest first: the caller's unless `everyone`. */
export function listChats(opts: ListChatsOptions = {}): Promise<Chat[]> {
  const terms = [opts.everyone ? "owner:all" : "owner:me", `archived:${opts.archived ? "true" : "false"}`];
  if (opts.organizationId) terms.push(`organization:${opts.organizationId}`);
  // Every word is a title word; `title:` keeps one that looks like a filter (`a:b`) a word.
  for (const w of (opts.search ?? "").split(/\s+/).filter(Boolean)) terms.push(w.includes(":") ? `title:${w}` : w);
  const q = terms.join(" ");
  const params = new URLSearchParams({ q });
  if (opts.limit) params.set("limit", String(opts.limit));
  return request("GET", `${chatsBase}?${params}`);
}

export function getChat(id: string): Promise<Chat> {
  return request("GET", `${chatsBase}/${seg(id)}`);
}

export async function updateChat(id: string, req: UpdateChatRequest): Promise<void> {
  await request<unknown>("PATCH", `${chatsBase}/${seg(id)}`, { body: req });
}

/** `GET …/messages`: newest first; the queue comes with the first page only. */
export type ChatMessagesPage = Omit<components["schemas"]["ChatMessagesResponse"], "messages" | "queued_messages"> & {
  messages: ChatMessage[];
  queued_messages?: ChatQueuedMessage[];
};

export function listMessages(chatId: string, limit = 200): Promise<ChatMessagesPage> {
  return request("GET", `${chatsBase}/${seg(chatId)}/messages?limit=${limit}`);
}

export type SendMessageResponse = Omit<components["schemas"]["CreateChatMessageResponse"], "message" | "queued_message"> & {
  message?: ChatMessage;
  queued_message?: ChatQueuedMessage;
};

/** Sends a message; while the chat is busy it is queued (the server's default `busy_behavior`). */
export function sendMessage(chatId: string, content: ChatInputPart[], modelConfigId?: string | null): Promise<SendMessageResponse> {
  const body = modelConfigId ? { content, model_config_id: modelConfigId } : { content };
  return request("POST", `${chatsBase}/${seg(chatId)}/messages`, { body });
}

/** Replaces a user message; the server drops everything after it and runs the chat again. */
export function editMessage(chatId: string, messageId: number, content: ChatInputPart[]): Promise<{ message: ChatMessage }> {
  return request("PATCH", `${chatsBase}/${seg(chatId)}/messages/${messageId}`, { body: { content } });
}

export async function deleteQueuedMessage(chatId: string, queuedId: number): Promise<void> {
  await request<unknown>("DELETE", `${chatsBase}/${seg(chatId)}/queue/${queuedId}`);
}

/** "Send now": interrupts the running turn and sends this queued message next. */
export async function promoteQueuedMessage(chatId: string, queuedId: number): Promise<void> {
  await request<unknown>("POST", `${chatsBase}/${seg(chatId)}/queue/${queuedId}/promote`);
}

export async function interruptChat(chatId: string): Promise<void> {
  await request<unknown>("POST", `${chatsBase}/${seg(chatId)}/interrupt`);
}

export async function regenerateTitle(chatId: string): Promise<void> {
  await request<unknown>("POST", `${chatsBase}/${seg(chatId)}/title/regenerate`);
}

/** Uploads a file under an organization; its id goes into `content` as a `file` part. */
export async function uploadFile(organizationId: string, file: Blob): Promise<{ id: string }> {
  const res = await fetch(`${chatsBase}/files?organization=${seg(organizationId)}`, {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": file.type || "application/octet-stream", Accept: "application/json" },
    body: file,
  });
  const text = await res.text();
  if (!res.ok) {
    let body: { message?: string; detail?: string } = {};
    try {
      body = JSON.parse(text) as typeof body;
    } catch {
      // Not the JSON error shape.
    }
    throw new ApiError(res.status, { message: body.message ?? `Upload failed (HTTP ${res.status}).`, detail: body.detail });
  }
  return JSON.parse(text) as { id: string };
}

/** The models chats may use: in `organizationId` (only what that organization may use), else site-wide. */
export function listModels(organizationId?: string | null): Promise<ChatModelsResponse> {
  const q = organizationId ? `?organization_id=${encodeURIComponent(organizationId)}` : "";
  return request("GET", `${chatsBase}/models${q}`);
}

/** An organization's default chat model (`null`: the site default). */
export function getOrgDefaultModel(org: string): Promise<OrgChatDefaultModel> {
  return request("GET", `/api/v2/organizations/${seg(org)}/chat-default-model`);
}

export function setOrgDefaultModel(org: string, modelConfigId: string | null): Promise<OrgChatDefaultModel> {
  return request("PUT", `/api/v2/organizations/${seg(org)}/chat-default-model`, { body: { model_config_id: modelConfigId } });
}

export function listProviders(): Promise<ChatProviderConfig[]> {
  return request("GET", `${chatsBase}/providers`);
}

export function createProvider(req: CreateChatProviderRequest): Promise<ChatProviderConfig> {
  return request("POST", `${chatsBase}/providers`, { body: req });
}

export function updateProvider(id: string, req: UpdateChatProviderRequest): Promise<ChatProviderConfig> {
  return request("PATCH", `${chatsBase}/providers/${seg(id)}`, { body: req });
}

export async function deleteProvider(id: string): Promise<void> {
  await request<unknown>("DELETE", `${chatsBase}/providers/${seg(id)}`);
}

export function listModelConfigs(): Promise<ChatModelConfig[]> {
  return request("GET", `${chatsBase}/model-configs`);
}

export function createModelConfig(req: CreateChatModelConfigRequest): Promise<ChatModelConfig> {
  return request("POST", `${chatsBase}/model-configs`, { body: req });
}

export function updateModelConfig(id: string, req: UpdateChatModelConfigRequest): Promise<ChatModelConfig> {
  return request("PATCH", `${chatsBase}/model-configs/${seg(id)}`, { body: req });
}

export async function deleteModelConfig(id: string): Promise<void> {
  await request<unknown>("DELETE", `${chatsBase}/model-configs/${seg(id)}`);
}

/** The WebSocket URL for a path on this origin. */
export function socketUrl(path: string): string {
  const proto = window.location.protocol === "https:" ? "wss:" : "ws:";
  return `${proto}//${window.location.host}${path}`;
}

export function chatStreamPath(chatId: string, afterId: number | undefined): string {
  return `${chatsBase}/${seg(chatId)}/stream${afterId !== undefined ? `?after_id=${afterId}` : ""}`;
}

export const chatWatchPath = `${chatsBase}/watch`;
