import { type FormEvent, useState } from "react";
import { TableScroll } from "../components/TableScroll";
import { listOrganizations } from "../api/organizations";
import type { AssignableRole, User } from "../api/types";
import { activateUser, createUser, listUsers, siteRoles, suspendUser, updatePassword, updateSiteRoles } from "../api/users";
import { ErrorAlert } from "../components/ErrorAlert";
import { useAction } from "../components/useAction";
import { useAsync } from "../components/useAsync";
import { describeRole } from "./roles";

/** Deployment users: search, create, suspend or activate, site roles, and (owners) password resets. */
export function UsersPage({ me, isOwner }: { me: string; isOwner: boolean }) {
  const [query, setQuery] = useState("");
  const [users, reload] = useAsync(() => listUsers({ q: query.trim() || undefined, limit: 100 }), [query]);
  const [roles] = useAsync(siteRoles, []);
  const { error, setError, act } = useAction(reload);

  return (
    <section className="page">
      <h1>Users</h1>
      <ErrorAlert error={error} onDismiss={() => setError(null)} />
      <label className="search">
        <span className="visually-hidden">Search users</span>
        <input type="search" placeholder="Search by name or email, or status:suspended" value={query} onChange={(e) => setQuery(e.target.value)} />
      </label>
      {users.status === "loading" ? <p className="muted">Loading users…</p> : null}
      {users.status === "error" ? <ErrorAlert error={users.error} onRetry={reload} /> : null}
      {users.status === "ready" ? (
        <>
          <p className="muted">
            {users.value.count} {users.value.count === 1 ? "user" : "users"}
          </p>
          <div className="table-wrap">
            <TableScroll label="Users">
              <table className="table" aria-label="Users">
                <thead>
                  <tr>
                    <th scope="col">User</th>
                    <th scope="col">Site roles</th>
                    <th scope="col">Status</th>
                    <th scope="col">Last seen</th>
                    <th scope="col">
                      <span className="visually-hidden">Actions</span>
                    </th>
                  </tr>
                </thead>
                <tbody>
                  {users.value.users.map((u) => (
                    <UserRow key={u.id} user={u} roles={roles.status === "ready" ? roles.value : []} act={act} canReset={isOwner && u.id !== me} />
                  ))}
                </tbody>
              </table>
            </TableScroll>
          </div>
        </>
      ) : null}
      <CreateUserForm onCreated={reload} />
    </section>
  );
}

function lastSeen(at: string): string {
  return at.startsWith("0001-") ? "Never" : new Date(at).toLocaleString();
}

function UserRow({ user, roles, act, canReset }: { user: User; roles: AssignableRole[]; act: (f: () => Promise<unknown>) => Promise<void>; canReset: boolean }) {
  const [editing, setEditing] = useState(false);
  // `member` is every user's implicit site role: not shown, not assignable.
  const shown = user.roles.filter((r) => r.name !== "member");
  const current = shown.map((r) => r.name);
  const [chosen, setChosen] = useState<string[]>(current);
  const suspended = user.status === "suspended";
  return (
    <tr>
      <td>
        <strong>{user.username}</strong>
        <div className="muted">{user.email}</div>
      </td>
      <td>
        {editing ? (
          <fieldset className="role-choices">
            <legend className="visually-hidden">Site roles of {user.username}</legend>
            {roles.filter((r) => r.name !== "member").map((r) => (
              <label key={r.name} className="checkbox">
                <input
                  type="checkbox"
                  checked={chosen.includes(r.name)}
                  onChange={(e) => setChosen(e.target.checked ? [...chosen, r.name] : chosen.filter((n) => n !== r.name))}
                />
                <span>
                  {r.display_name || r.name}
                  {describeRole(r.name) ? <span className="muted role-description"> — {describeRole(r.name)}</span> : null}
                </span>
              </label>
            ))}
            <div className="row-actions">
              <button
                type="button"
                className="primary"
                onClick={() =>
                  act(async () => {
                    await updateSiteRoles(user.username, chosen);
                    setEditing(false);
                  })
                }
              >
                Save roles
              </button>
              <button type="button" onClick={() => setEditing(false)}>
                Cancel
              </button>
            </div>
          </fieldset>
        ) : current.length === 0 ? (
          <span className="muted">Member</span>
        ) : (
          shown.map((r) => (
            <span key={r.name} className="badge" title={describeRole(r.name)}>
              {r.display_name || r.name}
            </span>
          ))
        )}
      </td>
      <td>{suspended ? <span className="badge badge-danger">Suspended</span> : "Active"}</td>
      <td>{lastSeen(user.last_seen_at)}</td>
      <td className="row-actions">
        {!editing ? (
          <button
            type="button"
            onClick={() => {
              setChosen(current);
              setEditing(true);
            }}
            aria-label={`Edit site roles of ${user.username}`}
          >
            Roles
          </button>
        ) : null}
        {canReset ? <ResetPassword user={user} act={act} /> : null}
        {suspended ? (
          <button type="button" onClick={() => act(() => activateUser(user.username))} aria-label={`Activate ${user.username}`}>
            Activate
          </button>
        ) : (
          <button type="button" className="danger" onClick={() => act(() => suspendUser(user.username))} aria-label={`Suspend ${user.username}`}>
            Suspend
          </button>
        )}
      </td>
    </tr>
  );
}

