// Intl formatters are costly to make (tens of microseconds to milliseconds in WebKit) and the keys
// table formats several values per row on every render: each is made once.
let relativeFormat: Intl.RelativeTimeFormat | null = null;
const countFormat = new Intl.NumberFormat("en");

/** A count with thousands separators: "10,000". */
export function formatCount(n: number): string {
  return countFormat.format(n);
}

/** "3 minutes ago", "in 2 days", or "never" — relative to `now`. */
export function relativeTime(iso: string | null, now: Date = new Date()): string {
  if (!iso) return "never";
  const t = new Date(iso).getTime();
  if (Number.isNaN(t)) return "—";
  const seconds = Math.round((t - now.getTime()) / 1000);
  const abs = Math.abs(seconds);
  // [below this many seconds, say it in this unit, of this many seconds]
  const units: [number, Intl.RelativeTimeFormatUnit, number][] = [
    [3600, "minute", 60],
    [86400, "hour", 3600],
    // Days up to 45 ("in 30 days" for a 30-day key, however the seconds fall), then months.
    [86400 * 45, "day", 86400],
    [86400 * 365, "month", 86400 * 30],
  ];
  const fmt = (relativeFormat ??= new Intl.RelativeTimeFormat("en", { numeric: "auto" }));
  if (abs < 45) return seconds <= 0 ? "just now" : "in a few seconds";
  for (const [limit, unit, size] of units) {
    if (abs < limit) return fmt.format(Math.round(seconds / size), unit);
  }
  return fmt.format(Math.round(seconds / (86400 * 365)), "year");
}

/**
 * {@link relativeTime} for something that has happened ("last used"): a time a little ahead of `now`
 * (a clock the table refreshes each half minute, or the service's clock) is "just now", never
 * "in a few seconds".
 */
export function relativePast(iso: string | null, now: Date = new Date()): string {
  if (iso && Date.parse(iso) > now.getTime()) return "just now";
  return relativeTime(iso, now);
}

/** The host and port a service URL points at, for labels. */
export function serviceLabel(url: string | null): string {
  if (!url) return "Local service";
  try {
    return new URL(url).host;
  } catch {
    return url;
  }
}
