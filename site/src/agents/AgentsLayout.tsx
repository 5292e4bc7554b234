import { useEffect } from "react";
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
  return (
    <div className="agents-layout">
      <ChatSidebar list={list} activeId={chatId} />
      <div className="agents-main">{chatId ? <ChatView key={chatId} chatId={chatId} titleOf={title} /> : <AgentsPage />}</div>
    </div>
  );
}
