import { useEffect, useState } from "react";
import { listModelConfigs, listProviders } from "../api/chats";
import { listUsers } from "../api/users";
import { useSitePermissions } from "../app/permissions";
import { Link } from "../router";

export interface SetupProgress {
  provider: boolean;
  model: boolean;
  people: boolean;
}

/** The first-run steps in order, with where each is done. Pure, for the unit tests. */
export function setupSteps(p: SetupProgress) {
  return [
    { done: p.provider, label: "Add an LLM provider", to: "/settings/providers" },
    { done: p.model, label: "Add a model and make it the default", to: "/settings/models" },
    { done: p.people, label: "Create an organization and invite people", to: "/settings/organizations" },
  ];
}

async function loadProgress(): Promise<SetupProgress> {
  const [providers, models, users] = await Promise.all([listProviders(), listModelConfigs(), listUsers({ limit: 1 })]);
  return { provider: providers.length > 0, model: models.some((m) => m.enabled), people: users.count > 1 };
}

/**
 * A short checklist for the deployment's owners until the deployment can run agents for a team:
 * a provider, a model, and people. It disappears once every step is done.
 */
export function OnboardingChecklist() {
  const perms = useSitePermissions();
  const [progress, setProgress] = useState<SetupProgress | null>(null);
  useEffect(() => {
    if (!perms?.manageAi) return;
    let live = true;
    // A checklist that cannot load is not worth an error: the pages it links to report their own.
    loadProgress().then((p) => live && setProgress(p), () => {});
    return () => {
      live = false;
    };
  }, [perms?.manageAi]);
  if (!perms?.manageAi || progress === null) return null;
  const steps = setupSteps(progress);
  if (steps.every((s) => s.done)) return null;
  return (
    <section className="card onboarding" aria-label="Set up agentry">
      <h2>Set up agentry</h2>
      <ol>
        {steps.map((s) => (
          <li key={s.to} className={s.done ? "done" : undefined}>
            <span aria-hidden="true">{s.done ? "✓" : "○"}</span>{" "}
            {s.done ? (
              <span>
                {s.label} <span className="visually-hidden">(done)</span>
              </span>
            ) : (
              <Link to={s.to}>{s.label}</Link>
            )}
          </li>
        ))}
      </ol>
    </section>
  );
}

/** Said above the composer when no model can be used: sending would only fail. */
export function NoModelNotice() {
  const perms = useSitePermissions();
  return (
    <div role="status" className="alert alert-info">
      <strong className="alert-title">No model is available yet</strong>
      {perms?.manageAi ? (
        <p className="alert-message">
          Agents need a provider and a default model. <Link to="/settings/models">Set up a default model</Link>.
        </p>
      ) : (
        <p className="alert-message">Agents need a default model, which a site owner sets up. Ask a site owner to add one.</p>
      )}
    </div>
  );
}
