import { describe, expect, it } from "vitest";
import { availableIn, withOrg, withoutOrg } from "./orgModels";

describe("organization model access", () => {
  it("follows the server's rule", () => {
    expect(availableIn({ organization_ids: null }, "a")).toBe(true);
    expect(availableIn({ organization_ids: ["b"] }, "a")).toBe(false);
    expect(availableIn({ organization_id: "a" }, "a")).toBe(true);
    expect(availableIn({ organization_id: "b", organization_ids: null }, "a")).toBe(false);
  });

  it("enables and disables one organization", () => {
    expect(withOrg({ organization_ids: null }, "a")).toBeNull();
    expect(withOrg({ organization_ids: ["b"] }, "a")).toEqual(["b", "a"]);
    expect(withoutOrg({ organization_ids: null }, "a", ["a", "b", "c"])).toEqual(["b", "c"]);
    expect(withoutOrg({ organization_ids: ["a", "b"] }, "a", [])).toEqual(["b"]);
  });
});
