import * as Ariakit from "@ariakit/react";
import { regenerateTitle, updateChat } from "../api/chats";
import type { Chat } from "../api/types";

// Loaded on its own (React.lazy in ChatView.tsx) with the other Ariakit widgets.

export default function ChatActions({ chat, onDone, onError, onRename }: { chat: Chat; onDone: () => void; onError: (e: unknown) => void; onRename: () => void }) {
  async function act(f: () => Promise<void>) {
    try {
      await f();
      onDone();
    } catch (e) {
      onError(e);
    }
  }
  const pinned = (chat.pin_order ?? 0) > 0;
  // Ariakit's menu gives the WAI-ARIA menu pattern: arrow keys, Home/End, typeahead, Escape and
  // an outside click close it and return focus to the button.
  return (
    <Ariakit.MenuProvider placement="bottom-end">
      <Ariakit.MenuButton className="chat-actions-button" aria-label="Open agent actions">
        ⋯
      </Ariakit.MenuButton>
      <Ariakit.Menu aria-label="Agent actions" className="popover" gutter={4} unmountOnHide>
        <Ariakit.MenuItem className="menu-item" onClick={onRename}>
          Rename
        </Ariakit.MenuItem>
        <Ariakit.MenuItem className="menu-item" onClick={() => act(() => regenerateTitle(chat.id))}>
          Generate new title
        </Ariakit.MenuItem>
        {chat.parent_chat_id ? null : (
          <Ariakit.MenuItem className="menu-item" onClick={() => act(() => updateChat(chat.id, { pin_order: pinned ? 0 : 1 }))}>
            {pinned ? "Unpin" : "Pin"}
          </Ariakit.MenuItem>
        )}
        <Ariakit.MenuItem className="menu-item" onClick={() => act(() => updateChat(chat.id, { archived: !chat.archived }))}>
          {chat.archived ? "Unarchive" : "Archive"}
        </Ariakit.MenuItem>
      </Ariakit.Menu>
    </Ariakit.MenuProvider>
  );
}

