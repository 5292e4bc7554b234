import { useCallback, useEffect, useReducer, useRef, useState } from "react";
import { chatWatchPath, listChats, socketUrl } from "../api/chats";
import type { Chat, ChatWatchEvent } from "../api/types";
import { ErrorAlert } from "../components/ErrorAlert";
import { Link } from "../router";
import { type ChatListState, applyWatchEvent, chatListLoaded, markRead } from "./chatList";
import { openReconnectingSocket } from "./socket";
import { StatusIcon } from "./StatusIcon";

type Action =
  | { type: "loaded"; chats: Chat[]; archived: boolean }
  | { type: "events"; events: ChatWatchEvent[] }
  | { type: "read"; id: string };

function reducer(state: ChatListState | null, action: Action): ChatListState | null {
  if (action.type === "loaded") return chatListLoaded(action.chats, action.archived);
  if (!state) return state;
  if (action.type === "read") return markRead(state, action.id);
  return action.events.reduce(applyWatchEvent, state);
}

/** Chat list state shared by the sidebar and the chat view (for breadcrumbs). */
export function useChatList() {
  const [archived, setArchived] = useState(false);
  const [state, dispatch] = useReducer(reducer, null);
  const [error, setError] = useState<unknown>(null);
  const archivedRef = useRef(archived);
  archivedRef.current = archived;

  const refetch = useCallback(() => {
    const want = archivedRef.current;
    listChats({ archived: want, limit: 100 }).then(
      (chats) => {
        if (archivedRef.current !== want) return;
        setError(null);
        dispatch({ type: "loaded", chats, archived: want });
      },
      (e: unknown) => setError(e),
    );
  }, []);

  useEffect(refetch, [archived, refetch]);

  useEffect(() => {
    // Events sent while the socket was down are lost, so every reconnect refetches the list.
    const sock = openReconnectingSocket({
      url: () => socketUrl(chatWatchPath),
      onOpen: (reconnect) => reconnect && refetch(),
      onFrame: (text) => {
        const raw: unknown = JSON.parse(text);
        const events = (Array.isArray(raw) ? raw : [raw]) as ChatWatchEvent[];
        dispatch({ type: "events", events: events.filter((e) => e && e.chat) });
      },
    });
    return () => sock.close();
  }, [refetch]);

  // The server advances the read cursor when a chat's stream closes; the row follows at once.
  const read = useCallback((id: string) => dispatch({ type: "read", id }), []);

  return { state, error, archived, setArchived, refetch, read };
}

export function ChatSidebar(props: { list: ReturnType<typeof useChatList>; activeId: string | null; id?: string }) {
  const { state, error, archived, setArchived, refetch } = props.list;
  return (
    <aside className="chat-sidebar drawer" aria-label="Agents" id={props.id}>
      <div className="chat-sidebar-head">
        <Link to="/agents" className="button primary">
          New agent
        </Link>
        <label className="inline-label">
          <span className="visually-hidden">Show</span>
          <select aria-label="Filter chats" value={archived ? "archived" : "active"} onChange={(e) => setArchived(e.target.value === "archived")}>
            <option value="active">Active</option>
            <option value="archived">Archived</option>
          </select>
        </label>
      </div>
      <ErrorAlert title="Could not load chats" error={error} onRetry={refetch} />
      {state === null && !error ? (
        <ul className="chat-list" aria-busy="true">
          {[0, 1, 2].map((i) => (
            <li key={i} className="skeleton-row" />
          ))}
        </ul>
      ) : null}
      {state && state.chats.length === 0 ? <p className="muted empty">{archived ? "No archived chats." : "No chats yet."}</p> : null}
      {state && state.chats.length > 0 ? (
        <ul className="chat-list" aria-label={archived ? "Archived chats" : "Chats"}>
          {state.chats.map((c) => (
            <ChatRow key={c.id} chat={c} activeId={props.activeId} />
          ))}
        </ul>
      ) : null}
    </aside>
  );
}

function ChatRow({ chat, activeId }: { chat: Chat; activeId: string | null }) {
  const kids = chat.children ?? [];
  const familyActive = activeId !== null && kids.some((k) => k.id === activeId);
  const [expanded, setExpanded] = useState(familyActive);
  useEffect(() => {
    if (familyActive) setExpanded(true);
  }, [familyActive]);
  return (
    <li>
      <div className={`chat-row${chat.id === activeId ? " active" : ""}`}>
        {kids.length > 0 ? (
          <button
            type="button"
            className="chevron"
            aria-label={`${expanded ? "Hide" : "Show"} subagents of ${chat.title}`}
            aria-expanded={expanded}
            onClick={() => setExpanded(!expanded)}
          >
            {expanded ? "▾" : "▸"}
          </button>
        ) : (
          <span className="chevron-space" />
        )}
        <Link to={`/agents/${encodeURIComponent(chat.id)}`} className="chat-link" aria-current={chat.id === activeId ? "page" : undefined}>
          <StatusIcon status={chat.status} />
          <span className="chat-row-text">
            <span className={`chat-row-title${chat.has_unread && chat.id !== activeId ? " unread" : ""}`}>{chat.title || "New Chat"}</span>
            {chat.status === "error" && chat.last_error ? <span className="chat-row-error">{chat.last_error}</span> : null}
          </span>
        </Link>
      </div>
      {expanded && kids.length > 0 ? (
        <ul className="chat-children" aria-label={`Subagents of ${chat.title}`}>
          {kids.map((k) => (
            <li key={k.id}>
              <div className={`chat-row${k.id === activeId ? " active" : ""}`}>
                <span className="chevron-space" />
                <Link to={`/agents/${encodeURIComponent(k.id)}`} className="chat-link" aria-current={k.id === activeId ? "page" : undefined}>
                  <StatusIcon status={k.status} />
                  <span className="chat-row-title">{k.title || "New Chat"}</span>
                </Link>
              </div>
            </li>
          ))}
        </ul>
      ) : null}
    </li>
  );
}
