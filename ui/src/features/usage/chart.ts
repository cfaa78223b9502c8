// What the usage chart draws, with no DOM: one bar per bucket (accepted calls, then refused ones
// by reason stacked on top), a scale, and a sentence that sums it up for screen readers.
import type { UsagePoint } from "../../ipc";

/** A count that may be missing (a reason with no refusals in a bucket) as a number. */
export function count(n: number | undefined | null): number {
  return n ?? 0;
}

export type Bar = { t: string; allowed: number; denied: number; reasons: Record<string, number> };

export function bars(series: UsagePoint[]): Bar[] {
  return series.map((p) => {
    const reasons: Record<string, number> = {};
    let denied = 0;
    for (const [reason, n] of Object.entries(p.denied)) {
      reasons[reason] = count(n);
      denied += count(n);
    }
    return { t: p.t, allowed: count(p.allowed), denied, reasons };
  });
}

/** Denials of the whole series, by reason, most frequent first. */
export function deniedByReason(series: UsagePoint[]): [string, number][] {
  const total = new Map<string, number>();
  for (const p of series) {
    for (const [reason, n] of Object.entries(p.denied)) total.set(reason, (total.get(reason) ?? 0) + count(n));
  }
  return [...total.entries()].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
}

/** A round top for the scale, at least 1. */
export function niceMax(n: number): number {
  if (n <= 1) return 1;
  const step = 10 ** Math.floor(Math.log10(n));
  for (const m of [1, 2, 2.5, 5, 10]) {
    if (m * step >= n) return m * step;
  }
  return 10 * step;
}

export type Granularity = "hour" | "day";

export function bucketLabel(t: string, granularity: Granularity): string {
  const d = new Date(t);
  if (Number.isNaN(d.getTime())) return t;
  if (granularity === "hour") {
    return `${d.toLocaleDateString("en", { month: "short", day: "numeric", timeZone: "UTC" })} ${String(d.getUTCHours()).padStart(2, "0")}:00 UTC`;
  }
  return d.toLocaleDateString("en", { month: "short", day: "numeric", year: "numeric", timeZone: "UTC" });
}

/** The chart in one sentence. */
export function summary(series: UsagePoint[], granularity: Granularity): string {
  if (series.length === 0) return "No usage recorded.";
  const all = bars(series);
  const allowed = all.reduce((s, b) => s + b.allowed, 0);
  const denied = all.reduce((s, b) => s + b.denied, 0);
  const busiest = all.reduce((a, b) => (b.allowed + b.denied > a.allowed + a.denied ? b : a));
  const unit = granularity === "hour" ? "hours" : "days";
  const reasons = deniedByReason(series)
    .map(([r, n]) => `${n.toLocaleString("en")} ${r}`)
    .join(", ");
  let text = `${allowed.toLocaleString("en")} calls accepted and ${denied.toLocaleString("en")} refused over ${all.length} ${unit}`;
  if (denied > 0) text += ` (${reasons})`;
  if (allowed + denied > 0) {
    text += `; busiest ${bucketLabel(busiest.t, granularity)} with ${(busiest.allowed + busiest.denied).toLocaleString("en")}`;
  }
  return `${text}.`;
}
