import { useCallback, useState } from "react";

/**
 * Runs a page's actions (suspend, stop, make default, …): the last failure is kept for an alert
 * and cleared by the next attempt, and `after` (usually the page's reload) follows a success.
 */
export function useAction(after: () => void) {
  const [error, setError] = useState<unknown>(null);
  const act = useCallback(
    async (f: () => Promise<unknown>) => {
      setError(null);
      try {
        await f();
        after();
      } catch (e) {
        setError(e);
      }
    },
    [after],
  );
  return { error, setError, act };
}
