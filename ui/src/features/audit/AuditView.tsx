import { useQuery } from "@tanstack/react-query";
import { commands, toIpcError, type Account } from "../../ipc";
import { ErrorNote } from "../../components/ErrorNote";
import { AuditTable } from "./AuditTable";

export const auditKey = (accountId: string) => ["audit", accountId] as const;

/** The account's audit log: every change on its key service, newest first. */
export function AuditView({ account }: { account: Account }) {
  const audit = useQuery({
    queryKey: auditKey(account.id),
    queryFn: () => commands.auditLog({ account_id: account.id, limit: 200 }),
  });
  return (
    <section className="audit" aria-label="Audit">
      <div className="toolbar">
        <h1>Audit log</h1>
        <span className="count">{audit.data ? `${audit.data.length} entries` : ""}</span>
        <button type="button" className="small" onClick={() => void audit.refetch()}>
          Refresh
        </button>
      </div>
      {audit.isPending && <p className="muted">Loading…</p>}
      {audit.isError && <ErrorNote error={toIpcError(audit.error)} />}
      {audit.data && <AuditTable records={audit.data} />}
    </section>
  );
}
