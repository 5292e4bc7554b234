import { useState } from "react";
import type { User } from "../api/types";
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
