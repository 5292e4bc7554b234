// The Tokens page's rules, kept pure for tests: which lifetimes the form offers, how a key is
// described, and the order keys are listed in.

import type { ApiKey } from "../api/types";

/** Lifetimes the form offers, in days; the server accepts up to 365. */
export const LIFETIME_DAYS = [1, 7, 30, 90, 365] as const;

export function lifetimeSeconds(days: number): number {
  return Math.round(days * 24 * 3600);
}

/** Tokens first (what the page is about), then sessions; newest first within each. */
export function sortKeys(keys: ApiKey[]): ApiKey[] {
  return [...keys].sort((a, b) => {
    if (a.login_type !== b.login_type) return a.login_type === "token" ? -1 : 1;
    return b.created_at.localeCompare(a.created_at) || a.id.localeCompare(b.id);
  });
}

/** What a key is called in the list: its name, or what kind of session it is. */
export function keyLabel(k: ApiKey): string {
  if (k.name) return k.name;
  return k.login_type === "password" ? "Login session" : `Token ${k.id}`;
}

/** "never", "just now", "5 minutes ago", "3 hours ago", "2 days ago", relative to `now`. */
export function ago(when: string | null, now: Date): string {
  if (!when) return "never";
  const s = Math.max(0, Math.floor((now.getTime() - new Date(when).getTime()) / 1000));
  if (s < 60) return "just now";
  const unit = (n: number, name: string) => `${n} ${name}${n === 1 ? "" : "s"} ago`;
  if (s < 3600) return unit(Math.floor(s / 60), "minute");
  if (s < 86400) return unit(Math.floor(s / 3600), "hour");
  return unit(Math.floor(s / 86400), "day");
}
