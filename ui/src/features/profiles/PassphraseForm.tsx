import { useState, type FormEvent } from "react";
import { useQueryClient } from "@tanstack/react-query";
import { commands, toIpcError, type IpcError, type ProfileInfo } from "../../ipc";
import { ErrorNote } from "../../components/ErrorNote";
import { refreshEverything } from "./useProfiles";

type Mode = "set" | "change" | "remove";

/** Why a new passphrase is refused before it is sent, or null. */
export function checkNewPassphrase(next: string, again: string): string | null {
  if (next.length < 8) return "Use at least 8 characters.";
  if (next !== again) return "The two passphrases differ.";
  return null;
}

/**
 * Sets, changes or removes the active profile's passphrase. The fields live only in this form's
 * state and are emptied as soon as the command answers.
 */
export function PassphraseForm({ profile }: { profile: ProfileInfo }) {
  const queryClient = useQueryClient();
  const [mode, setMode] = useState<Mode>(profile.has_passphrase ? "change" : "set");
  const [current, setCurrent] = useState("");
  const [next, setNext] = useState("");
  const [again, setAgain] = useState("");
  const [error, setError] = useState<IpcError | null>(null);
  const [done, setDone] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const problem = mode === "remove" ? null : checkNewPassphrase(next, again);

  function clear() {
    setCurrent("");
    setNext("");
    setAgain("");
  }

  async function submit(e: FormEvent) {
    e.preventDefault();
    if (problem) {
      setError({ code: "validation", message: problem });
      return;
    }
    setBusy(true);
    setError(null);
    setDone(null);
    try {
      if (mode === "set") await commands.setPassphrase({ passphrase: next });
      else if (mode === "change") await commands.changePassphrase({ old: current, new: next });
      else await commands.removePassphrase({ passphrase: current });
      setDone(mode === "remove" ? "Passphrase removed." : "Passphrase saved.");
      setMode(mode === "remove" ? "set" : "change");
    } catch (err) {
      setError(toIpcError(err));
    } finally {
      clear();
      setBusy(false);
      await refreshEverything(queryClient);
    }
  }

  return (
    <form className="form passphrase-form" onSubmit={submit} aria-label="Passphrase">
      <h2>Passphrase for {profile.name}</h2>
      {profile.has_passphrase && (
        <div className="segmented" role="group" aria-label="Passphrase action">
          <button type="button" aria-pressed={mode === "change"} onClick={() => setMode("change")}>
            Change
          </button>
          <button type="button" aria-pressed={mode === "remove"} onClick={() => setMode("remove")}>
            Remove
          </button>
        </div>
      )}
      {mode !== "set" && (
        <label className="field">
          <span>Current passphrase</span>
          <input name="current-passphrase" type="password" value={current} onChange={(e) => setCurrent(e.target.value)} autoComplete="current-password" required />
        </label>
      )}
      {mode !== "remove" && (
        <>
          <label className="field">
            <span>New passphrase</span>
            <input name="new-passphrase" type="password" value={next} onChange={(e) => setNext(e.target.value)} autoComplete="new-password" required />
          </label>
          <label className="field">
            <span>New passphrase again</span>
            <input name="new-passphrase-again" type="password" value={again} onChange={(e) => setAgain(e.target.value)} autoComplete="new-password" required />
            {next !== "" && again !== "" && problem && <small className="field-error">{problem}</small>}
          </label>
        </>
      )}
      <ErrorNote error={error} />
      {done && <p className="ok-note" role="status">{done}</p>}
      <div className="actions">
        <button type="submit" className={mode === "remove" ? "danger" : "primary"} disabled={busy}>
          {mode === "set" ? "Set passphrase" : mode === "change" ? "Change passphrase" : "Remove passphrase"}
        </button>
      </div>
    </form>
  );
}
