import { useCallback, useEffect, useMemo, useRef, useState } from "react";
import { commands, toIpcError, type Account, type KeyMeta, type KeyView } from "../../ipc";
import { ErrorNote } from "../../components/ErrorNote";
import { formatCount } from "../../lib/format";
import { MARKS, mark } from "../../lib/perf";
import { useNow } from "../../lib/useNow";
import type { NewKeyPrefill } from "../deeplink/parse";
import { useAppStatus } from "../accounts/useAppStatus";
import { KeyDetail } from "../keydetail/KeyDetail";
import { useCapabilities } from "../keydetail/useKeyDetail";
import { useGuidedRotations } from "../keydetail/useGuided";
import { ForgetKeyDialog } from "../kinds/ForgetKeyDialog";
import { ImportKeyDialog } from "../kinds/ImportKeyDialog";
import { quotaText } from "../kinds/KeyCheckView";
import { kindInfo, useCheckKey, useKinds } from "../kinds/useKinds";
import { usePref } from "../prefs/usePrefs";
import { KeyTable } from "./KeyTable";
import { NewKeyDialog } from "./NewKeyDialog";
import { RevokeDialog } from "./RevokeDialog";
import { STATUSES, KeyFilter, nextSort, sortKeys, type SortColumn, type StatusFilter } from "./table";
import { indexKeys, relatedKeyLabel, useKeys } from "./useKeys";

type Props = {
  account: Account;
  scopes: string[];
  clipboardSeconds: number;
  /** A New key form a `keyhaven://` link asked for, waiting to be shown. */
  linkRequest?: NewKeyPrefill | null;
  /** Called once the link's form is shown (or refused), so it is shown only once. */
  onLinkTaken?: () => void;
  /** A key to open the detail of (found by the header's search), then `onOpenTaken`. */
  openRequest?: KeyMeta | null;
  onOpenTaken?: () => void;
};

/** What the New key dialog opens with: empty from the button, or a link's prefill. */
type Creating = { id: number; prefill: NewKeyPrefill | null };

