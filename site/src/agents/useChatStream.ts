import { useCallback, useEffect, useReducer, useRef, useState } from "react";
import { chatStreamPath, editMessage, getChat, listMessages, socketUrl } from "../api/chats";
import type { Chat, ChatInputPart } from "../api/types";
import { type SocketState, openReconnectingSocket } from "./socket";
import {
  type ChatStreamEvent,
  applyStreamEvents,
  chatStreamReducer,
  initialChatStreamState,
  lastMessageId,
  parseStreamFrame,
} from "./streamReducer";

export type Load<T> = { status: "loading" } | { status: "error"; error: unknown } | { status: "ready"; value: T };

/**
 * One open chat: the chat row, its REST history, then the stream socket opened with `after_id` =
 * the newest saved message (never before the history has arrived, or the gap would be lost).
 * Frames are buffered and applied on a zero-delay timer, one render per burst.
 */
export function useChatStream(chatId: string) {
  const [chat, setChat] = useState<Load<Chat>>({ status: "loading" });
  const [state, dispatch] = useReducer(chatStreamReducer, chatId, initialChatStreamState);
  const [socket, setSocket] = useState<SocketState | null>(null);
  const [generation, setGeneration] = useState(0);
  const stateRef = useRef(state);
  stateRef.current = state;

  const refreshChat = useCallback(() => {
    getChat(chatId).then(
      (value) => setChat({ status: "ready", value }),
      (error: unknown) => setChat((c) => (c.status === "ready" ? c : { status: "error", error })),
    );
  }, [chatId]);

  /** Refetches the history and replaces the saved messages (after an edit, or to retry a load). */
  const reloadHistory = useCallback(async () => {
    const page = await listMessages(chatId);
    dispatch({ type: "historyReplaced", messages: page.messages, queuedMessages: page.queued_messages });
  }, [chatId]);

  /**
   * Saves an edit of a user message. From the call until the server answers, the view shows
   * nothing after the edited message; the answer drops the replaced messages at once, whatever
   * the stream or a history page says later (see streamReducer.ts). Rejects when the server
   * refuses; the caller reloads the history afterwards either way.
   */
  const submitEdit = useCallback(
    async (messageId: number, content: ChatInputPart[]) => {
      dispatch({ type: "editStarted", messageId });
      let res: Awaited<ReturnType<typeof editMessage>>;
      try {
        res = await editMessage(chatId, messageId, content);
      } catch (e) {
        dispatch({ type: "editFailed", messageId });
        throw e;
      }
      dispatch({ type: "editAccepted", messageId, message: res.message });
    },
    [chatId],
  );

  useEffect(() => {
    let live = true;
    let sock: { close(): void } | null = null;
    let pending: ChatStreamEvent[] = [];
    let flush: ReturnType<typeof setTimeout> | null = null;
    setChat({ status: "loading" });

    Promise.all([getChat(chatId), listMessages(chatId)]).then(
      ([c, page]) => {
        if (!live) return;
        setChat({ status: "ready", value: c });
        dispatch({ type: "historyReplaced", messages: page.messages, queuedMessages: page.queued_messages });
        sock = openReconnectingSocket({
          url: () => socketUrl(chatStreamPath(chatId, lastMessageId(stateRef.current))),
          onState: (s) => live && setSocket(s),
          onOpen: (reconnect) => {
            if (reconnect && live) dispatch({ type: "reconnected" });
          },
          onFrame: (text) => {
            const frame = parseStreamFrame(text);
            pending.push(...frame.events);
            if (flush === null) {
              flush = setTimeout(() => {
                flush = null;
                const batch = pending;
                pending = [];
                if (!live) return;
                for (const ev of batch) dispatch({ type: "event", event: ev });
                // A finished create_workspace binds a workspace, and the title may change: reread.
                if (batch.some((e) => e.type === "status" || e.type === "message")) refreshChat();
              }, 0);
            }
          },
        });
      },
      (error: unknown) => live && setChat({ status: "error", error }),
    );
    return () => {
      live = false;
      if (flush) clearTimeout(flush);
      sock?.close();
    };
  }, [chatId, generation, refreshChat]);

  const retry = useCallback(() => setGeneration((g) => g + 1), []);
  return { chat, state, socket, refreshChat, reloadHistory, submitEdit, retry };
}

export { applyStreamEvents };
