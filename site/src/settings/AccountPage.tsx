import { type FormEvent, useState } from "react";
import type { User } from "../api/types";
import { updatePassword } from "../api/users";
import { ErrorAlert } from "../components/ErrorAlert";
import { type ThemeChoice, currentTheme, setTheme } from "../app/theme";
import { Link } from "../router";
import { describeRole } from "./roles";

/** The signed-in user's own settings: who they are, the theme, and where their tokens live. */
export function AccountPage({ user }: { user: User }) {
  const [theme, setChoice] = useState<ThemeChoice>(currentTheme);
  const roles = user.roles.filter((r) => r.name !== "member");
  return (
    <section className="page">
      <h1>Account</h1>
      <section className="card form" aria-label="Profile">
        <h2>Profile</h2>
        <dl className="facts">
          <dt>Username</dt>
          <dd>{user.username}</dd>
          <dt>Email</dt>
          <dd>{user.email}</dd>
          {user.name ? (
            <>
              <dt>Name</dt>
              <dd>{user.name}</dd>
            </>
          ) : null}
          <dt>Site roles</dt>
          <dd>
            {roles.length === 0
              ? "Member"
              : roles.map((r) => (
                  <span key={r.name} className="badge" title={describeRole(r.name)}>
                    {r.display_name || r.name}
                  </span>
                ))}
          </dd>
        </dl>
      </section>
      <ChangePasswordForm />
      <fieldset className="card form theme-choice">
        <legend>Theme</legend>
        {(["system", "light", "dark"] as const).map((t) => (
          <label key={t} className="checkbox">
            <input
              type="radio"
              name="theme"
              value={t}
              checked={theme === t}
              onChange={() => {
                setTheme(t);
                setChoice(t);
              }}
            />
            {t === "system" ? "Same as the system" : t === "light" ? "Light" : "Dark"}
          </label>
        ))}
      </fieldset>
      <p>
        API tokens and sessions: <Link to="/settings/tokens">Tokens</Link>.
      </p>
    </section>
  );
}

function ChangePasswordForm() {
  const [old, setOld] = useState("");
  const [next, setNext] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [done, setDone] = useState(false);

  async function submit(e: FormEvent) {
    e.preventDefault();
    setBusy(true);
    setError(null);
    setDone(false);
    try {
      await updatePassword("me", { old_password: old, password: next });
      setOld("");
      setNext("");
      setDone(true);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  }

  return (
    <form className="card form" onSubmit={submit} aria-label="Change password">
      <h2>Password</h2>
      <ErrorAlert error={error} onDismiss={() => setError(null)} />
      {done ? (
        <p role="status" className="alert alert-success">
          Password changed. Your other sign-ins have been ended.
        </p>
      ) : null}
      <label>
        Current password
        <input type="password" autoComplete="current-password" required value={old} onChange={(e) => setOld(e.target.value)} />
      </label>
      <label>
        New password
        <input type="password" autoComplete="new-password" required minLength={8} value={next} onChange={(e) => setNext(e.target.value)} />
      </label>
      <button type="submit" className="primary" disabled={busy}>
        {busy ? "Changing…" : "Change password"}
      </button>
    </form>
  );
}
