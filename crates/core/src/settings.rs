//! A profile's non-secret settings: how often usage is polled, whether alerts notify, how long a
//! copied secret stays on the clipboard. Kept in `profiles/{name}/settings.json`, written
//! atomically; every value is checked against its range before anything is written.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::catalog::{validate_profile_name, write_json_atomic};
use crate::error::{Error, Result};

const SETTINGS_FILE: &str = "settings.json";

/// Seconds between two usage polls: at least 10 s, at most an hour.
pub const POLL_INTERVAL_RANGE: (u32, u32) = (10, 3600);
/// Seconds a copied secret stays on the clipboard: 5 s to 10 min.
pub const CLIPBOARD_CLEAR_RANGE: (u32, u32) = (5, 600);
/// Minutes between two broken-key checks of one key: 15 min to a day.
pub const KEY_CHECK_INTERVAL_RANGE: (u32, u32) = (15, 1440);

/// What a person can set for a profile. Never holds a secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(default)]
pub struct Settings {
    /// Seconds between two polls of the usage watcher.
    pub poll_interval_seconds: u32,
    /// Whether usage alerts become desktop notifications.
    pub notifications: bool,
    /// Seconds after which a copied secret is cleared from the clipboard.
    pub clipboard_clear_seconds: u32,
    /// Whether held keys of services with no key API are checked now and then (one call per
    /// key per interval), so that a key deleted or regenerated there raises an alert. Off
    /// unless the person turns it on.
    pub key_checks: bool,
    /// Minutes between two checks of one key.
    pub key_check_interval_minutes: u32,
    /// Whether AniKura keys are checked too: each check is a call of the account's daily cap.
    pub key_checks_anikura: bool,
    /// The desktop app only: closing its window leaves it running in the tray, the usage
    /// watcher with it (off: closing the window quits).
    pub keep_watching_in_tray: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            poll_interval_seconds: 60,
            notifications: true,
            clipboard_clear_seconds: 30,
            key_checks: false,
            key_check_interval_minutes: 60,
            key_checks_anikura: false,
            keep_watching_in_tray: false,
        }
    }
}

fn in_range(field: &str, value: u32, (min, max): (u32, u32), unit: &str) -> Result<()> {
    if value < min || value > max {
        return Err(Error::validation(
            field,
            format!("choose between {min} and {max} {unit} (got {value})"),
        ));
    }
    Ok(())
}

impl Settings {
    /// Refuses a value out of its range, naming the field.
    pub fn validate(&self) -> Result<()> {
        in_range(
            "poll interval",
            self.poll_interval_seconds,
            POLL_INTERVAL_RANGE,
            "seconds",
        )?;
        in_range(
            "clipboard clear time",
            self.clipboard_clear_seconds,
            CLIPBOARD_CLEAR_RANGE,
            "seconds",
        )?;
        in_range(
            "key check interval",
            self.key_check_interval_minutes,
            KEY_CHECK_INTERVAL_RANGE,
            "minutes",
        )
    }

    /// The broken-key checks these settings ask for; `None` when they are off.
    pub fn key_check_config(&self) -> Option<crate::watch::KeyCheckConfig> {
        self.key_checks.then(|| crate::watch::KeyCheckConfig {
            interval: Duration::from_secs(u64::from(self.key_check_interval_minutes) * 60),
            anikura: self.key_checks_anikura,
        })
    }

    pub fn poll_interval(&self) -> Duration {
        Duration::from_secs(u64::from(self.poll_interval_seconds))
    }

    pub fn clipboard_clear(&self) -> Duration {
        Duration::from_secs(u64::from(self.clipboard_clear_seconds))
    }
}

fn settings_path(data_dir: &Path, profile: &str) -> Result<PathBuf> {
    validate_profile_name(profile)?;
    Ok(data_dir.join("profiles").join(profile).join(SETTINGS_FILE))
}

