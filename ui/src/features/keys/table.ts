// Filtering and sorting of the keys table. Pure functions over `KeyView`s, so that the table
// stays quick with thousands of keys and the rules are tested without a DOM.
import type { KeyStatus, KeyView } from "../../ipc";

export type SortColumn = "name" | "prefix" | "scopes" | "status" | "last_used" | "expires" | "limit";
export type SortDirection = "asc" | "desc";
/** null: the default order, active keys first and then the newest. */
export type Sort = { column: SortColumn; direction: SortDirection } | null;

export const STATUSES: KeyStatus[] = ["active", "expiring", "expired", "revoked"];
export type StatusFilter = KeyStatus | "all";

/** The fields a filter term can be limited to, as in `scope:write` or `status:revoked`. */
const FIELDS = ["name", "prefix", "scope", "status"] as const;
type Field = (typeof FIELDS)[number];
type Term = { field: Field | null; text: string };

/**
 * Reads the filter box: whitespace-separated terms that must all match. A bare term matches the
 * name, prefix, any scope or the status; `name:`, `prefix:`, `scope:` and `status:` limit a
 * term to one of them; double quotes keep spaces (`name:"deploy bot"`). Case is ignored.
 */
export function parseFilter(filter: string): Term[] {
  const terms: Term[] = [];
  const re = /(?:(\w+):)?(?:"([^"]*)"?|(\S+))/g;
  for (const m of filter.matchAll(re)) {
    const prefix = m[1]?.toLowerCase();
    const value = (m[2] ?? m[3] ?? "").toLowerCase();
    const field = prefix && (FIELDS as readonly string[]).includes(prefix) ? (prefix as Field) : null;
    // An unknown prefix (`https://…`, `foo:bar`) is part of the text.
    const text = field || !prefix ? value : `${prefix}:${value}`;
    if (text !== "") terms.push({ field, text });
  }
  return terms;
}

/** A key's fields in lower case, made once per key and kept while the key object lives. */
type Haystack = { name: string; prefix: string; scopes: string[]; status: string; any: string };
const haystacks = new WeakMap<KeyView, Haystack>();

function haystack(key: KeyView): Haystack {
  let h = haystacks.get(key);
  if (!h) {
    const { meta } = key;
    const name = meta.name.toLowerCase();
    const prefix = meta.prefix.toLowerCase();
    const scopes = meta.scopes.map((s) => s.toLowerCase());
    // A bare term matches any one field; the separator cannot be typed, so no term spans two.
    const any = [name, prefix, meta.status, ...scopes].join("\u0000");
    h = { name, prefix, scopes, status: meta.status, any };
    haystacks.set(key, h);
  }
  return h;
}

/** Keys per slice of [`prepareSearch`]: a few milliseconds of work each. */
const PREPARE_SLICE = 1000;

/**
 * Makes the filter's lower-case copies of `keys` in the background, a slice per task, after the
 * current frame. Returns a function that stops it (for a list replaced before it is done).
 */
export function prepareSearch(keys: KeyView[]): () => void {
  let next = 0;
  let timer: ReturnType<typeof setTimeout> | null = null;
  const step = () => {
    const end = Math.min(next + PREPARE_SLICE, keys.length);
    for (; next < end; next++) haystack(keys[next]);
    timer = next < keys.length ? setTimeout(step, 0) : null;
  };
  if (keys.length > 0) timer = setTimeout(step, 0);
  return () => {
    if (timer !== null) clearTimeout(timer);
  };
}

function matches(key: KeyView, term: Term): boolean {
  const t = term.text;
  const h = haystack(key);
  switch (term.field) {
    case "name":
      return h.name.includes(t);
    case "prefix":
      return h.prefix.includes(t);
    case "scope":
      return h.scopes.some((s) => s.includes(t));
    case "status":
      return h.status.startsWith(t);
    default:
      return h.any.includes(t);
  }
}

/**
 * The keys that match the filter text and, unless "all", have the given status, in the order
 * given (so the table sorts all keys once and filters the sorted list on each keystroke).
 */
export function filterKeys(keys: KeyView[], filter: string, status: StatusFilter = "all"): KeyView[] {
  return filterTerms(keys, parseFilter(filter), status);
}

function filterTerms(keys: KeyView[], terms: Term[], status: StatusFilter): KeyView[] {
  if (terms.length === 0 && status === "all") return keys;
  return keys.filter((k) => (status === "all" || k.meta.status === status) && terms.every((t) => matches(k, t)));
}

/**
 * Whether every key matching `next` also matches `previous`: each earlier term is still there, in
 * the same place and on the same field, and only grew (`mob` to `mobi`); more terms may follow.
 */
function narrows(next: Term[], previous: Term[]): boolean {
  if (next.length < previous.length) return false;
  return previous.every((p, i) => {
    const n = next[i];
    if (n.field !== p.field) return false;
    // `status:` matches from the start of the status; the other fields anywhere.
    return p.field === "status" ? n.text.startsWith(p.text) : n.text.includes(p.text);
  });
}

