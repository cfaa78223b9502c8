//! The vault: the only code that touches secrets at rest.
//!
//! Secrets live in the OS keychain through keyring-core (Secret Service on Linux, the Keychain on
//! macOS, Credential Manager on Windows), or in memory for tests. Entries are namespaced: the
//! keychain "service" is `{namespace}/{profile}` and the "user" names the secret, e.g.
//! `session:{account_id}` or `key:{account_id}:{key_id}` (see [`names`]).
//!
//! A profile with a passphrase has its values encrypted before they reach the keychain (see
//! `crypto.rs` for the keys and `lock.rs` for when a profile is unlocked); while it is locked,
//! reads and writes fail with [`Error::Locked`], and listing, checking and deleting entries still
//! work.
//!
//! When the keychain is missing, locked or refuses, the vault fails with
//! [`Error::KeychainUnavailable`] naming the fix. It never falls back to a file on its own; the
//! passphrase-encrypted file vault (`file.rs`) is used only when the person opts in
//! (`KEYHAVEN_VAULT=file`).
//!
//! The keychain API blocks: the `*_blocking` methods are for blocking contexts, the async ones
//! run them on tokio's blocking pool. Writes are serialised within the process.

mod crypto;
mod file;
mod lock;
mod memory;
mod os;

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

use keyring_core::api::CredentialStore;
use keyring_core::Entry;

use crate::catalog::validate_profile_name;
use crate::error::{Error, KeychainOp, Result};
use crate::secret::Secret;

pub use crypto::{KdfParams, LockRecord, MAX_PASSPHRASE_BYTES, MIN_PASSPHRASE_CHARS};
pub use file::FILE_NAME as VAULT_FILE_NAME;
pub use lock::{Clock, ManualClock, Migration, Protection, SystemClock, DEFAULT_AUTO_LOCK};
#[cfg(feature = "test-support")]
pub use memory::VaultFaults;
pub use os::{FIX_LOCKED, FIX_NO_SECRET_SERVICE};

use crypto::envelope;
pub(crate) use crypto::{check_new_passphrase, Key32, OpenError};
use lock::{Access, Guards};

/// The namespace of the app's own entries.
pub const DEFAULT_NAMESPACE: &str = "dev.keyhaven.app";
/// The namespace tests use, so that they never touch a person's real entries.
pub const TEST_NAMESPACE: &str = "dev.keyhaven.test";
/// The longest secret the vault stores, in bytes: Windows Credential Manager's limit, applied on
/// every platform so that a secret stored on one works on all.
pub const MAX_SECRET_BYTES: usize = 2560;
/// The longest secret a profile with a passphrase stores in the keychain, in bytes: its encrypted
/// form must fit in [`MAX_SECRET_BYTES`].
pub const MAX_PROTECTED_SECRET_BYTES: usize = envelope::max_plain(MAX_SECRET_BYTES);
const MAX_NAME_CHARS: usize = 200;

/// Names of the entries the core keeps for an account.
pub mod names {
    /// The account's session token.
    pub fn session(account_id: &str) -> String {
        format!("session:{account_id}")
    }
    /// The account's password, when the person asked Keyhaven to remember it.
    pub fn password(account_id: &str) -> String {
        format!("password:{account_id}")
    }
    /// The API key of the account's own that a service wants on its calls besides the session
    /// (TokenKit), given when the account was added.
    pub fn account_key(account_id: &str) -> String {
        format!("account-key:{account_id}")
    }
    /// An API key's secret.
    pub fn key(account_id: &str, key_id: &str) -> String {
        format!("key:{account_id}:{key_id}")
    }
}

/// Every keychain write in this process goes through this lock: keychains do not promise
/// consistent results for concurrent writes to one item.
static WRITES: Mutex<()> = Mutex::new(());

fn write_lock() -> MutexGuard<'static, ()> {
    WRITES
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[derive(Debug, Clone)]
enum Backend {
    OsKeychain,
    InMemory,
    /// The passphrase-encrypted file vault the person opted in to.
    File(file::FileVault),
}

