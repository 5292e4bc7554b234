import { describe, expect, it } from "vitest";
import { type KeyValueStorage, readStoredChoice, writeStoredChoice } from "./storage";

function memoryStorage(): KeyValueStorage & { data: Map<string, string> } {
  const data = new Map<string, string>();
  return {
    data,
    getItem: (k) => data.get(k) ?? null,
    setItem: (k, v) => void data.set(k, v),
    removeItem: (k) => void data.delete(k),
  };
}

const broken: KeyValueStorage = {
  getItem: () => {
    throw new Error("denied");
  },
  setItem: () => {
    throw new Error("denied");
  },
  removeItem: () => {
    throw new Error("denied");
  },
};

describe("stored choice", () => {
  it("round-trips through the documented keys and removes cleared ones", () => {
    const s = memoryStorage();
    writeStoredChoice(s, { organizationId: "o1", workspaceId: "w1" });
    expect(Object.fromEntries(s.data)).toEqual({
      "agents.selected-organization-id": "o1",
      "agents.selected-workspace-id": "w1",
    });
    expect(readStoredChoice(s)).toEqual({ organizationId: "o1", workspaceId: "w1" });
    writeStoredChoice(s, { organizationId: "o1", workspaceId: null });
    expect(s.data.has("agents.selected-workspace-id")).toBe(false);
  });

  it("reads nothing from empty or failing storage, and writes do not throw", () => {
    expect(readStoredChoice(memoryStorage())).toEqual({ organizationId: null, workspaceId: null });
    expect(readStoredChoice(broken)).toEqual({ organizationId: null, workspaceId: null });
    expect(() => writeStoredChoice(broken, { organizationId: "o", workspaceId: null })).not.toThrow();
  });
});
