import { type KeyboardEvent, lazy, Suspense, useEffect, useRef, useState } from "react";
import {
  deleteQueuedMessage,
  interruptChat,
  promoteQueuedMessage,
  sendMessage,
  updateChat,
  uploadFile,
} from "../api/chats";
import type { Chat, ChatInputPart } from "../api/types";
import { ErrorAlert } from "../components/ErrorAlert";
import { Markdown } from "../components/Markdown";
import { AttachmentChips, type ComposerAttachment, PendingButton, useFilePicker } from "./Composer";
import { RemainingBudget } from "./RemainingBudget";
import { preselectModel, useModelCatalog } from "./models";
import { ModelSelect } from "./ModelSelect";
import { Link } from "../router";
import { takeStarted } from "./startedChats";
import { type ChatStreamState, visibleTimeline } from "./streamReducer";
import {
  type BlockView,
  type ChatUsageSummary,
  type TimelineEntry,
  buildTimeline,
  formatCost,
  formatTokens,
  lastUserMessage,
  messageText,
  summarizeUsage,
} from "./timeline";
import { ToolCard } from "./ToolCard";
import { useChatStream } from "./useChatStream";
import { useSmoothText } from "./useSmoothText";
import { StatusIcon } from "./StatusIcon";

// The actions menu (Ariakit) loads after first paint, like the composer's.
const ChatActions = lazy(() => import("./ChatActions"));

