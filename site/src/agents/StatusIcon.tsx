import type { ChatStatus } from "../api/types";

const labels: Record<ChatStatus, string> = {
  waiting: "Idle",
  pending: "Starting",
  running: "Running",
  requires_action: "Waiting for a tool result",
  error: "Error",
};

/** A chat's status as a small icon with an accessible name. */
export function StatusIcon({ status }: { status: string }) {
  return <span className={`status-icon status-${status}`} role="img" aria-label={labels[status as ChatStatus] ?? status} title={labels[status as ChatStatus] ?? status} />;
}
