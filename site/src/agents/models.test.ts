import { describe, expect, it } from "vitest";
import type { ChatModel } from "../api/types";
import { hasDefaultModel, preselectModel, usableModels } from "./models";

const m = (id: string, is_default = false): ChatModel => ({ id, provider: "p", model: id, display_name: id, is_default });

describe("model choice", () => {
  it("offers only models of available providers", () => {
    expect(usableModels([{ available: true, models: [m("a")] }, { available: false, models: [m("b")] }]).map((x) => x.id)).toEqual(["a"]);
  });

  it("prefers the chat's model, then the last pick, then the default, while they are in the catalog", () => {
    const models = [m("a"), m("b", true), m("c")];
    expect(preselectModel(models, ["c", "a"])).toBe("c");
    expect(preselectModel(models, ["gone", "a"])).toBe("a");
    expect(preselectModel(models, [null, "gone"])).toBe("b");
    expect(preselectModel([m("x")], [])).toBe("x");
    expect(preselectModel([], ["a"])).toBeNull();
  });

  it("knows whether a new chat has a default model", () => {
    expect(hasDefaultModel({ status: "loading" })).toBeNull();
    expect(hasDefaultModel({ status: "ready", models: [m("a")] })).toBe(false);
    expect(hasDefaultModel({ status: "ready", models: [m("a", true)] })).toBe(true);
  });
});
