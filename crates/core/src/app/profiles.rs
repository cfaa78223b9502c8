//! Profiles (create, rename, delete, switch, list) and their passphrase lock, on the
//! [`Keyhaven`] facade.
//!
//! A profile is a folder, `profiles/{name}/`, holding `catalog.json` (accounts), `profile.json`
//! ([`ProfileMeta`]: the passphrase's salt, cost and wrapped key, never the passphrase) and, with
//! the file vault, `vault.khv`; and its keychain entries, under the service
//! `{namespace}/{name}`.
//!
//! - Rename copies the keychain entries to the new name (read back), renames the folder (atomic)
//!   and only then deletes the old entries. If a copy or the folder rename fails, the copies are
//!   deleted again and nothing has changed.
//! - Delete moves the folder out of sight first (atomic), deletes the keychain entries, then the
//!   folder; if the keychain refuses, the folder is put back.
//! - Setting or removing a passphrase records the change in `profile.json` before touching any
//!   entry, so an interrupted run leaves a profile whose entries are each either plain or
//!   encrypted, all readable, and the next unlock finishes the change.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use super::Keyhaven;
use crate::catalog::{validate_profile_name, write_json_atomic, ProfileCatalog, State};
use crate::error::{Error, Result};
use crate::secret::Secret;
use crate::vault::{check_new_passphrase, LockRecord, Migration, Protection, DEFAULT_AUTO_LOCK};

/// The longest auto-lock time accepted.
pub const MAX_AUTO_LOCK: Duration = Duration::from_secs(7 * 24 * 60 * 60);

const META_FILE: &str = "profile.json";

/// A profile as the UI lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct ProfileInfo {
    pub name: String,
    /// The profile this core is using.
    pub active: bool,
    /// Whether the profile's secrets are protected by a passphrase.
    pub has_passphrase: bool,
    /// Has a passphrase and is not unlocked in this process.
    pub locked: bool,
    /// Seconds without activity after which the profile locks itself; `null`: never.
    pub auto_lock_seconds: Option<u32>,
}

/// `profiles/{name}/profile.json`: everything about a profile that is neither an account nor a
/// secret.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProfileMeta {
    /// The passphrase's record, when the profile has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lock: Option<LockRecord>,
    /// A change between plain and encrypted entries that has not finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub migration: Option<Migration>,
    /// Seconds of inactivity before the profile locks; 0: never; absent: the default (15 min).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_lock_seconds: Option<u64>,
}

impl ProfileMeta {
    pub fn auto_lock(&self) -> Option<Duration> {
        match self.auto_lock_seconds {
            None => Some(DEFAULT_AUTO_LOCK),
            Some(0) => None,
            Some(seconds) => Some(Duration::from_secs(seconds)),
        }
    }

    pub(super) fn protection(&self) -> Protection {
        Protection {
            record: self.lock.clone(),
            migration: self.migration,
            auto_lock: self.auto_lock(),
        }
    }
}

fn meta_path(data_dir: &Path, profile: &str) -> PathBuf {
    data_dir.join("profiles").join(profile).join(META_FILE)
}

pub(super) fn load_meta(data_dir: &Path, profile: &str) -> Result<ProfileMeta> {
    validate_profile_name(profile)?;
    let path = meta_path(data_dir, profile);
    let text = match fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(ProfileMeta::default()),
        Err(source) => {
            return Err(Error::Catalog {
                action: "read",
                path,
                source,
            })
        }
    };
    serde_json::from_str(&text).map_err(|e| Error::CatalogCorrupt {
        path,
        problem: e.to_string(),
    })
}

fn save_meta(data_dir: &Path, profile: &str, meta: &ProfileMeta) -> Result<()> {
    validate_profile_name(profile)?;
    write_json_atomic(&meta_path(data_dir, profile), meta)
}

