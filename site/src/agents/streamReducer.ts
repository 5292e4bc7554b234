// The state of one open chat, built from its REST history and the events of its one-way stream
// WebSocket (`GET /api/experimental/chats/{id}/stream?after_id=N`).
//
// Pure on purpose: the socket code batches frames and feeds them through `applyStreamEvents`, and
// the view renders the result. Saved messages are the truth; streamed parts are a preview that a
// saved message replaces. Half-streamed text is dropped on reconnect and on retry because the
// server never replays it.
//
// Edits. The server answers `PATCH .../messages/{id}` after it has soft-deleted the edited message
// and everything after it and saved the replacement; the stream never says that anything was
// deleted. So the browser learns of an edit from three channels that race one another: the PATCH
// answer, the stream (the replacement and the new answer, and perhaps a frame read before the
// edit), and the history page fetched after the PATCH (or an older page still in flight). The
// rules that make every order show the same thing:
// - While the PATCH is in flight (`editStarted`), the view holds back everything after the edited
//   message (`visibleTimeline`): nothing of the old turn, and nothing of the new one yet.
// - The PATCH answer (`editAccepted`) records the ids the edit deleted — from the edited message
//   up to, not including, its replacement — and drops them. Ids in such a range are never taken
//   back, from a page or from the stream. A refused edit (`editFailed`) just shows the turn again.

import type { components } from "../api/schema";
import type { ChatStatus, ErrorResponse } from "../api/types";

export type ChatRole = "system" | "user" | "assistant" | "tool";

/** A part of a message as the API sends it (one struct for every part type, like the server's). */
export interface ChatMessagePart {
  type: string;
  text?: string;
  tool_call_id?: string;
  tool_name?: string;
  args?: unknown;
  /** Streaming only: the next piece of the tool call's JSON arguments. */
  args_delta?: string;
  result?: unknown;
  /** Streaming only: the next piece of the tool result's JSON. */
  result_delta?: string;
  is_error?: boolean;
  source_id?: string;
  url?: string;
  title?: string;
  file_id?: string;
  media_type?: string;
}

type Schemas = components["schemas"];

/**
 * A message as the API sends it: the generated type, with `role` and `content` narrowed to what
 * the document does not spell out yet (it has them as a string and untyped objects).
 */
export type ChatMessage = Omit<Schemas["ChatMessage"], "role" | "content"> & {
  role: ChatRole;
  content: ChatMessagePart[];
};

export type ChatQueuedMessage = Omit<Schemas["ChatQueuedMessage"], "content"> & {
  content: ChatMessagePart[];
};

export interface ChatStreamError {
  message: string;
  detail?: string;
  kind?: string;
}

export interface ChatStreamRetry {
  attempt: number;
  delay_ms: number;
  retrying_at: string;
  error: string;
  kind?: string;
}

export interface PendingToolCall {
  tool_call_id: string;
  tool_name: string;
  args: unknown;
}

export type ChatStreamEvent =
  | { type: "message_part"; chat_id: string; message_part: { role: ChatRole; part: ChatMessagePart } }
  | { type: "message"; chat_id: string; message: ChatMessage }
  | { type: "status"; chat_id: string; status: { status: ChatStatus } }
  | { type: "error"; chat_id: string; error: ChatStreamError }
  | { type: "retry"; chat_id: string; retry: ChatStreamRetry }
  | { type: "queue_update"; chat_id: string; queued_messages: ChatQueuedMessage[] }
  | { type: "action_required"; chat_id: string; action_required: { tool_calls: PendingToolCall[] } };

/** A streamed part after merging; tool parts accumulate their JSON text until it parses. */
export type StreamPart =
  | { type: "text" | "reasoning"; text: string }
  | { type: "tool-call"; tool_call_id: string; tool_name: string; args_text: string; args: unknown }
  | {
      type: "tool-result";
      tool_call_id: string;
      tool_name: string;
      result_text: string;
      result: unknown;
      is_error: boolean;
    }
  | { type: "other"; part: ChatMessagePart };

export interface StreamingMessage {
  role: ChatRole;
  parts: StreamPart[];
}

