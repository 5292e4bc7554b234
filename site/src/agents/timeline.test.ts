import { describe, expect, it } from "vitest";
import type { ChatMessage } from "./streamReducer";
import { buildTimeline, lastUserMessage, messageText } from "./timeline";

const msg = (id: number, role: ChatMessage["role"], content: ChatMessage["content"]): ChatMessage => ({
  id,
  chat_id: "c",
  role,
  content,
  created_at: "2025-01-01T00:00:00Z",
});

describe("timeline", () => {
  const history = [
    msg(1, "user", [{ type: "text", text: "list files" }]),
    msg(2, "assistant", [
      { type: "reasoning", text: "Look first." },
      { type: "tool-call", tool_call_id: "t1", tool_name: "execute", args: { command: "ls" } },
    ]),
    msg(3, "tool", [{ type: "tool-result", tool_call_id: "t1", tool_name: "execute", result: { output: "a\n", exit_code: 0 } }]),
    msg(4, "assistant", [{ type: "text", text: "One file." }]),
  ];

  it("joins tool results to their calls and hides tool messages", () => {
    const t = buildTimeline(history, null);
    expect(t.map((e) => e.role)).toEqual(["user", "assistant", "assistant"]);
    const tool = t[1]!.blocks[1]!;
    expect(tool.kind).toBe("tool");
    if (tool.kind === "tool") {
      expect(tool.call.done).toBe(true);
      expect(tool.call.result).toEqual({ output: "a\n", exit_code: 0 });
    }
  });

  it("shows a streamed tool call as running until its result arrives", () => {
    const t = buildTimeline(history.slice(0, 1), {
      role: "assistant",
      parts: [
        { type: "text", text: "Running" },
        { type: "tool-call", tool_call_id: "t9", tool_name: "execute", args_text: '{"command":"ls"}', args: { command: "ls" } },
      ],
    });
    const last = t[t.length - 1]!;
    expect(last.streaming).toBe(true);
    const tool = last.blocks[1]!;
    expect(tool.kind === "tool" && tool.call.done).toBe(false);
  });

  it("finds the last user message and its text", () => {
    expect(lastUserMessage(history)!.id).toBe(1);
    expect(messageText(history[0]!)).toBe("list files");
  });
});