/** Recent results kept by a [`KeyFilter`], for Backspace: as many as a long filter has letters. */
const RECENT_RESULTS = 64;

/**
 * [`filterKeys`] for a filter box, as the person types: a letter added to the filter narrows the
 * last result instead of going through every key again, and a letter taken away finds the
 * earlier result it kept. Results are the same as [`filterKeys`]'s for the same list; a new list
 * (another account, a new sort) starts afresh.
 */
export class KeyFilter {
  private keys: KeyView[] | null = null;
  private last: { terms: Term[]; status: StatusFilter; rows: KeyView[] } | null = null;
  private recent = new Map<string, KeyView[]>();

  run(keys: KeyView[], filter: string, status: StatusFilter = "all"): KeyView[] {
    if (keys !== this.keys) {
      this.keys = keys;
      this.last = null;
      this.recent.clear();
    }
    const terms = parseFilter(filter);
    // The parsed terms, not the typed text: `mob ` and `mob` are the same filter.
    const id = `${status}\u0000${terms.map((t) => `${t.field ?? ""}:${t.text}`).join("\u0000")}`;
    let rows = this.recent.get(id);
    if (rows) {
      this.recent.delete(id); // kept as the most recent below
    } else {
      const from = this.last && this.last.status === status && narrows(terms, this.last.terms) ? this.last.rows : keys;
      rows = filterTerms(from, terms, status);
    }
    this.recent.set(id, rows);
    if (this.recent.size > RECENT_RESULTS) {
      const oldest = this.recent.keys().next().value;
      if (oldest !== undefined) this.recent.delete(oldest);
    }
    this.last = { terms, status, rows };
    return rows;
  }
}

const collator = new Intl.Collator("en", { numeric: true, sensitivity: "base" });
const plainCollator = new Intl.Collator("en");
/** Code-point order: enough for ids and RFC 3339 times, and much quicker than a collator. */
const ordinal = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
const statusRank: Record<KeyStatus, number> = { active: 0, expiring: 1, expired: 2, revoked: 3 };

const time = (iso: string | null): number | null => {
  if (!iso) return null;
  const t = Date.parse(iso);
  return Number.isNaN(t) ? null : t;
};

/** Compares two possibly-missing numbers; a missing one (never used, no expiry, no limit) sorts last either way. */
function compareMaybe(a: number | null, b: number | null, sign: number): number {
  if (a === null && b === null) return 0;
  if (a === null) return 1;
  if (b === null) return -1;
  return sign * (a - b);
}

function byDefault(a: KeyView, b: KeyView): number {
  return (
    statusRank[a.meta.status] - statusRank[b.meta.status] ||
    ordinal(b.meta.created_at, a.meta.created_at) ||
    ordinal(a.meta.id, b.meta.id)
  );
}

/** The keys in the order asked for; ties fall back to the name, then the id, so the order is stable. */
export function sortKeys(keys: KeyView[], sort: Sort = null): KeyView[] {
  if (!sort) return [...keys].sort(byDefault);
  const sign = sort.direction === "asc" ? 1 : -1;
  const tie = (a: KeyView, b: KeyView) => collator.compare(a.meta.name, b.meta.name) || ordinal(a.meta.id, b.meta.id);
  let compare: (a: KeyView, b: KeyView) => number;
  switch (sort.column) {
    case "name":
      compare = (a, b) => sign * collator.compare(a.meta.name, b.meta.name);
      break;
    case "prefix":
      compare = (a, b) => sign * plainCollator.compare(a.meta.prefix, b.meta.prefix);
      break;
    case "scopes": {
      const joined = new Map(keys.map((k) => [k, [...k.meta.scopes].sort().join(",")]));
      compare = (a, b) => sign * collator.compare(joined.get(a) ?? "", joined.get(b) ?? "");
      break;
    }
    case "status":
      compare = (a, b) => sign * (statusRank[a.meta.status] - statusRank[b.meta.status]);
      break;
    case "last_used":
      compare = (a, b) => compareMaybe(time(a.meta.last_used_at), time(b.meta.last_used_at), sign);
      break;
    case "expires":
      compare = (a, b) => compareMaybe(time(a.meta.expires_at), time(b.meta.expires_at), sign);
      break;
    case "limit":
      compare = (a, b) => compareMaybe(a.meta.rate_limit_per_hour, b.meta.rate_limit_per_hour, sign);
      break;
  }
  return [...keys].sort((a, b) => compare(a, b) || tie(a, b));
}

/** The sort after a click on a column's header: that column ascending, then descending, then back to the default order. */
export function nextSort(current: Sort, column: SortColumn): Sort {
  if (!current || current.column !== column) return { column, direction: "asc" };
  if (current.direction === "asc") return { column, direction: "desc" };
  return null;
}
