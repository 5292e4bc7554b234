// Pure helpers of the usage and budget pages: money, the days of a month, and the spend chart's
// bars (plain SVG: the chart is a row of rectangles, which needs no chart library).

import type { ChatUsageEntry } from "../api/types";

/** Micro-units as dollars with cents, e.g. 1_234_567 → "$1.23". */
export function dollars(micros: number): string {
  return `$${(micros / 1e6).toFixed(2)}`;
}

/** Dollars typed in a form → micro-units; null for blank, undefined when not a valid amount. */
export function parseDollars(text: string): number | null | undefined {
  const t = text.trim().replace(/^\$/, "");
  if (t === "") return null;
  if (!/^\d+(\.\d{1,6})?$/.test(t)) return undefined;
  return Math.round(Number(t) * 1e6);
}

/** `YYYY-MM-DD` of a UTC date. */
export function isoDay(d: Date): string {
  return d.toISOString().slice(0, 10);
}

/** The first day of `d`'s UTC month and the first day of the next one. */
export function monthOf(d: Date): { from: string; to: string } {
  const from = new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1));
  const to = new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1));
  return { from: isoDay(from), to: isoDay(to) };
}

/** Every day from `from` (inclusive) to `to` (exclusive), with the report's spend or 0. */
export function fillDays(series: ChatUsageEntry[], from: string, to: string): { day: string; micros: number }[] {
  const by = new Map(series.map((e) => [e.key, e.micros]));
  const out: { day: string; micros: number }[] = [];
  for (let d = new Date(`${from}T00:00:00Z`); isoDay(d) < to; d = new Date(d.getTime() + 86_400_000)) {
    out.push({ day: isoDay(d), micros: by.get(isoDay(d)) ?? 0 });
  }
  return out;
}

export interface Bar {
  day: string;
  micros: number;
  x: number;
  y: number;
  width: number;
  height: number;
}

/** One bar per day in a `width` × `height` box; the tallest day fills the height. */
export function bars(days: { day: string; micros: number }[], width: number, height: number): Bar[] {
  const max = Math.max(0, ...days.map((d) => d.micros));
  const slot = days.length ? width / days.length : 0;
  return days.map((d, i) => {
    const h = max > 0 ? (d.micros / max) * height : 0;
    return { ...d, x: i * slot + slot * 0.1, y: height - h, width: slot * 0.8, height: h };
  });
}

/** The remaining share of a budget, 0–1, or null without one. */
export function remainingShare(limit: number | null | undefined, spent: number): number | null {
  if (limit === null || limit === undefined) return null;
  if (limit <= 0) return 0;
  return Math.max(0, (limit - spent) / limit);
}
