import { useEffect, useState, type FormEvent } from "react";
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { commands, toIpcError, type IpcError, type ProfileInfo } from "../../ipc";
import { Dialog } from "../../components/Dialog";
import { ErrorNote } from "../../components/ErrorNote";
import { checkSettings, type SettingsForm } from "./validation";

export const settingsKey = ["settings"] as const;

type Props = { profile: ProfileInfo; onClose: () => void };

/** The active profile's settings: usage polling, notifications, clipboard clearing, auto-lock. */
export function SettingsDialog({ profile, onClose }: Props) {
  const queryClient = useQueryClient();
  const settings = useQuery({ queryKey: settingsKey, queryFn: () => commands.getSettings() });
  const [form, setForm] = useState<SettingsForm | null>(null);
  const [error, setError] = useState<IpcError | null>(null);
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    if (settings.data && form === null) {
      setForm({
        poll: String(settings.data.poll_interval_seconds),
        notifications: settings.data.notifications,
        clipboard: String(settings.data.clipboard_clear_seconds),
        autoLockMinutes: String(profile.auto_lock_seconds === null ? 0 : Math.round(profile.auto_lock_seconds / 60)),
        keyChecks: settings.data.key_checks,
        keyCheckMinutes: String(settings.data.key_check_interval_minutes),
        keyChecksAnikura: settings.data.key_checks_anikura,
        keepWatchingInTray: settings.data.keep_watching_in_tray,
      });
    }
  }, [settings.data, form, profile.auto_lock_seconds]);

  const checked = form ? checkSettings(form) : null;

  async function save(e: FormEvent) {
    e.preventDefault();
    if (!form || !checked || Object.keys(checked.errors).length > 0) return;
    setBusy(true);
    setError(null);
    try {
      await commands.saveSettings({
        poll_interval_seconds: checked.poll_interval_seconds,
        notifications: form.notifications,
        clipboard_clear_seconds: checked.clipboard_clear_seconds,
        key_checks: form.keyChecks,
        key_check_interval_minutes: checked.key_check_interval_minutes,
        key_checks_anikura: form.keyChecksAnikura,
        keep_watching_in_tray: form.keepWatchingInTray,
      });
      if (checked.auto_lock_seconds !== profile.auto_lock_seconds) {
        await commands.setAutoLock({ seconds: checked.auto_lock_seconds });
      }
      await queryClient.invalidateQueries();
      onClose();
    } catch (err) {
      setError(toIpcError(err));
    } finally {
      setBusy(false);
    }
  }

  const set = (patch: Partial<SettingsForm>) => setForm((f) => (f ? { ...f, ...patch } : f));
  return (
    <Dialog title="Settings" onClose={onClose}>
      <p className="muted">For profile {profile.name}.</p>
      {settings.isError && <ErrorNote error={toIpcError(settings.error)} />}
      {form && checked && (
        <form className="form" onSubmit={save} aria-label="Settings">
          <label className="field">
            <span>Usage poll interval (seconds)</span>
            <input name="poll" inputMode="numeric" value={form.poll} onChange={(e) => set({ poll: e.target.value })} aria-invalid={!!checked.errors.poll} />
            {checked.errors.poll && <small className="field-error">{checked.errors.poll}</small>}
          </label>
          <label className="check">
            <input type="checkbox" name="notifications" checked={form.notifications} onChange={(e) => set({ notifications: e.target.checked })} />
            Notifications for usage alerts
          </label>
          <label className="check">
            <input
              type="checkbox"
              name="keep-watching-in-tray"
              checked={form.keepWatchingInTray}
              onChange={(e) => set({ keepWatchingInTray: e.target.checked })}
            />
            Keep watching usage in the tray when the window is closed
          </label>
          <label className="field">
            <span>Clear copied secrets after (seconds)</span>
            <input name="clipboard" inputMode="numeric" value={form.clipboard} onChange={(e) => set({ clipboard: e.target.value })} aria-invalid={!!checked.errors.clipboard} />
            {checked.errors.clipboard && <small className="field-error">{checked.errors.clipboard}</small>}
          </label>
          <label className="field">
            <span>Lock after idle (minutes, 0: never)</span>
            <input
              name="auto-lock"
              inputMode="numeric"
              value={form.autoLockMinutes}
              onChange={(e) => set({ autoLockMinutes: e.target.value })}
              aria-invalid={!!checked.errors.autoLockMinutes}
            />
            {checked.errors.autoLockMinutes && <small className="field-error">{checked.errors.autoLockMinutes}</small>}
            {!profile.has_passphrase && <small className="muted">Applies once the profile has a passphrase.</small>}
          </label>
          <fieldset className="group">
            <legend>Broken-key checks</legend>
            <label className="check">
              <input type="checkbox" name="key-checks" checked={form.keyChecks} onChange={(e) => set({ keyChecks: e.target.checked })} />
              Check imported keys now and then, and alert when a service starts refusing one
            </label>
            <label className="field">
              <span>Check each key every (minutes)</span>
              <input
                name="key-check-minutes"
                inputMode="numeric"
                value={form.keyCheckMinutes}
                disabled={!form.keyChecks}
                onChange={(e) => set({ keyCheckMinutes: e.target.value })}
                aria-invalid={!!checked.errors.keyCheckMinutes}
              />
              {checked.errors.keyCheckMinutes && <small className="field-error">{checked.errors.keyCheckMinutes}</small>}
            </label>
            <label className="check">
              <input
                type="checkbox"
                name="key-checks-anikura"
                checked={form.keyChecksAnikura}
                disabled={!form.keyChecks}
                onChange={(e) => set({ keyChecksAnikura: e.target.checked })}
              />
              Include AniKura keys (each check counts against the account's daily cap)
            </label>
            <small className="muted">One call per key per interval, to the key's own service.</small>
          </fieldset>
          <ErrorNote error={error} />
          <div className="actions">
            <button type="button" onClick={onClose}>
              Cancel
            </button>
            <button type="submit" className="primary" disabled={busy || Object.keys(checked.errors).length > 0}>
              Save
            </button>
          </div>
        </form>
      )}
    </Dialog>
  );
}