/** `/agents/:chatId`: the timeline, the live tail, the queue and the composer. */
export function ChatView({ chatId, titleOf, onChatsChanged }: { chatId: string; titleOf?: (id: string) => string | undefined; onChatsChanged?: () => void }) {
  const { chat, state, socket, refreshChat, reloadHistory, submitEdit, retry } = useChatStream(chatId);
  const [actionError, setActionError] = useState<unknown>(null);
  const [renaming, setRenaming] = useState(false);
  // The chat list follows the watch socket, so it has a regenerated title before this view's
  // own copy of the chat does.
  const title = (chat.status === "ready" ? (titleOf?.(chatId) ?? chat.value.title) : undefined) || "New Chat";
  useEffect(() => {
    document.title = `${title} · agentry`;
    return () => {
      document.title = "agentry";
    };
  }, [title]);

  if (chat.status === "loading") return <p className="muted page">Loading chat…</p>;
  if (chat.status === "error") {
    return (
      <section className="page chat-failed">
        <h1>Failed to load chat</h1>
        <ErrorAlert error={chat.error} onRetry={retry} />
      </section>
    );
  }
  const c = chat.value;
  const status = state.status ?? c.status;
  const usage = summarizeUsage(state.messages);
  const busy = status === "running" || status === "pending";
  const parentName = c.parent_chat_id ? (titleOf?.(c.parent_chat_id) ?? "Parent") : null;

  async function run(f: () => Promise<unknown>) {
    setActionError(null);
    try {
      await f();
    } catch (e) {
      setActionError(e);
    }
  }

  /** Saves an edit; the replaced turn leaves the screen when the server accepts it. */
  async function saveEdit(messageId: number, text: string) {
    try {
      await submitEdit(messageId, [{ type: "text", text }]);
    } catch (e) {
      // The server may have applied the edit even so (an answer lost on the way): the history
      // page tells.
      reloadHistory().catch(() => {});
      throw e;
    }
    // The queue was cleared and the page is the truth; the replaced turn is already gone.
    void run(reloadHistory);
  }

  return (
    <section className="chat-view" aria-label="Chat">
      <header className="chat-topbar">
        <nav aria-label="Breadcrumb" className="breadcrumb">
          {c.parent_chat_id ? (
            <>
              <Link to={`/agents/${encodeURIComponent(c.parent_chat_id)}`}>{parentName}</Link>
              <span aria-hidden="true"> › </span>
            </>
          ) : null}
          {renaming ? (
            <RenameTitle
              chat={c}
              onDone={() => {
                setRenaming(false);
                refreshChat();
              }}
              onCancel={() => setRenaming(false)}
              onError={setActionError}
            />
          ) : (
            <h1 className="chat-title">{title}</h1>
          )}
        </nav>
        {c.workspace_id ? (
          <Link to="/workspaces" className="chip">
            Workspace
          </Link>
        ) : null}
        {usage ? <UsageMeter summary={usage} /> : null}
        <StatusIcon status={status} />
        {c.archived ? <span className="badge">Archived</span> : null}
        <Suspense fallback={<PendingButton label="Open agent actions" text="⋯" />}>
          <ChatActions
            chat={c}
            onDone={() => {
              refreshChat();
              // Pinning changes the list's order, which the watch socket does not announce.
              onChatsChanged?.();
            }}
            onError={setActionError}
            onRename={() => setRenaming(true)}
          />
        </Suspense>
      </header>

      <div className="chat-scroll">
        <Timeline state={state} chat={c} status={status} onSave={saveEdit} onError={setActionError} />
        <StatusCallout state={state} status={status} socket={socket} lastError={c.last_error ?? null} />
        <Announcer chatId={c.id} status={status} />
      </div>

      <div className="chat-bottom">
        <ErrorAlert error={actionError} onDismiss={() => setActionError(null)} />
        {state.queuedMessages.length > 0 ? (
          <section className="queue" aria-label="Queued messages">
            <h2 className="queue-title">Queued</h2>
            {!busy ? <p className="muted queue-held">Stopped: these wait until you send a message or choose Send now.</p> : null}
            <ul>
              {state.queuedMessages.map((q) => (
                <li key={q.id}>
                  <span className="queue-text">{messageText(q)}</span>
                  <button type="button" onClick={() => run(() => promoteQueuedMessage(c.id, q.id))}>
                    Send now
                  </button>
                  <button type="button" className="danger" aria-label={`Delete queued message ${messageText(q)}`} onClick={() => run(() => deleteQueuedMessage(c.id, q.id))}>
                    Delete
                  </button>
                </li>
              ))}
            </ul>
          </section>
        ) : null}
        {c.archived ? (
          <p className="alert alert-info">This chat is archived and read-only. Unarchive it from the actions menu to continue.</p>
        ) : (
          <ChatComposer
            chatId={c.id}
            organizationId={c.organization_id}
            chatModelId={c.last_model_config_id}
            busy={busy}
            onError={setActionError}
            onEditLast={() => document.querySelector<HTMLButtonElement>('[data-edit-last="true"]')?.click()}
          />
        )}
      </div>
    </section>
  );
}

/** The chat's title as an editable field: Enter saves, Escape cancels. */
function RenameTitle({ chat, onDone, onCancel, onError }: { chat: Chat; onDone: () => void; onCancel: () => void; onError: (e: unknown) => void }) {
  const [title, setTitle] = useState(chat.title);
  const [busy, setBusy] = useState(false);
  async function save() {
    const t = title.trim();
    if (t === "" || t === chat.title) return onCancel();
    setBusy(true);
    try {
      await updateChat(chat.id, { title: t });
      onDone();
    } catch (e) {
      onError(e);
      setBusy(false);
    }
  }
  return (
    <input
      className="chat-title-input"
      aria-label="Chat title"
      value={title}
      autoFocus
      maxLength={200}
      readOnly={busy}
      onChange={(e) => setTitle(e.target.value)}
      onBlur={() => void save()}
      onKeyDown={(e) => {
        if (e.key === "Enter") {
          e.preventDefault();
          void save();
        } else if (e.key === "Escape") {
          e.preventDefault();
          onCancel();
        }
      }}
    />
  );
}

type SaveEdit = (messageId: number, text: string) => Promise<void>;

