import { describe, expect, it } from "vitest";
import {
  type ChatMessage,
  type ChatMessagePart,
  type ChatStreamEvent,
  type ChatStreamState,
  applyStreamEvents,
  chatStreamReducer,
  initialChatStreamState,
  lastMessageId,
  mergePart,
  parseStreamFrame,
} from "./streamReducer";

const chat = "c1";

const part = (p: ChatMessagePart, role: "assistant" | "tool" = "assistant"): ChatStreamEvent => ({
  type: "message_part",
  chat_id: chat,
  message_part: { role, part: p },
});
const text = (t: string) => part({ type: "text", text: t });
const msg = (id: number, role: ChatMessage["role"], content: ChatMessagePart[] = []): ChatMessage => ({
  id,
  chat_id: chat,
  role,
  content,
  created_at: "2026-01-01T00:00:00Z",
});
const message = (m: ChatMessage): ChatStreamEvent => ({ type: "message", chat_id: chat, message: m });
const status = (s: "pending" | "running" | "waiting" | "error" | "requires_action"): ChatStreamEvent => ({
  type: "status",
  chat_id: chat,
  status: { status: s },
});
const retry: ChatStreamEvent = {
  type: "retry",
  chat_id: chat,
  retry: { attempt: 2, delay_ms: 4000, retrying_at: "2026-01-01T00:00:04Z", error: "rate limited", kind: "rate_limit" },
};

function apply(...events: ChatStreamEvent[]): ChatStreamState {
  return applyStreamEvents(initialChatStreamState(chat), events);
}

describe("message_part merging", () => {
  it("concatenates consecutive text deltas into one part", () => {
    const s = apply(status("running"), text("Hel"), text("lo"), text(" world"));
    expect(s.streaming).toEqual({ role: "assistant", parts: [{ type: "text", text: "Hello world" }] });
  });

  it("starts a new part when the type changes (reasoning, then text)", () => {
    const s = apply(part({ type: "reasoning", text: "think" }), part({ type: "reasoning", text: "ing" }), text("answer"));
    expect(s.streaming?.parts).toEqual([
      { type: "reasoning", text: "thinking" },
      { type: "text", text: "answer" },
    ]);
  });

  it("text after a tool call is a new text part, not glued to the text before it", () => {
    const s = apply(text("a"), part({ type: "tool-call", tool_call_id: "t1", tool_name: "execute", args_delta: "{}" }), text("b"));
    expect(s.streaming?.parts.map((p) => p.type)).toEqual(["text", "tool-call", "text"]);
  });

  it("accumulates tool-call argument deltas keyed by tool_call_id and parses them once complete", () => {
    let parts = mergePart([], { type: "tool-call", tool_call_id: "t1", tool_name: "execute", args_delta: '{"comm' });
    expect(parts[0]).toMatchObject({ args_text: '{"comm', args: undefined });
    parts = mergePart(parts, { type: "tool-call", tool_call_id: "t2", tool_name: "read_file", args_delta: '{"path":' });
    parts = mergePart(parts, { type: "tool-call", tool_call_id: "t1", args_delta: 'and":"ls"}' });
    parts = mergePart(parts, { type: "tool-call", tool_call_id: "t2", args_delta: '"a.txt"}' });
    expect(parts).toEqual([
      { type: "tool-call", tool_call_id: "t1", tool_name: "execute", args_text: '{"command":"ls"}', args: { command: "ls" } },
      { type: "tool-call", tool_call_id: "t2", tool_name: "read_file", args_text: '{"path":"a.txt"}', args: { path: "a.txt" } },
    ]);
  });

  it("full tool-call args replace the deltas", () => {
    let parts = mergePart([], { type: "tool-call", tool_call_id: "t1", tool_name: "x", args_delta: '{"a":' });
    parts = mergePart(parts, { type: "tool-call", tool_call_id: "t1", tool_name: "x", args: { a: 1 } });
    expect(parts).toEqual([{ type: "tool-call", tool_call_id: "t1", tool_name: "x", args_text: '{"a":1}', args: { a: 1 } }]);
  });

  it("merges tool-result deltas by tool_call_id, separately from the call", () => {
    const s = apply(
      part({ type: "tool-call", tool_call_id: "t1", tool_name: "execute", args: { command: "ls" } }),
      part({ type: "tool-result", tool_call_id: "t1", tool_name: "execute", result_delta: '{"out' }),
      part({ type: "tool-result", tool_call_id: "t1", result_delta: 'put":"a"}', is_error: false }),
    );
    expect(s.streaming?.parts).toEqual([
      { type: "tool-call", tool_call_id: "t1", tool_name: "execute", args_text: '{"command":"ls"}', args: { command: "ls" } },
      {
        type: "tool-result",
        tool_call_id: "t1",
        tool_name: "execute",
        result_text: '{"output":"a"}',
        result: { output: "a" },
        is_error: false,
      },
    ]);
  });

  it("keeps an error flag on a tool result once set", () => {
    let parts = mergePart([], { type: "tool-result", tool_call_id: "t1", tool_name: "x", result_delta: '"bo', is_error: true });
    parts = mergePart(parts, { type: "tool-result", tool_call_id: "t1", result_delta: 'om"' });
    expect(parts[0]).toMatchObject({ is_error: true, result: "boom" });
  });

  it("adds sources once each", () => {
    let parts = mergePart([], { type: "source", url: "https://a.example" });
    parts = mergePart(parts, { type: "source", url: "https://a.example" });
    parts = mergePart(parts, { type: "source", url: "https://b.example" });
    expect(parts).toHaveLength(2);
  });

  it("keeps unknown part types as they came", () => {
    const parts = mergePart([], { type: "file", file_id: "f1", media_type: "image/png" });
    expect(parts).toEqual([{ type: "other", part: { type: "file", file_id: "f1", media_type: "image/png" } }]);
  });
});

