import type { ChatModel } from "../api/types";

/**
 * The composer's model picker: a native select (keyboard and screen readers work as everywhere),
 * grouped by provider. Nothing to choose, nothing shown.
 */
export function ModelSelect({ models, value, disabled, onChange }: { models: ChatModel[]; value: string | null; disabled?: boolean; onChange: (id: string) => void }) {
  if (models.length < 2 || value === null) return null;
  const providers = [...new Set(models.map((m) => m.provider))];
  return (
    <label className="model-select">
      <span className="visually-hidden">Model</span>
      <select aria-label="Model" value={value} disabled={disabled} onChange={(e) => onChange(e.target.value)}>
        {providers.map((p) => (
          <optgroup key={p} label={p}>
            {models
              .filter((m) => m.provider === p)
              .map((m) => (
                <option key={m.id} value={m.id}>
                  {m.display_name || m.model}
                  {m.is_default ? " (default)" : ""}
                </option>
              ))}
          </optgroup>
        ))}
      </select>
    </label>
  );
}
