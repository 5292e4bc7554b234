import { describe, expect, it } from "vitest";
import { agentLabel, isAgentDisconnected, workspaceLine } from "./workspaceAgent";

const now = new Date("2026-01-01T12:00:00Z");

describe("agentLabel", () => {
  it("names each state", () => {
    expect(agentLabel(undefined, now)).toBe("");
    expect(agentLabel({ status: "connected", version: "0.1.0" }, now)).toBe("agent connected (0.1.0)");
    expect(agentLabel({ status: "never_connected", version: "" }, now)).toBe("agent never connected");
    expect(agentLabel({ status: "disconnected", version: "0.1.0", last_seen_at: "2026-01-01T11:58:00Z" }, now)).toBe(
      "agent disconnected, last seen 2 min ago",
    );
    expect(agentLabel({ status: "disconnected", version: "" }, now)).toBe("agent disconnected");
  });

  it("marks connected workspaces", () => {
    const w = { id: "w", name: "dev", organization_id: "o", agent: { status: "connected", version: "1" } };
    expect(workspaceLine(w, now)).toEqual({ name: "dev", agent: "agent connected (1)", connected: true });
    expect(workspaceLine({ id: "w", name: "old", organization_id: "o" }, now).connected).toBe(false);
  });
});

describe("isAgentDisconnected", () => {
  it("recognises the server's retryable error", () => {
    expect(
      isAgentDisconnected(
        "workspace agent disconnected: the server holding the agent's connection did not answer. The agent reconnects by itself; retry in a few seconds",
      ),
    ).toBe(true);
    expect(isAgentDisconnected("\"notes.txt\" does not exist in the workspace")).toBe(false);
  });
});
