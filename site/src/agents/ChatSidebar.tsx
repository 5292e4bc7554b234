import { useCallback, useEffect, useReducer, useRef, useState } from "react";
import { chatWatchPath, listChats, socketUrl } from "../api/chats";
import type { Chat, ChatWatchEvent } from "../api/types";
import { ErrorAlert } from "../components/ErrorAlert";
import { Link } from "../router";
import { authcheck } from "../api/authcheck";
import { listOrganizations } from "../api/organizations";
import type { AuthorizationRequest, Organization } from "../api/types";
import { userName } from "../api/userNames";
import { useAsync } from "../components/useAsync";
import { type ChatListState, applyWatchEvent, chatListLoaded, groupChats, markRead } from "./chatList";
import { openReconnectingSocket } from "./socket";
import { StatusIcon } from "./StatusIcon";

type Action =
  | { type: "loaded"; chats: Chat[]; filter: ChatFilter }
  | { type: "events"; events: ChatWatchEvent[] }
  | { type: "read"; id: string };

function reducer(state: ChatListState | null, action: Action): ChatListState | null {
  if (action.type === "loaded") return chatListLoaded(action.chats, action.filter.archived, action.filter.organizationId, action.filter.search);
  if (!state) return state;
  if (action.type === "read") return markRead(state, action.id);
  return action.events.reduce(applyWatchEvent, state);
}

/** Which chats the sidebar lists. */
export interface ChatFilter {
  archived: boolean;
  organizationId: string | null;
  /** Everyone's chats the user may read, not only their own. */
  everyone: boolean;
  /** Title words, searched by the server. */
  search: string;
}

const sameFilter = (a: ChatFilter, b: ChatFilter) =>
  a.archived === b.archived && a.organizationId === b.organizationId && a.everyone === b.everyone && a.search === b.search;

/** Chat list state shared by the sidebar and the chat view (for breadcrumbs). */
export function useChatList() {
  const [filter, setFilter] = useState<ChatFilter>({ archived: false, organizationId: null, everyone: false, search: "" });
  const [state, dispatch] = useReducer(reducer, null);
  const [error, setError] = useState<unknown>(null);
  const filterRef = useRef(filter);
  filterRef.current = filter;

  const refetch = useCallback(() => {
    const want = filterRef.current;
    listChats({ ...want, limit: 100 }).then(
      (chats) => {
        if (!sameFilter(filterRef.current, want)) return;
        setError(null);
        dispatch({ type: "loaded", chats, filter: want });
      },
      (e: unknown) => setError(e),
    );
  }, []);

  useEffect(refetch, [filter, refetch]);

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

  return { state, error, filter, setFilter, refetch, read };
}

/** The user's organizations and whether they may list other people's chats in any of them. */
async function loadScope(): Promise<{ organizations: Organization[]; everyone: boolean }> {
  const organizations = await listOrganizations();
  if (organizations.length === 0) return { organizations, everyone: false };
  // Someone else's chat in each org: readable only to org admins and auditors (and site roles).
  const checks: AuthorizationRequest["checks"] = {};
  for (const o of organizations) {
    checks[o.id] = { object: { resource_type: "chat", organization_id: o.id, owner_id: NOBODY }, action: "read" };
  }
  const answer = await authcheck({ checks });
  return { organizations, everyone: Object.values(answer).some(Boolean) };
}

const NOBODY = "00000000-0000-0000-0000-000000000000";