function Timeline(props: { state: ChatStreamState; chat: Chat; status: string; onSave: SaveEdit; onError: (e: unknown) => void }) {
  const shown = visibleTimeline(props.state);
  const entries = buildTimeline(shown.messages, shown.streaming);
  const lastUser = lastUserMessage(shown.messages);
  const lastAnswerKey = [...entries].reverse().find((e) => e.role === "assistant")?.key;
  const idle = props.status === "waiting" || props.status === "error";
  const retryText = lastUser ? messageText(lastUser) : "";
  const retry =
    idle && !props.chat.archived && lastUser && retryText
      ? () => {
          props.onSave(lastUser.id, retryText).catch(props.onError);
        }
      : undefined;
  const endRef = useRef<HTMLLIElement>(null);
  const count = entries.length;
  const tail = entries[entries.length - 1];
  const tailSize = tail ? JSON.stringify(tail.blocks).length : 0;
  useEffect(() => {
    endRef.current?.scrollIntoView?.({ block: "end" });
  }, [count, tailSize]);
  if (entries.length === 0) return <p className="muted timeline-empty">No messages yet.</p>;
  return (
    <ol className="timeline" aria-label="Messages">
      {entries.map((e) => (
        <Entry
          key={e.key}
          entry={e}
          chat={props.chat}
          editable={!props.chat.archived && e.messageId !== undefined && e.messageId === lastUser?.id}
          onSave={props.onSave}
          onError={props.onError}
          onRetry={e.key === lastAnswerKey && retry ? retry : undefined}
        />
      ))}
      <li ref={endRef} className="timeline-end" aria-hidden="true" />
    </ol>
  );
}

function Entry(props: {
  entry: TimelineEntry;
  chat: Chat;
  editable: boolean;
  onSave: SaveEdit;
  onError: (e: unknown) => void;
  /** Runs the last user message again (the newest answer only, when the chat is idle). */
  onRetry?: () => void;
}) {
  const { entry } = props;
  const [editing, setEditing] = useState<string | null>(null);
  const [saving, setSaving] = useState(false);
  const text = entry.blocks
    .filter((b): b is Extract<BlockView, { kind: "text" }> => b.kind === "text")
    .map((b) => b.text)
    .join("\n");

  async function save() {
    if (editing === null || entry.messageId === undefined || editing.trim() === "") return;
    setSaving(true);
    try {
      await props.onSave(entry.messageId, editing.trim());
      setEditing(null);
    } catch (e) {
      props.onError(e);
    } finally {
      setSaving(false);
    }
  }

  if (entry.role === "user") {
    return (
      <li className="msg msg-user" data-message-id={entry.messageId}>
        {editing !== null ? (
          <div className="edit-box">
            <textarea
              aria-label="Edit message"
              value={editing}
              autoFocus
              rows={3}
              onChange={(e) => setEditing(e.target.value)}
              onKeyDown={(e) => {
                if (e.key === "Escape") setEditing(null);
                if (e.key === "Enter" && !e.shiftKey) {
                  e.preventDefault();
                  void save();
                }
              }}
            />
            <div className="edit-actions">
              <button type="button" onClick={() => setEditing(null)} disabled={saving}>
                Cancel
              </button>
              <button type="button" className="primary" onClick={save} disabled={saving || editing.trim() === ""}>
                Save
              </button>
            </div>
            <p className="muted hint">Saving replaces this message and everything after it.</p>
          </div>
        ) : (
          <>
            <Blocks blocks={entry.blocks} streaming={false} />
            {props.editable ? (
              <button type="button" className="link-button" data-edit-last="true" aria-label="Edit message" onClick={() => setEditing(text)}>
                Edit
              </button>
            ) : null}
          </>
        )}
      </li>
    );
  }
  return (
    <li className={`msg msg-assistant${entry.streaming ? " msg-streaming" : ""}`} data-message-id={entry.messageId}>
      <Blocks blocks={entry.blocks} streaming={entry.streaming} />
      {entry.streaming ? null : (
        <div className="msg-footer">
          {entry.stopped ? (
            <span className="msg-stopped" title="You stopped this answer before the model finished it">
              Stopped
            </span>
          ) : null}
          {text ? <CopyText text={text} /> : null}
          {props.onRetry ? (
            <button type="button" className="link-button" onClick={props.onRetry}>
              Retry
            </button>
          ) : null}
          {entry.usage ? (
            <span className="muted msg-usage" title="Tokens in and out of this model call, and what it cost">
              {formatTokens(entry.usage.inputTokens)} in · {formatTokens(entry.usage.outputTokens)} out
              {entry.usage.costMicros !== null ? ` · cost ${formatCost(entry.usage.costMicros)}` : ""}
            </span>
          ) : null}
        </div>
      )}
    </li>
  );
}

