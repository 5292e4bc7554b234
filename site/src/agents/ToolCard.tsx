import { useState } from "react";
import { Link } from "../router";
import type { ToolCallView } from "./timeline";
import { isAgentDisconnected } from "./workspaceAgent";

type Obj = Record<string, unknown>;

function obj(v: unknown): Obj {
  return v && typeof v === "object" && !Array.isArray(v) ? (v as Obj) : {};
}

function str(v: unknown): string | undefined {
  return typeof v === "string" ? v : typeof v === "number" ? String(v) : undefined;
}

function pretty(v: unknown): string {
  if (v === undefined) return "";
  if (typeof v === "string") return v;
  return JSON.stringify(v, null, 2);
}

/** A tool's error result is a string or `{error}`; anything else is shown as JSON. */
function errorText(call: ToolCallView): string {
  const r = call.result;
  return str(r) ?? str(obj(r).error) ?? pretty(r);
}

const labels: Record<string, (a: Obj) => string> = {
  execute: (a) => `Run ${str(a.command) ?? "a command"}`,
  read_file: (a) => `Read ${str(a.path) ?? "a file"}`,
  write_file: (a) => `Write ${str(a.path) ?? "a file"}`,
  edit_files: (a) => {
    const edits = Array.isArray(a.edits) ? (a.edits as unknown[]) : [];
    const paths = [...new Set(edits.map((e) => str(obj(e).path)).filter(Boolean))];
    return paths.length ? `Edit ${paths.join(", ")}` : "Edit files";
  },
  create_workspace: (a) => `Create workspace${str(a.name) ? ` ${str(a.name)}` : ""}`,
  spawn_agent: (a) => `Start subagent${str(a.title) ? `: ${str(a.title)}` : ""}`,
};

/** One tool call: a collapsible card with a per-tool body; unknown tools show their JSON. */
export function ToolCard({ call }: { call: ToolCallView }) {
  const args = obj(call.args);
  const label = labels[call.toolName]?.(args) ?? call.toolName ?? "Tool";
  const state = !call.done ? "running" : call.isError ? "error" : "done";
  const stateLabel = state === "running" ? "Running" : state === "error" ? "Failed" : "Done";
  // Open until the user folds it; the state survives the card moving from stream to history.
  const [open, setOpen] = useState(true);
  return (
    <details
      className={`tool-card tool-${state}`}
      open={open}
      onToggle={(e) => setOpen(e.currentTarget.open)}
      data-tool={call.toolName}
    >
      <summary>
        <span className={`tool-state tool-state-${state}`} role="img" aria-label={stateLabel} />
        <span className="tool-label">{label}</span>
        <span className="muted tool-name">{call.toolName}</span>
      </summary>
      <div className="tool-body">
        {call.done && call.isError ? <ToolError text={errorText(call)} /> : <ToolBody call={call} args={args} />}
      </div>
    </details>
  );
}

/** A failed tool call. An unreachable workspace agent gets its own banner: it is temporary (the
 * agent reconnects by itself) and says nothing about the command or file the model asked for. */
export function ToolError({ text }: { text: string }) {
  if (isAgentDisconnected(text)) {
    return (
      <div className="tool-agent-disconnected" role="alert">
        <strong>Workspace agent disconnected</strong>
        <p className="muted">The workspace&apos;s agent could not be reached; it reconnects by itself, and the call can be retried.</p>
        <pre className="tool-error">{text}</pre>
      </div>
    );
  }
  return <pre className="tool-error">{text}</pre>;
}

function ToolBody({ call, args }: { call: ToolCallView; args: Obj }) {
  const r = obj(call.result);
  switch (call.toolName) {
    case "execute": {
      const exit = r.exit_code;
      return (
        <>
          <pre className="tool-command">$ {str(args.command) ?? ""}</pre>
          {call.done ? (
            <>
              <pre className="tool-output">{str(r.output) || "(no output)"}</pre>
              <p className="muted tool-meta">
                {exit === null || exit === undefined
                  ? r.background_process_id
                    ? `Still running in the background (${str(r.background_process_id)})`
                    : r.timed_out
                      ? "Timed out"
                      : "No exit code"
                  : `Exit code ${String(exit)}`}
                {typeof r.duration_ms === "number" ? ` · ${r.duration_ms} ms` : ""}
                {r.truncated ? " · output truncated" : ""}
              </p>
            </>
          ) : null}
        </>
      );
    }
    case "read_file":
      return call.done ? (
        <>
          <pre className="tool-output">{str(r.content) ?? pretty(call.result)}</pre>
          {r.truncated ? <p className="muted tool-meta">Truncated ({String(r.total_lines)} lines in total)</p> : null}
        </>
      ) : null;
    case "write_file": {
      const content = str(args.content) ?? "";
      return (
        <>
          <Diff text={content.split("\n").map((l) => `+${l}`).join("\n")} />
          {call.done ? (
            <p className="muted tool-meta">
              {r.created ? "Created" : "Overwrote"} the file · {String(r.bytes_written ?? content.length)} bytes
            </p>
          ) : null}
        </>
      );
    }
    case "edit_files": {
      const files = Array.isArray(r.files) ? (r.files as unknown[]).map(obj) : [];
      if (!call.done) {
        const edits = Array.isArray(args.edits) ? (args.edits as unknown[]).map(obj) : [];
        return (
          <>
            {edits.map((e, i) => (
              <Diff
                key={i}
                path={str(e.path)}
                text={[...(str(e.old_text) ?? "").split("\n").map((l) => `-${l}`), ...(str(e.new_text) ?? "").split("\n").map((l) => `+${l}`)].join("\n")}
              />
            ))}
          </>
        );
      }
      return (
        <>
          {files.map((f, i) => (
            <Diff key={i} path={str(f.path)} text={str(f.diff) ?? ""} />
          ))}
        </>
      );
    }
    case "create_workspace": {
      const name = str(r.name) ?? str(args.name);
      const status = str(r.status) ?? (call.done ? "unknown" : "creating");
      return (
        <p className="tool-meta">
          Workspace <strong>{name ?? "(unnamed)"}</strong> · <span className={`ws-status ws-${status}`}>{status}</span>
        </p>
      );
    }
    case "spawn_agent": {
      const id = str(r.chat_id);
      return (
        <p className="tool-meta">
          {id ? (
            <Link to={`/agents/${encodeURIComponent(id)}`}>Open subagent{str(r.title) ? `: ${str(r.title)}` : ""}</Link>
          ) : (
            "Starting the subagent…"
          )}
          {str(args.prompt) ? <span className="muted"> — {str(args.prompt)}</span> : null}
        </p>
      );
    }
    default:
      return (
        <>
          <pre className="tool-output">{pretty(call.args)}</pre>
          {call.done ? <pre className="tool-output">{pretty(call.result)}</pre> : null}
        </>
      );
  }
}

/** A unified diff with added and removed lines marked. */
export function Diff({ text, path }: { text: string; path?: string }) {
  const lines = text.replace(/\n$/, "").split("\n");
  return (
    <figure className="diff">
      {path ? <figcaption>{path}</figcaption> : null}
      <pre>
        {lines.map((l, i) => {
          const cls = l.startsWith("+++") || l.startsWith("---") ? "diff-file" : l.startsWith("+") ? "diff-add" : l.startsWith("-") ? "diff-del" : l.startsWith("@@") ? "diff-hunk" : "";
          return (
            <span key={i} className={cls}>
              {l}
              {"\n"}
            </span>
          );
        })}
      </pre>
    </figure>
  );
}
