import { type FormEvent, useState } from "react";
import { TableScroll } from "../components/TableScroll";
import { createModelConfig, deleteModelConfig, listModelConfigs, listProviders, updateModelConfig } from "../api/chats";
import type { ProviderKind } from "../api/types";
import { ErrorAlert } from "../components/ErrorAlert";
import { useAction } from "../components/useAction";
import { useAsync } from "../components/useAsync";

/** Model configs: which models chats may use, which one is the default, and their prices. */
export function ModelsPage() {
  const [configs, reload] = useAsync(listModelConfigs, []);
  const [providers] = useAsync(listProviders, []);
  const { error, setError, act } = useAction(reload);
  // The table shows the name the provider was given (several providers may share a kind).
  const providerName = (m: { provider: string; provider_display_name?: string | null }) => m.provider_display_name || m.provider;

  return (
    <section className="page">
      <h1>Models</h1>
      <ErrorAlert error={error} onDismiss={() => setError(null)} />
      {configs.status === "loading" ? <p className="muted">Loading models…</p> : null}
      {configs.status === "error" ? <ErrorAlert error={configs.error} /> : null}
      {configs.status === "ready" ? (
        configs.value.length === 0 ? (
          <p className="muted">No models configured. Chats cannot start until one exists.</p>
        ) : (
          <TableScroll label="Models">
            <table className="table">
              <thead>
                <tr>
                  <th scope="col">Model</th>
                  <th scope="col">Provider</th>
                  <th scope="col">Context</th>
                  <th scope="col">Price (in / out per M)</th>
                  <th scope="col">State</th>
                  <th scope="col">
                    <span className="visually-hidden">Actions</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {configs.value.map((m) => (
                  <tr key={m.id}>
                    <td>
                      {m.display_name || m.model} <code className="muted">{m.model}</code>
                      {m.is_default ? <span className="badge">Default</span> : null}
                    </td>
                    <td>{providerName(m)}</td>
                    <td>{m.context_limit.toLocaleString()}</td>
                    <td>
                      {m.input_price_per_million ?? "–"} / {m.output_price_per_million ?? "–"}
                    </td>
                    <td>{m.enabled ? "Enabled" : "Disabled"}</td>
                    <td className="row">
                      {m.is_default ? null : (
                        <button type="button" onClick={() => act(() => updateModelConfig(m.id, { is_default: true }))}>
                          Make default
                        </button>
                      )}
                      <button type="button" onClick={() => act(() => updateModelConfig(m.id, { enabled: !m.enabled }))}>
                        {m.enabled ? "Disable" : "Enable"}
                      </button>
                      <button
                        type="button"
                        className="danger"
                        onClick={() => window.confirm(`Delete model ${m.display_name || m.model}?`) && act(() => deleteModelConfig(m.id))}
                      >
                        Delete
                      </button>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </TableScroll>
        )
      ) : null}
      {providers.status === "error" ? <ErrorAlert title="Could not load providers" error={providers.error} /> : null}
      {providers.status === "ready" ? <CreateModelForm
          providers={providers.value.filter((p) => !p.organization_id).map((p) => ({ id: p.id, kind: p.provider, name: p.display_name || p.provider }))}
          onCreated={reload}
        /> : null}
    </section>
  );
}

/** A positive whole number of tokens, or `undefined` for "use the default"; `null` when invalid. */
export function parseContextLimit(text: string): number | undefined | null {
  const t = text.trim();
  if (t === "") return undefined;
  return /^\d+$/.test(t) && Number(t) > 0 ? Number(t) : null;
}

function CreateModelForm({ providers, onCreated }: { providers: { id: string; kind: string; name: string }[]; onCreated: () => void }) {
  const [provider, setProvider] = useState("");
  const [model, setModel] = useState("");
  const [displayName, setDisplayName] = useState("");
  const [contextLimit, setContextLimit] = useState("");
  const [inPrice, setInPrice] = useState("");
  const [outPrice, setOutPrice] = useState("");
  const [isDefault, setIsDefault] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const chosen = providers.find((p) => p.id === provider) ?? providers[0];

  async function submit(e: FormEvent) {
    e.preventDefault();
    setBusy(true);
    setError(null);
    const num = (s: string) => (s.trim() === "" ? undefined : Number(s));
    const limit = parseContextLimit(contextLimit);
    if (limit === null) {
      setError(new Error("The context limit must be a whole number of tokens above zero."));
      setBusy(false);
      return;
    }
    try {
      await createModelConfig({
        // The providers offered are those configured, so each has a provider kind.
        provider: (chosen?.kind ?? "") as ProviderKind,
        ...(chosen ? { provider_id: chosen.id } : {}),
        model: model.trim(),
        ...(displayName ? { display_name: displayName } : {}),
        ...(limit !== undefined ? { context_limit: limit } : {}),
        ...(num(inPrice) !== undefined ? { input_price_per_million: num(inPrice) } : {}),
        ...(num(outPrice) !== undefined ? { output_price_per_million: num(outPrice) } : {}),
        is_default: isDefault,
        enabled: true,
      });
      setModel("");
      setDisplayName("");
      onCreated();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  }

  return (
    <form className="card form" onSubmit={submit} aria-label="Add model">
      <h2>Add a model</h2>
      <ErrorAlert error={error} />
      {providers.length === 0 ? <p className="muted">Add a provider first.</p> : null}
      <label>
        Provider
        <select value={chosen?.id ?? ""} onChange={(e) => setProvider(e.target.value)} disabled={providers.length === 0}>
          {providers.map((p) => (
            <option key={p.id} value={p.id}>
              {p.name}
            </option>
          ))}
        </select>
      </label>
      <label>
        Model identifier
        <input value={model} onChange={(e) => setModel(e.target.value)} placeholder="The exact API model name" required />
      </label>
      <label>
        Display name
        <input value={displayName} onChange={(e) => setDisplayName(e.target.value)} />
      </label>
      <label>
        Context limit (tokens)
        <input inputMode="numeric" pattern="[0-9]*" value={contextLimit} onChange={(e) => setContextLimit(e.target.value)} placeholder="128000" />
      </label>
      <label>
        Input price per million tokens (USD)
        <input inputMode="decimal" value={inPrice} onChange={(e) => setInPrice(e.target.value)} />
      </label>
      <label>
        Output price per million tokens (USD)
        <input inputMode="decimal" value={outPrice} onChange={(e) => setOutPrice(e.target.value)} />
      </label>
      <label className="checkbox">
        <input type="checkbox" checked={isDefault} onChange={(e) => setIsDefault(e.target.checked)} /> Default model
      </label>
      <button type="submit" className="primary" disabled={busy || providers.length === 0 || model.trim() === ""}>
        Add model
      </button>
    </form>
  );
}
