// Where a visitor belongs, decided from what the server said at boot. Pure so it can be tested.

import type { User } from "../api/types";

export type Session =
  | { status: "loading" }
  | { status: "error"; error: unknown }
  /** No user exists yet (`GET /api/v2/users/first` was 404): only set-up makes sense. */
  | { status: "setup" }
  | { status: "signed-out" }
  | { status: "signed-in"; user: User };

export const HOME = "/agents";

/**
 * The path to redirect to, or null to render `path` as it is. `search` is the query string
 * (with its `?`): a signed-out visitor's deep link rides along to the login page as `?redirect=`
 * and is where signing in lands.
 */
export function redirectFor(session: Session, path: string, search = ""): string | null {
  switch (session.status) {
    case "loading":
    case "error":
      return null;
    case "setup":
      return path === "/setup" ? null : "/setup";
    case "signed-out": {
      if (path === "/login") return null;
      const keep = path !== "/" && path !== "/setup";
      return keep ? `/login?redirect=${encodeURIComponent(path + search)}` : "/login";
    }
    case "signed-in":
      if (path === "/login") return safeRedirect(search) ?? HOME;
      return path === "/" || path === "/setup" ? HOME : null;
  }
}

/** The `redirect` parameter when it names a path of this site (never another origin). */
function safeRedirect(search: string): string | null {
  const to = new URLSearchParams(search).get("redirect");
  if (!to || !to.startsWith("/") || to.startsWith("//") || to.startsWith("/\\") || to.startsWith("/login")) return null;
  return to;
}

