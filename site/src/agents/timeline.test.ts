import { describe, expect, it } from "vitest";
import type { ChatMessage } from "./streamReducer";
import { buildTimeline, formatCost, formatTokens, lastUserMessage, messageText, summarizeUsage } from "./timeline";

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

  it("marks an answer the user stopped, and only that one", () => {
    const t = buildTimeline([...history, { ...msg(5, "assistant", [{ type: "text", text: "Cut o" }]), stopped: true }], null);
    expect(t.map((e) => e.stopped === true)).toEqual([false, false, false, true]);
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

describe("usage", () => {
  const msg = (id: number, usage: ChatMessage["usage"], cost: number | null = null): ChatMessage => ({
    id,
    chat_id: "c",
    role: "assistant",
    content: [{ type: "text", text: "x" }],
    created_at: "",
    usage,
    total_cost_micros: cost,
  });

  it("sums a chat's calls and reads the context window from the last one", () => {
    const s = summarizeUsage([msg(1, { input_tokens: 1000, output_tokens: 10, context_limit: 8000 }, 1500), msg(2, { input_tokens: 2000, output_tokens: 20, context_limit: 8000 }, 2500)]);
    expect(s).toEqual({ inputTokens: 3000, outputTokens: 30, costMicros: 4000, contextUsed: 0.25, contextTokens: 2000, contextLimit: 8000 });
    expect(summarizeUsage([])).toBeNull();
    expect(summarizeUsage([msg(1, { input_tokens: 5 })])?.costMicros).toBeNull();
  });

  it("puts each saved assistant message's usage on its timeline entry", () => {
    const [entry] = buildTimeline([msg(1, { input_tokens: 7, output_tokens: 3 }, 12)], null);
    expect(entry!.usage).toEqual({ inputTokens: 7, outputTokens: 3, costMicros: 12 });
  });

  it("formats costs and token counts compactly", () => {
    expect(formatCost(1_234_567)).toBe("1.2346");
    expect(formatCost(1500)).toBe("0.0015");
    expect(formatCost(12)).toBe("0.000012");
    expect(formatCost(10_000)).toBe("0.01");
    expect(formatTokens(999)).toBe("999");
    expect(formatTokens(1234)).toBe("1.2k");
    expect(formatTokens(128_000)).toBe("128k");
    expect(formatTokens(2_500_000)).toBe("2.5M");
  });
});
