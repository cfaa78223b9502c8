// What the New key dialog checks as the person types. The rules are the key service's
// (crates/api/src/rules.rs, which the service and the core use), copied here for instant feedback:
// both are held to one table of cases (crates/api/tests/field_rules.json), so that a form that
// passes here is not refused there. Each message names the entry and the problem.

/** Longest key name the service accepts, in characters (`keyhaven_api::MAX_NAME_CHARS`). */
export const MAX_NAME_CHARS = 100;
/** Most entries the service accepts in allowed origins or allowed IPs. */
export const MAX_LIST_ENTRIES = 20;
/** The largest hourly limit the wire type (`u32`) carries. */
export const MAX_HOURLY_LIMIT = 4_294_967_295;

const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;
/** Characters that print nothing or reorder what follows: bidirectional and zero-width ones. */
const INVISIBLE = /[\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\u061c\ufeff]/;

/** Why a key name will be refused, or null. */
export function checkName(raw: string): string | null {
  const name = raw.trim();
  if (name.length === 0) return "Give the key a name.";
  if ([...name].length > MAX_NAME_CHARS) {
    return `The name is ${[...name].length} characters long; at most ${MAX_NAME_CHARS} are allowed.`;
  }
  if (CONTROL.test(name)) return "The name contains a control character (a tab or a line break, for example).";
  if (INVISIBLE.test(name)) {
    return "The name contains an invisible character (a zero-width or text-direction mark) that would make it look like another.";
  }
  return null;
}

/** Splits what was typed in a list field into entries: commas, spaces and line breaks separate. */
export function splitList(raw: string): string[] {
  return raw
    .split(/[\s,]+/)
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}

/** An entry as a message may quote it: short and without control characters. */
export function quote(entry: string): string {
  const clean = [...entry.replace(new RegExp(CONTROL.source, "g"), "")];
  const shown = clean.length > 40 ? `${clean.slice(0, 39).join("")}…` : clean.join("");
  return `“${shown}”`;
}

const HOST_LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

function validHost(host: string): boolean {
  return host.length >= 1 && host.length <= 253 && host.split(".").every((label) => HOST_LABEL.test(label));
}

function validPort(port: string): boolean {
  return /^\d{1,5}$/.test(port) && Number(port) >= 1 && Number(port) <= 65535;
}

