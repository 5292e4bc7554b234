import { type FormEvent, useState } from "react";
import { TableScroll } from "../components/TableScroll";
import { authcheck } from "../api/authcheck";
import {
  addMember,
  assignableRoles,
  getOrganization,
  listMembers,
  removeMember,
  updateMemberRoles,
} from "../api/organizations";
import type { AssignableRole, Organization, OrganizationMember } from "../api/types";
import { ApiError } from "../api/http";
import { listUsers } from "../api/users";
import { useSitePermissions } from "../app/permissions";
import { ConfirmDialog } from "../components/ConfirmDialog";
import { ErrorAlert } from "../components/ErrorAlert";
import { useAsync } from "../components/useAsync";
import { Link } from "../router";
import { memberSuggestions, userSearch } from "./addMember";
import { describeRole, memberRoleNames, roleLabel, sameRoles, toggleRole } from "./roles";

/** One organization: its members, adding and removing them, and their org roles. */
export function OrganizationPage({ org }: { org: string }) {
  const [organization] = useAsync(() => getOrganization(org), [org]);
  return (
    <section className="page">
      <p>
        <Link to="/settings/organizations">← Organizations</Link>
        {" · "}
        <Link to={`/settings/organizations/${encodeURIComponent(org)}/budgets`}>Budgets</Link>
      </p>
      {organization.status === "loading" ? <p className="muted">Loading organization…</p> : null}
      {organization.status === "error" ? <ErrorAlert error={organization.error} /> : null}
      {organization.status === "ready" ? <Members organization={organization.value} /> : null}
    </section>
  );
}

interface MemberPermissions {
  add: boolean;
  remove: boolean;
  /** The organization's Models page: its admins choose the default model. */
  models: boolean;
}

function Members({ organization }: { organization: Organization }) {
  const id = organization.id;
  const [members, reloadMembers] = useAsync(() => listMembers(id), [id]);
  const [roles] = useAsync(() => assignableRoles(id), [id]);
  const [perms] = useAsync<MemberPermissions>(async () => {
    const object = { resource_type: "organization_member", organization_id: id };
    const r = await authcheck({
      checks: {
        add: { object, action: "create" },
        remove: { object, action: "delete" },
        models: { object: { resource_type: "organization", organization_id: id }, action: "update" },
      },
    });
    return { add: r.add === true, remove: r.remove === true, models: r.models === true };
  }, [id]);
  const [removing, setRemoving] = useState<OrganizationMember | null>(null);
  const [removeError, setRemoveError] = useState<unknown>(null);

  const can = perms.status === "ready" ? perms.value : { add: false, remove: false, models: false };
  const site = useSitePermissions();

  async function confirmRemove() {
    if (!removing) return;
    const target = removing;
    setRemoving(null);
    setRemoveError(null);
    try {
      await removeMember(id, target.user_id);
      reloadMembers();
    } catch (err) {
      setRemoveError(err);
    }
  }

  return (
    <>
      <h1>{organization.display_name || organization.name}</h1>
      <p className="muted">
        <code>{organization.name}</code>
        {organization.is_default ? <span className="badge">Default</span> : null}
        {organization.description ? ` — ${organization.description}` : null}
      </p>
      {can.models || site?.manageAi ? (
        <p>
          <Link to={`/settings/organizations/${encodeURIComponent(organization.name)}/models`}>Chat models of this organization</Link>
        </p>
      ) : null}
      <h2>Members</h2>
      {can.add ? (
        <AddMemberForm
          organizationId={id}
          members={members.status === "ready" ? members.value : []}
          onAdded={reloadMembers}
        />
      ) : null}
      <ErrorAlert error={removeError} />
      {roles.status === "error" ? <ErrorAlert title="Could not load roles" error={roles.error} /> : null}
      {members.status === "loading" ? <p className="muted">Loading members…</p> : null}
      {members.status === "error" ? <ErrorAlert error={members.error} /> : null}
      {members.status === "ready" ? (
        members.value.length === 0 ? (
          <p className="muted">No members.</p>
        ) : (
          <TableScroll label="Members">
            <table className="table">
              <thead>
                <tr>
                  <th scope="col">User</th>
                  <th scope="col">Roles</th>
                  <th scope="col">
                    <span className="visually-hidden">Actions</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {members.value.map((m) => (
                  <MemberRow
                    key={`${m.user_id}:${memberRoleNames(m).join(",")}`}
                    member={m}
                    roles={roles.status === "ready" ? roles.value : []}
                    canRemove={can.remove}
                    onRemove={() => setRemoving(m)}
                  />
                ))}
              </tbody>
            </table>
          </TableScroll>
        )
      ) : null}
      <ConfirmDialog
        open={removing !== null}
        title="Remove member?"
        description={removing ? `${removing.username} will lose access to ${organization.name} and its resources.` : ""}
        confirmLabel="Remove"
        onConfirm={confirmRemove}
        onCancel={() => setRemoving(null)}
      />
    </>
  );
}

