import { memo, useCallback, useLayoutEffect, useRef } from "react";
import { useVirtualizer } from "@tanstack/react-virtual";
import type { KeyMeta, KeyView } from "../../ipc";
import { formatCount, relativePast, relativeTime } from "../../lib/format";
import { VerdictMark } from "../kinds/KeyCheckView";
import { MARKS, mark, markAfterNextFrame } from "../../lib/perf";
import type { Sort, SortColumn } from "./table";

/** Every row is this tall (CSS keeps it so), which lets the table skip measuring rows. */
export const ROW_HEIGHT = 44;
/**
 * Rows drawn above and below the visible ones, so that scrolling shows no gaps. Each is drawn
 * again on every keystroke in the filter box, so there are few (8 cost the app bench's keystroke
 * a few milliseconds more).
 */
const OVERSCAN = 3;

type Column = { id: SortColumn | null; label: string; className: string };
const COLUMNS: Column[] = [
  { id: "name", label: "Name", className: "col-name" },
  { id: "prefix", label: "Prefix", className: "col-prefix" },
  { id: "scopes", label: "Scopes", className: "col-scopes" },
  { id: "status", label: "Status", className: "col-status" },
  { id: "last_used", label: "Last used", className: "col-time" },
  { id: "expires", label: "Expires", className: "col-time" },
  { id: "limit", label: "Hourly limit", className: "col-limit" },
  { id: null, label: "Actions", className: "col-actions" },
];
/**
 * The columns of keys Keyhaven only holds (their service lists none, AniKura's and the like):
 * no service tells when they were last used or their hourly limit, so the last check of each is
 * shown instead, and the actions take more room (Check now, Remove).
 */
const LOCAL_COLUMNS: Column[] = [
  { id: "name", label: "Name", className: "col-name" },
  { id: "prefix", label: "Prefix", className: "col-prefix" },
  { id: "scopes", label: "Scopes", className: "col-scopes" },
  { id: "status", label: "Status", className: "col-status" },
  { id: null, label: "Last check", className: "col-check" },
  { id: "expires", label: "Expires", className: "col-time" },
  { id: null, label: "Actions", className: "col-actions-wide" },
];

type Props = {
  rows: KeyView[];
  sort: Sort;
  onSort: (column: SortColumn) => void;
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
      <table className={local ? "key-table local" : "key-table"} aria-label="Keys" aria-rowcount={rows.length + 1}>
        <colgroup>
          {columns.map((c) => (
            <col key={c.label} className={c.className} />
          ))}
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
