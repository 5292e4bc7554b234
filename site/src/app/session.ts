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

/** The path to redirect to, or null to render `path` as it is. */
export function redirectFor(session: Session, path: string): string | null {
  switch (session.status) {
    case "loading":
    case "error":
      return null;
    case "setup":
      return path === "/setup" ? null : "/setup";
    case "signed-out":
      return path === "/login" ? null : "/login";
    case "signed-in":
      return path === "/" || path === "/login" || path === "/setup" ? HOME : null;
  }
}

