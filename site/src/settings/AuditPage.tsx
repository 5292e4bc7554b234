import { useState } from "react";
import { TableScroll } from "../components/TableScroll";
import type { AuditLog } from "../api/types";
import { userName } from "../api/userNames";
import { listAuditLogs } from "../api/users";
import { ErrorAlert } from "../components/ErrorAlert";
import { useAsync } from "../components/useAsync";

const PAGE = 50;

/** The audit log, newest first: who changed what, when. Readable by owners and auditors. */
export function AuditPage() {
  const [offset, setOffset] = useState(0);
  const [page, reload] = useAsync(() => listAuditLogs(PAGE, offset), [offset]);
  return (
    <section className="page">
      <h1>Audit log</h1>
      {page.status === "loading" ? <p className="muted">Loading the audit log…</p> : null}
      {page.status === "error" ? <ErrorAlert error={page.error} onRetry={reload} /> : null}
      {page.status === "ready" ? (
        page.value.audit_logs.length === 0 ? (
          <p className="muted">Nothing has been recorded yet.</p>
        ) : (
          <>
            <div className="table-wrap">
              <TableScroll label="Audit log">
                <table className="table" aria-label="Audit log">
                  <thead>
                    <tr>
                      <th scope="col">Time</th>
                      <th scope="col">User</th>
                      <th scope="col">Action</th>
                      <th scope="col">Resource</th>
                      <th scope="col">Details</th>
                    </tr>
                  </thead>
                  <tbody>
                    {page.value.audit_logs.map((e) => (
                      <AuditRow key={e.id} entry={e} />
                    ))}
                  </tbody>
                </table>
              </TableScroll>
            </div>
            <nav className="pager" aria-label="Audit log pages">
              <button type="button" disabled={offset === 0} onClick={() => setOffset(Math.max(0, offset - PAGE))}>
                Newer
              </button>
              <span className="muted">
                {offset + 1}–{offset + page.value.audit_logs.length} of {page.value.count}
              </span>
              <button type="button" disabled={offset + PAGE >= page.value.count} onClick={() => setOffset(offset + PAGE)}>
                Older
              </button>
            </nav>
          </>
        )
      ) : null}
    </section>
  );
}

function AuditRow({ entry }: { entry: AuditLog }) {
  const [user] = useAsync(() => (entry.user_id ? userName(entry.user_id) : Promise.resolve("system")), [entry.user_id]);
  const diff = entry.diff && typeof entry.diff === "object" && Object.keys(entry.diff).length > 0 ? JSON.stringify(entry.diff) : null;
  return (
    <tr>
      <td>
        <time dateTime={entry.time}>{new Date(entry.time).toLocaleString()}</time>
      </td>
      <td>{user.status === "ready" ? user.value : "…"}</td>
      <td>{entry.action}</td>
      <td>
        {entry.resource_type}
        {entry.resource_target ? <div className="muted">{entry.resource_target}</div> : null}
      </td>
      <td>
        {entry.description}
        {diff ? (
          <details>
            <summary>Changes</summary>
            <pre className="audit-diff">{diff}</pre>
          </details>
        ) : null}
      </td>
    </tr>
  );
}
