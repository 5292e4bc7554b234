import { describe, expect, it } from "vitest";
import { ApiError } from "../api/http";
import { errorText } from "../components/errors";
import { parseContextLimit } from "./ModelsPage";

describe("parseContextLimit", () => {
  it("accepts whole positive numbers, empty for the default, and nothing else", () => {
    expect(parseContextLimit("")).toBeUndefined();
    expect(parseContextLimit(" 200000 ")).toBe(200000);
    for (const bad of ["abc", "0", "-5", "1.5", "1e6"]) expect(parseContextLimit(bad)).toBeNull();
  });
});

describe("errorText", () => {
  it("does not repeat a detail that a field error already says", () => {
    const err = new ApiError(400, { message: "Validation failed.", detail: "base_url is required.", validations: [{ field: "base_url", detail: "base_url is required." }] });
    expect(errorText(err).detail).toBeUndefined();
    expect(errorText(new ApiError(400, { message: "m", detail: "d" })).detail).toBe("d");
    const same = new ApiError(400, { message: "Wrong.", validations: [{ field: "old_password", detail: "Wrong." }] });
    expect(errorText(same).validations).toEqual([]);
  });
});
