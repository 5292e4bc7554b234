import { useCallback, useEffect, useState } from "react";
import { setUnauthorizedHandler } from "../api/http";
import { firstUserExists, me } from "../api/users";
import { AgentsLayout } from "../agents/AgentsLayout";
import { ErrorAlert } from "../components/ErrorAlert";
import { matchPath, navigate, usePathname } from "../router";
import { OrganizationPage } from "../settings/OrganizationPage";
import { OrganizationsPage } from "../settings/OrganizationsPage";
import type { User } from "../api/types";
import { AccountPage } from "../settings/AccountPage";
import { AuditPage } from "../settings/AuditPage";
import { ModelsPage } from "../settings/ModelsPage";
import { ProvidersPage } from "../settings/ProvidersPage";
import { TokensPage } from "../settings/TokensPage";
import { UsersPage } from "../settings/UsersPage";
import { TemplatesPage, WorkspacesPage } from "../settings/WorkspacesPage";
import { LoginPage } from "./LoginPage";
import { type Session, redirectFor } from "./session";
import { SetupPage } from "./SetupPage";
import { RequireSitePermission, SitePermissionsProvider } from "./permissions";
import { Shell } from "./Shell";

async function loadSession(): Promise<Session> {
  if (!(await firstUserExists())) return { status: "setup" };
  const user = await me();
  return user ? { status: "signed-in", user } : { status: "signed-out" };
}

export function App() {
  const path = usePathname();
  const [session, setSession] = useState<Session>({ status: "loading" });

  const refresh = useCallback(() => {
    loadSession().then(setSession, (error: unknown) => setSession({ status: "error", error }));
  }, []);
  useEffect(refresh, [refresh]);
  // A session that expires while the app is open sends the user back to the login page.
  useEffect(() => {
    setUnauthorizedHandler(() => setSession((s) => (s.status === "signed-in" ? { status: "signed-out" } : s)));
    return () => setUnauthorizedHandler(() => {});
  }, []);

  const redirect = redirectFor(session, path, window.location.search);
  useEffect(() => {
    if (redirect) navigate(redirect, { replace: true });
  }, [redirect]);

  if (session.status === "loading" || redirect) {
    return <p className="boot">Loading…</p>;
  }
  if (session.status === "error") {
    return (
      <main className="auth-page">
        <div className="card auth-card">
          <ErrorAlert title="Could not reach the agentry server" error={session.error} />
          <button type="button" onClick={refresh}>
            Try again
          </button>
        </div>
      </main>
    );
  }
  if (session.status === "setup") return <SetupPage onSignedIn={refresh} />;
  if (session.status === "signed-out") return <LoginPage onSignedIn={refresh} />;

  return (
    <SitePermissionsProvider key={session.user.id}>
      <Shell user={session.user} onSignedOut={() => setSession({ status: "signed-out" })}>
        <Routes path={path} user={session.user} />
      </Shell>
    </SitePermissionsProvider>
  );
}

const ownersOnly = "Providers and models are managed by the deployment's owners. Ask a site owner to add or change them.";

function Routes({ path, user }: { path: string; user: User }) {
  if (matchPath("/agents", path)) return <AgentsLayout chatId={null} />;
  const chat = matchPath("/agents/:chatId", path);
  if (chat) return <AgentsLayout chatId={chat.chatId!} />;
  if (matchPath("/settings/providers", path)) {
    return (
      <RequireSitePermission allowed="manageAi" title="Providers" who={ownersOnly}>
        <ProvidersPage />
      </RequireSitePermission>
    );
  }
  if (matchPath("/settings/models", path)) {
    return (
      <RequireSitePermission allowed="manageAi" title="Models" who={ownersOnly}>
        <ModelsPage />
      </RequireSitePermission>
    );
  }
  if (matchPath("/settings/tokens", path)) return <TokensPage />;
  if (matchPath("/workspaces", path)) return <WorkspacesPage />;
  if (matchPath("/templates", path)) return <TemplatesPage />;
  if (matchPath("/settings/account", path)) return <AccountPage user={user} />;
  if (matchPath("/settings/audit", path)) {
    return (
      <RequireSitePermission allowed="readAudit" title="Audit log" who="The audit log is for site owners and auditors.">
        <AuditPage />
      </RequireSitePermission>
    );
  }
  if (matchPath("/settings/users", path)) {
    return (
      <RequireSitePermission allowed="manageUsers" title="Users" who="Users are managed by site owners and user admins. Ask one of them to add or change an account.">
        <UsersPage me={user.id} isOwner={user.roles.some((r) => r.name === "owner")} />
      </RequireSitePermission>
    );
  }
  if (matchPath("/settings/organizations", path)) return <OrganizationsPage />;
  const org = matchPath("/settings/organizations/:org", path);
  if (org) return <OrganizationPage org={org.org!} />;
  return (
    <section className="page">
      <h1>Page not found</h1>
      <p>Nothing lives at <code>{path}</code>.</p>
    </section>
  );
}
