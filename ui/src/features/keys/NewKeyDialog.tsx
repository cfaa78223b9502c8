import { useState, type FormEvent } from "react";
import { useQueryClient } from "@tanstack/react-query";
import { commands, toIpcError, type IpcError, type KeyMeta } from "../../ipc";
import { Dialog } from "../../components/Dialog";
import { ErrorNote } from "../../components/ErrorNote";
import { validateKeyName } from "../../lib/format";
import { keysKey } from "./useKeys";

type Props = {
  accountId: string;
  scopes: string[];
  clipboardSeconds: number;
  onClose: () => void;
};

/** The secret as this dialog holds it: only here, only until the dialog closes. */
type Shown = { meta: KeyMeta; secret: string; stored: boolean; keychainError: IpcError | null };

export function NewKeyDialog({ accountId, scopes, clipboardSeconds, onClose }: Props) {
  const queryClient = useQueryClient();
  const [name, setName] = useState("");
  const [chosen, setChosen] = useState<string[]>(scopes.includes("read") ? ["read"] : scopes.slice(0, 1));
  const [touched, setTouched] = useState(false);
  const [error, setError] = useState<IpcError | null>(null);
  const [busy, setBusy] = useState(false);
  const [shown, setShown] = useState<Shown | null>(null);
  const [copied, setCopied] = useState<string | null>(null);

  const nameProblem = validateKeyName(name);
  const scopeProblem = chosen.length === 0 ? "Choose at least one scope." : null;

  function toggle(scope: string) {
    setChosen((c) => (c.includes(scope) ? c.filter((s) => s !== scope) : [...c, scope]));
  }

  async function create(e: FormEvent) {
    e.preventDefault();
    setTouched(true);
    if (nameProblem || scopeProblem) return;
    setBusy(true);
    setError(null);
    try {
      const created = await commands.createKey({ account_id: accountId, name: name.trim(), scopes: chosen });
      setShown({
        meta: created.meta,
        secret: created.secret_once,
        stored: created.stored_in_keychain,
        keychainError: created.keychain_error,
      });
      await queryClient.invalidateQueries({ queryKey: keysKey(accountId) });
    } catch (err) {
      setError(toIpcError(err));
    } finally {
      setBusy(false);
    }
  }

  async function copy() {
    if (!shown) return;
    try {
      const result = await commands.copySecret({ account_id: accountId, key_id: shown.meta.id });
      setCopied(`Copied. The clipboard clears in ${result.clears_in_seconds} s.`);
    } catch (err) {
      setError(toIpcError(err));
    }
  }

  function close() {
    setShown(null); // drop the secret before the dialog goes
    onClose();
  }

  if (shown) {
    return (
      <Dialog title="Your new key" onClose={close}>
        <p>
          This is the only time <strong>{shown.meta.name}</strong>'s secret is shown. Copy it now; later you can copy it
          from the keychain on this computer.
        </p>
        <code className="secret" data-testid="new-key-secret">
          {shown.secret}
        </code>
        <p className={shown.stored ? "stored ok" : "stored warn"} data-testid="keychain-state">
          {shown.stored ? "✓ Stored in keychain" : "Not stored in the keychain: select the secret and copy it now, or it is lost."}
        </p>
        {shown.keychainError && <ErrorNote error={shown.keychainError} />}
        {copied && (
          <p className="note" role="status">
            {copied}
          </p>
        )}
        <ErrorNote error={error} />
        <div className="actions">
          <button type="button" className="secondary" onClick={copy} disabled={!shown.stored}>
            Copy
          </button>
          <button type="button" className="primary" onClick={close}>
            Done
          </button>
        </div>
        <p className="fineprint">Copied secrets are cleared from the clipboard after {clipboardSeconds} seconds.</p>
      </Dialog>
    );
  }

  return (
    <Dialog title="New key" onClose={close}>
      <form className="form" onSubmit={create} noValidate>
        <label className="field">
          <span>Name</span>
          <input
            name="name"
            value={name}
            autoFocus
            maxLength={200}
            onChange={(e) => setName(e.target.value)}
            onBlur={() => setTouched(true)}
            aria-invalid={touched && nameProblem !== null}
            placeholder="e.g. deploy bot"
          />
          {touched && nameProblem && <small className="field-error">{nameProblem}</small>}
        </label>
        <fieldset className="choice" aria-label="Scopes">
          <legend>Scopes</legend>
          {scopes.map((scope) => (
            <label key={scope}>
              <input type="checkbox" checked={chosen.includes(scope)} onChange={() => toggle(scope)} />
              {scope}
            </label>
          ))}
          {scopeProblem && <small className="field-error">{scopeProblem}</small>}
        </fieldset>
        <ErrorNote error={error} />
        <div className="actions">
          <button type="button" className="secondary" onClick={close}>
            Cancel
          </button>
          <button type="submit" className="primary" disabled={busy}>
            {busy ? "Creating…" : "Create"}
          </button>
        </div>
      </form>
    </Dialog>
  );
}