fn io_error(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> Error {
    let path = path.to_path_buf();
    move |source| Error::Catalog {
        action,
        path,
        source,
    }
}

fn kdf_error(problem: String) -> Error {
    Error::validation("passphrase settings", problem)
}

fn no_passphrase(profile: &str, doing: &str) -> Error {
    Error::NoPassphrase {
        message: format!("Profile {profile} has no passphrase, so there is nothing to {doing}."),
    }
}

impl Keyhaven {
    /// Tells the vault about `profile`'s passphrase as `profile.json` has it now.
    pub(super) fn configure_vault(&self, profile: &str) -> Result<ProfileMeta> {
        let meta = load_meta(self.data_dir(), profile)?;
        self.inner.vault.configure(profile, meta.protection());
        Ok(meta)
    }

    fn save_and_configure(&self, profile: &str, meta: &ProfileMeta) -> Result<()> {
        save_meta(self.data_dir(), profile, meta)?;
        self.inner.vault.configure(profile, meta.protection());
        Ok(())
    }

    /// Runs `work` on the blocking pool with a clone of this core.
    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(Keyhaven) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let this = self.clone();
        tokio::task::spawn_blocking(move || work(this)).await?
    }

    fn open_record(
        &self,
        profile: &str,
        record: &LockRecord,
        passphrase: &Secret,
    ) -> Result<crate::vault::Key32> {
        use crate::vault::OpenError;
        record.open(passphrase).map_err(|e| match e {
            OpenError::WrongPassphrase => {
                tracing::info!(profile, "wrong passphrase");
                Error::WrongPassphrase {
                    profile: profile.to_string(),
                }
            }
            OpenError::Damaged(problem) => Error::VaultCorrupt {
                profile: profile.to_string(),
                problem: format!("its passphrase record in {META_FILE}: {problem}"),
            },
        })
    }
}

