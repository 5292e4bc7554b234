// Issue 17: after an edit, the replaced turn must leave the screen as soon as the server has
// accepted the edit and must never come back, whatever order the edit's answer, the history
// reload and the stream's frames arrive in.
//
// The history mirrors site/e2e/roundtrip.test.mjs: a first turn with a tool call, then
// "Count slowly." (5) and its stopped answer (6). The user edits 5; the server soft-deletes 5 and
// 6, saves the replacement (7) and runs the chat again, whose answer (8) streams, then is saved.
// The browser learns all this from three independent channels: the PATCH answer, the chat's
// stream socket, and the history page it fetches after the PATCH.

import { describe, expect, it } from "vitest";
import {
  type ChatMessage,
  type ChatStreamAction,
  type ChatStreamEvent,
  type ChatStreamState,
  chatStreamReducer,
  initialChatStreamState,
  lastMessageId,
  visibleTimeline,
} from "./streamReducer";
import { buildTimeline } from "./timeline";

const chat = "c1";
const msg = (id: number, role: ChatMessage["role"], text: string): ChatMessage => ({
  id,
  chat_id: chat,
  role,
  content: [{ type: "text", text }],
  created_at: "2026-01-01T00:00:00Z",
});

const m1 = msg(1, "user", "Please run the greeting command.");
const m2 = msg(2, "assistant", "Running the greeting command now.");
const m3 = msg(3, "tool", "hello-from-the-workspace");
const m4 = msg(4, "assistant", "All done here.");
const m5 = msg(5, "user", "Count slowly.");
const m6 = msg(6, "assistant", "Counting slowly: tok0 tok1 tok2");
const m7 = msg(7, "user", "Answer the edited message instead.");
const m8 = msg(8, "assistant", "This is the answer to the edited message.");

const ev = (event: ChatStreamEvent): ChatStreamAction => ({ type: "event", event });
const saved = (m: ChatMessage) => ev({ type: "message", chat_id: chat, message: m });
const status = (s: "pending" | "running" | "waiting") => ev({ type: "status", chat_id: chat, status: { status: s } });
const page = (...ms: ChatMessage[]): ChatStreamAction => ({ type: "historyReplaced", messages: [...ms].reverse() });

/** The texts the chat view would render, top to bottom (streamed preview included). */
function shownTexts(s: ChatStreamState): string[] {
  const v = visibleTimeline(s);
  return buildTimeline(v.messages, v.streaming).flatMap((e) => e.blocks.flatMap((b) => (b.kind === "text" ? [b.text] : [])));
}

const replacedTexts = [m5, m6].map((m) => (m.content[0] as { text: string }).text);
const answer = "This is the answer to the edited message.";

interface Step {
  name: string;
  action: ChatStreamAction;
}

/** Every way to interleave two ordered sequences. */
function interleavings<T>(a: T[], b: T[]): T[][] {
  if (a.length === 0) return [b];
  if (b.length === 0) return [a];
  return [
    ...interleavings(a.slice(1), b).map((rest) => [a[0]!, ...rest]),
    ...interleavings(a, b.slice(1)).map((rest) => [b[0]!, ...rest]),
  ];
}

