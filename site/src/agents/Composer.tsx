import { type FormEvent, type KeyboardEvent, type ReactNode, useEffect, useRef, useState } from "react";
import type { Workspace } from "../api/types";
import { agentLabel } from "./workspaceAgent";
import { menuKeyDown } from "../components/menuKeys";
import { RemainingBudget } from "./RemainingBudget";

/** A file uploaded for the next message. */
export interface ComposerAttachment {
  fileId: string;
  name: string;
}

/**
 * The prompt box with its toolbar. It owns only menu visibility; the text, the workspace choice and
 * whether Send is allowed come from the caller. Enter sends, Shift+Enter starts a new line.
 */
export function Composer(props: {
  text: string;
  onTextChange: (text: string) => void;
  canSend: boolean;
  /** Locks everything while a send is in flight. */
  busy: boolean;
  /** Said next to Send when it is disabled for a reason other than an empty prompt. */
  hint: string | null;
  onSend: () => void;
  workspaces: Workspace[];
  workspacesLoading: boolean;
  selectedWorkspace: Workspace | null;
  onSelectWorkspace: (workspaceId: string | null) => void;
  attachments?: ComposerAttachment[];
  uploading?: boolean;
  onAttachFiles?: (files: File[]) => void;
  onRemoveAttachment?: (fileId: string) => void;
  /** The model picker, shown in the toolbar. */
  modelSelect?: ReactNode;
  /** The organization the chat starts in: shows the remaining budget when it runs low. */
  organizationId?: string | null;
}) {
  const attachments = props.attachments ?? [];
  function submit(e: FormEvent) {
    e.preventDefault();
    if (props.canSend) props.onSend();
  }

  function onKeyDown(e: KeyboardEvent<HTMLTextAreaElement>) {
    if (e.key === "Enter" && !e.shiftKey && !e.nativeEvent.isComposing) {
      e.preventDefault();
      if (props.canSend) props.onSend();
    }
  }

  return (
    <form className="composer card" onSubmit={submit}>
      <textarea
        aria-label="Chat message"
        data-testid="chat-message-input"
        placeholder="Ask an agent to build, fix bugs, or explore your project…"
        rows={4}
        value={props.text}
        disabled={props.busy}
        onChange={(e) => props.onTextChange(e.target.value)}
        onKeyDown={onKeyDown}
      />
      {props.organizationId ? <RemainingBudget organizationId={props.organizationId} /> : null}
      {props.selectedWorkspace || attachments.length > 0 || props.uploading ? (
        <div className="chips">
          {props.selectedWorkspace ? (
            <span className="chip">
              Workspace: {props.selectedWorkspace.name}
              <button
                type="button"
                aria-label={`Remove workspace ${props.selectedWorkspace.name}`}
                disabled={props.busy}
                onClick={() => props.onSelectWorkspace(null)}
              >
                ×
              </button>
            </span>
          ) : null}
          <AttachmentChips attachments={attachments} uploading={props.uploading === true} disabled={props.busy} onRemove={props.onRemoveAttachment} />
        </div>
      ) : null}
      <div className="composer-toolbar">
        <MoreOptions
          disabled={props.busy}
          workspaces={props.workspaces}
          workspacesLoading={props.workspacesLoading}
          selectedWorkspaceId={props.selectedWorkspace?.id ?? null}
          onSelectWorkspace={props.onSelectWorkspace}
          onAttachFiles={props.onAttachFiles}
        />
        {props.modelSelect}
        <span className="muted hint" aria-live="polite">
          {props.hint}
        </span>
        <button type="submit" className="primary" disabled={!props.canSend}>
          {props.busy ? "Sending…" : "Send"}
        </button>
      </div>
    </form>
  );
}

/** The files picked for the next message, each removable; "Uploading…" while one is on its way. */
export function AttachmentChips(props: { attachments: ComposerAttachment[]; uploading: boolean; disabled: boolean; onRemove?: (fileId: string) => void }) {
  return (
    <>
      {props.attachments.map((a) => (
        <span key={a.fileId} className="chip">
          {a.name}
          {props.onRemove ? (
            <button type="button" aria-label={`Remove attachment ${a.name}`} disabled={props.disabled} onClick={() => props.onRemove?.(a.fileId)}>
              ×
            </button>
          ) : null}
        </span>
      ))}
      {props.uploading ? <span className="chip muted">Uploading…</span> : null}
    </>
  );
}

