import { useState, type FormEvent } from "react";
import type { KeyMeta } from "../../ipc";
import { toIpcError, type IpcError } from "../../ipc";
import { Dialog } from "../../components/Dialog";
import { ErrorNote } from "../../components/ErrorNote";
import { relatedKeyLabel, useKeyIndex, useRevokeKey } from "./useKeys";

type Props = { accountId: string; meta: KeyMeta; onClose: () => void };

/**
 * Revoking cannot be undone, so the person types the key's name to confirm. A key that a
 * rotation already replaced is the old secret in its grace period: the dialog says that revoking
 * it ends the grace period, and that its replacement stays.
 */
export function RevokeDialog({ accountId, meta, onClose }: Props) {
  const revoke = useRevokeKey(accountId);
  const index = useKeyIndex(accountId);
  const replacement = meta.replaced_by ? relatedKeyLabel(index, meta.replaced_by) : null;
  const [typed, setTyped] = useState("");
  const [error, setError] = useState<IpcError | null>(null);
  const matches = typed.trim() === meta.name;

  async function submit(e: FormEvent) {
    e.preventDefault();
    if (!matches) return;
    try {
      await revoke.mutateAsync(meta.id);
      onClose();
    } catch (err) {
      setError(toIpcError(err));
    }
  }

  return (
    <Dialog title={replacement ? "Revoke old key" : "Revoke key"} onClose={onClose}>
      <form className="form" onSubmit={submit}>
        {replacement ? (
          <p data-testid="revoke-replaced">
            <code>{meta.prefix}…</code> is the old secret of <strong>{meta.name}</strong>: a rotation replaced it with{" "}
            <code>{replacement}</code>, and it works only until its grace period ends. Revoking it ends the grace period
            now: it stops working at once, for every program still using it. The new key <code>{replacement}</code>{" "}
            stays active. This cannot be undone.
          </p>
        ) : (
          <p>
            <strong>{meta.name}</strong> (<code>{meta.prefix}…</code>) stops working at once, for every program that uses
            it. This cannot be undone.
          </p>
        )}
        <label className="field">
          <span>Type the key's name to confirm</span>
          <input name="confirm-name" value={typed} onChange={(e) => setTyped(e.target.value)} autoFocus />
        </label>
        <ErrorNote error={error} />
        <div className="actions">
          <button type="button" className="secondary" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" className="danger" disabled={!matches || revoke.isPending}>
            {revoke.isPending ? "Revoking…" : replacement ? "Revoke old key" : "Revoke"}
          </button>
        </div>
      </form>
    </Dialog>
  );
}