export function KeysView({
  account,
  scopes,
  clipboardSeconds,
  linkRequest = null,
  onLinkTaken,
  openRequest = null,
  onOpenTaken,
}: Props) {
  const keys = useKeys(account.id);
  const caps = useCapabilities(account.id);
  const kinds = useKinds();
  const kind = kindInfo(kinds.data, account.connector);
  const accounts = useAppStatus().data?.accounts ?? [account];
  const check = useCheckKey(account.id);
  const [filter, setFilter] = useState("");
  const [status, setStatus] = useState<StatusFilter>("all");
  // The sort and the column widths are the profile's: kept for the next time the window opens.
  const [sort, setSort] = usePref("sort");
  const [widths, setWidths] = usePref("column_widths");
  const [creating, setCreating] = useState<Creating | null>(null);
  const [revoking, setRevoking] = useState<KeyMeta | null>(null);
  /** The Import key dialog, with the name a `keyhaven://` link gave, when open. */
  const [importing, setImporting] = useState<{ name: string; requestedBy?: string | null } | null>(null);
  const [forgetting, setForgetting] = useState<KeyMeta | null>(null);
  const [checking, setChecking] = useState<string | null>(null);
  const [detail, setDetail] = useState<KeyMeta | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const filterRef = useRef<HTMLInputElement>(null);
  const nextId = useRef(1);
  const canManage = account.role !== "support";
  // What the service can do: a kind that makes no keys through an API has its keys imported.
  // Neither is offered until the capabilities are known (then only what the service can do);
  // should they not be readable, New key is offered and the service has the last word.
  const canCreate = canManage && (caps.data ? caps.data.create_key : caps.isError);
  // Keys are imported where the service cannot make them through its API: its keys are held here
  // only, or (Animus) it lists them and the pasted one is matched by its listed name.
  const canImport =
    canManage &&
    Boolean(caps.data && (caps.data.local_keys || (caps.data.import_keys && caps.data.list_keys && !caps.data.create_key)));
  // Guided rotations of this account's keys left in progress (the window closed meanwhile).
  const guided = useGuidedRotations();
  const pendingGuided = (guided.data ?? []).filter((g) => g.rotation.account_id === account.id);
  const dialogOpen = creating !== null || revoking !== null || importing !== null || forgetting !== null;

  const openNewKey = (prefill: NewKeyPrefill | null) => setCreating({ id: nextId.current++, prefill });

  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      // Shortcuts act on this view only; an open dialog has the keyboard.
      if (document.querySelector("[role=dialog]") || document.querySelector(".key-detail")) return;
      const target = e.target as HTMLElement | null;
      const typing =
        target instanceof HTMLInputElement || target instanceof HTMLTextAreaElement || target instanceof HTMLSelectElement;
      if ((e.ctrlKey || e.metaKey) && !e.altKey && !e.shiftKey && e.key.toLowerCase() === "n") {
        e.preventDefault();
        // Where keys cannot be made here, Ctrl+N imports one made on the service's page.
        if (canCreate) openNewKey(null);
        else if (canImport) setImporting({ name: "" });
      } else if (e.key === "/" && !typing && !e.ctrlKey && !e.metaKey && !e.altKey) {
        e.preventDefault();
        filterRef.current?.focus();
        filterRef.current?.select();
      }
    };
    document.addEventListener("keydown", onKey);
    return () => document.removeEventListener("keydown", onKey);
  }, [canCreate, canImport]);

  // A link's form waits until no other dialog is open, so it never replaces a shown secret, and
  // until the capabilities say whether this account makes keys or imports them.
  const capsKnown = !caps.isPending;
  // A key the header's search found in this account: its detail opens (over any dialog's closing).
  useEffect(() => {
    if (!openRequest) return;
    setDetail(openRequest);
    onOpenTaken?.();
  }, [openRequest, onOpenTaken]);

  useEffect(() => {
    if (!linkRequest || dialogOpen || !capsKnown) return;
    if (canCreate) {
      openNewKey(linkRequest);
    } else if (canImport) {
      // A kind whose keys are made on its own page: the link opens Import key with its name.
      setImporting({ name: linkRequest.name, requestedBy: linkRequest.requestedBy });
    } else {
      setNotice("A keyhaven:// link asked for a new key, but this account is read-only.");
    }
    onLinkTaken?.();
  }, [linkRequest, dialogOpen, capsKnown, canCreate, canImport, onLinkTaken]);

  const all = keys.data ?? [];
  // "Last used" and "Expires" are relative: the (memoised) table gets a fresh clock each half minute.
  const now = useNow(30_000);
  // Sorted once per list or sort; each keystroke only filters the sorted list.
  const sorted = useMemo(() => sortKeys(all, sort), [all, sort]);
  // Filtered in the keystroke's own render, so that the rows change in the frame that shows the
  // typed letter (a deferred render came a frame later, in the app bench): the lower-case copies
  // are made ahead, only the rows in view are drawn, and a typed letter narrows the last result.
  const [keyFilter] = useState(() => new KeyFilter());
  // The filter's lower-case copies of each key, made in small slices once the list is shown, so
  // that the first keystroke does not pay for ten thousand of them at once.
  useEffect(() => keyFilter.prepare(sorted), [keyFilter, sorted]);
  const rows = useMemo(() => keyFilter.run(sorted, filter, status), [keyFilter, sorted, filter, status]);
  const filtering = filter.trim() !== "" || status !== "all";

  // Stable callbacks: the table (memoised) then skips the render that only updates the filter box.
  const copy = useCallback(
    async (meta: KeyMeta) => {
      try {
        const result = await commands.copySecret({ account_id: account.id, key_id: meta.id });
        setNotice(`Copied ${meta.name}. The clipboard clears in ${result.clears_in_seconds} s.`);
      } catch (err) {
        setNotice(toIpcError(err).message);
      }
    },
    [account.id],
  );
  const checkNow = useCallback(
    async (meta: KeyMeta) => {
      setChecking(meta.id);
      setNotice(`Checking ${meta.name}…`);
      try {
        const result = await check.mutateAsync(meta.id);
        const quota = result.quota ? ` ${quotaText(result.quota)}` : "";
        setNotice(`${meta.name}: ${result.message}${quota}`);
      } catch (err) {
        setNotice(toIpcError(err).message);
      } finally {
        setChecking(null);
      }
    },
    [check.mutateAsync],
  );
  const local = useMemo(
    () => (caps.data?.local_keys ? { onCheck: checkNow, onForget: setForgetting, checking } : undefined),
    [caps.data?.local_keys, checkNow, checking],
  );
  const imported = useCallback(
    (view: KeyView, into: Account) => {
      setImporting(null);
      const where = into.id === account.id ? "" : ` into ${into.label}`;
      const how = view.check
        ? `${view.check.message}${view.check.quota ? ` ${quotaText(view.check.quota)}` : ""}`
        : "Stored without a check.";
      setNotice(`Imported ${view.meta.name}${where}. ${how}`);
    },
    [account.id],
  );
  const onSort = useCallback((column: SortColumn) => setSort((s) => nextSort(s, column)), [setSort]);
  const onResize = useCallback(
    (column: SortColumn, width: number | null) =>
      setWidths((w) => {
        const next = { ...w };
        if (width === null) delete next[column];
        else next[column] = width;
        return next;
      }),
    [setWidths],
  );
  // Rotated keys name each other in the table by prefix.
  const index = useMemo(() => indexKeys(keys.data), [keys.data]);
  const relatedLabel = useCallback((id: string) => relatedKeyLabel(index, id), [index]);

  if (detail) {
    return (
      <KeyDetail
        // A fresh detail for each key: following a rotation to the new key starts anew.
        key={detail.id}
        account={account}
        initial={detail}
        scopes={scopes}
        onBack={() => setDetail(null)}
        onOpenKey={setDetail}
      />
    );
  }

  return (
    <section className="keys" aria-labelledby="keys-title">
      <div className="toolbar">
        <h1 id="keys-title">Keys</h1>
        <span className="count" role="status" aria-live="polite">
          {keys.isSuccess &&
            (filtering
              ? `${formatCount(rows.length)} of ${formatCount(all.length)}`
              : `${formatCount(all.length)} ${all.length === 1 ? "key" : "keys"}`)}
        </span>
        <div className="search">
          <input
            ref={filterRef}
            className="filter"
            type="search"
            aria-label="Filter keys"
            aria-keyshortcuts="/"
            placeholder="Filter by name, prefix, scope or status"
            value={filter}
            onChange={(e) => {
              mark(MARKS.filterInput);
              setFilter(e.target.value);
            }}
            spellCheck={false}
          />
          <kbd className="shortcut-hint" aria-hidden="true">
            /
          </kbd>
        </div>
        <select
          className="status-filter"
          aria-label="Show status"
          value={status}
          onChange={(e) => setStatus(e.target.value as StatusFilter)}
        >
          <option value="all">All statuses</option>
          {STATUSES.map((s) => (
            <option key={s} value={s}>
              {s[0].toUpperCase() + s.slice(1)}
            </option>
          ))}
        </select>
        {canImport && (
          <button
            type="button"
            className={canCreate ? "secondary" : "primary"}
            onClick={() => setImporting({ name: "" })}
            title={
              canCreate
                ? "Import a key made elsewhere"
                : `Keys of ${kind?.label ?? "this service"} are made in ${kind?.key_page ?? "its own settings"}: import one (Ctrl+N)`
            }
            aria-keyshortcuts={canCreate ? undefined : "Control+N Meta+N"}
          >
            Import key
          </button>
        )}
        {canCreate && (
          <button
            type="button"
            className="primary"
            onClick={() => openNewKey(null)}
            title="New key (Ctrl+N)"
            aria-keyshortcuts="Control+N Meta+N"
          >
            New key
          </button>
        )}
      </div>
      {notice && (
        <p className="note" role="status">
          <span>{notice}</span>
          <button type="button" className="icon" aria-label="Dismiss" onClick={() => setNotice(null)}>
            ×
          </button>
        </p>
      )}
      {pendingGuided.map((g) => {
        const old = index.get(g.rotation.old_key_id);
        return (
          <p className="note guided-pending" key={g.rotation.id} data-testid="guided-pending">
            <span>
              Rotation of <strong>{g.rotation.old_key_name}</strong> in progress:{" "}
              {g.rotation.step === "delete_old" ? "the new key is in use; the old one is still to go." : "waiting for the new key."}
            </span>
            {old && (
              <button type="button" className="secondary small" onClick={() => setDetail(old)}>
                Continue rotation
              </button>
            )}
          </p>
        );
      })}
      {keys.isPending && <p className="muted">Loading keys…</p>}
      {keys.isError && <ErrorNote error={toIpcError(keys.error)} />}
      {keys.isSuccess && all.length === 0 && (
        <div className="empty">
          <p>No keys yet on this account.</p>
          {canCreate && <p className="muted">Create one with New key (Ctrl+N).</p>}
          {!canCreate && canImport && (
            <p className="muted" data-testid="made-elsewhere">
              Keys of {kind?.label ?? "this service"} are made in {kind?.key_page ?? "its own settings"}: make one there,
              then bring it here with Import key (Ctrl+N).
            </p>
          )}
        </div>
      )}
      {keys.isSuccess && all.length > 0 && (
        <KeyTable
          rows={rows}
          sort={sort}
          onSort={onSort}
          widths={widths}
          onResize={onResize}
          now={now}
          canManage={canManage}
          onCopy={copy}
          onRevoke={setRevoking}
          onOpen={setDetail}
          settingsKnown={caps.data?.key_settings ?? true}
          relatedLabel={relatedLabel}
          local={local}
        />
      )}
      {keys.isSuccess && all.length > 0 && rows.length === 0 && (
        <p className="muted no-match">No key matches “{filter.trim() || status}”.</p>
      )}
      {creating && (
        <NewKeyDialog
          key={creating.id}
          accountId={account.id}
          scopes={scopes}
          clipboardSeconds={clipboardSeconds}
          prefill={creating.prefill}
          caps={caps.data ?? null}
          onClose={() => setCreating(null)}
        />
      )}
      {revoking && <RevokeDialog accountId={account.id} meta={revoking} onClose={() => setRevoking(null)} />}
      {importing && kinds.data && (
        <ImportKeyDialog
          accounts={accounts}
          kinds={kinds.data}
          preferredAccountId={account.id}
          initialName={importing.name}
          requestedBy={importing.requestedBy ?? null}
          onImported={imported}
          onClose={() => setImporting(null)}
        />
      )}
      {forgetting && (
        <ForgetKeyDialog
          accountId={account.id}
          meta={forgetting}
          kind={kind}
          onClose={(removed) => {
            if (removed) setNotice(`Removed ${forgetting.name} from Keyhaven. Delete it in ${kind?.key_page ?? "the service's own settings"} to stop it working.`);
            setForgetting(null);
          }}
        />
      )}
    </section>
  );
}
