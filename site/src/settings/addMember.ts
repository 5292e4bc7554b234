// Suggestions for the add-member form: people the caller can see, found with the users list's
// search, who are not members yet. Pure so it can be tested.

import type { GetUsersResponse, OrganizationMember } from "../api/types";

/** Most suggestions shown at once. */
export const MAX_SUGGESTIONS = 8;

/**
 * The users-list search for what was typed: its words only. A `:` would turn a word into a
 * filter (`status:…`) the server checks, so typed colons are dropped rather than sent.
 */
export function userSearch(typed: string): string {
  return typed.replace(/:/g, " ").split(/\s+/).filter(Boolean).join(" ");
}

/** Usernames from one page of the users list that are not members of the organization yet. */
export function memberSuggestions(page: GetUsersResponse, members: OrganizationMember[]): string[] {
  const taken = new Set(members.map((m) => m.user_id));
  return page.users
    .filter((u) => !taken.has(u.id) && u.status === "active")
    .map((u) => u.username)
    .slice(0, MAX_SUGGESTIONS);
}