impl Backend {
    fn kind(&self) -> &'static str {
        match self {
            Backend::OsKeychain => "os-keychain",
            Backend::InMemory => "in-memory",
            Backend::File(_) => "encrypted-file",
        }
    }
}

/// Reads a profile's [`Protection`] from where it is kept (`profile.json`).
pub type ProtectionSource = Arc<dyn Fn(&str) -> Result<Protection> + Send + Sync>;

struct Inner {
    namespace: String,
    backend: Backend,
    /// The connected store; `None` until first use, and again after the keychain went away so
    /// that the next call reconnects.
    store: Mutex<Option<Arc<CredentialStore>>>,
    guards: Arc<Guards>,
    /// Where the current protection of a profile is read before each access, so that a passphrase
    /// set, changed or removed by another process (the CLI) is seen at once.
    source: Mutex<Option<ProtectionSource>>,
}

/// Secrets at rest. Cheap to clone; clones share one keychain connection and one lock state.
#[derive(Clone)]
pub struct Vault {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vault")
            .field("namespace", &self.inner.namespace)
            .field("backend", &self.inner.backend.kind())
            .finish()
    }
}

impl Vault {
    /// The OS keychain (on Linux the Secret Service), connected now: fails with
    /// [`Error::KeychainUnavailable`] if it does not answer.
    pub fn secret_service(namespace: &str) -> Result<Vault> {
        let vault = Vault::secret_service_deferred(namespace)?;
        vault.store()?;
        Ok(vault)
    }

    /// The OS keychain, connected on first use. Lets the app start and show its accounts when the
    /// keychain is not there yet; every vault call then reports what to fix.
    pub fn secret_service_deferred(namespace: &str) -> Result<Vault> {
        validate_namespace(namespace)?;
        Ok(Vault::with(namespace, Backend::OsKeychain, None))
    }

    /// Secrets in this process's memory only, gone when the last clone is dropped. For tests.
    pub fn in_memory() -> Vault {
        let store: Arc<CredentialStore> = Arc::new(memory::MemoryStore::default());
        Vault::with(TEST_NAMESPACE, Backend::InMemory, Some(store))
    }

    /// An in-memory vault whose failures a test controls through the returned [`VaultFaults`]
    /// (fault injection: a keychain that refuses writes, or is locked). Only with the
    /// `test-support` feature.
    #[cfg(feature = "test-support")]
    pub fn in_memory_with_faults() -> (Vault, Arc<VaultFaults>) {
        let faults = Arc::new(VaultFaults::default());
        let store: Arc<CredentialStore> =
            Arc::new(memory::MemoryStore::with_faults(faults.clone()));
        (
            Vault::with(TEST_NAMESPACE, Backend::InMemory, Some(store)),
            faults,
        )
    }

    /// A passphrase-encrypted file per profile under `data_dir/profiles/{profile}/`, for machines
    /// without a keychain, only when the person chose it. Every profile needs a passphrase.
    pub fn encrypted_file(namespace: &str, data_dir: impl Into<PathBuf>) -> Result<Vault> {
        validate_namespace(namespace)?;
        let backend = Backend::File(file::FileVault::new(data_dir.into()));
        Ok(Vault::with(namespace, backend, None))
    }

    fn with(namespace: &str, backend: Backend, store: Option<Arc<CredentialStore>>) -> Vault {
        Vault {
            inner: Arc::new(Inner {
                namespace: namespace.to_string(),
                backend,
                store: Mutex::new(store),
                guards: Arc::new(Guards::new(Arc::new(SystemClock))),
                source: Mutex::new(None),
            }),
        }
    }

    pub fn namespace(&self) -> &str {
        &self.inner.namespace
    }

    pub fn is_in_memory(&self) -> bool {
        matches!(self.inner.backend, Backend::InMemory)
    }

    /// Whether this vault is the encrypted file vault.
    pub fn is_file(&self) -> bool {
        matches!(self.inner.backend, Backend::File(_))
    }