/** A hidden file input and the function that opens it. */
export function useFilePicker(onFiles?: (files: File[]) => void) {
  const ref = useRef<HTMLInputElement>(null);
  const input = onFiles ? (
    <input
      ref={ref}
      type="file"
      multiple
      hidden
      aria-hidden="true"
      tabIndex={-1}
      onChange={(e) => {
        const files = [...(e.target.files ?? [])];
        e.target.value = "";
        if (files.length > 0) onFiles(files);
      }}
    />
  ) : null;
  return { input, open: () => ref.current?.click() };
}

function MoreOptions(props: {
  disabled: boolean;
  workspaces: Workspace[];
  workspacesLoading: boolean;
  selectedWorkspaceId: string | null;
  onSelectWorkspace: (workspaceId: string | null) => void;
  onAttachFiles?: (files: File[]) => void;
}) {
  const [open, setOpen] = useState<"closed" | "menu" | "workspaces">("closed");
  const [query, setQuery] = useState("");
  const rootRef = useRef<HTMLDivElement>(null);
  const picker = useFilePicker(props.onAttachFiles);

  useEffect(() => {
    if (open === "closed") return;
    const onDown = (e: MouseEvent) => {
      if (rootRef.current && !rootRef.current.contains(e.target as Node)) setOpen("closed");
    };
    document.addEventListener("mousedown", onDown);
    return () => document.removeEventListener("mousedown", onDown);
  }, [open]);

  function close() {
    setOpen("closed");
    setQuery("");
    rootRef.current?.querySelector<HTMLElement>("button")?.focus();
  }

  function choose(id: string | null) {
    props.onSelectWorkspace(id);
    close();
  }

  const q = query.trim().toLowerCase();
  const matches = props.workspaces.filter((w) => q === "" || w.name.toLowerCase().includes(q));

  return (
    <div
      className="more-options"
      ref={rootRef}
      onKeyDown={(e) => {
        if (e.key === "Escape" && open !== "closed") {
          e.preventDefault();
          close();
        }
      }}
    >
      <button
        type="button"
        aria-label="More options"
        aria-haspopup="menu"
        aria-expanded={open !== "closed"}
        disabled={props.disabled}
        onClick={() => (open === "closed" ? setOpen("menu") : close())}
      >
        +
      </button>
      {open === "menu" ? (
        <div role="menu" aria-label="More options" className="popover" onKeyDown={(e) => menuKeyDown(e, close)}>
          <button
            type="button"
            role="menuitem"
            autoFocus
            disabled={props.workspacesLoading}
            onClick={() => setOpen("workspaces")}
          >
            Attach workspace{props.workspacesLoading ? " (loading…)" : ""}
          </button>
          {props.onAttachFiles ? (
            <button
              type="button"
              role="menuitem"
              onClick={() => {
                close();
                picker.open();
              }}
            >
              Attach file…
            </button>
          ) : null}
        </div>
      ) : null}
      {picker.input}
      {open === "workspaces" ? (
        <div className="popover" role="group" aria-label="Attach workspace">
          <input
            type="search"
            aria-label="Search workspaces"
            placeholder="Search workspaces..."
            value={query}
            autoFocus
            onChange={(e) => setQuery(e.target.value)}
          />
          <div role="menu" aria-label="Workspaces" onKeyDown={(e) => menuKeyDown(e, close)}>
            <button
              type="button"
              role="menuitemradio"
              aria-checked={props.selectedWorkspaceId === null}
              onClick={() => choose(null)}
            >
              Auto-create Workspace
            </button>
            {matches.map((w) => (
              <button
                key={w.id}
                type="button"
                role="menuitemradio"
                aria-checked={props.selectedWorkspaceId === w.id}
                onClick={() => choose(w.id)}
              >
                <WorkspaceOption workspace={w} />
              </button>
            ))}
          </div>
          {matches.length === 0 ? <p className="muted empty">No workspaces found</p> : null}
        </div>
      ) : null}
    </div>
  );
}

/** A workspace in the attach menu: its name and its agent's state. */
export function WorkspaceOption({ workspace: w }: { workspace: Workspace }) {
  return (
    <>
      {w.name}
      {w.agent ? (
        <span className={`muted workspace-agent${w.agent.status === "connected" ? " connected" : ""}`}>
          {" · "}
          {agentLabel(w.agent)}
        </span>
      ) : null}
    </>
  );
}
