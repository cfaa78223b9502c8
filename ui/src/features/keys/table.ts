// Filtering and sorting of the keys table. Pure functions over `KeyView`s, so that the table
// stays quick with thousands of keys and the rules are tested without a DOM.
import type { KeyColumn, KeySort, KeyStatus, KeyView } from "../../ipc";

/** The columns and the sort as the window's preferences keep them (src-tauri/prefs.rs). */
export type SortColumn = KeyColumn;
export type { SortDirection } from "../../ipc";
/** null: the default order, active keys first and then the newest. */
export type Sort = KeySort | null;

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
    // Without NUL, the haystacks' separator, so that no term spans two fields.
    const value = (m[2] ?? m[3] ?? "").toLowerCase().replaceAll("\u0000", "");
    const field = prefix && (FIELDS as readonly string[]).includes(prefix) ? (prefix as Field) : null;
    // An unknown prefix (`https://…`, `foo:bar`) is part of the text.
    const text = field || !prefix ? value : `${prefix}:${value}`;
    if (text !== "") terms.push({ field, text });
  }
  return terms;
}

/**
 * A key's fields in lower case, made once per key and kept while the key object lives. `scopes`
 * and `any` (name, prefix, status and scopes) are joined with NUL, which no term holds, so a term
 * matches within one field and never across two.
 */
type Haystack = { name: string; prefix: string; scopes: string; status: string; any: string };
const haystacks = new WeakMap<KeyView, Haystack>();

function haystack(key: KeyView): Haystack {
  let h = haystacks.get(key);
  if (!h) {
    const { meta } = key;
    const name = meta.name.toLowerCase();
    const prefix = meta.prefix.toLowerCase();
    const scopes = meta.scopes.map((s) => s.toLowerCase()).join("\u0000");
    const any = [name, prefix, meta.status, scopes].join("\u0000");
    h = { name, prefix, scopes, status: meta.status, any };
    haystacks.set(key, h);
  }
  return h;
}

/** Keys per slice of [`KeyFilter.prepare`]: a few milliseconds of work each. */
const PREPARE_SLICE = 1000;

/** Whether one key matches one term: the rule itself, read from the key (see [`filterKeys`]). */
function matches(key: KeyView, term: Term): boolean {
  const t = term.text;
  const { meta } = key;
  const name = () => meta.name.toLowerCase().includes(t);
  const prefix = () => meta.prefix.toLowerCase().includes(t);
  const scope = () => meta.scopes.some((s) => s.toLowerCase().includes(t));
  const status = () => meta.status.startsWith(t);
  switch (term.field) {
    case "name":
      return name();
    case "prefix":
      return prefix();
    case "scope":
      return scope();
    case "status":
      return status();
    default:
      return name() || prefix() || scope() || meta.status.includes(t);
  }
}

/**
 * The keys that match the filter text and, unless "all", have the given status, in the order
 * given. Key by key, as the rule reads; the keys table uses [`KeyFilter`], which gives the same
 * keys sooner.
 */
export function filterKeys(keys: KeyView[], filter: string, status: StatusFilter = "all"): KeyView[] {
  const terms = parseFilter(filter);
  if (terms.length === 0 && status === "all") return keys;
  return keys.filter((k) => (status === "all" || k.meta.status === status) && terms.every((t) => matches(k, t)));
}

/** The haystack a term is looked for in. */
const TEXT_FIELD = { name: "name", prefix: "prefix", scope: "scopes" } as const;

/**
 * The places in `from` (every place in `hays` when null) whose key matches `term`, in order. A
 * tight loop per term, which stays quick while the page's JavaScript engine has not yet compiled
 * it (the first keystroke after the list is shown).
 */
