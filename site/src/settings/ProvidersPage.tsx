import { type FormEvent, useState } from "react";
import { createProvider, deleteProvider, listProviders, updateProvider } from "../api/chats";
import type { ChatProviderConfig, ProviderKind } from "../api/types";
import { ErrorAlert } from "../components/ErrorAlert";
import { useAsync } from "../components/useAsync";

// An OpenAI-compatible server has no default address; the others do.
const baseUrlPlaceholder: Record<ProviderKind, string> = {
  openai: "Default: https://api.openai.com/v1",
  anthropic: "Default: https://api.anthropic.com",
  "openai-compat": "https://llm.example.com/v1",
};

const kinds = [
  { value: "openai", label: "OpenAI" },
  { value: "anthropic", label: "Anthropic" },
  { value: "openai-compat", label: "OpenAI-compatible" },
];

/**
 * LLM providers (deployment administration). API keys are write-only: the server answers only
 * whether one is set, so the form never shows or round-trips a key.
 */
export function ProvidersPage() {
  const [providers, reload] = useAsync(listProviders, []);
  return (
    <section className="page">
      <h1>Providers</h1>
      {providers.status === "loading" ? <p className="muted">Loading providers…</p> : null}
      {providers.status === "error" ? <ErrorAlert error={providers.error} /> : null}
      {providers.status === "ready" ? (
        providers.value.length === 0 ? (
          <p className="muted">No providers configured yet.</p>
        ) : (
          <ul className="cards">
            {providers.value.map((p) => (
              <ProviderCard key={p.id} provider={p} onChanged={reload} />
            ))}
          </ul>
        )
      ) : null}
      <CreateProviderForm onCreated={reload} />
    </section>
  );
}

function ProviderCard({ provider, onChanged }: { provider: ChatProviderConfig; onChanged: () => void }) {
  const [editing, setEditing] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [displayName, setDisplayName] = useState(provider.display_name);
  const [baseUrl, setBaseUrl] = useState(provider.base_url ?? "");
  const [apiKey, setApiKey] = useState("");
  const [enabled, setEnabled] = useState(provider.enabled);
  const [busy, setBusy] = useState(false);

  async function act(f: () => Promise<unknown>) {
    setBusy(true);
    setError(null);
    try {
      await f();
      setEditing(false);
      setApiKey("");
      onChanged();
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  }

  function save(e: FormEvent) {
    e.preventDefault();
    void act(() =>
      updateProvider(provider.id, {
        display_name: displayName,
        base_url: baseUrl,
        enabled,
        ...(apiKey !== "" ? { api_key: apiKey } : {}),
      }),
    );
  }

  return (
    <li className="card provider-card" aria-label={`Provider ${provider.display_name || provider.provider}`}>
      <div className="card-head">
        <strong>{provider.display_name || provider.provider}</strong>
        <span className="badge">{kinds.find((k) => k.value === provider.provider)?.label ?? provider.provider}</span>
        {provider.enabled ? null : <span className="badge">Disabled</span>}
      </div>
      <dl className="facts">
        <dt>API key</dt>
        <dd>{provider.has_api_key ? "set" : "not set"}</dd>
        <dt>Base URL</dt>
        <dd>{provider.base_url || <span className="muted">default</span>}</dd>
      </dl>
      <ErrorAlert error={error} />
      {editing ? (
        <form className="form" onSubmit={save}>
          <label>
            Display name
            <input value={displayName} onChange={(e) => setDisplayName(e.target.value)} />
          </label>
          <label>
            Base URL
            <input value={baseUrl} onChange={(e) => setBaseUrl(e.target.value)} placeholder="https://…" />
          </label>
          <label>
            New API key
            <input type="password" autoComplete="off" value={apiKey} onChange={(e) => setApiKey(e.target.value)} placeholder={provider.has_api_key ? "Leave empty to keep the current key" : ""} />
          </label>
          <label className="checkbox">
            <input type="checkbox" checked={enabled} onChange={(e) => setEnabled(e.target.checked)} /> Enabled
          </label>
          <div className="row">
            <button type="button" onClick={() => setEditing(false)} disabled={busy}>
              Cancel
            </button>
            {provider.has_api_key ? (
              <button type="button" onClick={() => act(() => updateProvider(provider.id, { api_key: "" }))} disabled={busy}>
                Remove key
              </button>
            ) : null}
            <button type="submit" className="primary" disabled={busy}>
              Save
            </button>
          </div>
        </form>
      ) : (
        <div className="row">
          <button type="button" onClick={() => setEditing(true)}>
            Edit
          </button>
          <button
            type="button"
            className="danger"
            disabled={busy}
            onClick={() => window.confirm(`Delete provider ${provider.display_name || provider.provider}?`) && act(() => deleteProvider(provider.id))}
          >
            Delete
          </button>
        </div>
      )}
    </li>
  );
}

function CreateProviderForm({ onCreated }: { onCreated: () => void }) {
  const [provider, setProvider] = useState<ProviderKind>("openai");
  const [displayName, setDisplayName] = useState("");
  const [apiKey, setApiKey] = useState("");
  const [baseUrl, setBaseUrl] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);

  async function submit(e: FormEvent) {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await createProvider({
        provider,
        ...(displayName ? { display_name: displayName } : {}),
        ...(apiKey ? { api_key: apiKey } : {}),
        ...(baseUrl ? { base_url: baseUrl } : {}),
        enabled: true,
      });
      setDisplayName("");
      setApiKey("");
      setBaseUrl("");
      onCreated();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  }

  return (
    <form className="card form" onSubmit={submit} aria-label="Add provider">
      <h2>Add a provider</h2>
      <ErrorAlert error={error} />
      <label>
        Type
        <select value={provider} onChange={(e) => setProvider(e.target.value as ProviderKind)}>
          {kinds.map((k) => (
            <option key={k.value} value={k.value}>
              {k.label}
            </option>
          ))}
        </select>
      </label>
      <label>
        Display name
        <input value={displayName} onChange={(e) => setDisplayName(e.target.value)} />
      </label>
      <label>
        API key
        <input type="password" autoComplete="off" value={apiKey} onChange={(e) => setApiKey(e.target.value)} />
      </label>
      <label>
        Base URL{provider === "openai-compat" ? "" : " (optional)"}
        <input
          type="url"
          value={baseUrl}
          required={provider === "openai-compat"}
          onChange={(e) => setBaseUrl(e.target.value)}
          placeholder={baseUrlPlaceholder[provider]}
        />
      </label>
      <button type="submit" className="primary" disabled={busy}>
        Add provider
      </button>
    </form>
  );
}