function CopyText({ text }: { text: string }) {
  const [copied, setCopied] = useState(false);
  return (
    <button
      type="button"
      className="link-button"
      aria-label="Copy answer"
      onClick={async () => {
        try {
          await navigator.clipboard.writeText(text);
          setCopied(true);
          window.setTimeout(() => setCopied(false), 1500);
        } catch {
          // Clipboard refused (an insecure origin): nothing to copy into.
        }
      }}
    >
      {copied ? "Copied" : "Copy"}
    </button>
  );
}

/** How much of the model's context the chat fills, and the chat's spend so far. */
function UsageMeter({ summary }: { summary: ChatUsageSummary }) {
  const pct = summary.contextUsed !== null ? Math.round(summary.contextUsed * 100) : null;
  return (
    <div className="usage-meter" aria-label="Chat usage">
      {pct !== null ? (
        <span title={`${summary.contextTokens} of ${summary.contextLimit} context tokens used at the last model call`}>
          <meter min={0} max={100} value={pct} aria-label="Context used" /> {pct}% context
        </span>
      ) : null}
      <span className="muted">
        {formatTokens(summary.inputTokens + summary.outputTokens)} tokens
        {summary.costMicros !== null ? ` · cost ${formatCost(summary.costMicros)}` : ""}
      </span>
    </div>
  );
}

function Blocks({ blocks, streaming }: { blocks: BlockView[]; streaming: boolean }) {
  return (
    <>
      {blocks.map((b, i) => {
        const last = streaming && i === blocks.length - 1;
        switch (b.kind) {
          case "text":
            return <SmoothText key={i} text={b.text} smooth={last} markdown />;
          case "reasoning":
            return (
              <details key={i} className="reasoning" open={last}>
                <summary>Thinking</summary>
                <SmoothText text={b.text} smooth={last} />
              </details>
            );
          case "tool":
            return <ToolCard key={b.call.toolCallId || i} call={b.call} />;
          case "file":
            return (
              <a key={i} className="chip" href={`/api/experimental/chats/files/${encodeURIComponent(b.fileId)}`} target="_blank" rel="noreferrer">
                Attachment
              </a>
            );
          case "other":
            return b.part.type === "source" && b.part.url ? (
              <a key={i} className="chip" href={b.part.url} target="_blank" rel="noreferrer">
                {b.part.title || b.part.url}
              </a>
            ) : null;
        }
      })}
    </>
  );
}

function SmoothText({ text, smooth, markdown = false }: { text: string; smooth: boolean; markdown?: boolean }) {
  const shown = useSmoothText(text, smooth);
  if (markdown) {
    return (
      <div className="msg-text msg-markdown">
        <Markdown text={shown} />
      </div>
    );
  }
  return <div className="msg-text">{shown}</div>;
}

const retryTitles: Record<number, string> = {
  401: "Authentication failed",
  403: "Authentication failed",
  408: "Request timed out",
  429: "Rate limited",
  500: "Provider error",
  502: "Provider error",
  503: "Service overloaded",
  504: "Request timed out",
  529: "Service overloaded",
};

