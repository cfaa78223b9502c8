import { useState, type FormEvent } from "react";
import { useQuery } from "@tanstack/react-query";
import { commands, toIpcError, type Account, type KeyUsage, type SupportKey } from "../../ipc";
import { ErrorNote } from "../../components/ErrorNote";
import { AuditTable, when } from "../audit/AuditTable";
import { bars } from "../usage/chart";

export const supportSearchKey = (accountId: string, prefix: string) => ["support-search", accountId, prefix] as const;
export const supportDetailKey = (accountId: string, tenantId: string, keyId: string) =>
  ["support-key", accountId, tenantId, keyId] as const;

/**
 * The support workspace: find a customer's key by the prefix quoted in a ticket, across tenants,
 * and read its metadata, usage, denials and the tenant's audit log. Read-only: there is no
 * control here that reveals, copies or changes anything.
 */
export function SupportView({ account }: { account: Account }) {
  const [text, setText] = useState("");
  const [prefix, setPrefix] = useState<string | null>(null);
  const [selected, setSelected] = useState<SupportKey | null>(null);
  const found = useQuery({
    queryKey: supportSearchKey(account.id, prefix ?? ""),
    queryFn: () => commands.supportFindKeys({ account_id: account.id, prefix: prefix ?? "" }),
    enabled: prefix !== null,
  });

  function search(e: FormEvent) {
    e.preventDefault();
    setSelected(null);
    setPrefix(text.trim());
  }

  return (
    <section className="support" aria-label="Support">
      <div className="toolbar">
        <h1>Support</h1>
        <span className="chip">read-only</span>
      </div>
      <form className="toolbar" onSubmit={search} aria-label="Find a key">
        <label className="field grow">
          <span>Key prefix from the ticket</span>
          <input
            name="key-prefix"
            value={text}
            onChange={(e) => setText(e.target.value)}
            placeholder="kh_live_AbC1"
            spellCheck={false}
            autoComplete="off"
          />
        </label>
        <button type="submit" className="primary" disabled={text.trim() === ""}>
          Find
        </button>
      </form>
      {found.isError && <ErrorNote error={toIpcError(found.error)} />}
      {found.isFetching && <p className="muted">Searching…</p>}
      {found.data && !selected && <Results keys={found.data} onOpen={setSelected} />}
      {selected && <KeyDetail account={account} found={selected} onBack={() => setSelected(null)} />}
    </section>
  );
}

