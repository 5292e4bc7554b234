import { describe, expect, it } from "vitest";
import { matchPath } from "./router";

describe("matchPath", () => {
  it("matches static paths, ignoring trailing slashes", () => {
    expect(matchPath("/settings/organizations", "/settings/organizations")).toEqual({});
    expect(matchPath("/settings/organizations", "/settings/organizations/")).toEqual({});
    expect(matchPath("/agents", "/settings")).toBeNull();
  });

  it("captures and decodes params", () => {
    expect(matchPath("/settings/organizations/:org", "/settings/organizations/my%20org")).toEqual({ org: "my org" });
  });

  it("requires the same number of segments", () => {
    expect(matchPath("/settings/organizations/:org", "/settings/organizations")).toBeNull();
    expect(matchPath("/agents", "/agents/123")).toBeNull();
  });

  it("rejects malformed escapes instead of throwing", () => {
    expect(matchPath("/a/:b", "/a/%E0%A4%A")).toBeNull();
  });
});
