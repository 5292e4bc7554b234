import { type FormEvent, useState } from "react";
import { TableScroll } from "../components/TableScroll";
import { authcheck } from "../api/authcheck";
import { createOrganization, listOrganizations } from "../api/organizations";
import { ErrorAlert } from "../components/ErrorAlert";
import { useAsync } from "../components/useAsync";
import { Link } from "../router";

/** Lists the caller's organizations and, for those allowed to, creates new ones. */
export function OrganizationsPage() {
  const [orgs, reload] = useAsync(listOrganizations, []);
  const [canCreate] = useAsync(
    () =>
      authcheck({ checks: { create: { object: { resource_type: "organization" }, action: "create" } } }).then(
        (r) => r.create === true,
      ),
    [],
  );

  return (
    <section className="page">
      <h1>Organizations</h1>
      {orgs.status === "loading" ? <p className="muted">Loading organizations…</p> : null}
      {orgs.status === "error" ? <ErrorAlert error={orgs.error} /> : null}
      {orgs.status === "ready" ? (
        orgs.value.length === 0 ? (
          <p className="muted">No organizations found.</p>
        ) : (
          <TableScroll label="Organizations">
            <table className="table">
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">Display name</th>
                  <th scope="col">Description</th>
                </tr>
              </thead>
              <tbody>
                {orgs.value.map((o) => (
                  <tr key={o.id}>
                    <td>
                      <Link to={`/settings/organizations/${encodeURIComponent(o.name)}`}>{o.name}</Link>
                      {o.is_default ? <span className="badge">Default</span> : null}
                    </td>
                    <td>{o.display_name}</td>
                    <td>{o.description}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </TableScroll>
        )
      ) : null}
      {canCreate.status === "ready" && canCreate.value ? <CreateOrganizationForm onCreated={reload} /> : null}
    </section>
  );
}

function CreateOrganizationForm({ onCreated }: { onCreated: () => void }) {
  const [name, setName] = useState("");
  const [displayName, setDisplayName] = useState("");
  const [description, setDescription] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [created, setCreated] = useState<string | null>(null);

  async function submit(e: FormEvent) {
    e.preventDefault();
    setBusy(true);
    setError(null);
    setCreated(null);
    try {
      const org = await createOrganization({
        name: name.trim(),
        display_name: displayName.trim() || undefined,
        description: description.trim() || undefined,
      });
      setName("");
      setDisplayName("");
      setDescription("");
      setCreated(org.name);
      onCreated();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  }

  return (
    <form className="card form" onSubmit={submit} aria-labelledby="create-org-title">
      <h2 id="create-org-title">Create organization</h2>
      <ErrorAlert error={error} />
      {created ? (
        <p role="status" className="alert alert-success">
          Created <Link to={`/settings/organizations/${encodeURIComponent(created)}`}>{created}</Link>.
        </p>
      ) : null}
      <label>
        Name
        <input required value={name} onChange={(e) => setName(e.target.value)} placeholder="my-team" />
      </label>
      <label>
        Display name <span className="muted">(optional)</span>
        <input value={displayName} onChange={(e) => setDisplayName(e.target.value)} />
      </label>
      <label>
        Description <span className="muted">(optional)</span>
        <textarea rows={2} value={description} onChange={(e) => setDescription(e.target.value)} />
      </label>
      <button type="submit" className="primary" disabled={busy}>
        {busy ? "Creating…" : "Create organization"}
      </button>
    </form>
  );
}