function AddMemberForm(props: { organizationId: string; members: OrganizationMember[]; onAdded: () => void }) {
  const { organizationId, members, onAdded } = props;
  const [username, setUsername] = useState("");
  // Suggestions come from the users list's search; a failed search just suggests nothing.
  const search = userSearch(username);
  const [found] = useAsync(
    () => (search ? listUsers({ q: search, limit: 20 }) : Promise.resolve({ users: [], count: 0 })),
    [search],
  );
  const suggestions = found.status === "ready" ? memberSuggestions(found.value, members) : [];
  const listId = `add-member-suggestions-${organizationId}`;
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const perms = useSitePermissions();

  async function submit(e: FormEvent) {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await addMember(organizationId, username.trim());
      setUsername("");
      onAdded();
    } catch (err) {
      // The server does not say whether an account exists to those who may not see it; say what
      // to do instead of its "Resource not found".
      setError(err instanceof ApiError && err.status === 404 ? new Error(noSuchUser(username.trim(), perms?.manageUsers === true)) : err);
    } finally {
      setBusy(false);
    }
  }

  return (
    <>
      <ErrorAlert error={error} onDismiss={() => setError(null)} />
      {perms?.manageUsers ? (
        <p className="muted">
          Only existing accounts can be added. <Link to="/settings/users">Create an account</Link> first for someone new.
        </p>
      ) : null}
      <form className="inline-form" onSubmit={submit}>
        <label>
          Username
          <input required list={listId} value={username} onChange={(e) => setUsername(e.target.value)} />
        </label>
        <datalist id={listId}>
          {suggestions.map((name) => (
            <option key={name} value={name} />
          ))}
        </datalist>
        <button type="submit" className="primary" disabled={busy}>
          {busy ? "Adding…" : "Add member"}
        </button>
      </form>
    </>
  );
}

function MemberRow(props: {
  member: OrganizationMember;
  roles: AssignableRole[];
  canRemove: boolean;
  onRemove: () => void;
}) {
  const { member, roles } = props;
  const [saved, setSaved] = useState(() => memberRoleNames(member));
  const [draft, setDraft] = useState(saved);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const dirty = !sameRoles(saved, draft);

  async function save() {
    setBusy(true);
    setError(null);
    try {
      const updated = await updateMemberRoles(member.organization_id, member.user_id, draft);
      const names = memberRoleNames(updated);
      setSaved(names);
      setDraft(names);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  }

  return (
    <tr>
      <td>
        {member.username}
        {member.email ? <div className="muted">{member.email}</div> : null}
      </td>
      <td>
        <fieldset className="roles" disabled={busy}>
          <legend className="visually-hidden">Roles of {member.username}</legend>
          {roles.map((r) => (
            <label key={r.name} className="checkbox" title={r.assignable ? describeRole(r.name) : "You cannot assign this role."}>
              <input
                type="checkbox"
                checked={draft.includes(r.name)}
                disabled={!r.assignable}
                onChange={() => setDraft(toggleRole(draft, r.name, roles))}
              />
              {roleLabel(r.name)}
            </label>
          ))}
        </fieldset>
        {dirty ? (
          <div className="row-actions">
            <button type="button" className="primary" onClick={save} disabled={busy}>
              {busy ? "Saving…" : `Save roles for ${member.username}`}
            </button>
            <button type="button" onClick={() => setDraft(saved)} disabled={busy}>
              Discard
            </button>
          </div>
        ) : null}
        <ErrorAlert error={error} />
      </td>
      <td>
        {props.canRemove ? (
          <button type="button" className="danger" onClick={props.onRemove} aria-label={`Remove ${member.username}`}>
            Remove
          </button>
        ) : null}
      </td>
    </tr>
  );
}

/** What to tell someone whose add-member attempt named no account they can see. */
export function noSuchUser(username: string, canCreate: boolean): string {
  const fix = canCreate ? "Create the account on the Users page first." : "Ask a site owner or user admin to create the account first.";
  return `There is no user named "${username}" that you can add. ${fix}`;
}