export interface ChatStreamState {
  chatId: string;
  /** Saved messages, ascending by id, one per id. */
  messages: ChatMessage[];
  /** The reply being streamed, or null. */
  streaming: StreamingMessage | null;
  status: ChatStatus | null;
  retry: ChatStreamRetry | null;
  error: ChatStreamError | null;
  queuedMessages: ChatQueuedMessage[];
  pendingToolCalls: PendingToolCall[];
  /** The message whose edit the server has not answered yet: the view shows nothing after it. */
  pendingEdit: number | null;
  /** Id ranges [from, to) that accepted edits deleted; such messages are never shown again. */
  replaced: ReplacedRange[];
}

export interface ReplacedRange {
  from: number;
  to: number;
}

export type ChatStreamAction =
  /** The REST history page (`messages` newest first, as the API returns them). */
  | { type: "historyLoaded"; messages: ChatMessage[]; queuedMessages?: ChatQueuedMessage[] }
  /** A fresh history page that replaces the saved messages (after an edit dropped later ones). */
  | { type: "historyReplaced"; messages: ChatMessage[]; queuedMessages?: ChatQueuedMessage[] }
  /** The socket reconnected: partial output is gone for good; saved messages will follow. */
  | { type: "reconnected" }
  /** The user saved an edit of `messageId`; the server has not answered yet. */
  | { type: "editStarted"; messageId: number }
  /** The server accepted the edit: `messageId` and everything after it, up to `message` (the
   * replacement it returned), are gone. */
  | { type: "editAccepted"; messageId: number; message: ChatMessage }
  /** The server refused the edit (or did not answer): nothing was replaced. */
  | { type: "editFailed"; messageId: number }
  | { type: "event"; event: ChatStreamEvent };

export function initialChatStreamState(chatId: string): ChatStreamState {
  return {
    chatId,
    messages: [],
    streaming: null,
    status: null,
    retry: null,
    error: null,
    queuedMessages: [],
    pendingToolCalls: [],
    pendingEdit: null,
    replaced: [],
  };
}

/** The id to pass as `after_id` when (re)connecting: the newest saved message, if any. */
export function lastMessageId(state: ChatStreamState): number | undefined {
  return state.messages.length ? state.messages[state.messages.length - 1]!.id : undefined;
}

function parseJson(text: string): unknown {
  if (text === "") return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined; // Incomplete while streaming.
  }
}

function isReplaced(replaced: ReplacedRange[], id: number): boolean {
  return replaced.some((r) => id >= r.from && id < r.to);
}

/** Merges saved messages by id, leaving out any an accepted edit deleted. */
function upsertMessages(existing: ChatMessage[], incoming: ChatMessage[], replaced: ReplacedRange[]): ChatMessage[] {
  const byId = new Map(existing.map((m) => [m.id, m]));
  for (const m of incoming) byId.set(m.id, m);
  return [...byId.values()].filter((m) => !isReplaced(replaced, m.id)).sort((a, b) => a.id - b.id);
}

/**
 * What the chat view shows: the saved messages and the streamed preview, except that while an
 * edit is in flight nothing after the edited message is shown (the old turn is about to go, and
 * the new one must not appear next to it).
 */
export function visibleTimeline(state: ChatStreamState): { messages: ChatMessage[]; streaming: StreamingMessage | null } {
  if (state.pendingEdit === null) return { messages: state.messages, streaming: state.streaming };
  const edited = state.pendingEdit;
  return { messages: state.messages.filter((m) => m.id <= edited), streaming: null };
}

