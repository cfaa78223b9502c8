import { memo, useCallback, useEffect, useLayoutEffect, useRef, useState, type KeyboardEvent, type PointerEvent } from "react";
import { useVirtualizer } from "@tanstack/react-virtual";
import type { KeyMeta, KeyView, UiPrefs } from "../../ipc";
import { formatCount, relativePast, relativeTime } from "../../lib/format";
import { VerdictMark } from "../kinds/KeyCheckView";
import { MARKS, mark, markAfterNextFrame } from "../../lib/perf";
import { MAX_COLUMN_WIDTH, MIN_COLUMN_WIDTH, clampWidth } from "../prefs/prefs";
import type { Sort, SortColumn } from "./table";

/** Every row is this tall (CSS keeps it so), which lets the table skip measuring rows. */
export const ROW_HEIGHT = 44;
/**
 * Rows drawn above and below the visible ones, so that scrolling shows no gaps. Each is drawn
 * again on every keystroke in the filter box, so there are few (8 cost the app bench's keystroke
 * a few milliseconds more).
 */
const OVERSCAN = 3;

/**
 * A column: what sorts it and sizes it (none for the ones that neither sort nor resize), and its
 * width unless the person set one. The name column has none: it takes the room the others leave.
 */
type Column = { id: SortColumn | null; label: string; className: string; width: number | null };
const COLUMNS: Column[] = [
  { id: "name", label: "Name", className: "col-name", width: null },
  { id: "prefix", label: "Prefix", className: "col-prefix", width: 132 },
  { id: "scopes", label: "Scopes", className: "col-scopes", width: 140 },
  { id: "status", label: "Status", className: "col-status", width: 104 },
  { id: "last_used", label: "Last used", className: "col-time", width: 108 },
  { id: "expires", label: "Expires", className: "col-time", width: 108 },
  { id: "limit", label: "Hourly limit", className: "col-limit", width: 108 },
  { id: null, label: "Actions", className: "col-actions", width: 152 },
];
/**
 * The columns of keys Keyhaven only holds (their service lists none, AniKura's and the like):
 * no service tells when they were last used or their hourly limit, so the last check of each is
 * shown instead, and the actions take more room (Check now, Remove).
 */
const LOCAL_COLUMNS: Column[] = [
  { id: "name", label: "Name", className: "col-name", width: null },
  { id: "prefix", label: "Prefix", className: "col-prefix", width: 120 },
  { id: "scopes", label: "Scopes", className: "col-scopes", width: 110 },
  { id: "status", label: "Status", className: "col-status", width: 96 },
  { id: null, label: "Last check", className: "col-check", width: 150 },
  { id: "expires", label: "Expires", className: "col-time", width: 96 },
  { id: null, label: "Actions", className: "col-actions-wide", width: 252 },
];

/** The table is never narrower than this: below it, the scroll box scrolls sideways. */
const TABLE_MIN_WIDTH = 900;
/**
 * The least room left to the column that takes the rest: the name keeps enough to be read (a
 * narrow window scrolls the table sideways rather than cut every name to two letters); the
 * actions, once the name has a width, keep their own.
 */
const NAME_MIN_WIDTH = 160;
/** A key press on a resize handle widens or narrows its column by this much. */
export const RESIZE_STEP = 16;
/** What the name column's handle says before it was measured (jsdom lays nothing out). */
const NAME_WIDTH_GUESS = 240;

export type ColumnWidths = UiPrefs["column_widths"];

type Props = {
  rows: KeyView[];
  sort: Sort;
  onSort: (column: SortColumn) => void;
  /** Widths the person gave columns; the others keep their own. */
  widths?: ColumnWidths;
  /** A column's new width, or null to give it back its own. Called once a drag ends, and on each key press. */
  onResize?: (column: SortColumn, width: number | null) => void;
  canManage: boolean;
  onCopy: (meta: KeyMeta) => void;
  onRevoke: (meta: KeyMeta) => void;
  /** Opens the key's detail; without it the name is plain text. */
  onOpen?: (meta: KeyMeta) => void;
  /** How to name a key that replaced, or was replaced by, a row's key (its prefix). */
  relatedLabel?: (id: string) => string;
  /** Whether the service says a key's settings (TokenKit's list does not): otherwise the hourly
   * limit is shown as unknown, not as "no limit". */
  settingsKnown?: boolean;
  /** Keys Keyhaven only holds: each row shows its last check, with Check now and Remove (from
   * Keyhaven) in place of Revoke. */
  local?: { onCheck: (meta: KeyMeta) => void; onForget: (meta: KeyMeta) => void; checking: string | null };
  now?: Date;
};

