import { type ReactNode, createContext, useContext, useEffect, useState } from "react";
import { type SitePermissions, sitePermissions } from "../api/authcheck";

/** `null` while the server is being asked; then what the signed-in user may administer. */
const Context = createContext<SitePermissions | null>(null);

/** Asks the server once per sign-in which deployment pages this user may use. */
export function SitePermissionsProvider({ children }: { children: ReactNode }) {
  const [perms, setPerms] = useState<SitePermissions | null>(null);
  useEffect(() => {
    let live = true;
    // A failed check shows nothing extra: the pages' own requests would fail the same way.
    sitePermissions().then(
      (p) => live && setPerms(p),
      () => live && setPerms({ manageAi: false, manageUsers: false, readAudit: false }),
    );
    return () => {
      live = false;
    };
  }, []);
  return <Context.Provider value={perms}>{children}</Context.Provider>;
}

export function useSitePermissions(): SitePermissions | null {
  return useContext(Context);
}

/**
 * A page only some users may use. Others get a page that says who can use it instead of the
 * server's bare "Forbidden." (and never see the page's forms).
 */
export function RequireSitePermission({ allowed, title, who, children }: { allowed: keyof SitePermissions; title: string; who: string; children: ReactNode }) {
  const perms = useSitePermissions();
  if (perms === null) return <p className="muted page">Loading…</p>;
  if (!perms[allowed]) {
    return (
      <section className="page">
        <h1>{title}</h1>
        <div role="alert" className="alert alert-info">
          <strong className="alert-title">Permission required</strong>
          <p className="alert-message">{who}</p>
        </div>
      </section>
    );
  }
  return <>{children}</>;
}
