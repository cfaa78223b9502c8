import { useEffect, useMemo, useRef, useState } from "react";
import { commands, toIpcError, type Account, type KeyMeta } from "../../ipc";
import { ErrorNote } from "../../components/ErrorNote";
import { relativeTime } from "../../lib/format";
import { NewKeyDialog } from "./NewKeyDialog";
import { RevokeDialog } from "./RevokeDialog";
import { filterKeys, sortKeys, useKeys } from "./useKeys";

type Props = { account: Account; scopes: string[]; clipboardSeconds: number };

export function KeysView({ account, scopes, clipboardSeconds }: Props) {
  const keys = useKeys(account.id);
  const [filter, setFilter] = useState("");
  const [creating, setCreating] = useState(false);
  const [revoking, setRevoking] = useState<KeyMeta | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const filterRef = useRef<HTMLInputElement>(null);
  const canManage = account.role !== "support";

  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      const typing = e.target instanceof HTMLInputElement || e.target instanceof HTMLTextAreaElement;
      if ((e.ctrlKey || e.metaKey) && e.key.toLowerCase() === "n" && canManage) {
        e.preventDefault();
        setCreating(true);
      } else if (e.key === "/" && !typing) {
        e.preventDefault();
        filterRef.current?.focus();
      }
    };
    document.addEventListener("keydown", onKey);
    return () => document.removeEventListener("keydown", onKey);
  }, [canManage]);

  const rows = useMemo(() => sortKeys(filterKeys(keys.data ?? [], filter)), [keys.data, filter]);

  async function copy(meta: KeyMeta) {
    try {
      const result = await commands.copySecret({ account_id: account.id, key_id: meta.id });
      setNotice(`Copied ${meta.name}. The clipboard clears in ${result.clears_in_seconds} s.`);
    } catch (err) {
      setNotice(toIpcError(err).message);
    }
  }

  return (
    <section className="keys" aria-label="Keys">
      <div className="toolbar">
        <h1>Keys</h1>
        <input
          ref={filterRef}
          className="filter"
          type="search"
          aria-label="Filter keys"
          placeholder="Filter by name, prefix, scope or status  ( / )"
          value={filter}
          onChange={(e) => setFilter(e.target.value)}
        />
        {canManage && (
          <button type="button" className="primary" onClick={() => setCreating(true)} title="New key (Ctrl+N)">
            New key
          </button>
        )}
      </div>
      {notice && (
        <p className="note" role="status">
          {notice}
        </p>
      )}
      {keys.isPending && <p className="muted">Loading keys…</p>}
      {keys.isError && <ErrorNote error={toIpcError(keys.error)} />}
      {keys.isSuccess && keys.data.length === 0 && (
        <div className="empty">
          <p>No keys yet on this account.</p>
          {canManage && <p className="muted">Create one with New key (Ctrl+N).</p>}
        </div>
      )}
      {keys.isSuccess && keys.data.length > 0 && (
        <table className="key-table">
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Prefix</th>
              <th scope="col">Scopes</th>
              <th scope="col">Status</th>
              <th scope="col">Last used</th>
              <th scope="col">Expires</th>
              <th scope="col">Keychain</th>
              <th scope="col">
                <span className="visually-hidden">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {rows.map(({ meta, stored_locally }) => (
              <tr key={meta.id} data-key-id={meta.id} data-status={meta.status}>
                <td className="name">{meta.name}</td>
                <td>
                  <code>{meta.prefix}…</code>
                </td>
                <td>
                  {meta.scopes.map((s) => (
                    <span key={s} className="chip">
                      {s}
                    </span>
                  ))}
                </td>
                <td>
                  <span className={`status status-${meta.status}`}>{meta.status}</span>
                </td>
                <td>{relativeTime(meta.last_used_at)}</td>
                <td>{meta.expires_at ? relativeTime(meta.expires_at) : "never"}</td>
                <td>{stored_locally ? "✓ stored" : "—"}</td>
                <td className="row-actions">
                  {stored_locally && meta.status !== "revoked" && (
                    <button type="button" className="small" aria-label={`Copy ${meta.name}`} onClick={() => copy(meta)}>
                      Copy
                    </button>
                  )}
                  {canManage && meta.status !== "revoked" && meta.status !== "expired" && (
                    <button
                      type="button"
                      className="small danger-outline"
                      aria-label={`Revoke ${meta.name}`}
                      onClick={() => setRevoking(meta)}
                    >
                      Revoke
                    </button>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {keys.isSuccess && filter && rows.length === 0 && <p className="muted">No key matches “{filter}”.</p>}
      {creating && (
        <NewKeyDialog
          accountId={account.id}
          scopes={scopes}
          clipboardSeconds={clipboardSeconds}
          onClose={() => setCreating(false)}
        />
      )}
      {revoking && <RevokeDialog accountId={account.id} meta={revoking} onClose={() => setRevoking(null)} />}
    </section>
  );
}
