import { useState, type FormEvent } from "react";
import { useQueryClient } from "@tanstack/react-query";
import { commands, toIpcError, type IpcError, type ProfileInfo } from "../../ipc";
import { Dialog } from "../../components/Dialog";
import { ErrorNote } from "../../components/ErrorNote";
import { PassphraseForm } from "./PassphraseForm";
import { refreshEverything } from "./useProfiles";

type Props = { profiles: ProfileInfo[]; onClose: () => void };

type Editing = { kind: "rename"; name: string } | { kind: "delete"; name: string } | null;

/** Create, rename and delete profiles, and set the active profile's passphrase. */
export function ProfilesDialog({ profiles, onClose }: Props) {
  const queryClient = useQueryClient();
  const [newName, setNewName] = useState("");
  const [editing, setEditing] = useState<Editing>(null);
  const [text, setText] = useState("");
  const [error, setError] = useState<IpcError | null>(null);
  const [busy, setBusy] = useState(false);
  const active = profiles.find((p) => p.active);

  async function run(action: () => Promise<unknown>, after?: () => void) {
    setBusy(true);
    setError(null);
    try {
      await action();
      after?.();
    } catch (err) {
      setError(toIpcError(err));
    } finally {
      setBusy(false);
      await refreshEverything(queryClient);
    }
  }

  function create(e: FormEvent) {
    e.preventDefault();
    void run(() => commands.createProfile({ name: newName }), () => setNewName(""));
  }

  function startEditing(next: Editing) {
    setEditing(next);
    setText(next?.kind === "rename" ? next.name : "");
    setError(null);
  }

  function confirmEdit(e: FormEvent) {
    e.preventDefault();
    if (!editing) return;
    const done = () => startEditing(null);
    if (editing.kind === "rename") void run(() => commands.renameProfile({ from: editing.name, to: text }), done);
    else void run(() => commands.deleteProfile({ name: editing.name, confirm: text }), done);
  }

  return (
    <Dialog title="Profiles" onClose={onClose} wide>
      <ul className="profile-list" aria-label="Profiles">
        {profiles.map((p) => (
          <li key={p.name} className="profile-row">
            <span className="profile-name">
              <strong>{p.name}</strong>
              {p.active && <span className="chip">active</span>}
              {p.has_passphrase && <span className="chip">{p.locked ? "locked" : "passphrase"}</span>}
            </span>
            <span className="row-actions">
              <button type="button" className="small" onClick={() => startEditing({ kind: "rename", name: p.name })}>
                Rename
              </button>
              <button
                type="button"
                className="small danger-outline"
                disabled={p.active}
                title={p.active ? "Switch to another profile before deleting this one" : undefined}
                onClick={() => startEditing({ kind: "delete", name: p.name })}
              >
                Delete
              </button>
            </span>
          </li>
        ))}
      </ul>
      {editing && (
        <form className="form inline-form" onSubmit={confirmEdit} aria-label={editing.kind === "rename" ? "Rename profile" : "Delete profile"}>
          <label className="field">
            <span>
              {editing.kind === "rename" ? (
                <>New name for {editing.name}</>
              ) : (
                <>
                  Type <strong>{editing.name}</strong> to delete it with its accounts and secrets
                </>
              )}
            </span>
            <input name="profile-confirm" value={text} onChange={(e) => setText(e.target.value)} autoFocus spellCheck={false} />
          </label>
          <div className="actions">
            <button type="button" onClick={() => startEditing(null)}>
              Cancel
            </button>
            {editing.kind === "rename" ? (
              <button type="submit" className="primary" disabled={busy || text.trim() === "" || text.trim() === editing.name}>
                Rename
              </button>
            ) : (
              <button type="submit" className="danger" disabled={busy || text.trim() !== editing.name}>
                Delete profile
              </button>
            )}
          </div>
        </form>
      )}
      <form className="form inline-form" onSubmit={create} aria-label="New profile">
        <label className="field">
          <span>New profile</span>
          <input name="new-profile" value={newName} onChange={(e) => setNewName(e.target.value)} spellCheck={false} placeholder="name" />
        </label>
        <div className="actions">
          <button type="submit" className="primary" disabled={busy || newName.trim() === ""}>
            Create
          </button>
        </div>
      </form>
      <ErrorNote error={error} />
      {active && !active.locked && <PassphraseForm profile={active} />}
    </Dialog>
  );
}
