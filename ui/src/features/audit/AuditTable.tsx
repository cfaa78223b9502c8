import type { AuditRecord } from "../../ipc";

/** Audit records: who, what, to what, when, from where. Newest first, as the service sends them. */
export function AuditTable({ records, label = "Audit log" }: { records: AuditRecord[]; label?: string }) {
  if (records.length === 0) return <p className="muted">No changes recorded yet.</p>;
  return (
    <div className="table-scroll">
      <table className="data-table" aria-label={label}>
        <thead>
          <tr>
            <th>When</th>
            <th>Who</th>
            <th>What</th>
            <th>Target</th>
            <th>From</th>
          </tr>
        </thead>
        <tbody>
          {records.map((r, i) => (
            <tr key={`${r.at}-${i}`}>
              <td title={r.at}>{when(r.at)}</td>
              <td>
                <code>{r.actor}</code>
              </td>
              <td>{r.action}</td>
              <td>
                <code>{r.target}</code>
              </td>
              <td>{r.ip ?? "—"}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

export function when(iso: string): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return d.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}