export function ChatSidebar(props: { list: ReturnType<typeof useChatList>; activeId: string | null; id?: string }) {
  const { state, error, filter, setFilter, refetch } = props.list;
  const [scope] = useAsync(loadScope, []);
  const orgs = scope.status === "ready" ? scope.value.organizations : [];
  // A badge names each chat's organization when the list mixes several.
  const orgName = orgs.length > 1 && !filter.organizationId ? new Map(orgs.map((o) => [o.id, o.display_name || o.name])) : null;
  const groups = state ? groupChats(state.chats, new Date()) : [];
  return (
    <aside className="chat-sidebar drawer" aria-label="Agents" id={props.id}>
      <div className="chat-sidebar-head">
        <Link to="/agents" className="button primary">
          New agent
        </Link>
        <label className="inline-label">
          <span className="visually-hidden">Show</span>
          <select aria-label="Filter chats" value={filter.archived ? "archived" : "active"} onChange={(e) => setFilter({ ...filter, archived: e.target.value === "archived" })}>
            <option value="active">Active</option>
            <option value="archived">Archived</option>
          </select>
        </label>
      </div>
      <SearchBox value={filter.search} onSearch={(search) => setFilter({ ...filter, search })} />
      {orgs.length > 1 || (scope.status === "ready" && scope.value.everyone) ? (
        <div className="chat-sidebar-filters">
          {orgs.length > 1 ? (
            <select
              aria-label="Organization filter"
              value={filter.organizationId ?? ""}
              onChange={(e) => setFilter({ ...filter, organizationId: e.target.value || null })}
            >
              <option value="">All organizations</option>
              {orgs.map((o) => (
                <option key={o.id} value={o.id}>
                  {o.display_name || o.name}
                </option>
              ))}
            </select>
          ) : null}
          {scope.status === "ready" && scope.value.everyone ? (
            <select aria-label="Whose chats" value={filter.everyone ? "all" : "me"} onChange={(e) => setFilter({ ...filter, everyone: e.target.value === "all" })}>
              <option value="me">My chats</option>
              <option value="all">Everyone&apos;s chats</option>
            </select>
          ) : null}
        </div>
      ) : null}
      <ErrorAlert title="Could not load chats" error={error} onRetry={refetch} />
      {state === null && !error ? (
        <ul className="chat-list" aria-busy="true">
          {[0, 1, 2].map((i) => (
            <li key={i} className="skeleton-row" />
          ))}
        </ul>
      ) : null}
      {state && state.chats.length === 0 ? (
        <p className="muted empty">{filter.search.trim() ? "No chat titles match." : filter.archived ? "No archived chats." : "No chats yet."}</p>
      ) : null}
      {state && state.chats.length > 0 ? (
        <ul className="chat-list" aria-label={filter.archived ? "Archived chats" : "Chats"}>
          {groups.map((g) => (
            <li key={g.label} className="chat-group">
              <h2 className="chat-group-title" id={`chat-group-${g.label.replaceAll(" ", "-")}`}>
                {g.label}
              </h2>
              <ul aria-labelledby={`chat-group-${g.label.replaceAll(" ", "-")}`}>
                {g.chats.map((c) => (
                  <ChatRow key={c.id} chat={c} activeId={props.activeId} orgName={orgName?.get(c.organization_id)} mine={!filter.everyone} />
                ))}
              </ul>
            </li>
          ))}
        </ul>
      ) : null}
    </aside>
  );
}

function ChatRow({ chat, activeId, orgName, mine }: { chat: Chat; activeId: string | null; orgName?: string; mine: boolean }) {
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
            {orgName ? <span className="chat-row-org">{orgName}</span> : null}
            {!mine && chat.owner_id ? <OwnerName id={chat.owner_id} /> : null}
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

function OwnerName({ id }: { id: string }) {
  const [name] = useAsync(() => userName(id), [id]);
  return <span className="chat-row-owner">{name.status === "ready" ? `by ${name.value}` : "\u00a0"}</span>;
}

/** The chat search: the list asks the server once typing pauses. */
function SearchBox({ value, onSearch }: { value: string; onSearch: (search: string) => void }) {
  const [text, setText] = useState(value);
  useEffect(() => {
    if (text === value) return;
    const t = window.setTimeout(() => onSearch(text), 250);
    return () => window.clearTimeout(t);
  }, [text, value, onSearch]);
  return (
    <input
      type="search"
      className="chat-search"
      aria-label="Search chats"
      placeholder="Search chats…"
      value={text}
      onChange={(e) => setText(e.target.value)}
    />
  );
}