function useNow(active: boolean): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    if (!active) return;
    const t = setInterval(() => setNow(Date.now()), 250);
    return () => clearInterval(t);
  }, [active]);
  return now;
}

/**
 * Tells screen readers what the streamed answer does not: that the agent started and when it is
 * done (streaming token by token into a live region would be noise, and repeating the answer
 * here would read it twice).
 */
function Announcer({ chatId, status }: { chatId: string; status: string }) {
  const [said, setSaid] = useState("");
  const previous = useRef<string | null>(null);
  useEffect(() => {
    // The first status seen: a chat this tab just started was pending a moment ago, even if its
    // answer finished before this page loaded. (The ref survives StrictMode's second effect run,
    // so the mark is taken once.)
    const was = previous.current ?? (takeStarted(chatId) ? "pending" : status);
    previous.current = status;
    if (was === status) return;
    if (status === "running" && was !== "running") setSaid("The agent is working on an answer.");
    if (status === "waiting" && (was === "running" || was === "pending")) setSaid("The agent finished answering.");
    if (status === "error" && was !== "error") setSaid("The agent stopped with an error.");
  }, [chatId, status]);
  return (
    <div className="visually-hidden" aria-live="polite" role="status" data-testid="announcer">
      {said}
    </div>
  );
}

function StatusCallout(props: {
  state: ChatStreamState;
  status: string;
  socket: ReturnType<typeof useChatStream>["socket"];
  lastError: string | null;
}) {
  const { state, status, socket } = props;
  const retry = state.retry as (ChatStreamState["retry"] & { status?: number }) | null;
  // The countdown runs from when the retry event arrived.
  const [retryAt, setRetryAt] = useState<number | null>(null);
  useEffect(() => setRetryAt(retry ? Date.now() + (retry.delay_ms ?? 0) : null), [retry]);
  const [startedAt, setStartedAt] = useState<number | null>(null);
  const starting = (status === "pending" || status === "running") && !state.streaming && !retry;
  useEffect(() => setStartedAt(starting ? Date.now() : null), [starting]);
  const now = useNow(!!retry || starting || socket?.status === "waiting");

  if (socket?.status === "waiting") {
    return (
      <div role="status" className="callout callout-warning">
        Reconnecting in {Math.max(0, Math.ceil((socket.retryAt - now) / 1000))}s · Attempt {socket.attempt}
      </div>
    );
  }
  if (retry) {
    const secs = Math.max(0, Math.ceil(((retryAt ?? now) - now) / 1000));
    return (
      <div role="alert" className="callout callout-warning">
        <strong>{(retry.status && retryTitles[retry.status]) || "Provider error"}</strong>
        <p>{retry.error}</p>
        <p className="muted">
          Retrying in {secs}s · Attempt {retry.attempt}
        </p>
      </div>
    );
  }
  if (status === "error") {
    return (
      <div role="alert" className="callout callout-error">
        <strong>The agent stopped with an error</strong>
        <p>{state.error?.message ?? props.lastError ?? "Unknown error."}</p>
        {state.error?.detail ? <p className="muted">{state.error.detail}</p> : null}
      </div>
    );
  }
  if (status === "requires_action") {
    return (
      <div role="status" className="callout callout-info">
        Waiting for a client tool result ({state.pendingToolCalls.map((c) => c.tool_name).join(", ") || "tool"}).
      </div>
    );
  }
  if (starting) {
    const slow = startedAt !== null && now - startedAt > 15_000;
    return (
      <div role="status" className="callout callout-thinking">
        {slow ? "Response startup is taking longer than expected…" : "Thinking…"}
      </div>
    );
  }
  return null;
}