function Results({ keys, onOpen }: { keys: SupportKey[]; onOpen: (k: SupportKey) => void }) {
  if (keys.length === 0) return <p className="muted">No key starts with that prefix.</p>;
  return (
    <div className="table-scroll">
      <table className="data-table" aria-label="Keys found">
        <thead>
          <tr>
            <th>Prefix</th>
            <th>Name</th>
            <th>Tenant</th>
            <th>Status</th>
            <th>Last used</th>
          </tr>
        </thead>
        <tbody>
          {keys.map((k) => (
            <tr key={k.id}>
              <td>
                <button type="button" className="link" onClick={() => onOpen(k)} aria-label={`Open ${k.prefix}`}>
                  <code>{k.prefix}</code>
                </button>
              </td>
              <td>{k.name}</td>
              <td>{k.tenant_name}</td>
              <td>
                <span className={`status status-${k.status}`}>{k.status}</span>
              </td>
              <td>{k.last_used_at ? when(k.last_used_at) : "never"}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function KeyDetail({ account, found, onBack }: { account: Account; found: SupportKey; onBack: () => void }) {
  const detail = useQuery({
    queryKey: supportDetailKey(account.id, found.tenant_id, found.id),
    queryFn: () => commands.supportKeyDetail({ account_id: account.id, key_id: found.id, tenant_id: found.tenant_id }),
  });
  const meta = detail.data?.meta ?? found;
  return (
    <div className="support-detail">
      <div className="toolbar">
        <button type="button" className="small" onClick={onBack}>
          ← Results
        </button>
        <h2>
          {meta.name} <code>{meta.prefix}</code>
        </h2>
        <span className={`status status-${meta.status}`}>{meta.status}</span>
      </div>
      <dl className="meta-grid" aria-label="Key details">
        <dt>Tenant</dt>
        <dd>
          {found.tenant_name} <code>{meta.tenant_id}</code>
        </dd>
        <dt>Key id</dt>
        <dd>
          <code>{meta.id}</code>
        </dd>
        <dt>Scopes</dt>
        <dd>{meta.scopes.length ? meta.scopes.map((s) => <span key={s} className="chip">{s}</span>) : "none"}</dd>
        <dt>Created</dt>
        <dd>
          {when(meta.created_at)} by <code>{meta.created_by}</code>
        </dd>
        <dt>Expires</dt>
        <dd>{meta.expires_at ? when(meta.expires_at) : "never"}</dd>
        <dt>Revoked</dt>
        <dd>{meta.revoked_at ? when(meta.revoked_at) : "no"}</dd>
        <dt>Last used</dt>
        <dd>{meta.last_used_at ? when(meta.last_used_at) : "never"}</dd>
        <dt>Allowed origins</dt>
        <dd>{meta.allowed_origins.join(", ") || "any"}</dd>
        <dt>Allowed IPs</dt>
        <dd>{meta.allowed_ips.join(", ") || "any"}</dd>
        <dt>Hourly limit</dt>
        <dd>{meta.rate_limit_per_hour ?? "none"}</dd>
      </dl>
      {detail.isPending && <p className="muted">Loading usage, denials and audit…</p>}
      {detail.isError && <ErrorNote error={toIpcError(detail.error)} />}
      {detail.data && (
        <>
          <h2>Usage</h2>
          <UsageTable usage={detail.data.usage} />
          <h2>Recent denials</h2>
          {detail.data.denials.length === 0 ? (
            <p className="muted">No refused calls.</p>
          ) : (
            <div className="table-scroll">
              <table className="data-table" aria-label="Denials">
                <thead>
                  <tr>
                    <th>When</th>
                    <th>Reason</th>
                    <th>IP</th>
                    <th>Origin</th>
                  </tr>
                </thead>
                <tbody>
                  {detail.data.denials.map((d, i) => (
                    <tr key={`${d.at}-${i}`}>
                      <td title={d.at}>{when(d.at)}</td>
                      <td>
                        <span className="chip">{reason(d.code)}</span>
                      </td>
                      <td>{d.ip ?? "—"}</td>
                      <td>{d.origin ?? "—"}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )}
          <h2>Audit log of {found.tenant_name}</h2>
          <AuditTable records={detail.data.audit} label="Tenant audit log" />
        </>
      )}
    </div>
  );
}

const REASONS: Record<string, string> = {
  revoked: "revoked",
  expired: "expired",
  origin_not_allowed: "origin not allowed",
  ip_not_allowed: "IP not allowed",
  scope_missing: "scope missing",
  rate_limited: "hourly limit",
  daily_cap_reached: "daily cap",
  ip_locked_out: "IP locked out",
  unauthorized: "unknown key",
};

export function reason(code: string): string {
  return REASONS[code] ?? code.replace(/_/g, " ");
}

/** Hours with calls, newest first: accepted and refused counts. */
function UsageTable({ usage }: { usage: KeyUsage }) {
  const rows = bars(usage.series)
    .filter((r) => r.allowed + r.denied > 0)
    .reverse();
  if (rows.length === 0) return <p className="muted">No calls in this period.</p>;
  return (
    <div className="table-scroll">
      <table className="data-table" aria-label="Usage">
        <thead>
          <tr>
            <th>Hour</th>
            <th>Accepted</th>
            <th>Refused</th>
            <th>Refused because</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((r) => (
            <tr key={r.t}>
              <td title={r.t}>{when(r.t)}</td>
              <td className="num">{r.allowed}</td>
              <td className="num">{r.denied}</td>
              <td>
                {Object.entries(r.reasons).map(([code, n]) => (
                  <span key={code} className="chip">
                    {reason(code)}: {n}
                  </span>
                ))}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
