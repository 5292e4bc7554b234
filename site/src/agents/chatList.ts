// The sidebar's chat list as a pure reducer: the REST page, then `watch` events applied in place.
// Children are nested under their root; the list shows either active or archived chats, so an
// event can move a chat out of (or into) view.

import type { Chat, ChatWatchEvent } from "../api/types";

export interface ChatListState {
  /** Root chats, each with its `children`, in display order. */
  chats: Chat[];
  archived: boolean;
  /** Only this organization's chats, when set. */
  organizationId?: string | null;
  /** Only chats whose title contains each of these words (lower case), when set. */
  titleWords?: string[];
}

/** The words a search asks for, as the server reads them (`title:` prefixes dropped). */
export function searchWords(search: string): string[] {
  return search
    .split(/\s+/)
    .filter(Boolean)
    .map((w) => w.replace(/^title:/, "").toLowerCase())
    .filter(Boolean);
}

function matchesSearch(state: ChatListState, chat: Chat): boolean {
  const title = (chat.title ?? "").toLowerCase();
  return (state.titleWords ?? []).every((w) => title.includes(w));
}

function sortRoots(chats: Chat[]): Chat[] {
  // Pinned first (ascending pin order), then most recently updated.
  return [...chats].sort((a, b) => {
    const pa = a.pin_order ?? 0;
    const pb = b.pin_order ?? 0;
    if ((pa > 0) !== (pb > 0)) return pa > 0 ? -1 : 1;
    if (pa !== pb) return pa - pb;
    return b.updated_at.localeCompare(a.updated_at) || b.id.localeCompare(a.id);
  });
}

function removeChat(chats: Chat[], id: string): Chat[] {
  return chats
    .filter((c) => c.id !== id)
    .map((c) => (c.children?.some((k) => k.id === id) ? { ...c, children: c.children.filter((k) => k.id !== id) } : c));
}

function findChat(chats: Chat[], id: string): Chat | undefined {
  for (const c of chats) {
    if (c.id === id) return c;
    const k = c.children?.find((x) => x.id === id);
    if (k) return k;
  }
  return undefined;
}

function upsert(chats: Chat[], chat: Chat): Chat[] {
  const parent = chat.parent_chat_id;
  if (parent) {
    return chats.map((c) => {
      if (c.id !== parent) return c;
      const kids = c.children ?? [];
      const i = kids.findIndex((k) => k.id === chat.id);
      const next = i >= 0 ? kids.map((k) => (k.id === chat.id ? { ...k, ...chat, children: [] } : k)) : [...kids, chat];
      return { ...c, children: next };
    });
  }
  const existing = chats.find((c) => c.id === chat.id);
  const merged: Chat = { ...existing, ...chat, children: chat.children?.length ? chat.children : (existing?.children ?? []) };
  return sortRoots([...chats.filter((c) => c.id !== chat.id), merged]);
}

export function chatListLoaded(chats: Chat[], archived: boolean, organizationId: string | null = null, search = ""): ChatListState {
  return { chats: sortRoots(chats), archived, organizationId, titleWords: searchWords(search) };
}

export function applyWatchEvent(state: ChatListState, event: ChatWatchEvent): ChatListState {
  const { chat } = event;
  if (event.kind === "deleted") {
    // Archiving sends `deleted`: gone from the active list. The archived view refetches instead.
    return state.archived ? state : { ...state, chats: removeChat(state.chats, chat.id) };
  }
  const outside = state.organizationId && chat.organization_id !== state.organizationId;
  if (chat.archived !== state.archived || outside || (!chat.parent_chat_id && !matchesSearch(state, chat))) {
    return { ...state, chats: removeChat(state.chats, chat.id) };
  }
  if (event.kind === "created" || findChat(state.chats, chat.id)) {
    return { ...state, chats: upsert(state.chats, chat) };
  }
  // A change to a chat this list never saw (say, one created while the socket was down): add it.
  return { ...state, chats: upsert(state.chats, chat) };
}

/** The list after the user has seen `id` (its stream advanced the server's read cursor). */
export function markRead(state: ChatListState, id: string): ChatListState {
  const chat = findChat(state.chats, id);
  if (!chat?.has_unread) return state;
  return { ...state, chats: upsert(state.chats, { ...chat, has_unread: false }) };
}

/** The ids of `id` and its ancestors, to expand the open chat's family. */
export function ancestry(state: ChatListState, id: string): string[] {
  const chat = findChat(state.chats, id);
  if (!chat) return [];
  return chat.parent_chat_id ? [chat.parent_chat_id, id] : [id];
}

export { findChat };

export interface ChatGroup {
  label: string;
  chats: Chat[];
}

/**
 * The sidebar's sections: pinned chats first, then by when they last changed (Today, Yesterday,
 * Previous 7 days, Previous 30 days, Older), in the list's order. Empty sections are left out.
 */
export function groupChats(chats: Chat[], now: Date): ChatGroup[] {
  const startOfToday = new Date(now.getFullYear(), now.getMonth(), now.getDate()).getTime();
  const day = 24 * 60 * 60 * 1000;
  const bounds: [string, number][] = [
    ["Today", startOfToday],
    ["Yesterday", startOfToday - day],
    ["Previous 7 days", startOfToday - 7 * day],
    ["Previous 30 days", startOfToday - 30 * day],
    ["Older", -Infinity],
  ];
  const groups: ChatGroup[] = [{ label: "Pinned", chats: [] }, ...bounds.map(([label]) => ({ label, chats: [] as Chat[] }))];
  for (const c of chats) {
    if ((c.pin_order ?? 0) > 0) {
      groups[0]!.chats.push(c);
      continue;
    }
    const t = Date.parse(c.updated_at);
    const i = bounds.findIndex(([, from]) => t >= from);
    groups[1 + (i < 0 ? bounds.length - 1 : i)]!.chats.push(c);
  }
  return groups.filter((g) => g.chats.length > 0);
}
