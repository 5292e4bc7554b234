// Chats this tab has just started from the new-chat page. The chat page announces an answer's
// end to screen readers when it sees the chat go from busy to waiting; a short answer can be
// done before that page has loaded, so it would never see the chat busy. A chat listed here
// counts as having been pending when its page first sees it.

const started = new Set<string>();

export function markStarted(chatId: string): void {
  started.add(chatId);
}

/** Whether this tab just started the chat; true once per chat. */
export function takeStarted(chatId: string): boolean {
  return started.delete(chatId);
}