    /// The keychain "service" of `profile`'s entries: `{namespace}/{profile}`.
    pub fn service_name(&self, profile: &str) -> String {
        format!("{}/{}", self.inner.namespace, profile)
    }

    /// Checks that the keychain answers, connecting if needed. The file vault always answers.
    pub fn check_available(&self) -> Result<()> {
        match self.inner.backend {
            Backend::File(_) => Ok(()),
            _ => self.store().map(|_| ()),
        }
    }

    // ----- lock state -----

    /// Replaces the clock used for auto-lock (tests inject a [`ManualClock`]).
    pub fn set_clock(&self, clock: Arc<dyn Clock>) {
        self.inner.guards.set_clock(clock);
    }

    /// Where to read a profile's protection before each access (the facade points it at
    /// `profile.json`). Without one, the vault keeps what [`Vault::configure`] told it.
    pub fn set_protection_source(&self, source: ProtectionSource) {
        *self
            .inner
            .source
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(source);
    }

    /// Tells the vault about `profile`'s passphrase (from its `profile.json`). Forgets the
    /// profile's key if the passphrase record changed (it was set, changed or removed).
    pub fn configure(&self, profile: &str, protection: Protection) {
        self.inner.guards.configure(profile, protection);
    }

    /// Re-reads `profile`'s protection from the [source](Vault::set_protection_source), if any.
    fn refresh(&self, profile: &str) -> Result<()> {
        let source = self
            .inner
            .source
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone();
        if let Some(source) = source {
            self.inner.guards.configure(profile, source(profile)?);
        }
        Ok(())
    }

    /// What the vault knows about `profile`'s passphrase.
    pub fn protection(&self, profile: &str) -> Protection {
        if let Err(e) = self.refresh(profile) {
            tracing::warn!(code = ?e.code(), "could not re-read the profile's passphrase settings");
        }
        self.inner.guards.protection(profile)
    }

    /// Keeps `profile`'s key in memory until it is locked.
    pub(crate) fn set_key(&self, profile: &str, key: Key32) {
        self.inner.guards.set_key(profile, key);
        self.inner.guards.start_watchdog();
    }

    /// Whether `profile` has a passphrase and its key is not in memory (checks idle time first).
    pub fn is_locked(&self, profile: &str) -> bool {
        if let Err(e) = self.refresh(profile) {
            tracing::warn!(code = ?e.code(), "could not re-read the profile's passphrase settings");
        }
        matches!(self.inner.guards.access(profile), Access::Locked)
    }

    /// Forgets `profile`'s key.
    pub fn lock(&self, profile: &str) {
        self.inner.guards.lock(profile);
    }

    /// Forgets every key but `keep`'s.
    pub fn lock_all_except(&self, keep: &str) {
        self.inner.guards.lock_all_except(keep);
    }

    /// Records activity on `profile`, postponing its auto-lock.
    pub fn touch(&self, profile: &str) {
        self.inner.guards.touch(profile);
    }

    /// The key for `profile`'s secrets: `None` when it has no passphrase (and the backend stores
    /// plain values), `Locked` when it has one that is not unlocked.
    fn access(&self, profile: &str) -> Result<Option<Key32>> {
        self.refresh(profile)?;
        match (self.inner.guards.access(profile), &self.inner.backend) {
            (Access::Key(key), _) => Ok(Some(key)),
            (Access::Locked, _) => Err(Error::Locked {
                profile: profile.to_string(),
            }),
            (Access::Plain, Backend::File(_)) => Err(no_passphrase_for_file(profile)),
            (Access::Plain, _) => Ok(None),
        }
    }

    // ----- secrets -----

