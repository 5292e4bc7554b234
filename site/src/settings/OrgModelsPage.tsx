import { type FormEvent, useState } from "react";
import { TableScroll } from "../components/TableScroll";
import { authcheck } from "../api/authcheck";
import { getOrgDefaultModel, listModelConfigs, setOrgDefaultModel, updateModelConfig } from "../api/chats";
import { getOrganization, listOrganizations } from "../api/organizations";
import type { ChatModelConfig, Organization } from "../api/types";
import { ErrorAlert } from "../components/ErrorAlert";
import { useAction } from "../components/useAction";
import { useAsync } from "../components/useAsync";
import { Link } from "../router";
import { availableIn, withOrg, withoutOrg } from "./orgModels";

interface Permissions {
  /** Site owners: which site-wide models this organization may use. */
  manageAccess: boolean;
  /** Org admins (and site owners): the organization's default model. */
  chooseDefault: boolean;
}

/**
 * `/settings/organizations/:org/models`: the models an organization's chats may use. Site owners
 * enable or disable each site-wide model for the organization; its admins choose its default.
 */
export function OrgModelsPage({ org }: { org: string }) {
  const [organization] = useAsync(() => getOrganization(org), [org]);
  return (
    <section className="page">
      <p>
        <Link to={`/settings/organizations/${encodeURIComponent(org)}`}>← Organization</Link>
      </p>
      {organization.status === "loading" ? <p className="muted">Loading organization…</p> : null}
      {organization.status === "error" ? <ErrorAlert error={organization.error} /> : null}
      {organization.status === "ready" ? <OrgModels organization={organization.value} /> : null}
    </section>
  );
}

function OrgModels({ organization }: { organization: Organization }) {
  const id = organization.id;
  const name = organization.display_name || organization.name;
  const [configs, reload] = useAsync(listModelConfigs, []);
  const [perms] = useAsync<Permissions>(async () => {
    const r = await authcheck({
      checks: {
        manageAccess: { object: { resource_type: "chat_provider" }, action: "update" },
        chooseDefault: { object: { resource_type: "organization", organization_id: id }, action: "update" },
      },
    });
    return { manageAccess: r.manageAccess === true, chooseDefault: r.chooseDefault === true };
  }, [id]);
  const can = perms.status === "ready" ? perms.value : { manageAccess: false, chooseDefault: false };
  const { error, setError, act } = useAction(reload);

  // The organizations a model open to everyone stays open to when it is disabled here.
  async function toggle(m: ChatModelConfig) {
    const next = availableIn(m, id) ? withoutOrg(m, id, (await listOrganizations()).map((o) => o.id)) : withOrg(m, id);
    await updateModelConfig(m.id, { organization_ids: next });
  }

  // This organization's own models and the site-wide ones (others' models are not its business).
  const rows = configs.status === "ready" ? configs.value.filter((m) => !m.organization_id || m.organization_id === id) : [];
  const usable = rows.filter((m) => m.enabled && availableIn(m, id));

  return (
    <>
      <h1>Models in {name}</h1>
      <p className="muted">Which models chats in {name} may use, and the one new chats start with.</p>
      <ErrorAlert error={error} onDismiss={() => setError(null)} />
      {configs.status === "loading" ? <p className="muted">Loading models…</p> : null}
      {configs.status === "error" ? <ErrorAlert error={configs.error} /> : null}
      {configs.status === "ready" ? (
        <>
          <DefaultModelForm organizationId={id} usable={usable} canChoose={can.chooseDefault} />
          <h2>Models</h2>
          {rows.length === 0 ? (
            <p className="muted">No models are configured.</p>
          ) : (
            <TableScroll label="Models">
              <table className="table" aria-label="Models">
                <thead>
                  <tr>
                    <th scope="col">Model</th>
                    <th scope="col">Provider</th>
                    <th scope="col">Scope</th>
                    <th scope="col">In {name}</th>
                  </tr>
                </thead>
                <tbody>
                  {rows.map((m) => {
                    const label = m.display_name || m.model;
                    const on = availableIn(m, id);
                    return (
                      <tr key={m.id}>
                        <td>
                          {label} <code className="muted">{m.model}</code>
                          {m.enabled ? null : <span className="badge">Disabled</span>}
                        </td>
                        <td>{m.provider_display_name || m.provider}</td>
                        <td>{m.organization_id ? "This organization" : "Site-wide"}</td>
                        <td>
                          {can.manageAccess && !m.organization_id ? (
                            <label className="checkbox">
                              <input type="checkbox" checked={on} onChange={() => act(() => toggle(m))} aria-label={`${label} available in ${name}`} />{" "}
                              {on ? "Enabled" : "Disabled"}
                            </label>
                          ) : on ? (
                            "Enabled"
                          ) : (
                            "Not available"
                          )}
                        </td>
                      </tr>
                    );
                  })}
                </tbody>
              </table>
            </TableScroll>
          )}
        </>
      ) : null}
    </>
  );
}

function DefaultModelForm({ organizationId, usable, canChoose }: { organizationId: string; usable: ChatModelConfig[]; canChoose: boolean }) {
  const [current, reload] = useAsync(() => getOrgDefaultModel(organizationId), [organizationId]);
  // What the user picked, or null until they pick: then the saved default shows. Until that has
  // loaded the form is disabled. (Derived, not copied in by an effect: the effect ran after the
  // paint that enabled the select, so a pick made in between was overwritten and "The site
  // default" saved instead; CI's org-models test caught it once.)
  const [picked, setPicked] = useState<string | null>(null);
  const [saved, setSaved] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const loaded = current.status === "ready";
  const choice = picked ?? (loaded ? (current.value.model_config_id ?? "") : "");

  async function submit(e: FormEvent) {
    e.preventDefault();
    setBusy(true);
    setError(null);
    setSaved(false);
    try {
      await setOrgDefaultModel(organizationId, choice === "" ? null : choice);
      setSaved(true);
      reload();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  }

  return (
    <form className="card form" onSubmit={submit} aria-label="Default model">
      <h2>Default model</h2>
      <ErrorAlert error={error} />
      {current.status === "error" ? <ErrorAlert error={current.error} /> : null}
      <label>
        Default model
        <select value={choice} onChange={(e) => setPicked(e.target.value)} disabled={!canChoose || busy || !loaded}>
          <option value="">The site default</option>
          {usable.map((m) => (
            <option key={m.id} value={m.id}>
              {m.display_name || m.model} ({m.provider_display_name || m.provider})
            </option>
          ))}
        </select>
      </label>
      {canChoose ? (
        <button type="submit" className="primary" disabled={busy || !loaded}>
          Save default
        </button>
      ) : (
        <p className="muted">Organization admins choose the default model.</p>
      )}
      {saved ? <p role="status">Default model saved.</p> : null}
    </form>
  );
}