function pick(hays: Haystack[], from: number[] | null, term: Term): number[] {
  const t = term.text;
  const out: number[] = [];
  const n = from === null ? hays.length : from.length;
  if (term.field === "status") {
    for (let j = 0; j < n; j++) {
      const i = from === null ? j : from[j];
      if (hays[i].status.startsWith(t)) out.push(i);
    }
  } else {
    const field = term.field === null ? "any" : TEXT_FIELD[term.field];
    for (let j = 0; j < n; j++) {
      const i = from === null ? j : from[j];
      if (hays[i][field].includes(t)) out.push(i);
    }
  }
  return out;
}

/** The places in `hays` whose key has `status`. */
function pickStatus(hays: Haystack[], status: KeyStatus): number[] {
  const out: number[] = [];
  for (let i = 0; i < hays.length; i++) if (hays[i].status === status) out.push(i);
  return out;
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

/** A result of [`KeyFilter`]: the places of the matching keys in the list, and the keys. */
type Result = { picked: number[]; rows: KeyView[] };

/**
 * [`filterKeys`] for a filter box, as the person types. The list's lower-case copies are kept in
 * an array in the list's order, made ahead of the first keystroke ([`KeyFilter.prepare`]), so a
 * keystroke reads them in one pass instead of looking each key up. A letter added to the filter
 * narrows the last result instead of going through every key again, and a letter taken away
 * finds the earlier result it kept. Results are the same as [`filterKeys`]'s for the same list;
 * a new list (another account, a new sort) starts afresh.
 */
export class KeyFilter {
  private keys: KeyView[] | null = null;
  /** `hays[i]` is the haystack of `keys[i]`, made up to `hays.length`. */
  private hays: Haystack[] = [];
  private last: { terms: Term[]; status: StatusFilter; picked: number[] } | null = null;
  private recent = new Map<string, Result>();

  /**
   * Makes the lower-case copies of `keys` in the background, a slice per task, after the current
   * frame. Returns a function that stops it (for a list replaced before it is done); whatever is
   * left when the first keystroke comes is made then.
   */
  prepare(keys: KeyView[]): () => void {
    this.use(keys);
    let timer: ReturnType<typeof setTimeout> | null = null;
    const step = () => {
      timer = null;
      if (this.keys !== keys) return;
      this.fill(Math.min(this.hays.length + PREPARE_SLICE, keys.length));
      if (this.hays.length < keys.length) timer = setTimeout(step, 0);
    };
    if (this.hays.length < keys.length) timer = setTimeout(step, 0);
    return () => {
      if (timer !== null) clearTimeout(timer);
    };
  }

  run(keys: KeyView[], filter: string, status: StatusFilter = "all"): KeyView[] {
    this.use(keys);
    const terms = parseFilter(filter);
    if (terms.length === 0 && status === "all") {
      this.last = null;
      return keys;
    }
    // The parsed terms, not the typed text: `mob ` and `mob` are the same filter.
    const id = `${status}\u0000${terms.map((t) => `${t.field ?? ""}:${t.text}`).join("\u0000")}`;
    let result = this.recent.get(id);
    if (result) {
      this.recent.delete(id); // kept as the most recent below
    } else {
      this.fill(keys.length);
      const last = this.last;
      let picked = last && last.status === status && narrows(terms, last.terms) ? last.picked : null;
      if (status !== "all" && picked === null) picked = pickStatus(this.hays, status);
      for (const term of terms) picked = pick(this.hays, picked, term);
      picked ??= this.hays.map((_, i) => i);
      result = { picked, rows: picked.map((i) => keys[i]) };
    }
    this.recent.set(id, result);
    if (this.recent.size > RECENT_RESULTS) {
      const oldest = this.recent.keys().next().value;
      if (oldest !== undefined) this.recent.delete(oldest);
    }
    this.last = { terms, status, picked: result.picked };
    return result.rows;
  }

  private use(keys: KeyView[]) {
    if (keys !== this.keys) {
      this.keys = keys;
      this.hays = [];
      this.last = null;
      this.recent.clear();
    }
  }

  private fill(end: number) {
    const keys = this.keys ?? [];
    for (let i = this.hays.length; i < end; i++) this.hays.push(haystack(keys[i]));
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
