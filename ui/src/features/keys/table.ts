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

function matches({ meta }: KeyView, term: Term): boolean {
  const t = term.text;
  switch (term.field) {
    case "name":
      return meta.name.toLowerCase().includes(t);
    case "prefix":
      return meta.prefix.toLowerCase().includes(t);
    case "scope":
      return meta.scopes.some((s) => s.toLowerCase().includes(t));
    case "status":
      return meta.status.startsWith(t);
    default:
      return (
        meta.name.toLowerCase().includes(t) ||
        meta.prefix.toLowerCase().includes(t) ||
        meta.status.includes(t) ||
        meta.scopes.some((s) => s.toLowerCase().includes(t))
      );
  }
}

/** The keys that match the filter text and, unless "all", have the given status. */
export function filterKeys(keys: KeyView[], filter: string, status: StatusFilter = "all"): KeyView[] {
  const terms = parseFilter(filter);
  if (terms.length === 0 && status === "all") return keys;
  return keys.filter((k) => (status === "all" || k.meta.status === status) && terms.every((t) => matches(k, t)));
}

const collator = new Intl.Collator("en", { numeric: true, sensitivity: "base" });
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
    b.meta.created_at.localeCompare(a.meta.created_at) ||
    a.meta.id.localeCompare(b.meta.id)
  );
}

/** The keys in the order asked for; ties fall back to the name, then the id, so the order is stable. */
export function sortKeys(keys: KeyView[], sort: Sort = null): KeyView[] {
  if (!sort) return [...keys].sort(byDefault);
  const sign = sort.direction === "asc" ? 1 : -1;
  const tie = (a: KeyView, b: KeyView) => collator.compare(a.meta.name, b.meta.name) || a.meta.id.localeCompare(b.meta.id);
  let compare: (a: KeyView, b: KeyView) => number;
  switch (sort.column) {
    case "name":
      compare = (a, b) => sign * collator.compare(a.meta.name, b.meta.name);
      break;
    case "prefix":
      compare = (a, b) => sign * a.meta.prefix.localeCompare(b.meta.prefix);
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