/** Merges one streamed part into the parts so far. */
export function mergePart(parts: StreamPart[], part: ChatMessagePart): StreamPart[] {
  switch (part.type) {
    case "text":
    case "reasoning": {
      const last = parts[parts.length - 1];
      if (last && last.type === part.type) {
        return [...parts.slice(0, -1), { type: part.type, text: last.text + (part.text ?? "") }];
      }
      return [...parts, { type: part.type, text: part.text ?? "" }];
    }
    case "tool-call": {
      const id = part.tool_call_id ?? "";
      const i = parts.findIndex((p) => p.type === "tool-call" && p.tool_call_id === id);
      const prev = i >= 0 ? (parts[i] as Extract<StreamPart, { type: "tool-call" }>) : undefined;
      const hasFull = part.args !== undefined;
      const args_text = hasFull ? JSON.stringify(part.args) : (prev?.args_text ?? "") + (part.args_delta ?? "");
      const merged: StreamPart = {
        type: "tool-call",
        tool_call_id: id,
        tool_name: part.tool_name || prev?.tool_name || "",
        args_text,
        args: hasFull ? part.args : parseJson(args_text),
      };
      return i >= 0 ? parts.map((p, j) => (j === i ? merged : p)) : [...parts, merged];
    }
    case "tool-result": {
      const id = part.tool_call_id ?? "";
      const i = parts.findIndex((p) => p.type === "tool-result" && p.tool_call_id === id);
      const prev = i >= 0 ? (parts[i] as Extract<StreamPart, { type: "tool-result" }>) : undefined;
      const hasFull = part.result !== undefined;
      const result_text = hasFull ? JSON.stringify(part.result) : (prev?.result_text ?? "") + (part.result_delta ?? "");
      const merged: StreamPart = {
        type: "tool-result",
        tool_call_id: id,
        tool_name: part.tool_name || prev?.tool_name || "",
        result_text,
        result: hasFull ? part.result : parseJson(result_text),
        is_error: part.is_error ?? prev?.is_error ?? false,
      };
      return i >= 0 ? parts.map((p, j) => (j === i ? merged : p)) : [...parts, merged];
    }
    case "source": {
      const dup = parts.some(
        (p) => p.type === "other" && p.part.type === "source" && (p.part.source_id ?? p.part.url) === (part.source_id ?? part.url),
      );
      return dup ? parts : [...parts, { type: "other", part }];
    }
    default:
      return [...parts, { type: "other", part }];
  }
}

/** Whether `part` is a tool call or tool result whose call id a saved message already holds. */
function isSavedToolPart(messages: ChatMessage[], part: { type: string; tool_call_id?: string }): boolean {
  if ((part.type !== "tool-call" && part.type !== "tool-result") || !part.tool_call_id) return false;
  return messages.some((m) =>
    m.content.some((p) => p.type === part.type && (p as { tool_call_id?: string }).tool_call_id === part.tool_call_id),
  );
}

/** A saved message replaces the streamed preview it corresponds to. */
function clearMatchingPartial(streaming: StreamingMessage | null, message: ChatMessage): StreamingMessage | null {
  if (!streaming) return null;
  if (message.role === "assistant") return null;
  if (message.role === "tool") {
    const saved = new Set(message.content.filter((p) => p.type === "tool-result").map((p) => p.tool_call_id));
    const parts = streaming.parts.filter((p) => !(p.type === "tool-result" && saved.has(p.tool_call_id)));
    return parts.length ? { ...streaming, parts } : null;
  }
  return streaming; // A user or system message does not end a reply.
}

function applyEvent(state: ChatStreamState, event: ChatStreamEvent): ChatStreamState {
  if (event.chat_id !== state.chatId) return state;
  switch (event.type) {
    case "message_part": {
      const { role, part } = event.message_part;
      // A tool call or result that is already saved belongs to a finished step: a snapshot can
      // carry a step's buffered parts after the step's saved message. Showing it again as a
      // preview would draw the same tool card twice.
      if (isSavedToolPart(state.messages, part)) return state;
      const current = state.streaming ?? { role, parts: [] };
      return { ...state, streaming: { role: current.role, parts: mergePart(current.parts, part) } };
    }
    case "message":
      // A frame read before an edit may still carry a message the edit deleted.
      if (isReplaced(state.replaced, event.message.id)) return state;
      return {
        ...state,
        messages: upsertMessages(state.messages, [event.message], state.replaced),
        streaming: clearMatchingPartial(state.streaming, event.message),
      };
    case "status": {
      const status = event.status.status;
      return {
        ...state,
        status,
        retry: null,
        // `running` is the only status under which a preview keeps growing; every other status
        // means the turn ended, was queued anew or failed, and its saved messages are the truth.
        streaming: status === "running" ? state.streaming : null,
        error: status === "error" ? state.error : null,
        pendingToolCalls: status === "requires_action" ? state.pendingToolCalls : [],
      };
    }
    case "error":
      return { ...state, error: event.error, retry: null };
    case "retry":
      // The failed attempt's output will not be saved; the countdown replaces it.
      return { ...state, retry: event.retry, streaming: null };
    case "queue_update":
      return { ...state, queuedMessages: event.queued_messages };
    case "action_required":
      return { ...state, pendingToolCalls: event.action_required.tool_calls };
  }
}