    /// Stores `secret` under `profile`/`name`, replacing any previous value, then reads it back
    /// and compares: a keychain that silently dropped the write is an error, not a lost secret.
    /// In a profile with a passphrase the value is encrypted first, and the profile must be
    /// unlocked.
    pub fn put_blocking(&self, profile: &str, name: &str, secret: &Secret) -> Result<()> {
        validate_entry(profile, name)?;
        if secret.is_empty() {
            return Err(Error::validation("secret", "is empty"));
        }
        let key = self.access(profile)?;
        if let Backend::File(file) = &self.inner.backend {
            check_len(secret, MAX_SECRET_BYTES)?;
            let key = key.ok_or_else(|| no_passphrase_for_file(profile))?;
            let _writing = write_lock();
            let _other_processes = file.lock(profile)?;
            let mut entries = file.load(profile, &key)?;
            entries.insert(name.to_string(), secret.expose().to_string().into());
            file.save(profile, &key, &entries)?;
            tracing::debug!(profile, name, "stored a secret in the encrypted file");
            return Ok(());
        }
        let stored = match &key {
            Some(key) => {
                check_len(secret, MAX_PROTECTED_SECRET_BYTES)?;
                envelope::wrap(key, name, secret)
            }
            None => {
                check_len(secret, MAX_SECRET_BYTES)?;
                if envelope::is_envelope(secret.expose()) {
                    return Err(Error::validation(
                        "secret",
                        format!(
                            "values starting with {} are reserved for encrypted secrets",
                            envelope::PREFIX
                        ),
                    ));
                }
                secret.clone()
            }
        };
        let _writing = write_lock();
        self.raw_put(profile, name, &stored)?;
        tracing::debug!(profile, name, "stored a secret in the keychain");
        Ok(())
    }

    /// The secret stored under `profile`/`name`, if any. `Locked` while the profile is locked.
    pub fn get_blocking(&self, profile: &str, name: &str) -> Result<Option<Secret>> {
        validate_entry(profile, name)?;
        let key = self.access(profile)?;
        if let Backend::File(file) = &self.inner.backend {
            let key = key.ok_or_else(|| no_passphrase_for_file(profile))?;
            let entries = file.load(profile, &key)?;
            return Ok(entries.get(name).map(|v| Secret::new(v.to_string())));
        }
        let Some(value) = self.raw_get(profile, name)? else {
            return Ok(None);
        };
        self.decode(profile, name, key.as_ref(), value).map(Some)
    }

    /// The plain secret in `value` as stored under `profile`/`name`.
    fn decode(
        &self,
        profile: &str,
        name: &str,
        key: Option<&Key32>,
        value: Secret,
    ) -> Result<Secret> {
        let corrupt = |problem: &str| Error::VaultCorrupt {
            profile: profile.to_string(),
            problem: format!("{name}: {problem}"),
        };
        match (envelope::is_envelope(value.expose()), key) {
            (true, Some(key)) => envelope::unwrap(key, name, value.expose()).map_err(corrupt),
            (true, None) => Err(corrupt("it is encrypted but the profile has no passphrase")),
            (false, None) => Ok(value),
            (false, Some(_)) => {
                if self.inner.guards.protection(profile).migration.is_some() {
                    Ok(value)
                } else {
                    Err(corrupt(
                        "it is stored without encryption although the profile has a passphrase",
                    ))
                }
            }
        }
    }

    /// Whether a secret is stored under `profile`/`name`, without reading the secret itself.
    /// Works while the profile is locked, except in the file vault.
    pub fn contains_blocking(&self, profile: &str, name: &str) -> Result<bool> {
        validate_entry(profile, name)?;
        if let Backend::File(file) = &self.inner.backend {
            let key = self
                .access(profile)?
                .ok_or_else(|| no_passphrase_for_file(profile))?;
            return Ok(file.load(profile, &key)?.contains_key(name));
        }
        let entry = self.entry(profile, name, KeychainOp::Read)?;
        match entry.get_attributes() {
            Ok(_) => Ok(true),
            Err(keyring_core::Error::NoEntry) => Ok(false),
            Err(e) => Err(self.fail(e, KeychainOp::Read)),
        }
    }

