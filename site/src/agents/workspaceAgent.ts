// What the UI says about a workspace's agent (the process that runs the workspace's commands and
// file operations and dials in to the server) and about tool errors caused by it being away.

import type { Workspace, WorkspaceAgentStatus } from "../api/types";

/** The agent's state in a few words, e.g. `agent connected (0.1.0)`; empty when unknown. */
export function agentLabel(agent: WorkspaceAgentStatus | undefined, now: Date = new Date()): string {
  if (!agent) return "";
  switch (agent.status) {
    case "connected":
      return agent.version ? `agent connected (${agent.version})` : "agent connected";
    case "disconnected":
      return agent.last_seen_at ? `agent disconnected, last seen ${ago(agent.last_seen_at, now)}` : "agent disconnected";
    default:
      return "agent never connected";
  }
}

/** A workspace's menu line: its name and, when known, its agent's state. */
export function workspaceLine(w: Workspace, now: Date = new Date()): { name: string; agent: string; connected: boolean } {
  return { name: w.name, agent: agentLabel(w.agent ?? undefined, now), connected: w.agent?.status === "connected" };
}

function ago(iso: string, now: Date): string {
  const secs = Math.max(0, Math.round((now.getTime() - new Date(iso).getTime()) / 1000));
  if (Number.isNaN(secs)) return "some time ago";
  if (secs < 60) return `${secs} s ago`;
  if (secs < 3600) return `${Math.round(secs / 60)} min ago`;
  if (secs < 86400) return `${Math.round(secs / 3600)} h ago`;
  return `${Math.round(secs / 86400)} d ago`;
}

/** The server's wording for an operation that could not reach the workspace's agent. */
export const AGENT_DISCONNECTED = "workspace agent disconnected";

/** Whether a tool's error says the workspace agent was unreachable (a retryable condition). */
export function isAgentDisconnected(errorText: string): boolean {
  return errorText.toLowerCase().includes(AGENT_DISCONNECTED);
}
