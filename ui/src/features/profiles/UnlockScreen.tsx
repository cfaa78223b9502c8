import { useState, type FormEvent } from "react";
import { useQueryClient } from "@tanstack/react-query";
import { commands, toIpcError, type IpcError } from "../../ipc";
import { ErrorNote } from "../../components/ErrorNote";
import { refreshEverything } from "./useProfiles";

type Props = { profile: string };

/** A locked profile: its passphrase unlocks it. A wrong one changes nothing and says so. */
export function UnlockScreen({ profile }: Props) {
  const queryClient = useQueryClient();
  const [passphrase, setPassphrase] = useState("");
  const [error, setError] = useState<IpcError | null>(null);
  const [busy, setBusy] = useState(false);

  async function submit(e: FormEvent) {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await commands.unlockProfile({ passphrase });
      setPassphrase("");
      await refreshEverything(queryClient);
    } catch (err) {
      setPassphrase("");
      setError(toIpcError(err));
    } finally {
      setBusy(false);
    }
  }

  return (
    <main className="center narrow">
      <h1>Profile {profile} is locked</h1>
      <p className="muted">Enter the profile's passphrase to see its accounts and keys.</p>
      <form className="form" onSubmit={submit} aria-label="Unlock profile">
        <label className="field">
          <span>Passphrase</span>
          <input
            name="passphrase"
            type="password"
            value={passphrase}
            onChange={(e) => setPassphrase(e.target.value)}
            autoComplete="current-password"
            autoFocus
            required
          />
        </label>
        <ErrorNote error={error} />
        <div className="actions">
          <button type="submit" className="primary" disabled={busy || passphrase === ""}>
            {busy ? "Unlocking…" : "Unlock"}
          </button>
        </div>
      </form>
    </main>
  );
}
