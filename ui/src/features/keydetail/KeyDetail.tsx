import { useEffect, useRef, useState } from "react";
import { useQueryClient } from "@tanstack/react-query";
import { commands, toIpcError, type Account, type IpcError, type KeyCheck, type KeyMeta, type RotationOutcome } from "../../ipc";
import { ErrorNote } from "../../components/ErrorNote";
import { relativePast } from "../../lib/format";
import { RevokeDialog } from "../keys/RevokeDialog";
import { relatedKeyLabel, useKeyIndex } from "../keys/useKeys";
import { UsageChart } from "../usage/UsageChart";
import { ForgetKeyDialog } from "../kinds/ForgetKeyDialog";
import { KeyCheckView } from "../kinds/KeyCheckView";
import { kindInfo, serviceName, useCheckKey, useKinds } from "../kinds/useKinds";
import { useKeys } from "../keys/useKeys";
import { allowed, rotation } from "./capabilities";
import { EditKeyForm } from "./EditKeyForm";
import { GuidedRotateDialog } from "./GuidedRotateDialog";
import { RotateDialog } from "./RotateDialog";
import { usePref } from "../prefs/usePrefs";
import { pendingFor, useGuidedRotations } from "./useGuided";
import { keyKey, useCapabilities, useDenials, useEnvReferences, useKey, useKeyUsage } from "./useKeyDetail";

type Props = {
  account: Account;
  /** The key as the list showed it, until its own read arrives. */
  initial: KeyMeta;
  scopes: string[];
  onBack: () => void;
  /** Shows another key's detail in place of this one: its replacement, or the key it replaced. */
  onOpenKey: (meta: KeyMeta) => void;
};

/** The later of two times ("last used" as the key's read and as its usage's read say). */
function latest(a: string | null, b: string | null | undefined): string | null {
  if (!a || !b) return a ?? b ?? null;
  return Date.parse(a) >= Date.parse(b) ? a : b;
}

