import { describe, expect, it } from "vitest";
import type { Chat } from "../api/types";
import { applyWatchEvent, chatListLoaded, findChat, groupChats, markRead, searchWords } from "./chatList";

function chat(id: string, over: Partial<Chat> = {}): Chat {
  return {
    id,
    organization_id: "o",
    owner_id: "u",
    title: id,
    status: "waiting",
    created_at: "2025-01-01T00:00:00Z",
    updated_at: "2025-01-01T00:00:00Z",
    archived: false,
    children: [],
    has_unread: false,
    labels: {},
    last_model_config_id: "m",
    mcp_server_ids: [],
    pin_order: 0,
    root_chat_id: id,
    ...over,
  };
}

describe("chat list", () => {
  it("adds created roots at the top and nests created children under their parent", () => {
    let s = chatListLoaded([chat("a")], false);
    s = applyWatchEvent(s, { kind: "created", chat: chat("b", { updated_at: "2025-01-02T00:00:00Z" }) });
    expect(s.chats.map((c) => c.id)).toEqual(["b", "a"]);
    s = applyWatchEvent(s, { kind: "created", chat: chat("k", { parent_chat_id: "a" }) });
    expect(s.chats.map((c) => c.id)).toEqual(["b", "a"]);
    expect(s.chats[1]!.children!.map((c) => c.id)).toEqual(["k"]);
  });

  it("patches status and title in place, children included", () => {
    let s = chatListLoaded([chat("a", { children: [chat("k", { parent_chat_id: "a" })] })], false);
    s = applyWatchEvent(s, { kind: "status_change", chat: chat("a", { status: "running" }) });
    s = applyWatchEvent(s, { kind: "title_change", chat: chat("k", { parent_chat_id: "a", title: "Child" }) });
    expect(s.chats[0]!.status).toBe("running");
    expect(s.chats[0]!.children![0]!.title).toBe("Child");
    expect(findChat(s.chats, "k")!.title).toBe("Child");
  });

  it("drops archived chats from the active list but keeps the archived list as fetched", () => {
    let s = chatListLoaded([chat("a"), chat("b")], false);
    s = applyWatchEvent(s, { kind: "deleted", chat: chat("a", { archived: true }) });
    expect(s.chats.map((c) => c.id)).toEqual(["b"]);
    const archived = chatListLoaded([chat("z", { archived: true })], true);
    expect(applyWatchEvent(archived, { kind: "deleted", chat: chat("z", { archived: true }) }).chats).toHaveLength(1);
    expect(applyWatchEvent(archived, { kind: "created", chat: chat("n") }).chats.map((c) => c.id)).toEqual(["z"]);
  });

  it("keeps pinned chats first", () => {
    const s = chatListLoaded(
      [chat("new", { updated_at: "2025-02-01T00:00:00Z" }), chat("pinned", { pin_order: 1 })],
      false,
    );
    expect(s.chats.map((c) => c.id)).toEqual(["pinned", "new"]);
  });
});

describe("markRead", () => {
  it("clears the unread mark of the chat the user saw and keeps the order", () => {
    const a = chat("a", { updated_at: "2026-01-02T00:00:00Z", has_unread: true });
    const b = chat("b", { updated_at: "2026-01-01T00:00:00Z", has_unread: true });
    const state = chatListLoaded([a, b], false);
    const next = markRead(state, "b");
    expect(next.chats.map((c) => [c.id, c.has_unread])).toEqual([
      ["a", true],
      ["b", false],
    ]);
    expect(markRead(next, "b")).toBe(next);
  });
});

describe("groupChats", () => {
  it("puts pinned chats first, then sections by last change, leaving out empty ones", () => {
    const now = new Date(2026, 10, 30, 12, 0, 0);
    const at = (d: number, h = 10) => new Date(2026, 10, d, h).toISOString();
    const chats = [
      chat("p", { pin_order: 1, updated_at: at(1) }),
      chat("today", { updated_at: at(30, 9) }),
      chat("yesterday", { updated_at: at(29, 23) }),
      chat("week", { updated_at: at(25) }),
      chat("old", { updated_at: new Date(2026, 0, 1).toISOString() }),
    ];
    expect(groupChats(chats, now).map((g) => [g.label, g.chats.map((c) => c.id)])).toEqual([
      ["Pinned", ["p"]],
      ["Today", ["today"]],
      ["Yesterday", ["yesterday"]],
      ["Previous 7 days", ["week"]],
      ["Older", ["old"]],
    ]);
  });
});

describe("organization filter", () => {
  it("drops events of chats in other organizations", () => {
    let s = chatListLoaded([chat("a", { organization_id: "o1" })], false, "o1");
    s = applyWatchEvent(s, { kind: "created", chat: chat("b", { organization_id: "o2" }) });
    s = applyWatchEvent(s, { kind: "created", chat: chat("c", { organization_id: "o1", updated_at: "2025-02-01T00:00:00Z" }) });
    expect(s.chats.map((c) => c.id)).toEqual(["c", "a"]);
  });
});

describe("title search", () => {
  it("reads words as the server does and drops events of chats whose title does not match", () => {
    expect(searchWords("  Deploy title:API x ")).toEqual(["deploy", "api", "x"]);
    let s = chatListLoaded([chat("a", { title: "Deploy the API" })], false, null, "deploy");
    s = applyWatchEvent(s, { kind: "created", chat: chat("b", { title: "Lunch" }) });
    s = applyWatchEvent(s, { kind: "created", chat: chat("c", { title: "deploy docs", updated_at: "2025-02-01T00:00:00Z" }) });
    expect(s.chats.map((c) => c.id)).toEqual(["c", "a"]);
    // A rename that no longer matches leaves the results.
    s = applyWatchEvent(s, { kind: "title_change", chat: chat("a", { title: "Something else" }) });
    expect(s.chats.map((c) => c.id)).toEqual(["c"]);
  });
});
