import { describe, expect, it } from "vitest";
import type { ApiKey } from "../api/types";
import { ago, keyLabel, lifetimeSeconds, sortKeys } from "./tokens";

const key = (id: string, login_type: string, created_at: string, name = ""): ApiKey => ({
  id,
  user_id: "u",
  name,
  login_type,
  scope: "all",
  created_at,
  last_used: null,
  expires_at: "2030-01-01T00:00:00Z",
});

describe("tokens page", () => {
  it("lists tokens before sessions, newest first", () => {
    const sorted = sortKeys([
      key("s1", "password", "2026-01-03T00:00:00Z"),
      key("t1", "token", "2026-01-01T00:00:00Z", "old"),
      key("t2", "token", "2026-01-02T00:00:00Z", "new"),
    ]);
    expect(sorted.map((k) => k.id)).toEqual(["t2", "t1", "s1"]);
  });

  it("labels keys by name, else by kind", () => {
    expect(keyLabel(key("t1", "token", "", "ci"))).toBe("ci");
    expect(keyLabel(key("s1", "password", ""))).toBe("Login session");
    expect(keyLabel(key("t9", "token", ""))).toBe("Token t9");
  });

  it("describes last use relative to now", () => {
    const now = new Date("2026-01-10T12:00:00Z");
    expect(ago(null, now)).toBe("never");
    expect(ago("2026-01-10T11:59:30Z", now)).toBe("just now");
    expect(ago("2026-01-10T11:59:00Z", now)).toBe("1 minute ago");
    expect(ago("2026-01-10T09:00:00Z", now)).toBe("3 hours ago");
    expect(ago("2026-01-08T12:00:00Z", now)).toBe("2 days ago");
  });

  it("turns days into seconds", () => {
    expect(lifetimeSeconds(30)).toBe(30 * 86400);
  });
});
