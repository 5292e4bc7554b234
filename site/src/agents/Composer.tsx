import { type FormEvent, type KeyboardEvent, useEffect, useRef, useState } from "react";
import type { Workspace } from "../api/types";
import { agentLabel } from "./workspaceAgent";

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
}) {
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
      {props.selectedWorkspace ? (
        <div className="chips">
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
        </div>
      ) : null}
      <div className="composer-toolbar">
        <MoreOptions
          disabled={props.busy}
          workspaces={props.workspaces}
          workspacesLoading={props.workspacesLoading}
          selectedWorkspaceId={props.selectedWorkspace?.id ?? null}
          onSelectWorkspace={props.onSelectWorkspace}
        />
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

function MoreOptions(props: {
  disabled: boolean;
  workspaces: Workspace[];
  workspacesLoading: boolean;
  selectedWorkspaceId: string | null;
  onSelectWorkspace: (workspaceId: string | null) => void;
}) {
  const [open, setOpen] = useState<"closed" | "menu" | "workspaces">("closed");
  const [query, setQuery] = useState("");
  const rootRef = useRef<HTMLDivElement>(null);

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
        <div role="menu" aria-label="More options" className="popover">
          <button
            type="button"
            role="menuitem"
            autoFocus
            disabled={props.workspacesLoading}
            onClick={() => setOpen("workspaces")}
          >
            Attach workspace{props.workspacesLoading ? " (loading…)" : ""}
          </button>
        </div>
      ) : null}
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
          <div role="menu" aria-label="Workspaces">
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
