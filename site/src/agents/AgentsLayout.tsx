import { useEffect, useState } from "react";
import { findChat } from "./chatList";
import { AgentsPage } from "./AgentsPage";
import { ChatSidebar, useChatList } from "./ChatSidebar";
import { ChatView } from "./ChatView";

/** `/agents` and `/agents/:chatId`: the live chat list beside the create form or a chat. */
export function AgentsLayout({ chatId }: { chatId: string | null }) {
  const list = useChatList();
  const { read } = list;
  // Leaving a chat marks it read here as the server does when its stream closes.
  useEffect(() => {
    if (chatId === null) return;
    return () => read(chatId);
  }, [chatId, read]);
  const title = (id: string) => (list.state ? findChat(list.state.chats, id)?.title : undefined);
  const [listOpen, setListOpen] = useState(false);
  useEffect(() => setListOpen(false), [chatId]);
  useEffect(() => {
    if (!listOpen) return;
    const onKey = (e: KeyboardEvent) => e.key === "Escape" && setListOpen(false);
    document.addEventListener("keydown", onKey);
    return () => document.removeEventListener("keydown", onKey);
  }, [listOpen]);
  return (
    <div className={`agents-layout${listOpen ? " drawer-open" : ""}`}>
      {/* Narrow screens: the chat list is a drawer opened from the top bar. */}
      <button type="button" className="chats-toggle" aria-label={listOpen ? "Hide chats" : "Show chats"} aria-expanded={listOpen} aria-controls="chat-list-drawer" onClick={() => setListOpen(!listOpen)}>
        Chats
      </button>
      {listOpen ? <div className="drawer-backdrop" aria-hidden="true" onClick={() => setListOpen(false)} /> : null}
      <ChatSidebar list={list} activeId={chatId} id="chat-list-drawer" />
      <div className="agents-main">{chatId ? <ChatView key={chatId} chatId={chatId} titleOf={title} onChatsChanged={list.refetch} /> : <AgentsPage />}</div>
    </div>
  );
}
