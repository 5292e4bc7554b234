import { useEffect, useState } from "react";
import { request } from "../api/http";
import { getBudget } from "../api/usage";
import { dollars, remainingShare } from "../settings/usage";

interface Standing {
  limit_micros?: number | null;
  spent_micros: number;
}

/**
 * "Budget: $x left" under the composer when the caller's tightest readable limit in this
 * organization (their member budget, their organization's for admins, the deployment's limit
 * per user) has less than 20% left. Limits the caller may not read are skipped.
 */
export function RemainingBudget({ organizationId, refresh }: { organizationId: string; refresh?: unknown }) {
  const [left, setLeft] = useState<{ share: number; micros: number } | null>(null);
  useEffect(() => {
    let live = true;
    const quiet = <T,>(p: Promise<T>) => p.catch(() => null);
    void Promise.all([
      quiet(getBudget(organizationId, "me")),
      quiet(getBudget(organizationId)),
      quiet(request<Standing & { enabled: boolean }>("GET", "/api/experimental/chats/usage-limits/status")),
    ]).then((all) => {
      let tightest: { share: number; micros: number } | null = null;
      for (const s of all as (Standing | null)[]) {
        if (!s) continue;
        const share = remainingShare(s.limit_micros, s.spent_micros);
        if (share === null) continue;
        if (!tightest || share < tightest.share) tightest = { share, micros: Math.max(0, (s.limit_micros ?? 0) - s.spent_micros) };
      }
      if (live) setLeft(tightest);
    });
    return () => {
      live = false;
    };
  }, [organizationId, refresh]);
  if (!left || left.share >= 0.2) return null;
  return (
    <p className="muted budget-left" role="status" data-testid="budget-left">
      Budget: {dollars(left.micros)} left ({Math.floor(left.share * 100)}%)
    </p>
  );
}
