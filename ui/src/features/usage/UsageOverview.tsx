import { useMemo, useState } from "react";
import { useQueryClient } from "@tanstack/react-query";
import { commands, toIpcError, type Account, type IpcError, type QuotaProjection, type UsagePoint } from "../../ipc";
import { ErrorNote } from "../../components/ErrorNote";
import { useCapabilities } from "../keydetail/useKeyDetail";
import { count } from "./chart";
import { UsageChart } from "./UsageChart";
import { useAccountUsage, usageKey } from "./useUsage";

/** Every key's usage of one account: totals, top consumers, and when limits run out. */
export function UsageOverview({ account }: { account: Account }) {
  const caps = useCapabilities(account.id);
  const allowed = caps.data?.account_usage ?? false;
  const usage = useAccountUsage(account.id, allowed);
  const queryClient = useQueryClient();
  const [error, setError] = useState<IpcError | null>(null);
  const [busy, setBusy] = useState(false);
  const snap = usage.data;

  const keys = useMemo(
    () => [...(snap?.keys ?? [])].sort((a, b) => count(b.calls_today) - count(a.calls_today) || a.meta.name.localeCompare(b.meta.name)),
    [snap],
  );
  const total = useMemo(() => sumSeries(keys.map((k) => k.series)), [keys]);

  async function refresh() {
    setBusy(true);
    setError(null);
    try {
      queryClient.setQueryData(usageKey(account.id), await commands.refreshUsage({ account_id: account.id }));
    } catch (e) {
      setError(toIpcError(e));
    } finally {
      setBusy(false);
    }
  }

  if (caps.data && !allowed) {
    return (
      <section className="usage-overview">
        <h1>Usage</h1>
        <p className="muted disabled-reason">This account ({account.role}) cannot read usage on its service.</p>
      </section>
    );
  }

  return (
    <section className="usage-overview" aria-labelledby="usage-overview-title">
      <div className="toolbar">
        <h1 id="usage-overview-title">Usage</h1>
        {snap && <span className="count">as of {new Date(snap.fetched_at).toLocaleTimeString("en")}</span>}
        <button type="button" className="secondary" style={{ marginLeft: "auto" }} onClick={refresh} disabled={busy}>
          {busy ? "Refreshing…" : "Refresh"}
        </button>
      </div>
      <ErrorNote error={error} />
      {usage.isPending && allowed && <p className="muted">Loading usage…</p>}
      {usage.isError && <ErrorNote error={toIpcError(usage.error)} />}
      {snap && (
        <div className="detail-scroll">
          <section className="panel" aria-labelledby="usage-today-title">
            <div className="panel-head">
              <h2 id="usage-today-title">Today</h2>
              <span>
                <strong>{count(snap.calls_today).toLocaleString("en")}</strong> calls across {keys.length} {keys.length === 1 ? "key" : "keys"}
              </span>
            </div>
            {snap.daily ? (
              <Projection label="Daily cap" p={snap.daily} />
            ) : (
              <p className="muted">The daily cap is not known yet (the service reports it when a key is used).</p>
            )}
            <UsageChart series={total} granularity="hour" title="All keys, last 24 hours" />
          </section>
          <section className="panel" aria-labelledby="top-title">
            <h2 id="top-title">Top consumers</h2>
            {keys.length === 0 ? (
              <p className="muted">No keys on this account.</p>
            ) : (
              <table className="simple" aria-label="Keys by calls today">
                <thead>
                  <tr>
                    <th scope="col">Key</th>
                    <th scope="col">Today</th>
                    <th scope="col">This hour</th>
                    <th scope="col">Refused this hour</th>
                    <th scope="col">Hourly limit</th>
                  </tr>
                </thead>
                <tbody>
                  {keys.map((k) => {
                    const refused = Object.entries(k.denied_this_hour);
                    return (
                      <tr key={k.meta.id} data-key-id={k.meta.id}>
                        <td>
                          <strong>{k.meta.name}</strong> <code className="muted">{k.meta.prefix}…</code>
                        </td>
                        <td className="num">{count(k.calls_today).toLocaleString("en")}</td>
                        <td className="num">{count(k.calls_this_hour).toLocaleString("en")}</td>
                        <td>{refused.length === 0 ? "—" : refused.map(([r, n]) => `${r} ${count(n)}`).join(", ")}</td>
                        <td>{k.hourly ? <Projection p={k.hourly} compact /> : <span className="muted">no limit</span>}</td>
                      </tr>
                    );
                  })}
                </tbody>
              </table>
            )}
          </section>
        </div>
      )}
    </section>
  );
}

/** A limit, how full it is, and when it runs out at the current rate. */
export function Projection({ p, label, compact = false }: { p: QuotaProjection; label?: string; compact?: boolean }) {
  const pct = Math.min(100, p.percent);
  const level = p.percent >= 100 ? "full" : p.percent >= 80 ? "high" : "";
  const when = p.reached_at
    ? new Date(p.reached_at).getTime() <= Date.now()
      ? "reached"
      : `reached at ${new Date(p.reached_at).toLocaleTimeString("en", { hour: "2-digit", minute: "2-digit" })} at this rate`
    : "not reached before it resets";
  const text = `${count(p.used).toLocaleString("en")} of ${count(p.limit).toLocaleString("en")} (${p.percent} %), ${when}`;
  return (
    <div className="projection" title={`Resets ${new Date(p.resets_at).toUTCString()}`}>
      {label && <span className="field-hint">{label}: </span>}
      <span className={`meter ${level}`} role="meter" aria-valuemin={0} aria-valuemax={100} aria-valuenow={pct} aria-label={label ?? "Hourly limit"}>
        <span style={{ width: `${pct}%` }} />
      </span>
      <span className={compact ? "fineprint" : ""}>{text}</span>
    </div>
  );
}

/** Every key's hourly series added up, by bucket. */
export function sumSeries(all: UsagePoint[][]): UsagePoint[] {
  const by = new Map<string, { allowed: number; denied: Record<string, number> }>();
  for (const series of all) {
    for (const p of series) {
      const b = by.get(p.t) ?? { allowed: 0, denied: {} };
      b.allowed += count(p.allowed);
      for (const [r, n] of Object.entries(p.denied)) b.denied[r] = (b.denied[r] ?? 0) + count(n);
      by.set(p.t, b);
    }
  }
  return [...by.entries()]
    .sort((a, b) => a[0].localeCompare(b[0]))
    .map(([t, b]) => ({ t, allowed: b.allowed, denied: b.denied }) as unknown as UsagePoint);
}
