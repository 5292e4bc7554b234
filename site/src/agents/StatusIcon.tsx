const labels: Record<string, string> = {
  waiting: "Idle",
  pending: "Starting",
  running: "Running",
  requires_action: "Waiting for a tool result",
  error: "Error",
  paused: "Paused",
  completed: "Completed",
};

/** A chat's status as a small icon with an accessible name. */
export function StatusIcon({ status }: { status: string }) {
  return <span className={`status-icon status-${status}`} role="img" aria-label={labels[status] ?? status} title={labels[status] ?? status} />;
}