describe("message events", () => {
  it("upsert by id in ascending order", () => {
    const s = apply(message(msg(5, "user")), message(msg(3, "user")), message({ ...msg(5, "user"), content: [{ type: "text", text: "edited" }] }));
    expect(s.messages.map((m) => m.id)).toEqual([3, 5]);
    expect(s.messages[1]?.content).toEqual([{ type: "text", text: "edited" }]);
  });

  it("a saved assistant message clears the streamed preview", () => {
    const s = apply(status("running"), text("Hello"), message(msg(7, "assistant", [{ type: "text", text: "Hello" }])));
    expect(s.streaming).toBeNull();
    expect(s.messages).toHaveLength(1);
  });

  it("a saved tool message clears only the matching streamed tool results", () => {
    const s = apply(
      status("running"),
      part({ type: "tool-result", tool_call_id: "t1", tool_name: "a", result: 1 }),
      part({ type: "tool-result", tool_call_id: "t2", tool_name: "b", result_delta: "{" }),
      message(msg(8, "tool", [{ type: "tool-result", tool_call_id: "t1", tool_name: "a", result: 1 }])),
    );
    expect(s.streaming?.parts).toEqual([
      { type: "tool-result", tool_call_id: "t2", tool_name: "b", result_text: "{", result: undefined, is_error: false },
    ]);
  });

  it("a saved tool message that matches everything leaves no preview", () => {
    const s = apply(
      part({ type: "tool-result", tool_call_id: "t1", tool_name: "a", result: 1 }),
      message(msg(8, "tool", [{ type: "tool-result", tool_call_id: "t1", tool_name: "a", result: 1 }])),
    );
    expect(s.streaming).toBeNull();
  });

  it("a snapshot's buffered parts of an already saved step draw no second tool card", () => {
    // The stream's snapshot can carry a step's saved messages and, after them, the parts the
    // server still had buffered for that step.
    const call = { type: "tool-call", tool_call_id: "t1", tool_name: "execute", args: { command: "ls" } } as const;
    const result = { type: "tool-result", tool_call_id: "t1", tool_name: "execute", result: { output: "" } } as const;
    const s = apply(
      status("running"),
      message(msg(7, "assistant", [call])),
      message(msg(8, "tool", [result])),
      part(call),
      part(result, "tool"),
    );
    expect(s.streaming).toBeNull();
    expect(s.messages.map((m) => m.id)).toEqual([7, 8]);
    // A new call of the same step still shows.
    const next = applyStreamEvents(s, [part({ type: "tool-call", tool_call_id: "t2", tool_name: "execute", args_delta: "{" })]);
    expect(next.streaming?.parts).toHaveLength(1);
  });

  it("a user message does not clear a reply being streamed", () => {
    const s = apply(status("running"), text("partial"), message(msg(9, "user")));
    expect(s.streaming?.parts).toEqual([{ type: "text", text: "partial" }]);
  });

  it("lastMessageId is the newest saved message, for after_id", () => {
    expect(lastMessageId(initialChatStreamState(chat))).toBeUndefined();
    expect(lastMessageId(apply(message(msg(4, "user")), message(msg(2, "assistant"))))).toBe(4);
  });
});

describe("status events", () => {
  it("set the status and clear retry; waiting ends the preview", () => {
    let s = apply(status("running"), text("x"));
    s = applyStreamEvents(s, [retry]);
    expect(s.retry).not.toBeNull();
    s = applyStreamEvents(s, [status("running"), text("y")]);
    expect(s.retry).toBeNull();
    expect(s.streaming?.parts).toEqual([{ type: "text", text: "y" }]);
    s = applyStreamEvents(s, [status("waiting")]);
    expect(s.status).toBe("waiting");
    expect(s.streaming).toBeNull();
  });

  it("keep a terminal error only while the status is error", () => {
    let s = apply({ type: "error", chat_id: chat, error: { message: "Provider failed.", detail: "502", kind: "overloaded" } }, status("error"));
    expect(s.error).toEqual({ message: "Provider failed.", detail: "502", kind: "overloaded" });
    s = applyStreamEvents(s, [status("pending")]);
    expect(s.error).toBeNull();
  });

  it("clear pending tool calls when leaving requires_action", () => {
    let s = apply(status("requires_action"), {
      type: "action_required",
      chat_id: chat,
      action_required: { tool_calls: [{ tool_call_id: "t1", tool_name: "ask", args: {} }] },
    });
    expect(s.pendingToolCalls).toHaveLength(1);
    s = applyStreamEvents(s, [status("requires_action")]);
    expect(s.pendingToolCalls).toHaveLength(1);
    s = applyStreamEvents(s, [status("pending")]);
    expect(s.pendingToolCalls).toEqual([]);
  });
});