function CreateUserForm({ onCreated }: { onCreated: () => void }) {
  const [orgs] = useAsync(listOrganizations, []);
  const [email, setEmail] = useState("");
  const [username, setUsername] = useState("");
  const [password, setPassword] = useState("");
  const [orgIds, setOrgIds] = useState<string[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [created, setCreated] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  // Until the user chooses, a new account joins the default organization.
  const defaults = orgs.status === "ready" ? orgs.value.filter((o) => o.is_default).map((o) => o.id) : [];
  const selected = orgIds ?? defaults;

  async function submit(e: FormEvent) {
    e.preventDefault();
    setBusy(true);
    setError(null);
    setCreated(null);
    try {
      const u = await createUser({ email: email.trim(), username: username.trim(), password, organization_ids: selected });
      setCreated(u.username);
      setEmail("");
      setUsername("");
      setPassword("");
      onCreated();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  }

  return (
    <form className="card form" onSubmit={submit} aria-label="Create user">
      <h2>Create a user</h2>
      <ErrorAlert error={error} onDismiss={() => setError(null)} />
      {created ? (
        <p role="status" className="alert alert-success">
          Created {created}. Share the password with them over a safe channel.
        </p>
      ) : null}
      <label>
        Email
        <input type="email" required value={email} onChange={(e) => setEmail(e.target.value)} />
      </label>
      <label>
        Username
        <input required value={username} onChange={(e) => setUsername(e.target.value)} />
      </label>
      <label>
        Password
        <input type="password" autoComplete="new-password" required value={password} onChange={(e) => setPassword(e.target.value)} />
      </label>
      {orgs.status === "ready" ? (
        <fieldset>
          <legend>Organizations</legend>
          {orgs.value.map((o) => (
            <label key={o.id} className="checkbox">
              <input
                type="checkbox"
                checked={selected.includes(o.id)}
                onChange={(e) => setOrgIds(e.target.checked ? [...selected, o.id] : selected.filter((id) => id !== o.id))}
              />
              {o.display_name || o.name}
            </label>
          ))}
        </fieldset>
      ) : null}
      <button type="submit" className="primary" disabled={busy}>
        {busy ? "Creating…" : "Create user"}
      </button>
    </form>
  );
}

/** A site owner sets a new password for someone (their sign-ins end); nobody else may. */
function ResetPassword({ user, act }: { user: User; act: (f: () => Promise<unknown>) => Promise<void> }) {
  const [open, setOpen] = useState(false);
  const [password, setPassword] = useState("");
  if (!open) {
    return (
      <button type="button" onClick={() => setOpen(true)} aria-label={`Reset password of ${user.username}`}>
        Reset password
      </button>
    );
  }
  return (
    <form
      className="inline-form"
      aria-label={`New password for ${user.username}`}
      onSubmit={(e) => {
        e.preventDefault();
        void act(async () => {
          await updatePassword(user.username, { password });
          setOpen(false);
          setPassword("");
        });
      }}
    >
      <label>
        <span className="visually-hidden">New password for {user.username}</span>
        <input type="password" autoComplete="new-password" required minLength={8} placeholder="New password" value={password} onChange={(e) => setPassword(e.target.value)} />
      </label>
      <button type="submit" className="primary">
        Set
      </button>
      <button type="button" onClick={() => setOpen(false)}>
        Cancel
      </button>
    </form>
  );
}