describe("an edit replaces the later turns for good", () => {
  // Variants: whether the stopped answer (6) reached the browser before the click or only in a
  // frame the socket had read before the edit committed; whether the page fetched after the edit
  // was read before or after the answer (8) was saved.
  for (const lateSix of [false, true]) {
    for (const pageHasAnswer of [false, true]) {
      it(`in every arrival order (6 ${lateSix ? "arrives late" : "already shown"}, reload ${pageHasAnswer ? "with" : "without"} the answer)`, () => {
        const stream: Step[] = [
          ...(lateSix ? [{ name: "stream: 6 (read before the edit)", action: saved(m6) }] : []),
          { name: "stream: status pending", action: status("pending") },
          { name: "stream: 7", action: saved(m7) },
          { name: "stream: status running", action: status("running") },
          { name: "stream: answer preview", action: ev({ type: "message_part", chat_id: chat, message_part: { role: "assistant", part: { type: "text", text: answer } } }) },
          { name: "stream: 8", action: saved(m8) },
          { name: "stream: status waiting", action: status("waiting") },
        ];
        const http: Step[] = [
          { name: "PATCH answer", action: { type: "editAccepted", messageId: 5, message: m7 } },
          { name: "reload page", action: pageHasAnswer ? page(m1, m2, m3, m4, m7, m8) : page(m1, m2, m3, m4, m7) },
        ];
        // A page fetched before the edit (an earlier reload) that comes back late.
        const stale: Step = { name: "stale page read before the edit", action: page(m1, m2, m3, m4, m5, m6) };

        let orders = 0;
        for (const merged of interleavings(stream, http)) {
          for (let at = 0; at <= merged.length; at++) {
            const order = [...merged.slice(0, at), stale, ...merged.slice(at)];
            orders++;
            let s = chatStreamReducer(initialChatStreamState(chat), lateSix ? page(m1, m2, m3, m4, m5) : page(m1, m2, m3, m4, m5, m6));
            // The click on Save.
            s = chatStreamReducer(s, { type: "editStarted", messageId: 5 });
            let accepted = false;
            const seen: string[] = [];
            for (const step of order) {
              s = chatStreamReducer(s, step.action);
              seen.push(step.name);
              if (step.action.type === "editAccepted") accepted = true;
              const texts = shownTexts(s);
              const where = `after ${seen.join(" → ")}`;
              if (accepted || texts.includes(answer)) {
                for (const gone of replacedTexts) expect(texts, where).not.toContain(gone);
              }
            }
            expect(s.messages.map((m) => m.id), seen.join(" → ")).toEqual([1, 2, 3, 4, 7, 8]);
            expect(shownTexts(s), seen.join(" → ")).toEqual([
              "Please run the greeting command.",
              "Running the greeting command now.",
              "All done here.",
              "Answer the edited message instead.",
              answer,
            ]);
          }
        }
        expect(orders).toBeGreaterThan(100);
      });
    }
  }

  it("a replaced message from a stale page or a late frame stays gone after the reload", () => {
    let s = chatStreamReducer(initialChatStreamState(chat), page(m1, m2, m3, m4, m5, m6));
    s = chatStreamReducer(s, { type: "editStarted", messageId: 5 });
    s = chatStreamReducer(s, { type: "editAccepted", messageId: 5, message: m7 });
    s = chatStreamReducer(s, page(m1, m2, m3, m4, m7, m8));
    s = chatStreamReducer(s, page(m1, m2, m3, m4, m5, m6));
    s = chatStreamReducer(s, saved(m6));
    s = chatStreamReducer(s, { type: "historyLoaded", messages: [m6, m5] });
    expect(s.messages.map((m) => m.id)).toEqual([1, 2, 3, 4, 7, 8]);
  });

  it("a late frame with a replaced answer does not cut the new answer's preview short", () => {
    let s = chatStreamReducer(initialChatStreamState(chat), page(m1, m2, m3, m4, m5));
    s = chatStreamReducer(s, { type: "editStarted", messageId: 5 });
    s = chatStreamReducer(s, { type: "editAccepted", messageId: 5, message: m7 });
    s = chatStreamReducer(s, ev({ type: "message_part", chat_id: chat, message_part: { role: "assistant", part: { type: "text", text: "This is" } } }));
    s = chatStreamReducer(s, saved(m6));
    expect(shownTexts(s)).toEqual(["Please run the greeting command.", "Running the greeting command now.", "All done here.", "Answer the edited message instead.", "This is"]);
  });

  it("two edits in a row: the first edit's reload, answered last, does not bring its turn back", () => {
    const m9 = msg(9, "user", "Second thoughts.");
    let s = chatStreamReducer(initialChatStreamState(chat), page(m1, m2, m3, m4, m5, m6));
    s = chatStreamReducer(s, { type: "editStarted", messageId: 5 });
    s = chatStreamReducer(s, { type: "editAccepted", messageId: 5, message: m7 });
    s = chatStreamReducer(s, saved(m8));
    s = chatStreamReducer(s, { type: "editStarted", messageId: 7 });
    s = chatStreamReducer(s, { type: "editAccepted", messageId: 7, message: m9 });
    // The second reload answers first, then the first one (read between the two edits).
    s = chatStreamReducer(s, page(m1, m2, m3, m4, m9));
    s = chatStreamReducer(s, page(m1, m2, m3, m4, m7, m8));
    expect(s.messages.map((m) => m.id)).toEqual([1, 2, 3, 4, 9]);
  });

  it("while the edit is in flight the later turns are held back, and a refused edit puts them back", () => {
    let s = chatStreamReducer(initialChatStreamState(chat), page(m1, m2, m3, m4, m5, m6));
    s = chatStreamReducer(s, ev({ type: "message_part", chat_id: chat, message_part: { role: "assistant", part: { type: "text", text: "tok3" } } }));
    s = chatStreamReducer(s, { type: "editStarted", messageId: 5 });
    // The edited message stays (it is the open edit box); what it would replace is not shown.
    expect(visibleTimeline(s).messages.map((m) => m.id)).toEqual([1, 2, 3, 4, 5]);
    expect(visibleTimeline(s).streaming).toBeNull();
    // The stream position still covers everything saved, so a reconnect asks for nothing twice.
    expect(lastMessageId(s)).toBe(6);
    s = chatStreamReducer(s, { type: "editFailed", messageId: 5 });
    expect(visibleTimeline(s).messages.map((m) => m.id)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(s.messages.map((m) => m.id)).toEqual([1, 2, 3, 4, 5, 6]);
  });
});
