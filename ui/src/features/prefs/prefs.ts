// What the window remembers for a profile (`UiPrefs`, kept by src-tauri/prefs.rs): pure helpers,
// so that the rules the Rust side checks are met before a save is sent, and tested without a DOM.
import type { KeyColumn, UiPrefs } from "../../ipc";

/** Column widths the window may keep, in CSS pixels (src-tauri/prefs.rs has the same bounds). */
export const MIN_COLUMN_WIDTH = 48;
export const MAX_COLUMN_WIDTH = 960;

export const KEY_COLUMNS: readonly KeyColumn[] = ["name", "prefix", "scopes", "status", "last_used", "expires", "limit"];

/** A new profile's preferences, and what the window uses when they cannot be read. */
export const DEFAULT_PREFS: UiPrefs = { sort: null, column_widths: {}, tab: null, account_id: null, granularity: null };

const ACCOUNT_ID = /^[A-Za-z0-9_-]{1,64}$/;
const SORT_DIRECTIONS = ["asc", "desc"];
const TABS = ["keys", "usage", "audit"];
const GRANULARITIES = ["hour", "day"];

/** A width the window may keep: whole pixels between the bounds. */
export function clampWidth(px: number): number {
  return Math.min(MAX_COLUMN_WIDTH, Math.max(MIN_COLUMN_WIDTH, Math.round(px)));
}

/**
 * The preferences as a whole, made only of the five known fields and of values the Rust side
 * accepts: anything else (an unknown field, a width out of bounds, an account id it would refuse)
 * is dropped, so that neither a read nor a save carries more than these preferences and one bad
 * value does not get the whole save refused.
 */
export function cleanPrefs(prefs: Partial<UiPrefs> | null | undefined): UiPrefs {
  const p = prefs ?? {};
  const sort =
    p.sort && KEY_COLUMNS.includes(p.sort.column) && SORT_DIRECTIONS.includes(p.sort.direction)
      ? { column: p.sort.column, direction: p.sort.direction }
      : null;
  const column_widths: UiPrefs["column_widths"] = {};
  for (const column of KEY_COLUMNS) {
    const width = p.column_widths?.[column];
    if (typeof width === "number" && Number.isInteger(width) && width >= MIN_COLUMN_WIDTH && width <= MAX_COLUMN_WIDTH) {
      column_widths[column] = width;
    }
  }
  return {
    sort,
    column_widths,
    tab: p.tab && TABS.includes(p.tab) ? p.tab : null,
    account_id: typeof p.account_id === "string" && ACCOUNT_ID.test(p.account_id) ? p.account_id : null,
    granularity: p.granularity && GRANULARITIES.includes(p.granularity) ? p.granularity : null,
  };
}

/** `prefs` with `patch` laid over it, field by field. */
export function mergePrefs(prefs: UiPrefs, patch: Partial<UiPrefs>): UiPrefs {
  return cleanPrefs({ ...prefs, ...patch });
}

/** Whether two (clean) preferences hold the same values. */
export function samePrefs(a: UiPrefs, b: UiPrefs): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}
