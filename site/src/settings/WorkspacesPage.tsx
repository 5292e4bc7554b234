import { type FormEvent, useEffect, useState } from "react";
import { TableScroll } from "../components/TableScroll";
import { authcheck } from "../api/authcheck";
import { listOrganizations } from "../api/organizations";
import type { FullWorkspace, Template } from "../api/types";
import { buildLogs, buildWorkspace, createTemplate, createWorkspace, listTemplates, listWorkspaces } from "../api/workspaces";
import { agentLabel } from "../agents/workspaceAgent";
import { ErrorAlert } from "../components/ErrorAlert";
import { useAction } from "../components/useAction";
import { useAsync } from "../components/useAsync";

// A workspace whose build is still going changes on its own: the list refreshes while one is.
const BUSY = new Set(["pending", "starting", "stopping", "deleting"]);

/** The caller's workspaces: create one from a template, start, stop, delete, read build logs. */
export function WorkspacesPage() {
  const [workspaces, reload] = useAsync(() => listWorkspaces("owner:me"), []);
  const { error, setError, act } = useAction(reload);
  const busy = workspaces.status === "ready" && workspaces.value.workspaces.some((w) => BUSY.has(w.status));
  useEffect(() => {
    if (!busy) return;
    const t = window.setInterval(reload, 1500);
    return () => window.clearInterval(t);
  }, [busy, reload]);

  return (
    <section className="page">
      <h1>Workspaces</h1>
      <p className="muted">Where agents read, write and run code. An agent can also create one from a template when a chat needs it.</p>
      <ErrorAlert error={error} onDismiss={() => setError(null)} />
      {workspaces.status === "loading" ? <p className="muted">Loading workspaces…</p> : null}
      {workspaces.status === "error" ? <ErrorAlert error={workspaces.error} onRetry={reload} /> : null}
      {workspaces.status === "ready" ? (
        workspaces.value.workspaces.length === 0 ? (
          <p className="muted">You have no workspaces yet.</p>
        ) : (
          <div className="table-wrap">
            <TableScroll label="Workspaces">
              <table className="table" aria-label="Workspaces">
                <thead>
                  <tr>
                    <th scope="col">Workspace</th>
                    <th scope="col">Status</th>
                    <th scope="col">Agent</th>
                    <th scope="col">
                      <span className="visually-hidden">Actions</span>
                    </th>
                  </tr>
                </thead>
                <tbody>
                  {workspaces.value.workspaces.map((w) => (
                    <WorkspaceRow key={w.id} workspace={w} act={act} />
                  ))}
                </tbody>
              </table>
            </TableScroll>
          </div>
        )
      ) : null}
      <CreateWorkspaceForm onCreated={reload} />
    </section>
  );
}

function WorkspaceRow({ workspace: w, act }: { workspace: FullWorkspace; act: (f: () => Promise<unknown>) => Promise<void> }) {
  const [logsOpen, setLogsOpen] = useState(false);
  const building = BUSY.has(w.status);
  return (
    <>
      <tr>
        <td>
          <strong>{w.name}</strong>
          <div className="muted">
            {w.template_name}
            {w.outdated ? <span className="badge">Update available</span> : null}
          </div>
        </td>
        <td>
          <span className={`ws-status ws-${w.status}`}>{w.status}</span>
          {w.latest_build.job.error ? <div className="chat-row-error">{w.latest_build.job.error}</div> : null}
        </td>
        <td className="muted">{agentLabel(w.agent ?? undefined)}</td>
        <td className="row-actions">
          {w.status === "stopped" || w.status === "failed" || w.status === "canceled" ? (
            <button type="button" disabled={building} onClick={() => act(() => buildWorkspace(w.id, "start"))} aria-label={`Start ${w.name}`}>
              Start
            </button>
          ) : null}
          {w.status === "running" ? (
            <button type="button" onClick={() => act(() => buildWorkspace(w.id, "stop"))} aria-label={`Stop ${w.name}`}>
              Stop
            </button>
          ) : null}
          <button type="button" aria-expanded={logsOpen} onClick={() => setLogsOpen(!logsOpen)} aria-label={`Build log of ${w.name}`}>
            Build log
          </button>
          {!building && w.status !== "deleted" ? (
            <button
              type="button"
              className="danger"
              onClick={() => window.confirm(`Delete workspace ${w.name} and its files?`) && act(() => buildWorkspace(w.id, "delete"))}
              aria-label={`Delete ${w.name}`}
            >
              Delete
            </button>
          ) : null}
        </td>
      </tr>
      {logsOpen ? (
        <tr>
          <td colSpan={4}>
            <BuildLog buildId={w.latest_build.id} live={building} />
          </td>
        </tr>
      ) : null}
    </>
  );
}

function BuildLog({ buildId, live }: { buildId: string; live: boolean }) {
  const [logs, reload] = useAsync(() => buildLogs(buildId), [buildId]);
  useEffect(() => {
    if (!live) return;
    const t = window.setInterval(reload, 1500);
    return () => window.clearInterval(t);
  }, [live, reload]);
  if (logs.status === "loading") return <p className="muted">Loading the build log…</p>;
  if (logs.status === "error") return <ErrorAlert error={logs.error} onRetry={reload} />;
  return (
    <pre className="build-log" aria-label="Build log">
      {logs.value.length === 0 ? "(no output yet)" : logs.value.map((l) => l.output).join("\n")}
    </pre>
  );
}

