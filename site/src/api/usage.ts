import { request, seg } from "./http";
import type { ChatBudget, ChatBudgetRequest, ChatUsageReport } from "./types";

export type UsageGroup = "day" | "model" | "user" | "organization";

export interface UsageQuery {
  organization_id?: string;
  user_id?: string;
  /** `YYYY-MM-DD`, inclusive. */
  from?: string;
  /** `YYYY-MM-DD`, exclusive. */
  to?: string;
  group_by?: UsageGroup;
}

/** Spend per group; what the caller may read (their own, their organization's, or everything). */
export function getUsage(q: UsageQuery): Promise<ChatUsageReport> {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(q)) if (v) params.set(k, v);
  return request("GET", `/api/experimental/chats/usage?${params.toString()}`);
}

function budgetPath(org: string, user?: string): string {
  const base = `/api/v2/organizations/${seg(org)}`;
  return user ? `${base}/members/${seg(user)}/chat-budget` : `${base}/chat-budget`;
}

/** An organization's budget, or a member's (`user`: id, username or `me`). */
export function getBudget(org: string, user?: string): Promise<ChatBudget> {
  return request("GET", budgetPath(org, user));
}

export function setBudget(org: string, user: string | undefined, req: ChatBudgetRequest): Promise<ChatBudget> {
  return request("PUT", budgetPath(org, user), { body: req });
}
