import { useEffect, useRef, useState } from "react";
import { toIpcError, type Account, type KeyMeta } from "../../ipc";
import { ErrorNote } from "../../components/ErrorNote";
import { relativeTime } from "../../lib/format";
import { RevokeDialog } from "../keys/RevokeDialog";
import { UsageChart } from "../usage/UsageChart";
import { allowed } from "./capabilities";
import { EditKeyForm } from "./EditKeyForm";
import { RotateDialog } from "./RotateDialog";
import { useCapabilities, useDenials, useKey, useKeyUsage, type Granularity } from "./useKeyDetail";

type Props = {
  account: Account;
  /** The key as the list showed it, until its own read arrives. */
  initial: KeyMeta;
  scopes: string[];
  onBack: () => void;
};

/** One key: its settings (editable without a new secret), usage, recent denials, rotate, revoke. */
export function KeyDetail({ account, initial, scopes, onBack }: Props) {
  const key = useKey(account.id, initial.id);
  const meta = key.data ?? initial;
  const caps = useCapabilities(account.id);
  const [granularity, setGranularity] = useState<Granularity>("hour");
  const usage = useKeyUsage(account.id, meta.id, granularity);
  const denials = useDenials(account.id, meta.id);
  const [rotating, setRotating] = useState(false);
  const [revoking, setRevoking] = useState(false);
  const headingRef = useRef<HTMLHeadingElement>(null);
  const can = allowed(account, caps.data, meta);

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
    <section className="key-detail" aria-labelledby="key-detail-title">
      <div className="toolbar">
        <button type="button" className="secondary small" onClick={onBack} aria-label="Back to keys">
          ← Keys
        </button>
        <h1 id="key-detail-title" ref={headingRef} tabIndex={-1}>
          {meta.name}
        </h1>
        <code>{meta.prefix}…</code>
        <span className={`status status-${meta.status}`}>{meta.status}</span>
        <span className="muted">last used {relativeTime(meta.last_used_at, new Date())}</span>
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
        </div>
      </div>
      {(!can.rotate.ok || !can.revoke.ok) && caps.data && (
        <p className="muted disabled-reason">
          {!can.rotate.ok && <span id="rotate-reason">Rotate: {can.rotate.reason} </span>}
          {!can.revoke.ok && <span id="revoke-reason">Revoke: {can.revoke.reason}</span>}
        </p>
      )}
      {key.isError && <ErrorNote error={toIpcError(key.error)} />}
      <div className="detail-scroll">
        <section className="panel" aria-labelledby="usage-title">
          <div className="panel-head">
            <h2 id="usage-title">Usage</h2>
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
                    <td title={d.at}>{relativeTime(d.at, new Date())}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </section>
        <section className="panel" aria-labelledby="settings-title">
          <h2 id="settings-title">Settings</h2>
          <EditKeyForm
            key={meta.id}
            accountId={account.id}
            meta={meta}
            scopes={scopes}
            disabledReason={can.edit.ok ? null : can.edit.reason}
          />
        </section>
      </div>
      {rotating && <RotateDialog accountId={account.id} meta={meta} onClose={() => setRotating(false)} />}
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