function CreateWorkspaceForm({ onCreated }: { onCreated: () => void }) {
  const [templates] = useAsync(listTemplates, []);
  const [templateId, setTemplateId] = useState("");
  const [name, setName] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const list: Template[] = templates.status === "ready" ? templates.value : [];
  const chosen = list.find((t) => t.id === templateId) ?? list[0];

  async function submit(e: FormEvent) {
    e.preventDefault();
    if (!chosen) return;
    setBusy(true);
    setError(null);
    try {
      await createWorkspace(chosen.organization_id, chosen.id, name.trim());
      setName("");
      onCreated();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  }

  return (
    <form className="card form" onSubmit={submit} aria-label="Create workspace">
      <h2>Create a workspace</h2>
      <ErrorAlert error={error} onDismiss={() => setError(null)} />
      {templates.status === "error" ? <ErrorAlert title="Could not load templates" error={templates.error} /> : null}
      {templates.status === "ready" && list.length === 0 ? <p className="muted">No templates yet: an organization's template admins add them on the Templates page.</p> : null}
      <label>
        Template
        <select value={chosen?.id ?? ""} onChange={(e) => setTemplateId(e.target.value)} disabled={list.length === 0}>
          {list.map((t) => (
            <option key={t.id} value={t.id}>
              {t.display_name || t.name} ({t.organization_display_name || t.organization_name})
            </option>
          ))}
        </select>
      </label>
      <label>
        Name
        <input required pattern="[A-Za-z0-9_\-]{1,32}" title="1–32 letters, digits, - or _" value={name} onChange={(e) => setName(e.target.value)} />
      </label>
      <button type="submit" className="primary" disabled={busy || !chosen}>
        {busy ? "Creating…" : "Create workspace"}
      </button>
    </form>
  );
}

/** The templates of the caller's organizations; template admins add new ones. */
export function TemplatesPage() {
  const [templates, reload] = useAsync(listTemplates, []);
  return (
    <section className="page">
      <h1>Templates</h1>
      <p className="muted">What a new workspace is built from: a startup script, parameters and its network.</p>
      {templates.status === "loading" ? <p className="muted">Loading templates…</p> : null}
      {templates.status === "error" ? <ErrorAlert error={templates.error} onRetry={reload} /> : null}
      {templates.status === "ready" ? (
        templates.value.length === 0 ? (
          <p className="muted">No templates yet.</p>
        ) : (
          <div className="table-wrap">
            <TableScroll label="Templates">
              <table className="table" aria-label="Templates">
                <thead>
                  <tr>
                    <th scope="col">Template</th>
                    <th scope="col">Organization</th>
                    <th scope="col">Kind</th>
                  </tr>
                </thead>
                <tbody>
                  {templates.value.map((t) => (
                    <tr key={t.id}>
                      <td>
                        <strong>{t.display_name || t.name}</strong>
                        {t.description ? <div className="muted">{t.description}</div> : null}
                      </td>
                      <td>{t.organization_display_name || t.organization_name}</td>
                      <td>{t.kind === "external" ? "External (runs anywhere)" : "Local (sandboxed here)"}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </TableScroll>
          </div>
        )
      ) : null}
      <CreateTemplateForm onCreated={reload} />
    </section>
  );
}

/** The organizations where the caller may create templates (template admins and owners). */
async function templateOrgs() {
  const orgs = await listOrganizations();
  if (orgs.length === 0) return orgs;
  const checks: Record<string, { object: { resource_type: string; organization_id: string }; action: string }> = {};
  for (const o of orgs) checks[o.id] = { object: { resource_type: "template", organization_id: o.id }, action: "create" };
  const answer = await authcheck({ checks });
  return orgs.filter((o) => answer[o.id]);
}

function CreateTemplateForm({ onCreated }: { onCreated: () => void }) {
  const [orgs] = useAsync(templateOrgs, []);
  const [org, setOrg] = useState("");
  const [name, setName] = useState("");
  const [description, setDescription] = useState("");
  const [script, setScript] = useState("");
  const [network, setNetwork] = useState<"full" | "none">("full");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const list = orgs.status === "ready" ? orgs.value : [];
  const chosen = org || list.find((o) => o.is_default)?.id || list[0]?.id || "";

  async function submit(e: FormEvent) {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await createTemplate(chosen, { name: name.trim(), description, startup_script: script || undefined, network });
      setName("");
      setDescription("");
      setScript("");
      onCreated();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  }

  // Nobody sees a form whose action they cannot take.
  if (orgs.status !== "ready" || list.length === 0) return null;
  return (
    <form className="card form" onSubmit={submit} aria-label="Create template">
      <h2>Create a template</h2>
      <ErrorAlert error={error} onDismiss={() => setError(null)} />
      <label>
        Organization
        <select value={chosen} onChange={(e) => setOrg(e.target.value)}>
          {list.map((o) => (
            <option key={o.id} value={o.id}>
              {o.display_name || o.name}
            </option>
          ))}
        </select>
      </label>
      <label>
        Name
        <input required pattern="[A-Za-z0-9_\-]{1,32}" title="1–32 letters, digits, - or _" value={name} onChange={(e) => setName(e.target.value)} />
      </label>
      <label>
        Description
        <input value={description} onChange={(e) => setDescription(e.target.value)} />
      </label>
      <label>
        Startup script <span className="muted">(runs in the workspace when it starts)</span>
        <textarea rows={4} value={script} onChange={(e) => setScript(e.target.value)} placeholder="#!/bin/sh" />
      </label>
      <label>
        Network
        <select value={network} onChange={(e) => setNetwork(e.target.value as "full" | "none")}>
          <option value="full">Full network access</option>
          <option value="none">No network</option>
        </select>
      </label>
      <button type="submit" className="primary" disabled={busy || !chosen}>
        {busy ? "Creating…" : "Create template"}
      </button>
    </form>
  );
}
