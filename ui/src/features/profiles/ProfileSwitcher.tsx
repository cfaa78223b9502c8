import { useState } from "react";
import { useQueryClient } from "@tanstack/react-query";
import { commands, toIpcError, type IpcError, type ProfileInfo } from "../../ipc";
import { ErrorNote } from "../../components/ErrorNote";
import { ProfilesDialog } from "./ProfilesDialog";
import { SettingsDialog } from "../settings/SettingsDialog";
import { useFlushPrefs } from "../prefs/usePrefs";
import { profilesKey, refreshEverything } from "./useProfiles";

type Props = { profiles: ProfileInfo[] };

/** The header's profile control: switch in one choice, lock, and manage profiles. */
export function ProfileSwitcher({ profiles }: Props) {
  const queryClient = useQueryClient();
  const [managing, setManaging] = useState(false);
  const [settingsOpen, setSettingsOpen] = useState(false);
  const [error, setError] = useState<IpcError | null>(null);
  const active = profiles.find((p) => p.active);
  const flushPrefs = useFlushPrefs();

  async function run(action: () => Promise<unknown>) {
    setError(null);
    try {
      // A change of the window's preferences still waiting is saved for the profile it was made in.
      await flushPrefs();
      await action();
    } catch (err) {
      setError(toIpcError(err));
    } finally {
      await refreshEverything(queryClient);
    }
  }

  return (
    <div className="profile-switcher">
      <label className="profile-select">
        <span className="muted">Profile</span>
        <select
          name="profile"
          aria-label="Profile"
          value={active?.name ?? ""}
          onChange={(e) => {
            const name = e.target.value;
            void run(() => commands.switchProfile({ name }));
          }}
        >
          {profiles.map((p) => (
            <option key={p.name} value={p.name}>
              {p.name}
              {p.has_passphrase ? (p.locked ? " (locked)" : " (unlocked)") : ""}
            </option>
          ))}
        </select>
      </label>
      {active?.has_passphrase && !active.locked && (
        <button type="button" className="small" onClick={() => run(() => commands.lockProfile())}>
          Lock
        </button>
      )}
      <button type="button" className="small" onClick={() => setManaging(true)}>
        Profiles…
      </button>
      {active && !active.locked && (
        <button type="button" className="small" onClick={() => setSettingsOpen(true)}>
          Settings…
        </button>
      )}
      {error && (
        <div className="switcher-error">
          <ErrorNote error={error} />
        </div>
      )}
      {settingsOpen && active && <SettingsDialog profile={active} onClose={() => setSettingsOpen(false)} />}
      {managing && (
        <ProfilesDialog
          profiles={profiles}
          onClose={() => {
            setManaging(false);
            void queryClient.invalidateQueries({ queryKey: profilesKey });
          }}
        />
      )}
    </div>
  );
}