    /// Deletes the secret under `profile`/`name`. A missing entry is not an error. Works while
    /// the profile is locked, except in the file vault.
    pub fn delete_blocking(&self, profile: &str, name: &str) -> Result<()> {
        validate_entry(profile, name)?;
        if let Backend::File(file) = &self.inner.backend {
            let key = self
                .access(profile)?
                .ok_or_else(|| no_passphrase_for_file(profile))?;
            let _writing = write_lock();
            let _other_processes = file.lock(profile)?;
            let mut entries = file.load(profile, &key)?;
            if entries.remove(name).is_some() {
                file.save(profile, &key, &entries)?;
            }
            return Ok(());
        }
        let _writing = write_lock();
        self.raw_delete(profile, name)
    }

    /// The names of the entries stored for `profile`, sorted. Works while the profile is locked,
    /// except in the file vault.
    pub fn entry_names_blocking(&self, profile: &str) -> Result<Vec<String>> {
        validate_profile_name(profile)?;
        if let Backend::File(file) = &self.inner.backend {
            let key = self
                .access(profile)?
                .ok_or_else(|| no_passphrase_for_file(profile))?;
            return Ok(file.load(profile, &key)?.keys().cloned().collect());
        }
        self.raw_names(profile)
    }

    /// [`Vault::put_blocking`] on the blocking pool.
    pub async fn put(&self, profile: &str, name: &str, secret: &Secret) -> Result<()> {
        let (this, profile, name, secret) = (
            self.clone(),
            profile.to_string(),
            name.to_string(),
            secret.clone(),
        );
        tokio::task::spawn_blocking(move || this.put_blocking(&profile, &name, &secret)).await?
    }

    /// [`Vault::get_blocking`] on the blocking pool.
    pub async fn get(&self, profile: &str, name: &str) -> Result<Option<Secret>> {
        let (this, profile, name) = (self.clone(), profile.to_string(), name.to_string());
        tokio::task::spawn_blocking(move || this.get_blocking(&profile, &name)).await?
    }

    /// [`Vault::contains_blocking`] on the blocking pool.
    pub async fn contains(&self, profile: &str, name: &str) -> Result<bool> {
        let (this, profile, name) = (self.clone(), profile.to_string(), name.to_string());
        tokio::task::spawn_blocking(move || this.contains_blocking(&profile, &name)).await?
    }

    /// [`Vault::delete_blocking`] on the blocking pool.
    pub async fn delete(&self, profile: &str, name: &str) -> Result<()> {
        let (this, profile, name) = (self.clone(), profile.to_string(), name.to_string());
        tokio::task::spawn_blocking(move || this.delete_blocking(&profile, &name)).await?
    }

    /// Which keychain names are stored for `profile` among `names`, in one blocking task.
    pub async fn contains_each(&self, profile: &str, names: Vec<String>) -> Result<Vec<bool>> {
        let (this, profile) = (self.clone(), profile.to_string());
        tokio::task::spawn_blocking(move || {
            if let Backend::File(file) = &this.inner.backend {
                validate_profile_name(&profile)?;
                let key = this
                    .access(&profile)?
                    .ok_or_else(|| no_passphrase_for_file(&profile))?;
                let entries = file.load(&profile, &key)?;
                return Ok(names.iter().map(|n| entries.contains_key(n)).collect());
            }
            for name in &names {
                validate_entry(&profile, name)?;
            }
            // One search for the profile's entries rather than one keychain call per name: a
            // list of a thousand keys would otherwise make a thousand D-Bus round trips.
            let present: HashSet<String> = this.raw_names(&profile)?.into_iter().collect();
            Ok(names.iter().map(|n| present.contains(n)).collect())
        })
        .await?
    }

    // ----- whole profiles (blocking; the facade runs them on the blocking pool) -----

