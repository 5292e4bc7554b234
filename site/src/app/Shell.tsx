import { type ReactNode, useEffect, useState } from "react";
import type { User } from "../api/types";
import { logout } from "../api/users";
import { ErrorAlert } from "../components/ErrorAlert";
import { Link, usePathname } from "../router";
import { useSitePermissions } from "./permissions";

/** The signed-in layout: a sidebar (navigation, who is signed in, sign out) and the main area. */
export function Shell({ user, onSignedOut, children }: { user: User; onSignedOut: () => void; children: ReactNode }) {
  const path = usePathname();
  const perms = useSitePermissions();
  const [menuOpen, setMenuOpen] = useState(false);
  // The drawer closes when the user goes somewhere or presses Escape.
  useEffect(() => setMenuOpen(false), [path]);
  useEffect(() => {
    if (!menuOpen) return;
    const onKey = (e: KeyboardEvent) => e.key === "Escape" && setMenuOpen(false);
    document.addEventListener("keydown", onKey);
    return () => document.removeEventListener("keydown", onKey);
  }, [menuOpen]);
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
    <div className={`shell${menuOpen ? " drawer-open" : ""}`}>
      {/* Narrow screens: a bar with the menu button; the sidebar becomes a drawer. */}
      <header className="mobile-bar">
        <button type="button" className="icon-button" aria-label={menuOpen ? "Close menu" : "Open menu"} aria-expanded={menuOpen} aria-controls="main-sidebar" onClick={() => setMenuOpen(!menuOpen)}>
          ☰
        </button>
        <span className="brand">agentry</span>
      </header>
      {menuOpen ? <div className="drawer-backdrop" aria-hidden="true" onClick={() => setMenuOpen(false)} /> : null}
      <aside id="main-sidebar" className="sidebar drawer" aria-label="Sidebar">
        <div className="brand">agentry</div>
        <nav aria-label="Main">
          <ul>
            {item("/agents", "Agents")}
            {item("/workspaces", "Workspaces")}
            {item("/templates", "Templates")}
            {item("/settings/organizations", "Organizations")}
            {perms?.manageUsers ? item("/settings/users", "Users") : null}
            {perms?.manageAi ? item("/settings/providers", "Providers") : null}
            {perms?.manageAi ? item("/settings/models", "Models") : null}
            {perms?.readAudit ? item("/settings/audit", "Audit log") : null}
            {item("/settings/usage", "Usage")}
            {item("/settings/tokens", "Tokens")}
          </ul>
        </nav>
        <div className="sidebar-footer">
          <ErrorAlert error={error} />
          <div className="whoami" title={user.email}>
            Signed in as <Link to="/settings/account">{user.username}</Link>
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