impl crate::app::Profiles<'_> {
    /// Makes `name` the active profile, here and for later starts, creating it if needed. Every
    /// other profile is locked in this process: the next person at the keyboard does not inherit
    /// an unlocked profile.
    pub fn switch(&self, name: &str) -> Result<()> {
        validate_profile_name(name)?;
        let _writing = self.core.catalog_lock();
        super::create_profile_if_missing(&self.core.inner.store, name)?;
        let catalog = self.core.inner.store.load_profile(name)?;
        self.core.inner.store.save_state(&State {
            active_profile: Some(name.to_string()),
        })?;
        self.core.configure_vault(name)?;
        self.core.inner.vault.lock_all_except(name);
        *self.core.write() = super::Loaded {
            profile: name.to_string(),
            catalog,
        };
        Ok(())
    }

    /// Profiles on this machine, sorted by name, with their lock state.
    pub fn list(&self) -> Result<Vec<ProfileInfo>> {
        let active = self.core.profile();
        self.core
            .inner
            .store
            .profiles()?
            .into_iter()
            .map(|name| {
                let meta = self.core.configure_vault(&name)?;
                Ok(ProfileInfo {
                    active: name == active,
                    has_passphrase: meta.lock.is_some(),
                    locked: self.core.inner.vault.is_locked(&name),
                    auto_lock_seconds: meta
                        .auto_lock()
                        .map(|d| u32::try_from(d.as_secs()).unwrap_or(u32::MAX)),
                    name,
                })
            })
            .collect()
    }

    /// Creates an empty profile (it does not become active). Fails with `ProfileExists` if the
    /// name is taken.
    pub async fn create(&self, name: &str) -> Result<ProfileInfo> {
        validate_profile_name(name)?;
        let name = name.to_string();
        let _op = self.core.inner.profile_ops.lock().await;
        self.core.blocking(move |core| {
            let store = &core.inner.store;
            if store.profile_exists(&name)? {
                return Err(Error::ProfileExists { name });
            }
            // Left behind by a deletion that could not finish: never inherit another profile's data.
            if let Err(e) = core.inner.vault.delete_profile_entries(&name) {
                tracing::warn!(code = ?e.code(), "could not check the keychain for entries left under a new profile's name");
            }
            let dir = store.profile_dir(&name)?;
            if dir.exists() {
                fs::remove_dir_all(&dir).map_err(io_error("remove the leftover folder", &dir))?;
            }
            let _writing = core.catalog_lock();
            store.save_profile(&name, &ProfileCatalog::default())?;
            core.configure_vault(&name)?;
            tracing::info!(profile = %name, "profile created");
            Ok(ProfileInfo {
                name,
                active: false,
                has_passphrase: false,
                locked: false,
                auto_lock_seconds: ProfileMeta::default()
                    .auto_lock()
                    .map(|d| u32::try_from(d.as_secs()).unwrap_or(u32::MAX)),
            })
        })
        .await
    }

    /// Renames a profile, with its accounts, its keychain entries and its lock. All or nothing:
    /// if the keychain or the disk refuses part way, what was done is undone.
    pub async fn rename(&self, from: &str, to: &str) -> Result<()> {
        validate_profile_name(from)?;
        validate_profile_name(to)?;
        let (from, to) = (from.to_string(), to.to_string());
        let _op = self.core.inner.profile_ops.lock().await;
        self.core.blocking(move |core| {
            let store = &core.inner.store;
            let vault = &core.inner.vault;
            if !store.profile_exists(&from)? {
                return Err(Error::not_found(format!("profile {from}")));
            }
            if from == to {
                return Ok(());
            }
            if store.profile_exists(&to)? {
                return Err(Error::ProfileExists { name: to });
            }
            // Entries under the new name can only be leftovers of an unfinished deletion.
            vault.delete_profile_entries(&to)?;
            vault.copy_profile(&from, &to)?;
            let undo_copies = |why: &Error| {
                tracing::warn!(code = ?why.code(), "rename failed; removing the copied keychain entries");
                if let Err(e) = vault.delete_profile_entries(&to) {
                    tracing::warn!(code = ?e.code(), "could not remove the copied keychain entries");
                }
            };
            let (old_dir, new_dir) = (store.profile_dir(&from)?, store.profile_dir(&to)?);
            let _writing = core.catalog_lock();
            if new_dir.exists() {
                if let Err(e) = fs::remove_dir_all(&new_dir) {
                    let e = io_error("remove the leftover folder", &new_dir)(e);
                    undo_copies(&e);
                    return Err(e);
                }
            }
            if let Err(e) = fs::rename(&old_dir, &new_dir) {
                let e = io_error("rename the profile folder", &old_dir)(e);
                undo_copies(&e);
                return Err(e);
            }
            let state = store.load_state();
            if let Ok(State {
                active_profile: Some(active),
            }) = &state
            {
                if *active == from {
                    if let Err(e) = store.save_state(&State {
                        active_profile: Some(to.clone()),
                    }) {
                        if fs::rename(&new_dir, &old_dir).is_err() {
                            tracing::warn!("could not move the profile folder back after a failed rename");
                        }
                        undo_copies(&e);
                        return Err(e);
                    }
                }
            }
            vault.rename_guard(&from, &to);
            {
                let mut loaded = core.write();
                if loaded.profile == from {
                    loaded.profile = to.clone();
                }
            }
            // The rename has happened; old entries that cannot be deleted now are removed when a
            // profile of the old name is created again.
            if let Err(e) = vault.delete_profile_entries(&from) {
                tracing::warn!(code = ?e.code(), "could not delete the keychain entries under the old profile name");
            }
            tracing::info!(from = %from, to = %to, "profile renamed");
            Ok(())
        })
        .await
    }

    /// Deletes a profile with its accounts and every keychain entry. `confirm` must repeat the
    /// profile's name. The active profile and the last profile cannot be deleted.
    pub async fn delete(&self, name: &str, confirm: &str) -> Result<()> {
        validate_profile_name(name)?;
        let name = name.to_string();
        if confirm != name {
            return Err(Error::validation(
                "confirmation",
                format!("type the profile's name, {name}, to confirm that it is deleted"),
            ));
        }
        let _op = self.core.inner.profile_ops.lock().await;
        self.core.blocking(move |core| {
            let store = &core.inner.store;
            if !store.profile_exists(&name)? {
                return Err(Error::not_found(format!("profile {name}")));
            }
            if store.profiles()?.len() <= 1 {
                return Err(Error::LastProfile { name });
            }
            let active_elsewhere = store.load_state()?.active_profile;
            if core.profile() == name || active_elsewhere.as_deref() == Some(name.as_str()) {
                return Err(Error::ProfileInUse { name });
            }
            let dir = store.profile_dir(&name)?;
            // Out of sight first ('.' is never a profile name), then the secrets, then the files.
            let hidden = dir.with_file_name(format!(".deleting-{name}-{:08x}", rand::random::<u32>()));
            {
                let _writing = core.catalog_lock();
                fs::rename(&dir, &hidden).map_err(io_error("move away", &dir))?;
            }
            if let Err(e) = core.inner.vault.delete_profile_entries(&name) {
                let _writing = core.catalog_lock();
                if fs::rename(&hidden, &dir).is_err() {
                    tracing::warn!("could not put a profile folder back after the keychain refused to delete its entries");
                }
                return Err(e);
            }
            core.inner.vault.forget(&name);
            if let Err(e) = fs::remove_dir_all(&hidden) {
                tracing::warn!("the deleted profile's folder could not be removed completely: {e}");
            }
            tracing::info!(profile = %name, "profile deleted");
            Ok(())
        })
        .await
    }

    /// Protects the active profile's secrets with `passphrase`: every keychain entry is
    /// encrypted with a key only the passphrase opens. The profile stays unlocked.
    pub async fn set_passphrase(&self, passphrase: Secret) -> Result<()> {
        check_new_passphrase(&passphrase).map_err(|m| Error::validation("passphrase", m))?;
        let _op = self.core.inner.profile_ops.lock().await;
        let profile = self.core.profile();
        let kdf = self.core.inner.kdf;
        self.core.blocking(move |core| {
            let vault = &core.inner.vault;
            let mut meta = core.configure_vault(&profile)?;
            if meta.lock.is_some() {
                return Err(Error::validation(
                    "passphrase",
                    format!("profile {profile} already has one: change it instead"),
                ));
            }
            if vault.is_file() {
                let path = core.data_dir().join("profiles").join(&profile).join(crate::vault::VAULT_FILE_NAME);
                if path.exists() {
                    return Err(Error::VaultCorrupt {
                        profile,
                        problem: "an encrypted file from an earlier passphrase is in the profile's folder, and this profile has no record of that passphrase".into(),
                    });
                }
            }
            let (record, key) = LockRecord::create(&passphrase, kdf).map_err(kdf_error)?;
            // Recorded before any entry changes: an interruption leaves a profile that unlocks
            // with the new passphrase and finishes the change.
            meta.lock = Some(record);
            meta.migration = (!vault.is_file()).then_some(Migration::Wrap);
            core.save_and_configure(&profile, &meta)?;
            vault.set_key(&profile, key.clone());
            if let Err(e) = vault.wrap_all(&profile, &key) {
                let undone = vault.unwrap_all(&profile, &key).and_then(|()| {
                    core.save_and_configure(&profile, &ProfileMeta {
                        lock: None,
                        migration: None,
                        ..meta.clone()
                    })
                });
                if undone.is_err() {
                    tracing::warn!(code = ?e.code(), "setting a passphrase failed part way and could not be undone; the next unlock finishes it");
                }
                return Err(e);
            }
            meta.migration = None;
            core.save_and_configure(&profile, &meta)?;
            tracing::info!(profile = %profile, "passphrase set");
            Ok(())
        })
        .await
    }

    /// Unlocks the active profile for this process until [`Profiles::lock`](crate::Profiles::lock), a switch to another
    /// profile, or the auto-lock time without [`Profiles::touch`](crate::Profiles::touch). A wrong passphrase is
    /// `WrongPassphrase` and changes nothing.
    pub async fn unlock(&self, passphrase: Secret) -> Result<()> {
        let _op = self.core.inner.profile_ops.lock().await;
        let profile = self.core.profile();
        self.core.blocking(move |core| {
            let vault = &core.inner.vault;
            let mut meta = core.configure_vault(&profile)?;
            let record = meta.lock.clone().ok_or_else(|| no_passphrase(&profile, "unlock"))?;
            let key = core.open_record(&profile, &record, &passphrase)?;
            vault.set_key(&profile, key.clone());
            tracing::info!(profile = %profile, "profile unlocked");
            // Finish a change an earlier run could not complete. Until it is finished every entry
            // stays readable, so a failure here is reported in the log and retried next time.
            let finished = match meta.migration {
                None => Ok(()),
                Some(Migration::Wrap) => vault.wrap_all(&profile, &key).and_then(|()| {
                    meta.migration = None;
                    core.save_and_configure(&profile, &meta)
                }),
                Some(Migration::Unwrap) => vault.unwrap_all(&profile, &key).and_then(|()| {
                    meta.lock = None;
                    meta.migration = None;
                    core.save_and_configure(&profile, &meta)
                }),
            };
            match finished {
                Ok(()) => {}
                Err(e) => tracing::warn!(code = ?e.code(), "could not finish changing the profile's passphrase; the next unlock tries again"),
            }
            Ok(())
        })
        .await
    }

    /// Locks the active profile now: its key is wiped from memory.
    pub fn lock(&self) -> Result<()> {
        let profile = self.core.profile();
        let meta = self.core.configure_vault(&profile)?;
        if meta.lock.is_none() {
            return Err(no_passphrase(&profile, "lock"));
        }
        self.core.inner.vault.lock(&profile);
        tracing::info!(profile = %profile, "profile locked");
        Ok(())
    }

    /// Whether the active profile has a passphrase and is locked (after checking its idle time).
    pub fn is_locked(&self) -> bool {
        self.core.inner.vault.is_locked(&self.core.profile())
    }

    /// Whether the active profile has a passphrase.
    pub fn has_passphrase(&self) -> bool {
        self.core
            .inner
            .vault
            .protection(&self.core.profile())
            .record
            .is_some()
    }

    /// Records a person's activity: postpones the active profile's auto-lock. Background work
    /// does not call this, so it does not keep a profile unlocked.
    pub fn touch(&self) {
        self.core.inner.vault.touch(&self.core.profile());
    }

    /// How long the active profile stays unlocked without activity; `None`: until locked.
    pub fn auto_lock(&self) -> Option<Duration> {
        self.core
            .inner
            .vault
            .protection(&self.core.profile())
            .auto_lock
    }

    /// Sets how long the active profile stays unlocked without activity (1 s to 7 days), or
    /// `None` to stay unlocked until locked. Kept in the profile's `profile.json`.
    pub fn set_auto_lock(&self, idle: Option<Duration>) -> Result<()> {
        let seconds = match idle {
            None => 0,
            Some(d) if d < Duration::from_secs(1) || d > MAX_AUTO_LOCK => {
                return Err(Error::validation(
                    "auto-lock time",
                    "choose between 1 second and 7 days, or never",
                ))
            }
            Some(d) => d.as_secs(),
        };
        let profile = self.core.profile();
        let _writing = self.core.catalog_lock();
        let mut meta = load_meta(self.core.data_dir(), &profile)?;
        meta.auto_lock_seconds = Some(seconds);
        self.core.save_and_configure(&profile, &meta)
    }

    /// Replaces the active profile's passphrase. Only the wrapped profile key changes (one atomic
    /// file write); the keychain entries stay as they are. Leaves the profile unlocked.
    pub async fn change_passphrase(&self, old: Secret, new: Secret) -> Result<()> {
        check_new_passphrase(&new).map_err(|m| Error::validation("new passphrase", m))?;
        let _op = self.core.inner.profile_ops.lock().await;
        let profile = self.core.profile();
        let kdf = self.core.inner.kdf;
        self.core
            .blocking(move |core| {
                let mut meta = core.configure_vault(&profile)?;
                let record = meta
                    .lock
                    .clone()
                    .ok_or_else(|| no_passphrase(&profile, "change"))?;
                let key = core.open_record(&profile, &record, &old)?;
                meta.lock = Some(LockRecord::wrap(&new, kdf, &key).map_err(kdf_error)?);
                core.save_and_configure(&profile, &meta)?;
                core.inner.vault.set_key(&profile, key);
                tracing::info!(profile = %profile, "passphrase changed");
                Ok(())
            })
            .await
    }

    /// Removes the active profile's passphrase after checking it: every keychain entry is
    /// decrypted and stored as the keychain keeps it. Not possible with the file vault, which
    /// always needs one.
    pub async fn remove_passphrase(&self, passphrase: Secret) -> Result<()> {
        let _op = self.core.inner.profile_ops.lock().await;
        let profile = self.core.profile();
        self.core.blocking(move |core| {
            let vault = &core.inner.vault;
            let mut meta = core.configure_vault(&profile)?;
            let record = meta
                .lock
                .clone()
                .ok_or_else(|| no_passphrase(&profile, "remove"))?;
            let key = core.open_record(&profile, &record, &passphrase)?;
            if vault.is_file() {
                return Err(Error::validation(
                    "passphrase",
                    "the encrypted file vault (KEYHAVEN_VAULT=file) always needs a passphrase; change it instead",
                ));
            }
            meta.migration = Some(Migration::Unwrap);
            core.save_and_configure(&profile, &meta)?;
            vault.set_key(&profile, key.clone());
            if let Err(e) = vault.unwrap_all(&profile, &key) {
                let undone = vault.wrap_all(&profile, &key).and_then(|()| {
                    core.save_and_configure(&profile, &ProfileMeta {
                        migration: None,
                        ..meta.clone()
                    })
                });
                if undone.is_err() {
                    tracing::warn!(code = ?e.code(), "removing the passphrase failed part way and could not be undone; the next unlock finishes it");
                }
                return Err(e);
            }
            meta.lock = None;
            meta.migration = None;
            core.save_and_configure(&profile, &meta)?;
            tracing::info!(profile = %profile, "passphrase removed");
            Ok(())
        })
        .await
    }
}
