/** The settings form as typed: strings, checked before anything is sent. */
export type SettingsForm = {
  poll: string;
  notifications: boolean;
  clipboard: string;
  /** Minutes of inactivity before the profile locks; "0": never. */
  autoLockMinutes: string;
  /** Broken-key checks of imported keys. */
  keyChecks: boolean;
  keyCheckMinutes: string;
  keyChecksAnikura: boolean;
  /** Closing the window leaves Keyhaven in the tray, watching usage. */
  keepWatchingInTray: boolean;
};

export type Checked = {
  errors: Partial<Record<"poll" | "clipboard" | "autoLockMinutes" | "keyCheckMinutes", string>>;
  poll_interval_seconds: number;
  key_check_interval_minutes: number;
  clipboard_clear_seconds: number;
  auto_lock_seconds: number | null;
};

// The same ranges as crates/core/src/settings.rs and the core's auto-lock (up to 7 days).
export const POLL_RANGE = [10, 3600] as const;
export const CLIPBOARD_RANGE = [5, 600] as const;
export const AUTO_LOCK_MAX_MINUTES = 7 * 24 * 60;
export const KEY_CHECK_RANGE = [15, 1440] as const;

function whole(text: string): number | null {
  const t = text.trim();
  return /^\d+$/.test(t) ? Number(t) : null;
}

/** Checks every field and says, for each one that is wrong, what it should be. */
export function checkSettings(form: SettingsForm): Checked {
  const errors: Checked["errors"] = {};
  const poll = whole(form.poll);
  if (poll === null || poll < POLL_RANGE[0] || poll > POLL_RANGE[1]) {
    errors.poll = `Enter whole seconds from ${POLL_RANGE[0]} to ${POLL_RANGE[1]}.`;
  }
  const clipboard = whole(form.clipboard);
  if (clipboard === null || clipboard < CLIPBOARD_RANGE[0] || clipboard > CLIPBOARD_RANGE[1]) {
    errors.clipboard = `Enter whole seconds from ${CLIPBOARD_RANGE[0]} to ${CLIPBOARD_RANGE[1]}.`;
  }
  const minutes = whole(form.autoLockMinutes);
  if (minutes === null || minutes > AUTO_LOCK_MAX_MINUTES) {
    errors.autoLockMinutes = `Enter whole minutes up to ${AUTO_LOCK_MAX_MINUTES} (7 days), or 0 for never.`;
  }
  const keyCheck = whole(form.keyCheckMinutes);
  if (keyCheck === null || keyCheck < KEY_CHECK_RANGE[0] || keyCheck > KEY_CHECK_RANGE[1]) {
    errors.keyCheckMinutes = `Enter whole minutes from ${KEY_CHECK_RANGE[0]} to ${KEY_CHECK_RANGE[1]}.`;
  }
  return {
    errors,
    poll_interval_seconds: poll ?? 0,
    key_check_interval_minutes: keyCheck ?? 0,
    clipboard_clear_seconds: clipboard ?? 0,
    auto_lock_seconds: minutes === null || minutes === 0 ? null : minutes * 60,
  };
}