    /// Encrypts every plain entry of `profile` with `key` (setting a passphrase, or finishing an
    /// interrupted [`Migration::Wrap`]). Checks every entry before changing any.
    pub(crate) fn wrap_all(&self, profile: &str, key: &Key32) -> Result<()> {
        if self.is_file() {
            return Ok(());
        }
        let _writing = write_lock();
        let mut plain = Vec::new();
        for name in self.raw_names(profile)? {
            let Some(value) = self.raw_get(profile, &name)? else {
                continue;
            };
            if envelope::is_envelope(value.expose()) {
                // Already done by an interrupted run; it must open with this key.
                envelope::unwrap(key, &name, value.expose()).map_err(|problem| {
                    Error::VaultCorrupt {
                        profile: profile.to_string(),
                        problem: format!("{name}: {problem}"),
                    }
                })?;
                continue;
            }
            if value.len() > MAX_PROTECTED_SECRET_BYTES {
                return Err(Error::Validation {
                    field: "passphrase".into(),
                    message: format!(
                        "the secret {name} is {} bytes long; with a passphrase the keychain holds at most {MAX_PROTECTED_SECRET_BYTES} bytes per secret. Remove it first.",
                        value.len()
                    ),
                });
            }
            plain.push((name, value));
        }
        for (name, value) in plain {
            self.raw_put(profile, &name, &envelope::wrap(key, &name, &value))?;
        }
        Ok(())
    }

    /// Decrypts every entry of `profile` (removing its passphrase, or finishing an interrupted
    /// [`Migration::Unwrap`]). Checks that every entry opens before changing any.
    pub(crate) fn unwrap_all(&self, profile: &str, key: &Key32) -> Result<()> {
        if self.is_file() {
            return Ok(());
        }
        let _writing = write_lock();
        let mut opened = Vec::new();
        for name in self.raw_names(profile)? {
            let Some(value) = self.raw_get(profile, &name)? else {
                continue;
            };
            if envelope::is_envelope(value.expose()) {
                let secret = envelope::unwrap(key, &name, value.expose()).map_err(|problem| {
                    Error::VaultCorrupt {
                        profile: profile.to_string(),
                        problem: format!("{name}: {problem}"),
                    }
                })?;
                opened.push((name, secret));
            }
        }
        for (name, secret) in opened {
            self.raw_put(profile, &name, &secret)?;
        }
        Ok(())
    }

    /// Copies every entry of `from` to `to` as stored (encrypted values stay encrypted: their
    /// key belongs to the profile, not to its name), each read back. On any failure the copies
    /// already made are deleted again and the error returned. Returns the names copied.
    pub(crate) fn copy_profile(&self, from: &str, to: &str) -> Result<Vec<String>> {
        validate_profile_name(from)?;
        validate_profile_name(to)?;
        if self.is_file() {
            return Ok(Vec::new());
        }
        let _writing = write_lock();
        let names = self.raw_names(from)?;
        let mut copied = Vec::new();
        for name in &names {
            let result = self.raw_get(from, name).and_then(|value| match value {
                Some(value) => self.raw_put(to, name, &value).map(|()| true),
                None => Ok(false),
            });
            match result {
                Ok(true) => copied.push(name.clone()),
                Ok(false) => {}
                Err(e) => {
                    for done in &copied {
                        if let Err(undo) = self.raw_delete(to, done) {
                            tracing::warn!(code = ?undo.code(), "could not remove a copied keychain entry while undoing a rename");
                        }
                    }
                    return Err(e);
                }
            }
        }
        Ok(copied)
    }

    /// Deletes every entry of `profile` from the keychain (nothing for the file vault, whose file
    /// goes with the profile's folder).
    pub(crate) fn delete_profile_entries(&self, profile: &str) -> Result<()> {
        validate_profile_name(profile)?;
        if self.is_file() {
            return Ok(());
        }
        let _writing = write_lock();
        for name in self.raw_names(profile)? {
            self.raw_delete(profile, &name)?;
        }
        Ok(())
    }

    /// Moves what this process knows about `from`'s lock to `to`.
    pub(crate) fn rename_guard(&self, from: &str, to: &str) {
        self.inner.guards.rename(from, to);
    }

    /// Forgets `profile`'s lock state and key.
    pub(crate) fn forget(&self, profile: &str) {
        self.inner.guards.forget(profile);
    }

