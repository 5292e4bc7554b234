import { type FormEvent, useState } from "react";
import { createToken, deleteToken, listTokens } from "../api/users";
import type { ApiKey } from "../api/types";
import { ErrorAlert } from "../components/ErrorAlert";
import { useAsync } from "../components/useAsync";
import { LIFETIME_DAYS, ago, keyLabel, lifetimeSeconds, sortKeys } from "./tokens";

/**
 * The signed-in user's API tokens and login sessions: create a token (its secret is shown once),
 * see when each key was last used, revoke any of them (at once, on every server).
 */
export function TokensPage() {
  const [keys, reload] = useAsync(listTokens, []);
  const [created, setCreated] = useState<string | null>(null);
  return (
    <section className="page">
      <h1>Tokens</h1>
      <p className="muted">API tokens act with all of your rights. Revoke any you no longer use.</p>
      {created ? (
        <div className="card" role="status" aria-label="New token">
          <p>
            <strong>Copy your new token now</strong>: it is not shown again.
          </p>
          <pre className="token-secret">{created}</pre>
          <button type="button" onClick={() => setCreated(null)}>
            Done
          </button>
        </div>
      ) : null}
      {keys.status === "loading" ? <p className="muted">Loading tokens…</p> : null}
      {keys.status === "error" ? <ErrorAlert error={keys.error} /> : null}
      {keys.status === "ready" ? (
        keys.value.length === 0 ? (
          <p className="muted">No tokens.</p>
        ) : (
          <ul className="cards">
            {sortKeys(keys.value).map((k) => (
              <KeyCard key={k.id} apiKey={k} onRevoked={reload} />
            ))}
          </ul>
        )
      ) : null}
      <CreateTokenForm
        onCreated={(secret) => {
          setCreated(secret);
          reload();
        }}
      />
    </section>
  );
}

function KeyCard({ apiKey, onRevoked }: { apiKey: ApiKey; onRevoked: () => void }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const label = keyLabel(apiKey);

  async function revoke() {
    if (!window.confirm(`Revoke ${label}? Anything using it stops working at once.`)) return;
    setBusy(true);
    setError(null);
    try {
      await deleteToken(apiKey.id);
      onRevoked();
    } catch (e) {
      setError(e);
      setBusy(false);
    }
  }

  return (
    <li className="card" aria-label={`Token ${label}`}>
      <div className="card-head">
        <strong>{label}</strong>
        <span className="badge">{apiKey.login_type === "token" ? "API token" : "Session"}</span>
      </div>
      <dl className="facts">
        <dt>ID</dt>
        <dd>
          <code>{apiKey.id}</code>
        </dd>
        <dt>Created</dt>
        <dd>{new Date(apiKey.created_at).toLocaleString()}</dd>
        <dt>Last used</dt>
        <dd>{ago(apiKey.last_used ?? null, new Date())}</dd>
        <dt>Expires</dt>
        <dd>{new Date(apiKey.expires_at).toLocaleString()}</dd>
      </dl>
      <ErrorAlert error={error} />
      <div className="row">
        <button type="button" className="danger" onClick={revoke} disabled={busy}>
          Revoke
        </button>
      </div>
    </li>
  );
}

function CreateTokenForm({ onCreated }: { onCreated: (secret: string) => void }) {
  const [name, setName] = useState("");
  const [days, setDays] = useState<number>(30);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);

  async function submit(e: FormEvent) {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const res = await createToken({ ...(name.trim() ? { token_name: name.trim() } : {}), lifetime_seconds: lifetimeSeconds(days) });
      setName("");
      onCreated(res.key);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  }

  return (
    <form className="card form" onSubmit={submit} aria-label="Create token">
      <h2>Create a token</h2>
      <ErrorAlert error={error} />
      <label>
        Name
        <input value={name} onChange={(e) => setName(e.target.value)} placeholder="e.g. laptop CLI" />
      </label>
      <label>
        Expires after
        <select value={days} onChange={(e) => setDays(Number(e.target.value))}>
          {LIFETIME_DAYS.map((d) => (
            <option key={d} value={d}>
              {d === 1 ? "1 day" : `${d} days`}
            </option>
          ))}
        </select>
      </label>
      <button type="submit" className="primary" disabled={busy}>
        Create token
      </button>
    </form>
  );
}
