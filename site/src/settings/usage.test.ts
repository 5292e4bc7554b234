import { describe, expect, it } from "vitest";
import { bars, dollars, fillDays, monthOf, parseDollars, remainingShare } from "./usage";

describe("usage helpers", () => {
  it("formats and parses dollars in micro-units", () => {
    expect(dollars(1_234_567)).toBe("$1.23");
    expect(dollars(0)).toBe("$0.00");
    expect(parseDollars(" $12.5 ")).toBe(12_500_000);
    expect(parseDollars("")).toBeNull();
    expect(parseDollars("-1")).toBeUndefined();
    expect(parseDollars("1.2345678")).toBeUndefined();
  });

  it("covers a UTC month day by day, zeros where nothing was spent", () => {
    expect(monthOf(new Date("2026-12-31T23:00:00Z"))).toEqual({ from: "2026-12-01", to: "2027-01-01" });
    const days = fillDays([{ key: "2026-02-03", micros: 5, input_tokens: 1, output_tokens: 1 }], "2026-02-01", "2026-03-01");
    expect(days).toHaveLength(28);
    expect(days[2]).toEqual({ day: "2026-02-03", micros: 5 });
    expect(days[0]!.micros).toBe(0);
  });

  it("draws the busiest day full height", () => {
    const b = bars([{ day: "a", micros: 10 }, { day: "b", micros: 5 }, { day: "c", micros: 0 }], 300, 100);
    expect(b.map((x) => x.height)).toEqual([100, 50, 0]);
    expect(b[1]!.y).toBe(50);
    expect(b[2]!.x).toBeCloseTo(210);
    expect(bars([{ day: "a", micros: 0 }], 10, 10)[0]!.height).toBe(0);
  });

  it("says how much of a budget is left", () => {
    expect(remainingShare(null, 5)).toBeNull();
    expect(remainingShare(100, 85)).toBeCloseTo(0.15);
    expect(remainingShare(100, 150)).toBe(0);
  });
});