function ChatComposer(props: {
  chatId: string;
  organizationId: string;
  chatModelId: string;
  busy: boolean;
  onError: (e: unknown) => void;
  onEditLast: () => void;
}) {
  const [text, setText] = useState("");
  const catalog = useModelCatalog(true, props.organizationId);
  const models = catalog.status === "ready" ? catalog.models : [];
  // A reply keeps the chat's model unless the user picks another one here.
  const [picked, setPicked] = useState<string | null>(null);
  const modelId = preselectModel(models, [picked, props.chatModelId]);
  const [attachments, setAttachments] = useState<ComposerAttachment[]>([]);
  const [uploading, setUploading] = useState(false);
  const files = useFilePicker(async (chosen) => {
    setUploading(true);
    props.onError(null);
    try {
      for (const file of chosen) {
        const { id } = await uploadFile(props.organizationId, file);
        setAttachments((a) => [...a, { fileId: id, name: file.name }]);
      }
    } catch (e) {
      props.onError(e);
    } finally {
      setUploading(false);
    }
  });
  const [sending, setSending] = useState(false);
  const [stopping, setStopping] = useState(false);
  const input = useRef<HTMLTextAreaElement>(null);
  useEffect(() => {
    if (!props.busy) setStopping(false);
  }, [props.busy]);

  async function send() {
    const t = text.trim();
    if (!t || sending || uploading) return;
    setSending(true);
    props.onError(null); // A new attempt: the last failure no longer describes anything.
    try {
      const content: ChatInputPart[] = [{ type: "text", text: t }, ...attachments.map((a) => ({ type: "file" as const, file_id: a.fileId }))];
      await sendMessage(props.chatId, content, modelId !== props.chatModelId ? modelId : null);
      setText("");
      setAttachments([]);
    } catch (e) {
      props.onError(e);
    } finally {
      setSending(false);
      // Keep typing where you were: the button press must not leave focus on the page body.
      input.current?.focus();
    }
  }

  async function stop() {
    setStopping(true);
    props.onError(null);
    try {
      await interruptChat(props.chatId);
    } catch (e) {
      setStopping(false);
      props.onError(e);
    }
  }

  function onKeyDown(e: KeyboardEvent<HTMLTextAreaElement>) {
    if (e.key === "Enter" && !e.shiftKey && !e.nativeEvent.isComposing) {
      e.preventDefault();
      void send();
    } else if (e.key === "ArrowUp" && text === "") {
      e.preventDefault();
      props.onEditLast();
    }
  }

  return (
    <form
      className="composer card"
      onSubmit={(e) => {
        e.preventDefault();
        void send();
      }}
    >
      <textarea
        aria-label="Chat message"
        data-testid="chat-message-input"
        placeholder={props.busy ? "Send a follow-up; it waits in the queue…" : "Reply to the agent…"}
        rows={3}
        ref={input}
        value={text}
        readOnly={sending}
        aria-busy={sending}
        onChange={(e) => setText(e.target.value)}
        onKeyDown={onKeyDown}
      />
      <RemainingBudget organizationId={props.organizationId} refresh={props.busy} />
      {attachments.length > 0 || uploading ? (
        <div className="chips">
          <AttachmentChips
            attachments={attachments}
            uploading={uploading}
            disabled={sending}
            onRemove={(id) => setAttachments((a) => a.filter((x) => x.fileId !== id))}
          />
        </div>
      ) : null}
      <div className="composer-toolbar">
        <button type="button" aria-label="Attach file" title="Attach file" onClick={files.open} disabled={sending || uploading}>
          +
        </button>
        {files.input}
        <ModelSelect models={models} value={modelId} disabled={sending} onChange={setPicked} />
        <span className="muted hint" aria-live="polite">
          {props.busy ? "The agent is working. New messages are queued." : null}
        </span>
        {props.busy ? (
          <button type="button" className="danger" onClick={stop} disabled={stopping} aria-busy={stopping}>
            Stop
          </button>
        ) : null}
        <button type="submit" className="primary" disabled={sending || text.trim() === ""}>
          Send
        </button>
      </div>
    </form>
  );
}
