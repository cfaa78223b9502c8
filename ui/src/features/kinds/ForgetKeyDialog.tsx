import { useState, type FormEvent } from "react";
import { toIpcError, type IpcError, type KeyMeta, type KindInfo } from "../../ipc";
import { Dialog } from "../../components/Dialog";
import { ErrorNote } from "../../components/ErrorNote";
import { useForgetKey } from "./useKinds";

type Props = { accountId: string; meta: KeyMeta; kind: KindInfo | undefined; onClose: (removed: boolean) => void };

/**
 * Removes an imported key from Keyhaven: its record and its secret in this computer's keychain.
 * The key itself keeps working until it is deleted on the service's own page, which the dialog
 * names. Confirmed by typing the key's name, like a revoke.
 */
export function ForgetKeyDialog({ accountId, meta, kind, onClose }: Props) {
  const forget = useForgetKey(accountId);
  const [typed, setTyped] = useState("");
  const [error, setError] = useState<IpcError | null>(null);
  const matches = typed.trim() === meta.name;
  const service = kind?.label ?? "its service";

  async function submit(e: FormEvent) {
    e.preventDefault();
    if (!matches) return;
    try {
      await forget.mutateAsync(meta.id);
      onClose(true);
    } catch (err) {
      setError(toIpcError(err));
    }
  }

  return (
    <Dialog title="Remove from Keyhaven" onClose={() => onClose(false)}>
      <form className="form" onSubmit={submit}>
        <p>
          Keyhaven forgets <strong>{meta.name}</strong> (<code>{meta.prefix}…</code>) and deletes its secret from this
          computer's keychain.
        </p>
        <p className="note-plain" data-testid="delete-there">
          The key itself still works at {service}: to stop it, delete it in {kind?.key_page ?? "the service's own settings"}.
        </p>
        <label className="field">
          <span>Type the key's name to confirm</span>
          <input name="confirm-name" value={typed} onChange={(e) => setTyped(e.target.value)} autoFocus />
        </label>
        <ErrorNote error={error} />
        <div className="actions">
          <button type="button" className="secondary" onClick={() => onClose(false)}>
            Cancel
          </button>
          <button type="submit" className="danger" disabled={!matches || forget.isPending}>
            {forget.isPending ? "Removing…" : "Remove"}
          </button>
        </div>
      </form>
    </Dialog>
  );
}
