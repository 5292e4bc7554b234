import { Suspense, lazy, useCallback, useEffect, useState } from "react";
import { setUnauthorizedHandler } from "../api/http";
import { firstUserExists, me } from "../api/users";
import { AgentsLayout } from "../agents/AgentsLayout";
import { ErrorAlert } from "../components/ErrorAlert";
import { matchPath, navigate, usePathname } from "../router";
import type { User } from "../api/types";
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
        <Suspense fallback={<p className="muted page">Loading…</p>}>
          <Routes path={path} user={session.user} />
        </Suspense>
      </Shell>
    </SitePermissionsProvider>
  );
}

// The settings pages load when first opened: the agents page, where people spend their time,
// does not wait for them.
const OrganizationPage = lazy(() => import("../settings/OrganizationPage").then((m) => ({ default: m.OrganizationPage })));
const OrgModelsPage = lazy(() => import("../settings/OrgModelsPage").then((m) => ({ default: m.OrgModelsPage })));
const OrganizationsPage = lazy(() => import("../settings/OrganizationsPage").then((m) => ({ default: m.OrganizationsPage })));
const AccountPage = lazy(() => import("../settings/AccountPage").then((m) => ({ default: m.AccountPage })));
const AuditPage = lazy(() => import("../settings/AuditPage").then((m) => ({ default: m.AuditPage })));
const ModelsPage = lazy(() => import("../settings/ModelsPage").then((m) => ({ default: m.ModelsPage })));
const ProvidersPage = lazy(() => import("../settings/ProvidersPage").then((m) => ({ default: m.ProvidersPage })));
const TokensPage = lazy(() => import("../settings/TokensPage").then((m) => ({ default: m.TokensPage })));
const UsagePage = lazy(() => import("../settings/UsagePage").then((m) => ({ default: m.UsagePage })));
const BudgetsPage = lazy(() => import("../settings/BudgetsPage").then((m) => ({ default: m.BudgetsPage })));
const UsersPage = lazy(() => import("../settings/UsersPage").then((m) => ({ default: m.UsersPage })));
const WorkspacesPage = lazy(() => import("../settings/WorkspacesPage").then((m) => ({ default: m.WorkspacesPage })));
const TemplatesPage = lazy(() => import("../settings/WorkspacesPage").then((m) => ({ default: m.TemplatesPage })));

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
  if (matchPath("/settings/usage", path)) return <UsagePage />;
  const budgets = matchPath("/settings/organizations/:org/budgets", path);
  if (budgets) return <BudgetsPage org={budgets.org!} />;
  if (matchPath("/settings/organizations", path)) return <OrganizationsPage />;
  const orgModels = matchPath("/settings/organizations/:org/models", path);
  if (orgModels) return <OrgModelsPage org={orgModels.org!} />;
  const org = matchPath("/settings/organizations/:org", path);
  if (org) return <OrganizationPage org={org.org!} />;
  return (
    <section className="page">
      <h1>Page not found</h1>
      <p>Nothing lives at <code>{path}</code>.</p>
    </section>
  );
}