const NO_WIDTHS: ColumnWidths = {};

/**
 * The keys as a real table (table, row, columnheader and cell roles), virtualised: only the rows
 * in view, plus a few, are in the DOM, between two spacer rows that keep the scroll height. The
 * table carries `aria-rowcount` and each row its `aria-rowindex`, so assistive technology still
 * knows where in the whole list a row sits.
 */
export const KeyTable = memo(function KeyTable({
  rows,
  sort,
  onSort,
  widths = NO_WIDTHS,
  onResize,
  canManage,
  onCopy,
  onRevoke,
  onOpen,
  relatedLabel = (id) => id,
  settingsKnown = true,
  local,
  now = new Date(),
}: Props) {
  const columns = local ? LOCAL_COLUMNS : COLUMNS;
  const scrollRef = useRef<HTMLDivElement>(null);
  // A drag shows its width here as the pointer moves; the caller hears of it once, when it ends.
  const [dragging, setDragging] = useState<{ column: SortColumn; width: number } | null>(null);
  const [nameMeasured, setNameMeasured] = useState<number | null>(null);
  const endDrag = useRef<(() => void) | null>(null);
  useEffect(() => () => endDrag.current?.(), []);
  const widthOf = (c: Column): number | null =>
    (c.id && dragging?.column === c.id ? dragging.width : null) ?? (c.id ? widths[c.id] : undefined) ?? c.width;
  // One column takes the room the others leave: the name, unless it was given a width; then the actions.
  const filler = widthOf(columns[0]) === null ? columns[0] : columns[columns.length - 1];
  const fixed = columns.reduce((sum, c) => (c === filler ? sum : sum + (widthOf(c) ?? 0)), 0);
  const tableWidth = Math.max(TABLE_MIN_WIDTH, fixed + (filler === columns[0] ? NAME_MIN_WIDTH : (filler.width ?? 0)));
  /** The width a handle starts from: the column's own, or the name column's as drawn. */
  const startWidth = (c: Column, th: HTMLElement | null): number => {
    const set = widthOf(c);
    if (set !== null && c !== filler) return set;
    const drawn = th?.getBoundingClientRect().width ?? 0;
    return clampWidth(drawn > 0 ? drawn : (nameMeasured ?? NAME_WIDTH_GUESS));
  };
  const onHandleKey = (e: KeyboardEvent<HTMLElement>, c: Column) => {
    if (!c.id || !onResize) return;
    const from = startWidth(c, e.currentTarget.parentElement);
    if (e.key === "ArrowLeft" || e.key === "ArrowRight") {
      onResize(c.id, clampWidth(from + (e.key === "ArrowRight" ? RESIZE_STEP : -RESIZE_STEP)));
    } else if (e.key === "Home") {
      onResize(c.id, null);
    } else {
      return;
    }
    e.preventDefault();
  };
  const onHandleDown = (e: PointerEvent<HTMLElement>, c: Column) => {
    const column = c.id;
    if (!column || !onResize || e.button !== 0) return;
    e.preventDefault();
    endDrag.current?.();
    const from = startWidth(c, e.currentTarget.parentElement);
    const x = e.clientX;
    let width = from;
    setDragging({ column, width });
    const move = (ev: globalThis.PointerEvent) => {
      width = clampWidth(from + ev.clientX - x);
      setDragging({ column, width });
    };
    const stop = (keep: boolean) => () => {
      window.removeEventListener("pointermove", move);
      window.removeEventListener("pointerup", up);
      window.removeEventListener("pointercancel", cancel);
      document.body.classList.remove("resizing-column");
      endDrag.current = null;
      setDragging(null);
      if (keep && width !== from) onResize(column, width);
    };
    const up = stop(true);
    const cancel = stop(false);
    endDrag.current = cancel;
    window.addEventListener("pointermove", move);
    window.addEventListener("pointerup", up);
    window.addEventListener("pointercancel", cancel);
    document.body.classList.add("resizing-column");
  };
  // Stable per list: the virtualizer recomputes every row's position when this function changes.
  const getItemKey = useCallback((index: number) => rows[index]?.meta.id ?? index, [rows]);
  const virtualizer = useVirtualizer({
    count: rows.length,
    getScrollElement: () => scrollRef.current,
    estimateSize: () => ROW_HEIGHT,
    overscan: OVERSCAN,
    getItemKey,
  });
  // For the app benchmark: when a new set of rows (first render, filter, sort) reached the DOM,
  // and when the frame that shows them was rendered.
  useLayoutEffect(() => {
    mark(MARKS.rowsCommit);
    markAfterNextFrame(MARKS.rowsFrame, MARKS.rowsFrameStart);
  }, [rows]);
  const items = virtualizer.getVirtualItems();
  const top = items.length > 0 ? items[0].start : 0;
  const bottom = items.length > 0 ? virtualizer.getTotalSize() - items[items.length - 1].end : 0;

  return (
    <div className="table-scroll" ref={scrollRef} tabIndex={0} role="region" aria-label="Key list">
      <table
        className={local ? "key-table local" : "key-table"}
        aria-label="Keys"
        aria-rowcount={rows.length + 1}
        style={{ minWidth: tableWidth }}
      >
        <colgroup>
          {columns.map((c) => {
            const width = c === filler ? null : widthOf(c);
            return <col key={c.label} className={c.className} style={width === null ? undefined : { width }} />;
          })}
        </colgroup>
        <thead>
          <tr aria-rowindex={1}>
            {columns.map((c) => {
              if (!c.id) {
                return (
                  <th key={c.label} scope="col" className={c.className}>
                    {c.label === "Actions" ? <span className="visually-hidden">Actions</span> : c.label}
                  </th>
                );
              }
              const active = sort?.column === c.id ? sort.direction : null;
              return (
                <th
                  key={c.label}
                  scope="col"
                  className={c.className}
                  // Named by the label alone: the resize handle inside has a name of its own.
                  aria-label={c.label}
                  aria-sort={active === "asc" ? "ascending" : active === "desc" ? "descending" : "none"}
                >
                  <button
                    type="button"
                    className="sort"
                    onClick={() => onSort(c.id as SortColumn)}
                    title={`Sort by ${c.label.toLowerCase()}`}
                    data-sorted={active ?? undefined}
                  >
                    {c.label}
                    <span className="sort-mark" aria-hidden="true">
                      {active === "asc" ? "▲" : active === "desc" ? "▼" : "↕"}
                    </span>
                  </button>
                  {onResize && (
                    <div
                      className="resize-handle"
                      role="separator"
                      aria-orientation="vertical"
                      aria-label={`Resize ${c.label} column`}
                      aria-valuenow={c === filler ? (nameMeasured ?? NAME_WIDTH_GUESS) : (widthOf(c) ?? undefined)}
                      aria-valuemin={MIN_COLUMN_WIDTH}
                      aria-valuemax={MAX_COLUMN_WIDTH}
                      aria-keyshortcuts="ArrowLeft ArrowRight Home"
                      title="Drag to resize; Home gives the column its own width back"
                      tabIndex={0}
                      data-dragging={dragging?.column === c.id ? "" : undefined}
                      onPointerDown={(e) => onHandleDown(e, c)}
                      onKeyDown={(e) => onHandleKey(e, c)}
                      onFocus={(e) => {
                        if (c === filler) setNameMeasured(startWidth(c, e.currentTarget.parentElement));
                      }}
                    />
                  )}
                </th>
              );
            })}
          </tr>
        </thead>
        <tbody>
          {top > 0 && (
            <tr className="spacer" aria-hidden="true">
              <td colSpan={columns.length} style={{ height: top }} />
            </tr>
          )}
          {items.map((item) => {
            const { meta, stored_locally, check } = rows[item.index];
            const live = meta.status !== "revoked" && meta.status !== "expired";
            return (
              <tr
                // Keyed by its place among the drawn rows, not by the key's id: a keystroke in the
                // filter then rewrites the text of the rows already there instead of removing
                // twenty rows and building twenty new ones (in the app bench, the keystrokes'
                // time to frame fell by about a fifth). A focused button stays in its place and
                // names the key its row now shows.
                key={item.index - items[0].index}
                aria-rowindex={item.index + 2}
                data-key-id={meta.id}
                data-status={meta.status}
              >
                <td className="name" title={meta.name}>
                  {onOpen ? (
                    <button type="button" className="key-link" onClick={() => onOpen(meta)} title={`Open ${meta.name}`}>
                      {meta.name}
                    </button>
                  ) : (
                    meta.name
                  )}
                  {meta.replaced_by ? (
                    <span className="relation" data-relation="replaced-by" title={`Replaced by ${relatedLabel(meta.replaced_by)}`}>
                      replaced by {relatedLabel(meta.replaced_by)}
                    </span>
                  ) : (
                    meta.replaces && (
                      <span className="relation" data-relation="replaces" title={`Replaces ${relatedLabel(meta.replaces)}`}>
                        replaces {relatedLabel(meta.replaces)}
                      </span>
                    )
                  )}
                </td>
                <td>{meta.prefix ? <code>{meta.prefix}…</code> : <span className="muted">—</span>}</td>
                <td className="scopes" title={meta.scopes.join(", ")}>
                  {meta.scopes.map((s) => (
                    <span key={s} className="chip">
                      {s}
                    </span>
                  ))}
                </td>
                <td>
                  <span className={`status status-${meta.status}`}>{meta.status}</span>
                </td>
                {local ? (
                  <td className="last-check" title={check ? `${check.message} (${check.at})` : "Stored without a check"}>
                    <VerdictMark check={check} />
                    {check && <span className="muted check-when">{relativePast(check.at, now)}</span>}
                  </td>
                ) : (
                  <td title={meta.last_used_at ?? undefined}>{relativePast(meta.last_used_at, now)}</td>
                )}
                <td title={meta.expires_at ?? undefined}>{meta.expires_at ? relativeTime(meta.expires_at, now) : "never"}</td>
                {!local && (
                <td className="num">
                  {!settingsKnown ? (
                    <span className="muted" title="The service does not say">
                      —
                    </span>
                  ) : meta.rate_limit_per_hour === null ? (
                    <span className="muted">no limit</span>
                  ) : (
                    `${formatCount(meta.rate_limit_per_hour)} / h`
                  )}
                </td>
                )}
                <td>
                  <div className="row-actions">
                    {stored_locally && live && (
                      <button
                        type="button"
                        className="small"
                        aria-label={`Copy ${meta.name}`}
                        title="Copy the secret from this computer's keychain"
                        onClick={() => onCopy(meta)}
                      >
                        Copy
                      </button>
                    )}
                    {!stored_locally && live && (
                      <span className="not-stored" title="This computer's keychain does not hold the secret">
                        not stored
                      </span>
                    )}
                    {local && stored_locally && (
                      <button
                        type="button"
                        className="small"
                        aria-label={`Check ${meta.name} now`}
                        title="Ask the service now whether the key works"
                        disabled={local.checking === meta.id}
                        onClick={() => local.onCheck(meta)}
                      >
                        {local.checking === meta.id ? "Checking…" : "Check now"}
                      </button>
                    )}
                    {local && canManage && (
                      <button
                        type="button"
                        className="small danger-outline"
                        aria-label={`Remove ${meta.name} from Keyhaven`}
                        title="Forget the key here; it is deleted on the service's own page"
                        onClick={() => local.onForget(meta)}
                      >
                        Remove
                      </button>
                    )}
                    {!local && canManage && live && (
                      <button
                        type="button"
                        className="small danger-outline"
                        aria-label={`Revoke ${meta.name}`}
                        onClick={() => onRevoke(meta)}
                      >
                        Revoke
                      </button>
                    )}
                  </div>
                </td>
              </tr>
            );
          })}
          {bottom > 0 && (
            <tr className="spacer" aria-hidden="true">
              <td colSpan={columns.length} style={{ height: bottom }} />
            </tr>
          )}
        </tbody>
      </table>
    </div>
  );
});