/// A profile's settings; the defaults when it has none yet. A damaged file is reported, not
/// replaced.
pub fn load(data_dir: &Path, profile: &str) -> Result<Settings> {
    let path = settings_path(data_dir, profile)?;
    let text = match fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Settings::default()),
        Err(source) => {
            return Err(Error::Catalog {
                action: "read",
                path,
                source,
            })
        }
    };
    let settings: Settings = serde_json::from_str(&text).map_err(|e| Error::CatalogCorrupt {
        path: path.clone(),
        problem: e.to_string(),
    })?;
    settings.validate().map_err(|e| Error::CatalogCorrupt {
        path,
        problem: e.to_string(),
    })?;
    Ok(settings)
}

/// Checks, then writes a profile's settings atomically.
pub fn save(data_dir: &Path, profile: &str, settings: &Settings) -> Result<()> {
    settings.validate()?;
    let path = settings_path(data_dir, profile)?;
    let _other_processes =
        crate::file_lock::FileLock::exclusive(&crate::file_lock::lock_path_for(&path))?;
    write_json_atomic(&path, settings)
}

impl crate::app::Profiles<'_> {
    /// The active profile's settings (the usage watcher and the clipboard read them).
    pub fn settings(&self) -> Result<Settings> {
        load(self.core.data_dir(), &self.core.profile())
    }

    /// Checks and saves the active profile's settings; nothing is written when a value is refused.
    pub fn save_settings(&self, settings: Settings) -> Result<()> {
        save(self.core.data_dir(), &self.core.profile(), &settings)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    #[test]
    fn a_profile_without_settings_has_the_defaults() {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = load(dir.path(), "ann").expect("defaults");
        assert_eq!(s, Settings::default());
        assert_eq!(s.clipboard_clear(), Duration::from_secs(30));
    }

    #[test]
    fn settings_round_trip_per_profile() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mine = Settings {
            poll_interval_seconds: 120,
            notifications: false,
            clipboard_clear_seconds: 15,
            key_checks: true,
            key_check_interval_minutes: 30,
            key_checks_anikura: false,
            keep_watching_in_tray: true,
        };
        save(dir.path(), "ann", &mine).expect("save");
        assert_eq!(load(dir.path(), "ann").expect("load"), mine);
        assert_eq!(load(dir.path(), "bob").expect("load"), Settings::default());
    }

    #[test]
    fn out_of_range_values_are_refused_and_nothing_is_written() {
        let dir = tempfile::tempdir().expect("tempdir");
        let kept = Settings {
            clipboard_clear_seconds: 20,
            ..Settings::default()
        };
        save(dir.path(), "ann", &kept).expect("save");
        for bad in [
            Settings {
                poll_interval_seconds: 9,
                ..kept
            },
            Settings {
                poll_interval_seconds: 3601,
                ..kept
            },
            Settings {
                clipboard_clear_seconds: 4,
                ..kept
            },
            Settings {
                clipboard_clear_seconds: 601,
                ..kept
            },
            Settings {
                key_check_interval_minutes: 14,
                ..kept
            },
            Settings {
                key_check_interval_minutes: 1441,
                ..kept
            },
        ] {
            let e = save(dir.path(), "ann", &bad).expect_err("refused");
            assert_eq!(e.code(), ErrorKind::Validation);
            assert!(e.to_string().contains("between"), "{e}");
        }
        assert_eq!(load(dir.path(), "ann").expect("load"), kept);
    }

    #[test]
    fn a_damaged_file_is_reported_and_left_alone() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = settings_path(dir.path(), "ann").expect("path");
        fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        fs::write(&path, "{not json").expect("write");
        assert_eq!(
            load(dir.path(), "ann").expect_err("corrupt").code(),
            ErrorKind::Catalog
        );
        assert_eq!(fs::read_to_string(&path).expect("read"), "{not json");
    }

    #[test]
    fn a_bad_profile_name_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert!(load(dir.path(), "../x").is_err());
    }
}
