import { type ReactNode, useState } from "react";
import type { User } from "../api/types";
import { logout } from "../api/users";
import { ErrorAlert } from "../components/ErrorAlert";
import { Link, usePathname } from "../router";
import { useSitePermissions } from "./permissions";

/** The signed-in layout: a sidebar (navigation, who is signed in, sign out) and the main area. */
export function Shell({ user, onSignedOut, children }: { user: User; onSignedOut: () => void; children: ReactNode }) {
  const path = usePathname();
  const perms = useSitePermissions();
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);

  async function signOut() {
    setBusy(true);
    setError(null);
    try {
      await logout();
      onSignedOut();
    } catch (err) {
      setError(err);
      setBusy(false);
    }
  }

  const item = (to: string, label: string) => {
    const active = path === to || path.startsWith(`${to}/`);
    return (
      <li>
        <Link to={to} className={active ? "nav-link active" : "nav-link"} aria-current={active ? "page" : undefined}>
          {label}
        </Link>
      </li>
    );
  };

  return (
    <div className="shell">
      <aside className="sidebar" aria-label="Sidebar">
        <div className="brand">agentry</div>
        <nav aria-label="Main">
          <ul>
            {item("/agents", "Agents")}
            {item("/settings/organizations", "Organizations")}
            {perms?.manageAi ? item("/settings/providers", "Providers") : null}
            {perms?.manageAi ? item("/settings/models", "Models") : null}
            {item("/settings/tokens", "Tokens")}
          </ul>
        </nav>
        <div className="sidebar-footer">
          <ErrorAlert error={error} />
          <div className="whoami" title={user.email}>
            Signed in as <strong>{user.username}</strong>
          </div>
          <button type="button" onClick={signOut} disabled={busy}>
            Sign out
          </button>
        </div>
      </aside>
      <main className="main">{children}</main>
    </div>
  );
}
