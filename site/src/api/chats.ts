import { request } from "./http";
import type { Chat, CreateChatRequest } from "./types";

export const chatsBase = "/api/experimental/chats";

/** `POST /api/experimental/chats`: creates a chat with its first user message. */
export function createChat(req: CreateChatRequest): Promise<Chat> {
  return request("POST", chatsBase, { body: req });
}
