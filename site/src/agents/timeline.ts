// Turns saved messages and the streamed preview into what the chat view renders: one entry per
// user or assistant message, with each tool call joined to its result (results arrive later, in
// `tool` messages or as streamed parts). Pure, so the joining rules are unit-tested.

import type { ChatMessage, ChatMessagePart, StreamingMessage } from "./streamReducer";

export interface ToolCallView {
  toolCallId: string;
  toolName: string;
  args: unknown;
  /** Undefined while the tool runs. */
  result: unknown;
  isError: boolean;
  done: boolean;
}

export type BlockView =
  | { kind: "text"; text: string }
  | { kind: "reasoning"; text: string }
  | { kind: "tool"; call: ToolCallView }
  | { kind: "file"; fileId: string; mediaType?: string }
  | { kind: "other"; part: ChatMessagePart };

export interface TimelineEntry {
  key: string;
  role: "user" | "assistant";
  /** The saved message id; absent for the streamed preview. */
  messageId?: number;
  blocks: BlockView[];
  streaming: boolean;
  /** What the model call behind a saved assistant message used. */
  usage?: EntryUsage;
  /** The user stopped this answer before the model finished it. */
  stopped?: boolean;
}

export interface EntryUsage {
  inputTokens: number;
  outputTokens: number;
  costMicros: number | null;
}

function entryUsage(m: ChatMessage): EntryUsage | undefined {
  if (m.role !== "assistant" || !m.usage) return undefined;
  return { inputTokens: m.usage.input_tokens ?? 0, outputTokens: m.usage.output_tokens ?? 0, costMicros: m.total_cost_micros ?? null };
}

/** The chat's totals, and how full the model's context window was at the last call. */
export interface ChatUsageSummary {
  inputTokens: number;
  outputTokens: number;
  costMicros: number | null;
  /** Input tokens of the last call over its context limit (0..1), when both are known. */
  contextUsed: number | null;
  contextTokens: number | null;
  contextLimit: number | null;
}

export function summarizeUsage(messages: ChatMessage[]): ChatUsageSummary | null {
  const calls = messages.filter((m) => m.role === "assistant" && m.usage);
  if (calls.length === 0) return null;
  let cost: number | null = null;
  for (const m of calls) if (m.total_cost_micros != null) cost = (cost ?? 0) + m.total_cost_micros;
  const last = calls[calls.length - 1]!.usage!;
  const limit = last.context_limit ?? null;
  const used = last.input_tokens ?? null;
  return {
    inputTokens: calls.reduce((n, m) => n + (m.usage!.input_tokens ?? 0), 0),
    outputTokens: calls.reduce((n, m) => n + (m.usage!.output_tokens ?? 0), 0),
    costMicros: cost,
    contextUsed: limit && used !== null ? Math.min(1, used / limit) : null,
    contextTokens: used,
    contextLimit: limit,
  };
}

/** `1234567` micros → `"1.2346"`; tiny costs keep their first significant digits. */
export function formatCost(micros: number): string {
  const units = micros / 1_000_000;
  if (units === 0) return "0";
  if (units >= 0.01) return units.toFixed(4).replace(/0+$/, "").replace(/\.$/, "");
  return units.toPrecision(2);
}

/** `12345` → `"12.3k"`. */
export function formatTokens(n: number): string {
  if (n < 1000) return String(n);
  if (n < 1_000_000) return `${(n / 1000).toFixed(n < 10_000 ? 1 : 0)}k`;
  return `${(n / 1_000_000).toFixed(1)}M`;
}

interface ResultInfo {
  result: unknown;
  isError: boolean;
}

function collectResults(messages: ChatMessage[], streaming: StreamingMessage | null): Map<string, ResultInfo> {
  const results = new Map<string, ResultInfo>();
  for (const m of messages) {
    for (const p of m.content) {
      if (p.type === "tool-result" && p.tool_call_id) {
        results.set(p.tool_call_id, { result: p.result, isError: p.is_error === true });
      }
    }
  }
  for (const p of streaming?.parts ?? []) {
    if (p.type === "tool-result" && !results.has(p.tool_call_id)) {
      results.set(p.tool_call_id, { result: p.result ?? p.result_text, isError: p.is_error });
    }
  }
  return results;
}

function savedBlocks(parts: ChatMessagePart[], results: Map<string, ResultInfo>): BlockView[] {
  const blocks: BlockView[] = [];
  for (const p of parts) {
    switch (p.type) {
      case "text":
        if (p.text) blocks.push({ kind: "text", text: p.text });
        break;
      case "reasoning":
        if (p.text) blocks.push({ kind: "reasoning", text: p.text });
        break;
      case "tool-call": {
        const id = p.tool_call_id ?? "";
        const r = results.get(id);
        blocks.push({
          kind: "tool",
          call: { toolCallId: id, toolName: p.tool_name ?? "", args: p.args, result: r?.result, isError: r?.isError ?? false, done: !!r },
        });
        break;
      }
      case "tool-result":
        break; // Joined to its call.
      case "file":
        if (p.file_id) blocks.push({ kind: "file", fileId: p.file_id, mediaType: p.media_type });
        break;
      default:
        blocks.push({ kind: "other", part: p });
    }
  }
  return blocks;
}

export function buildTimeline(messages: ChatMessage[], streaming: StreamingMessage | null): TimelineEntry[] {
  const results = collectResults(messages, streaming);
  const entries: TimelineEntry[] = [];
  for (const m of messages) {
    if (m.role !== "user" && m.role !== "assistant") continue;
    const blocks = savedBlocks(m.content, results);
    if (blocks.length === 0) continue;
    entries.push({ key: `m${m.id}`, role: m.role, messageId: m.id, blocks, streaming: false, usage: entryUsage(m), stopped: m.stopped === true });
  }
  if (streaming && streaming.role === "assistant") {
    const blocks: BlockView[] = [];
    for (const p of streaming.parts) {
      if (p.type === "text" || p.type === "reasoning") {
        if (p.text) blocks.push({ kind: p.type, text: p.text });
      } else if (p.type === "tool-call") {
        const r = results.get(p.tool_call_id);
        blocks.push({
          kind: "tool",
          call: {
            toolCallId: p.tool_call_id,
            toolName: p.tool_name,
            args: p.args ?? p.args_text,
            result: r?.result,
            isError: r?.isError ?? false,
            done: !!r,
          },
        });
      } else if (p.type === "other") {
        blocks.push({ kind: "other", part: p.part });
      }
    }
    if (blocks.length) entries.push({ key: "streaming", role: "assistant", blocks, streaming: true });
  }
  return entries;
}

/** The newest user message (the one that may be edited), if any. */
export function lastUserMessage(messages: ChatMessage[]): ChatMessage | undefined {
  for (let i = messages.length - 1; i >= 0; i--) if (messages[i]!.role === "user") return messages[i];
  return undefined;
}

export function messageText(m: { content: ChatMessagePart[] }): string {
  return m.content
    .filter((p) => p.type === "text")
    .map((p) => p.text ?? "")
    .join("\n");
}