export function chatStreamReducer(state: ChatStreamState, action: ChatStreamAction): ChatStreamState {
  switch (action.type) {
    case "historyLoaded":
      return {
        ...state,
        messages: upsertMessages(state.messages, action.messages, state.replaced),
        queuedMessages: action.queuedMessages ?? state.queuedMessages,
      };
    case "historyReplaced": {
      // Messages newer than anything in the page came over the stream while the page was being
      // fetched (e.g. the answer to an edit): keep them, or they would vanish for good. A page
      // read before an edit the server has since accepted still lists what the edit deleted:
      // `upsertMessages` leaves those out.
      const newest = action.messages.reduce((max, m) => Math.max(max, m.id), 0);
      const arrivedSince = state.messages.filter((m) => m.id > newest);
      return {
        ...state,
        messages: upsertMessages([], [...action.messages, ...arrivedSince], state.replaced),
        queuedMessages: action.queuedMessages ?? state.queuedMessages,
      };
    }
    case "reconnected":
      return { ...state, streaming: null, retry: null };
    case "editStarted":
      // The preview belongs to the turn the edit replaces. Parts that arrive from now on may be
      // the new turn's: they are kept, and shown once the edit is answered.
      return { ...state, pendingEdit: action.messageId, streaming: null };
    case "editAccepted": {
      // The server deleted every message from the edited one on, then saved the replacement:
      // nothing in between can appear later (a chat's messages are saved under its row lock, so
      // ids grow in commit order), and anything after the replacement is the new turn.
      const replaced = [...state.replaced, { from: action.messageId, to: action.message.id }];
      return {
        ...state,
        replaced,
        pendingEdit: state.pendingEdit === action.messageId ? null : state.pendingEdit,
        messages: upsertMessages(state.messages, [action.message], replaced),
      };
    }
    case "editFailed":
      return { ...state, pendingEdit: state.pendingEdit === action.messageId ? null : state.pendingEdit };
    case "event":
      return applyEvent(state, action.event);
  }
}

/** Applies a batch of events (one socket frame) in order. */
export function applyStreamEvents(state: ChatStreamState, events: ChatStreamEvent[]): ChatStreamState {
  return events.reduce((s, event) => chatStreamReducer(s, { type: "event", event }), state);
}

export interface StreamFrame {
  events: ChatStreamEvent[];
  error: ErrorResponse | null;
}

/**
 * Decodes one WebSocket text frame: a bare JSON array of events (SPEC §3.3), or the envelope
 * `{type: "ping" | "data" | "error", data}` some Coder versions use. Pings carry no events.
 */
export function parseStreamFrame(text: string): StreamFrame {
  const raw: unknown = JSON.parse(text);
  if (Array.isArray(raw)) return { events: raw as ChatStreamEvent[], error: null };
  if (raw && typeof raw === "object" && "type" in raw) {
    const env = raw as { type: string; data?: unknown };
    if (env.type === "ping") return { events: [], error: null };
    if (env.type === "data") {
      const data = Array.isArray(env.data) ? env.data : env.data === undefined ? [] : [env.data];
      return { events: data as ChatStreamEvent[], error: null };
    }
    if (env.type === "error") {
      const d = (env.data ?? {}) as Partial<ErrorResponse>;
      return { events: [], error: { message: d.message ?? "Stream error.", detail: d.detail } };
    }
  }
  throw new Error(`Unrecognised stream frame: ${text.slice(0, 200)}`);
}