describe("retry and error events", () => {
  it("retry drops the partial output and records the countdown", () => {
    const s = apply(status("running"), text("half"), retry);
    expect(s.streaming).toBeNull();
    expect(s.retry).toMatchObject({ attempt: 2, delay_ms: 4000, kind: "rate_limit" });
  });

  it("error clears the retry state", () => {
    const s = apply(retry, { type: "error", chat_id: chat, error: { message: "Gave up." } });
    expect(s.retry).toBeNull();
    expect(s.error).toEqual({ message: "Gave up." });
  });
});

describe("queue_update", () => {
  it("replaces the whole queue", () => {
    const q = (id: number) => ({ id, chat_id: chat, content: [{ type: "text", text: `q${id}` }], created_at: "" });
    let s = apply({ type: "queue_update", chat_id: chat, queued_messages: [q(1), q(2)] });
    expect(s.queuedMessages.map((m) => m.id)).toEqual([1, 2]);
    s = applyStreamEvents(s, [{ type: "queue_update", chat_id: chat, queued_messages: [q(2)] }]);
    expect(s.queuedMessages.map((m) => m.id)).toEqual([2]);
  });
});

describe("history and reconnect", () => {
  it("history arrives newest first and is stored ascending, merged with streamed messages", () => {
    let s = apply(message(msg(10, "assistant")));
    s = chatStreamReducer(s, { type: "historyLoaded", messages: [msg(9, "user"), msg(8, "assistant")], queuedMessages: [] });
    expect(s.messages.map((m) => m.id)).toEqual([8, 9, 10]);
  });

  it("reconnecting throws away partial parts and retry, keeping saved messages", () => {
    let s = apply(message(msg(1, "user")), status("running"), text("half"), retry, text("again"));
    s = chatStreamReducer(s, { type: "reconnected" });
    expect(s.streaming).toBeNull();
    expect(s.retry).toBeNull();
    expect(s.messages).toHaveLength(1);
    expect(s.status).toBe("running");
  });

  it("ignores events for another chat", () => {
    const s = initialChatStreamState(chat);
    expect(applyStreamEvents(s, [{ ...status("running"), chat_id: "other" }])).toBe(s);
  });
});

describe("parseStreamFrame", () => {
  it("accepts a bare batch", () => {
    expect(parseStreamFrame(JSON.stringify([status("running"), text("a")])).events).toHaveLength(2);
  });

  it("accepts data envelopes and ignores pings", () => {
    expect(parseStreamFrame(JSON.stringify({ type: "data", data: [status("running")] })).events).toHaveLength(1);
    expect(parseStreamFrame(JSON.stringify({ type: "ping" }))).toEqual({ events: [], error: null });
  });

  it("surfaces error envelopes as message and detail", () => {
    expect(parseStreamFrame(JSON.stringify({ type: "error", data: { message: "Chat not found.", detail: "gone" } }))).toEqual({
      events: [],
      error: { message: "Chat not found.", detail: "gone" },
    });
  });

  it("rejects anything else", () => {
    expect(() => parseStreamFrame('{"hello":1}')).toThrow(/Unrecognised/);
    expect(() => parseStreamFrame("not json")).toThrow();
  });
});

describe("historyReplaced", () => {
  it("drops saved messages the new page no longer has", async () => {
    const { chatStreamReducer, initialChatStreamState } = await import("./streamReducer");
    const m = (id: number) => ({ id, chat_id: "c", role: "user" as const, content: [], created_at: "" });
    let s = chatStreamReducer(initialChatStreamState("c"), { type: "historyLoaded", messages: [m(3), m(2), m(1)] });
    s = chatStreamReducer(s, { type: "historyReplaced", messages: [m(4), m(1)] });
    expect(s.messages.map((x) => x.id)).toEqual([1, 4]);
  });

  it("keeps messages the stream delivered after the page was read", async () => {
    const { chatStreamReducer, initialChatStreamState } = await import("./streamReducer");
    const m = (id: number) => ({ id, chat_id: "c", role: "user" as const, content: [], created_at: "" });
    let s = chatStreamReducer(initialChatStreamState("c"), { type: "historyLoaded", messages: [m(2), m(1)] });
    // The answer to an edit (5) arrives over the socket before the page fetched after the
    // edit (which holds the edited message, 4) comes back.
    s = chatStreamReducer(s, { type: "event", event: { type: "message", chat_id: "c", message: m(5) } });
    s = chatStreamReducer(s, { type: "historyReplaced", messages: [m(4), m(1)] });
    expect(s.messages.map((x) => x.id)).toEqual([1, 4, 5]);
  });
});