/** Why one origin will be refused, or null. An origin is `scheme://host[:port]`, nothing more. */
export function checkOrigin(entry: string): string | null {
  const example = "like https://app.example.com or http://localhost:3000";
  const lower = entry.toLowerCase();
  const at = lower.indexOf("://");
  if (at < 0) return `${quote(entry)} has no scheme: an origin is scheme://host[:port], ${example}.`;
  const scheme = lower.slice(0, at);
  if (scheme !== "http" && scheme !== "https") {
    return `${quote(entry)} uses ${quote(scheme)}: an origin's scheme is http or https.`;
  }
  let rest = lower.slice(at + 3);
  const extra = rest.search(/[/?#]/);
  if (extra >= 0) {
    if (extra === rest.length - 1 && rest.endsWith("/")) {
      return `${quote(entry)} ends with “/”: an origin has no path, ${example}.`;
    }
    return `${quote(entry)} has a path, query or fragment: an origin is scheme://host[:port] only.`;
  }
  let hostOk: boolean;
  let port: string | null = null;
  if (rest.startsWith("[")) {
    const close = rest.indexOf("]");
    hostOk = close > 0 && isIpv6(rest.slice(1, close));
    const after = close > 0 ? rest.slice(close + 1) : "";
    if (after !== "") {
      if (!after.startsWith(":")) return `${quote(entry)} is not an origin ${example}.`;
      port = after.slice(1);
    }
  } else {
    const colon = rest.lastIndexOf(":");
    if (colon >= 0) {
      port = rest.slice(colon + 1);
      rest = rest.slice(0, colon);
    }
    hostOk = validHost(rest);
  }
  if (!hostOk) return `${quote(entry)} has no valid host name: an origin is scheme://host[:port], ${example}.`;
  if (port !== null && !validPort(port)) {
    return `${quote(entry)} has a bad port: a port is a number from 1 to 65535.`;
  }
  return null;
}

function isIpv4(text: string): boolean {
  const parts = text.split(".");
  return (
    parts.length === 4 &&
    parts.every((p) => /^(0|[1-9]\d{0,2})$/.test(p) && Number(p) <= 255)
  );
}

function isIpv6(text: string): boolean {
  if (!/^[0-9a-fA-F:.]+$/.test(text)) return false;
  const halves = text.split("::");
  if (halves.length > 2) return false;
  const groups = (half: string) => (half === "" ? [] : half.split(":"));
  const head = groups(halves[0]);
  const tail = halves.length === 2 ? groups(halves[1]) : [];
  const all = [...head, ...tail];
  let count = 0;
  for (let i = 0; i < all.length; i++) {
    const g = all[i];
    if (i === all.length - 1 && g.includes(".")) {
      if (!isIpv4(g)) return false;
      count += 2;
    } else if (/^[0-9a-fA-F]{1,4}$/.test(g)) {
      count += 1;
    } else {
      return false;
    }
  }
  return halves.length === 2 ? count <= 7 : count === 8;
}

/** Why one allowed-IP entry will be refused, or null: an IPv4 or IPv6 address, or a CIDR block. */
export function checkIp(entry: string): string | null {
  const example = "like 203.0.113.7, 2001:db8::1 or 10.0.0.0/8";
  const slash = entry.indexOf("/");
  const addr = slash >= 0 ? entry.slice(0, slash) : entry;
  const v4 = isIpv4(addr);
  const v6 = !v4 && isIpv6(addr);
  if (!v4 && !v6) return `${quote(entry)} is not an IP address or CIDR block ${example}.`;
  if (slash >= 0) {
    const bits = entry.slice(slash + 1);
    const max = v4 ? 32 : 128;
    if (!/^\d{1,3}$/.test(bits) || Number(bits) > max) {
      return `${quote(entry)} has a bad prefix length: after “/” comes a number from 0 to ${max}.`;
    }
  }
  return null;
}

function checkList(raw: string, what: string, check: (entry: string) => string | null, fold: (s: string) => string) {
  const entries = splitList(raw);
  if (entries.length > MAX_LIST_ENTRIES) {
    return { entries, problem: `${entries.length} ${what} entered; at most ${MAX_LIST_ENTRIES} are allowed.` };
  }
  const seen = new Set<string>();
  for (const entry of entries) {
    const problem = check(entry);
    if (problem) return { entries, problem };
    const key = fold(entry);
    if (seen.has(key)) return { entries, problem: `${quote(entry)} is listed twice.` };
    seen.add(key);
  }
  return { entries, problem: null };
}

/** The origins typed, and why they will be refused (the first problem), or null. */
export function checkOrigins(raw: string) {
  return checkList(raw, "origins", checkOrigin, (s) => s.toLowerCase());
}

/** The IPs typed, and why they will be refused (the first problem), or null. */
export function checkIps(raw: string) {
  return checkList(raw, "addresses", checkIp, (s) => s.toLowerCase());
}

/** The hourly limit typed (null for none), and why it will be refused, or null. */
export function checkHourlyLimit(raw: string): { limit: number | null; problem: string | null } {
  const text = raw.trim().replace(/[_,\s]/g, "");
  if (text === "") return { limit: null, problem: null };
  if (!/^\d+$/.test(text)) {
    return { limit: null, problem: `${quote(raw.trim())} is not a whole number: the hourly limit is a count of requests, like 1000.` };
  }
  const n = Number(text);
  if (n < 1) return { limit: null, problem: "The hourly limit must be at least 1 (leave it empty for no limit)." };
  if (n > MAX_HOURLY_LIMIT) {
    return { limit: null, problem: `The hourly limit can be at most ${MAX_HOURLY_LIMIT.toLocaleString("en")}.` };
  }
  return { limit: n, problem: null };
}

export type ExpiryChoice = "never" | "7d" | "30d" | "90d" | "365d" | "date";

export const EXPIRY_CHOICES: { value: ExpiryChoice; label: string }[] = [
  { value: "never", label: "Never" },
  { value: "7d", label: "In 7 days" },
  { value: "30d", label: "In 30 days" },
  { value: "90d", label: "In 90 days" },
  { value: "365d", label: "In 1 year" },
  { value: "date", label: "On a date…" },
];

/**
 * When the key expires, as RFC 3339 (what `create_key` takes), or null for never, and why the
 * choice will be refused. A date means the end of that day on this computer's clock.
 */
export function resolveExpiry(
  choice: ExpiryChoice,
  date: string,
  now: Date = new Date(),
): { expiresAt: string | null; problem: string | null } {
  const days = { never: 0, "7d": 7, "30d": 30, "90d": 90, "365d": 365, date: 0 }[choice];
  if (choice === "never") return { expiresAt: null, problem: null };
  if (choice !== "date") {
    return { expiresAt: new Date(now.getTime() + days * 86_400_000).toISOString(), problem: null };
  }
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(date.trim());
  if (!m) return { expiresAt: null, problem: "Enter the expiry date as YYYY-MM-DD, for example 2030-01-31." };
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const end = new Date(y, mo - 1, d, 23, 59, 59);
  if (end.getFullYear() !== y || end.getMonth() !== mo - 1 || end.getDate() !== d) {
    return { expiresAt: null, problem: `${quote(date.trim())} is not a date in the calendar.` };
  }
  if (end.getTime() <= now.getTime()) return { expiresAt: null, problem: "The expiry date is in the past: pick a later day." };
  return { expiresAt: end.toISOString(), problem: null };
}