/** One key: its settings (editable without a new secret), usage, recent denials, rotate, revoke. */
export function KeyDetail({ account, initial, scopes, onBack, onOpenKey }: Props) {
  const queryClient = useQueryClient();
  const key = useKey(account.id, initial.id);
  const meta = key.data ?? initial;
  const caps = useCapabilities(account.id);
  const index = useKeyIndex(account.id);
  // By hour unless the person chose otherwise for this profile.
  const [keptGranularity, setGranularity] = usePref("granularity");
  const granularity = keptGranularity ?? "hour";
  // What the service does not report is not asked for (TokenKit reports neither).
  const reportsUsage = caps.data?.key_usage ?? false;
  const reportsDenials = caps.data?.denials ?? false;
  const usage = useKeyUsage(account.id, meta.id, granularity, reportsUsage);
  const denials = useDenials(account.id, meta.id, reportsDenials);
  const kinds = useKinds();
  const kind = kindInfo(kinds.data, account.connector);
  const service = serviceName(account, kinds.data);
  // A key Keyhaven only holds (AniKura's and the like): its last check in place of usage, Check
  // now, and Remove from Keyhaven in place of Revoke.
  const local = caps.data?.local_keys ?? false;
  const listed = useKeys(account.id);
  const check = useCheckKey(account.id);
  const [checked, setChecked] = useState<KeyCheck | null>(null);
  const [checkError, setCheckError] = useState<IpcError | null>(null);
  const lastCheck = checked ?? listed.data?.find((k) => k.meta.id === meta.id)?.check;
  const [forgetting, setForgetting] = useState(false);
  const usedBy = useEnvReferences(account.id, meta);
  const [rotating, setRotating] = useState(false);
  const [revoking, setRevoking] = useState(false);
  const [refreshing, setRefreshing] = useState(false);
  // The new key of a rotation finished in this view: shown once the rotate dialog closes.
  const [successor, setSuccessor] = useState<KeyMeta | null>(null);
  const [openError, setOpenError] = useState<IpcError | null>(null);
  const headingRef = useRef<HTMLHeadingElement>(null);
  const can = allowed(account, caps.data, meta, kind);
  const rotateBy = rotation(caps.data);
  // A guided rotation of this key left in progress (the dialog or the window closed meanwhile).
  const guided = useGuidedRotations();
  const pending = rotateBy === "guided" ? pendingFor(guided.data, account.id, meta.id) : undefined;
  // The header and the chart read the service at different moments: show the later reading.
  const lastUsed = latest(meta.last_used_at, usage.data?.last_used_at);

  async function openKey(id: string) {
    setOpenError(null);
    const listed = index.get(id);
    if (listed) {
      onOpenKey(listed);
      return;
    }
    try {
      onOpenKey(await commands.getKey({ account_id: account.id, key_id: id }));
    } catch (err) {
      setOpenError(toIpcError(err));
    }
  }

  async function refresh() {
    setRefreshing(true);
    try {
      await Promise.all([
        key.refetch(),
        reportsUsage ? usage.refetch() : null,
        reportsDenials ? denials.refetch() : null,
        usedBy.refetch(),
      ]);
    } finally {
      setRefreshing(false);
    }
  }

  async function checkNow() {
    setCheckError(null);
    try {
      setChecked(await check.mutateAsync(meta.id));
    } catch (err) {
      setCheckError(toIpcError(err));
    }
  }

  function rotated(outcome: RotationOutcome) {
    void queryClient.invalidateQueries({ queryKey: keyKey(account.id, meta.id) });
    if (outcome.outcome === "completed") setSuccessor(outcome.new_key);
  }

  function closeRotate() {
    setRotating(false);
    if (successor) onOpenKey(successor);
  }

  useEffect(() => headingRef.current?.focus(), []);
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      // Esc goes back, unless a dialog has the keyboard or a field is being edited.
      const t = e.target as HTMLElement | null;
      const editing = t instanceof HTMLInputElement || t instanceof HTMLTextAreaElement || t instanceof HTMLSelectElement;
      if (e.key === "Escape" && !editing && !document.querySelector("[role=dialog]")) onBack();
    };
    document.addEventListener("keydown", onKey);
    return () => document.removeEventListener("keydown", onKey);
  }, [onBack]);

  return (
    <section className="key-detail" aria-labelledby="key-detail-title" data-key-id={meta.id}>
      <div className="toolbar">
        <button type="button" className="secondary small" onClick={onBack} aria-label="Back to keys">
          ← Keys
        </button>
        <h1 id="key-detail-title" ref={headingRef} tabIndex={-1}>
          {meta.name}
        </h1>
        {meta.prefix && <code>{meta.prefix}…</code>}
        <span className={`status status-${meta.status}`}>{meta.status}</span>
        {!local && (
          <span className="muted" data-testid="last-used" title={lastUsed ?? undefined}>
            last used {relativePast(lastUsed, new Date())}
          </span>
        )}
        <div className="detail-actions">
          <button
            type="button"
            className="secondary"
            disabled={!can.rotate.ok}
            title={can.rotate.reason ?? "Give the key a new secret without downtime"}
            aria-describedby={can.rotate.ok ? undefined : "rotate-reason"}
            onClick={() => setRotating(true)}
          >
            Rotate
          </button>
          {local ? (
            <button
              type="button"
              className="danger-outline"
              title={`Forget the key here; delete it in ${kind?.key_page ?? "the service's own settings"}`}
              onClick={() => setForgetting(true)}
            >
              Remove from Keyhaven
            </button>
          ) : (
            <button
              type="button"
              className="danger-outline"
              disabled={!can.revoke.ok}
              title={can.revoke.reason ?? undefined}
              aria-describedby={can.revoke.ok ? undefined : "revoke-reason"}
              onClick={() => setRevoking(true)}
            >
              Revoke
            </button>
          )}
        </div>
      </div>
      {(!can.rotate.ok || (!local && !can.revoke.ok)) && caps.data && (
        <p className="muted disabled-reason">
          {!can.rotate.ok && <span id="rotate-reason">Rotate: {can.rotate.reason} </span>}
          {!local && !can.revoke.ok && <span id="revoke-reason">Revoke: {can.revoke.reason}</span>}
        </p>
      )}
      {pending && !rotating && (
        <p className="relation-note replaced guided-pending" data-testid="guided-pending">
          <span>
            Rotation in progress:{" "}
            {pending.rotation.step === "delete_old"
              ? `the new key is in use; ${pending.rotation.listed ? "the old one is still to be revoked" : `delete this one in ${pending.rotation.key_page}, then confirm`}.`
              : `waiting for the new key made in ${pending.rotation.key_page}.`}
          </span>{" "}
          <button type="button" className="secondary small" onClick={() => setRotating(true)}>
            Continue rotation
          </button>
        </p>
      )}
      {meta.replaced_by && (
        <p className="relation-note replaced" data-relation="replaced-by">
          A rotation replaced this key with{" "}
          <button type="button" className="key-link" onClick={() => void openKey(meta.replaced_by as string)}>
            <code>{relatedKeyLabel(index, meta.replaced_by)}</code>
          </button>
          {meta.status === "revoked" || meta.status === "expired"
            ? ", which is the one in use. This one no longer works."
            : meta.expires_at
              ? `. This one keeps working until ${new Date(meta.expires_at).toUTCString()}, so that programs can switch.`
              : ". This one keeps working for its grace period, so that programs can switch."}
        </p>
      )}
      {meta.replaces && (
        <p className="relation-note" data-relation="replaces">
          Replaces{" "}
          <button type="button" className="key-link" onClick={() => void openKey(meta.replaces as string)}>
            <code>{relatedKeyLabel(index, meta.replaces)}</code>
          </button>
          , the key it was rotated from.
        </p>
      )}
      <ErrorNote error={openError} />
      {key.isError && <ErrorNote error={toIpcError(key.error)} />}
      <div className="detail-scroll">
        {local && (
          <section className="panel" aria-labelledby="check-title">
            <div className="panel-head">
              <h2 id="check-title">Does it work?</h2>
              <button
                type="button"
                className="secondary small"
                onClick={() => void checkNow()}
                disabled={check.isPending}
                title={`Make one cheap call to ${service ?? "the service"} with the key`}
              >
                {check.isPending ? "Checking…" : "Check now"}
              </button>
            </div>
            {check.isPending && (
              <p className="muted" role="status">
                Asking {service ?? "the service"}…
              </p>
            )}
            <KeyCheckView check={lastCheck ?? undefined} />
            <ErrorNote error={checkError} />
            <p className="muted fineprint" data-testid="delete-there">
              Keyhaven holds this key but cannot delete it: that is done in {kind?.key_page ?? "the service's own settings"}.
              Remove from Keyhaven forgets it here.
            </p>
          </section>
        )}
        {caps.data && !reportsUsage && (
          <section className="panel" aria-labelledby="usage-title">
            <h2 id="usage-title">Usage</h2>
            <p className="muted" data-testid="no-usage">
              {service ?? "This service"} does not report a key's calls{reportsDenials ? "" : " or refused calls"}; see{" "}
              {kind && account.connector !== "native" ? kind.key_page : "its dashboard"}.
            </p>
          </section>
        )}
        {reportsUsage && (
          <section className="panel" aria-labelledby="usage-title">
            <div className="panel-head">
              <h2 id="usage-title">Usage</h2>
              {usage.dataUpdatedAt > 0 && (
                <span className="muted as-of" data-testid="usage-as-of">
                  as of {new Date(usage.dataUpdatedAt).toLocaleTimeString("en")}
                </span>
              )}
              <button
                type="button"
                className="secondary small"
                onClick={() => void refresh()}
                disabled={refreshing}
                title="Read this key's usage, denials and settings again"
              >
                {refreshing ? "Refreshing…" : "Refresh"}
              </button>
              <div className="segmented" role="group" aria-label="Usage by">
                {(["hour", "day"] as const).map((g) => (
                  <button
                    key={g}
                    type="button"
                    className="small"
                    aria-pressed={granularity === g}
                    onClick={() => setGranularity(g)}
                  >
                    By {g}
                  </button>
                ))}
              </div>
            </div>
            {usage.isPending && <p className="muted">Loading usage…</p>}
            {usage.isError && <ErrorNote error={toIpcError(usage.error)} />}
            {usage.data && (
              <UsageChart series={usage.data.series} granularity={granularity} title={`${meta.name} usage by ${granularity}`} />
            )}
          </section>
        )}
        {reportsDenials && (
          <section className="panel" aria-labelledby="denials-title">
            <h2 id="denials-title">Recent denials</h2>
            {denials.isError && <ErrorNote error={toIpcError(denials.error)} />}
            {denials.data && denials.data.length === 0 && <p className="muted">No refused calls.</p>}
            {denials.data && denials.data.length > 0 && (
              <table className="denials" aria-label="Recent denials">
                <thead>
                  <tr>
                    <th scope="col">Reason</th>
                    <th scope="col">IP</th>
                    <th scope="col">Origin</th>
                    <th scope="col">Time</th>
                  </tr>
                </thead>
                <tbody>
                  {denials.data.map((d, i) => (
                    <tr key={`${d.at}-${i}`}>
                      <td>
                        <span className="chip">{d.code}</span>
                      </td>
                      <td>{d.ip ?? "—"}</td>
                      <td>{d.origin ?? "—"}</td>
                      <td title={d.at}>{relativePast(d.at, new Date())}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            )}
          </section>
        )}
        <section className="panel" aria-labelledby="used-by-title">
          <h2 id="used-by-title">Used by</h2>
          {usedBy.isError && <ErrorNote error={toIpcError(usedBy.error)} />}
          {usedBy.data && usedBy.data.length === 0 && (
            <p className="muted">
              No env file is known to reference this key. <code>keyhaven run --env-file</code> and{" "}
              <code>keyhaven env import</code> note the files they read.
            </p>
          )}
          {usedBy.data && usedBy.data.length > 0 && (
            <table className="used-by" aria-label="Env files that reference this key">
              <thead>
                <tr>
                  <th scope="col">File</th>
                  <th scope="col">Variable</th>
                  <th scope="col">Last read</th>
                </tr>
              </thead>
              <tbody>
                {usedBy.data.map((r) => (
                  <tr key={`${r.path}:${r.line}`}>
                    <td className="path" title={r.path}>
                      {r.path}:{r.line}
                      {!r.exists && (
                        <>
                          {" "}
                          <span className="chip" title="The file is no longer there">
                            missing
                          </span>
                        </>
                      )}
                    </td>
                    <td>
                      <code>{r.variable}</code>
                    </td>
                    <td title={r.seen_at}>{relativePast(r.seen_at, new Date())}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </section>
        {local ? (
          <section className="panel" aria-labelledby="about-title">
            <h2 id="about-title">About this key</h2>
            <dl className="meta-grid">
              <dt>Account</dt>
              <dd>{account.label}</dd>
              {meta.scopes.length > 0 && (
                <>
                  <dt>{account.connector === "wanikani" ? "Permissions" : "Scopes"}</dt>
                  <dd>{meta.scopes.join(", ")}</dd>
                </>
              )}
              <dt>Expires</dt>
              <dd>{meta.expires_at ? new Date(meta.expires_at).toUTCString() : "never (as far as Keyhaven was told)"}</dd>
              <dt>Added here</dt>
              <dd title={meta.created_at}>{relativePast(meta.created_at, new Date())}</dd>
            </dl>
          </section>
        ) : (
        <section className="panel" aria-labelledby="settings-title">
          <h2 id="settings-title">Settings</h2>
          {caps.data && !caps.data.key_settings ? (
            <p className="muted" data-testid="settings-elsewhere">
              {service ?? "This service"} does not say a key's origins, IPs or hourly limit; see or change them in its
              dashboard.
            </p>
          ) : (
            <EditKeyForm
              key={meta.id}
              accountId={account.id}
              meta={meta}
              scopes={scopes}
              disabledReason={can.edit.ok ? null : can.edit.reason}
              caps={caps.data}
            />
          )}
        </section>
        )}
      </div>
      {forgetting && (
        <ForgetKeyDialog
          accountId={account.id}
          meta={meta}
          kind={kind}
          onClose={(removed) => {
            setForgetting(false);
            if (removed) onBack();
          }}
        />
      )}
      {rotating && rotateBy === "guided" && (
        <GuidedRotateDialog
          accountId={account.id}
          meta={meta}
          kind={kind}
          onClose={() => setRotating(false)}
          onCompleted={(id) => void openKey(id)}
        />
      )}
      {rotating && rotateBy !== "guided" && (
        <RotateDialog
          accountId={account.id}
          meta={meta}
          mode={rotateBy === "twin" ? "twin" : "roll"}
          service={service}
          onRotated={rotated}
          onClose={closeRotate}
        />
      )}
      {revoking && (
        <RevokeDialog
          accountId={account.id}
          meta={meta}
          onClose={() => {
            setRevoking(false);
            void key.refetch();
          }}
        />
      )}
    </section>
  );
}