    // ----- the raw keychain (values as stored; callers hold the write lock for writes) -----

    fn raw_get(&self, profile: &str, name: &str) -> Result<Option<Secret>> {
        let entry = self.entry(profile, name, KeychainOp::Read)?;
        match entry.get_password() {
            Ok(text) => Ok(Some(Secret::new(text))),
            Err(keyring_core::Error::NoEntry) => Ok(None),
            Err(e) => Err(self.fail(e, KeychainOp::Read)),
        }
    }

    fn raw_put(&self, profile: &str, name: &str, value: &Secret) -> Result<()> {
        let entry = self.entry(profile, name, KeychainOp::Write)?;
        entry
            .set_password(value.expose())
            .map_err(|e| self.fail(e, KeychainOp::Write))?;
        let back = match entry.get_password() {
            Ok(text) => Secret::new(text),
            Err(keyring_core::Error::NoEntry) => return Err(Error::KeychainWrite),
            Err(e) => return Err(self.fail(e, KeychainOp::Read)),
        };
        if !back.constant_time_eq(value) {
            return Err(Error::KeychainWrite);
        }
        Ok(())
    }

    fn raw_delete(&self, profile: &str, name: &str) -> Result<()> {
        let entry = self.entry(profile, name, KeychainOp::Delete)?;
        match entry.delete_credential() {
            Ok(()) | Err(keyring_core::Error::NoEntry) => Ok(()),
            Err(e) => Err(self.fail(e, KeychainOp::Delete)),
        }
    }

    fn raw_names(&self, profile: &str) -> Result<Vec<String>> {
        let store = self.store()?;
        let mut names = os::entry_names(&store, &self.service_name(profile))
            .map_err(|e| self.fail(e, KeychainOp::Read))?;
        names.retain(|n| validate_entry(profile, n).is_ok());
        names.sort();
        names.dedup();
        Ok(names)
    }

    fn store(&self) -> Result<Arc<CredentialStore>> {
        let mut slot = self
            .inner
            .store
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(store) = slot.as_ref() {
            return Ok(store.clone());
        }
        let store = os::connect()?;
        *slot = Some(store.clone());
        Ok(store)
    }

    fn entry(&self, profile: &str, name: &str, op: KeychainOp) -> Result<Entry> {
        let store = self.store()?;
        let label = format!("Keyhaven ({profile}): {name}");
        os::build_entry(&store, &self.service_name(profile), name, &label)
            .map_err(|e| self.fail(e, op))
    }

    /// Maps a keychain failure; when the keychain went away, forgets the connection so that the
    /// next call reconnects (for example after the person started their keyring daemon).
    fn fail(&self, err: keyring_core::Error, op: KeychainOp) -> Error {
        let mapped = os::map_error(err, op);
        if matches!(mapped, Error::KeychainUnavailable { .. })
            && matches!(self.inner.backend, Backend::OsKeychain)
        {
            let mut slot = self
                .inner
                .store
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            *slot = None;
        }
        mapped
    }
}

fn check_len(secret: &Secret, max: usize) -> Result<()> {
    if secret.len() > max {
        return Err(Error::SecretTooLong {
            len: secret.len(),
            max,
        });
    }
    Ok(())
}

fn no_passphrase_for_file(profile: &str) -> Error {
    Error::NoPassphrase {
        message: format!(
            "Profile {profile} keeps its secrets in an encrypted file (KEYHAVEN_VAULT=file), which needs a passphrase: set one for this profile first."
        ),
    }
}

/// A keychain namespace: 1 to 100 characters of `[A-Za-z0-9._-]`.
pub fn validate_namespace(namespace: &str) -> Result<()> {
    let ok = !namespace.is_empty()
        && namespace.len() <= 100
        && namespace
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(Error::validation(
            "keychain namespace",
            "use 1 to 100 letters, digits, '.', '_' or '-'",
        ))
    }
}

