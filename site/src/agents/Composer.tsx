import { type FormEvent, type KeyboardEvent, type ReactNode, lazy, Suspense, useRef } from "react";
import type { Workspace } from "../api/types";
import { agentLabel } from "./workspaceAgent";
import { RemainingBudget } from "./RemainingBudget";

/** A file uploaded for the next message. */
export interface ComposerAttachment {
  fileId: string;
  name: string;
}

// The menu (Ariakit) loads after first paint; until then a disabled button holds its place.
const MoreOptions = lazy(() => import("./MoreOptions"));

/**
 * A stand-in for a menu button whose code is still loading: same look and name, disabled.
 */
export function PendingButton({ label, text, className }: { label: string; text: ReactNode; className?: string }) {
  return (
    <button type="button" aria-label={label} className={className} disabled>
      {text}
    </button>
  );
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
        <Suspense fallback={<PendingButton label="More options" text="+" />}>
          <MoreOptions
            disabled={props.busy}
            workspaces={props.workspaces}
            workspacesLoading={props.workspacesLoading}
            selectedWorkspaceId={props.selectedWorkspace?.id ?? null}
            onSelectWorkspace={props.onSelectWorkspace}
            onAttachFiles={props.onAttachFiles}
          />
        </Suspense>
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