fn validate_entry(profile: &str, name: &str) -> Result<()> {
    validate_profile_name(profile)?;
    if name.is_empty()
        || name.chars().count() > MAX_NAME_CHARS
        || name.chars().any(char::is_control)
    {
        return Err(Error::validation(
            "keychain entry name",
            format!("must be 1 to {MAX_NAME_CHARS} printable characters"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_memory_round_trip() {
        let vault = Vault::in_memory();
        let secret = Secret::new("kh_test_value".into());
        vault.put_blocking("ann", "key:a:b", &secret).expect("put");
        assert_eq!(
            vault.get_blocking("ann", "key:a:b").expect("get"),
            Some(secret)
        );
        assert!(vault.contains_blocking("ann", "key:a:b").expect("contains"));
        assert_eq!(
            vault.get_blocking("bob", "key:a:b").expect("other profile"),
            None
        );
        vault.delete_blocking("ann", "key:a:b").expect("delete");
        vault
            .delete_blocking("ann", "key:a:b")
            .expect("delete twice");
        assert_eq!(vault.get_blocking("ann", "key:a:b").expect("get"), None);
    }

    #[test]
    fn refuses_long_empty_and_badly_named_entries() {
        let vault = Vault::in_memory();
        let long = Secret::new("x".repeat(MAX_SECRET_BYTES + 1));
        let err = vault
            .put_blocking("ann", "key:a:b", &long)
            .expect_err("too long");
        assert!(
            matches!(
                err,
                Error::SecretTooLong {
                    len: 2561,
                    max: 2560
                }
            ),
            "{err:?}"
        );
        assert!(err.to_string().contains("2560"));
        let max = Secret::new("x".repeat(MAX_SECRET_BYTES));
        vault
            .put_blocking("ann", "key:a:b", &max)
            .expect("exactly at the limit");
        let empty = Secret::new(String::new());
        assert!(vault.put_blocking("ann", "key:a:c", &empty).is_err());
        assert!(vault.get_blocking("../x", "key:a:b").is_err());
        assert!(vault.get_blocking("ann", "").is_err());
        assert!(vault.get_blocking("ann", "a\nb").is_err());
    }

    #[test]
    fn namespaces_are_validated() {
        assert!(validate_namespace("dev.keyhaven.app").is_ok());
        assert!(validate_namespace("dev.keyhaven.test-1_2").is_ok());
        assert!(validate_namespace("").is_err());
        assert!(validate_namespace("a/b").is_err());
        assert!(validate_namespace("a b").is_err());
        assert!(Vault::secret_service_deferred("bad/namespace").is_err());
    }

    #[test]
    fn injected_faults_read_as_a_refusing_keychain() {
        let (vault, faults) = Vault::in_memory_with_faults();
        let secret = Secret::new("kh_test_value".into());
        vault.put_blocking("ann", "key:a:b", &secret).expect("put");
        faults.refuse_writes(true);
        let err = vault
            .put_blocking("ann", "key:a:c", &secret)
            .expect_err("refused");
        assert!(matches!(err, Error::KeychainUnavailable { .. }), "{err:?}");
        assert!(vault.delete_blocking("ann", "key:a:b").is_err());
        assert_eq!(
            vault.get_blocking("ann", "key:a:b").expect("reads work"),
            Some(secret.clone())
        );
        faults.lock(true);
        assert!(matches!(
            vault.get_blocking("ann", "key:a:b"),
            Err(Error::KeychainUnavailable { .. })
        ));
        faults.clear();
        assert_eq!(
            vault.get_blocking("ann", "key:a:b").expect("unlocked"),
            Some(secret)
        );
        assert_eq!(vault.get_blocking("ann", "key:a:c").expect("get"), None);
    }

    #[test]
    fn entry_names() {
        assert_eq!(names::session("acc_1"), "session:acc_1");
        assert_eq!(names::password("acc_1"), "password:acc_1");
        assert_eq!(names::key("acc_1", "key_9"), "key:acc_1:key_9");
    }
}
