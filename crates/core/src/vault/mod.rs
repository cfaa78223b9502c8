//! The vault: the only code that touches secrets at rest.
//!
//! Secrets live in the OS keychain through keyring-core (Secret Service on Linux, the Keychain on
//! macOS, Credential Manager on Windows), or in memory for tests. Entries are namespaced: the
//! keychain "service" is `{namespace}/{profile}` and the "user" names the secret, e.g.
//! `session:{account_id}` or `key:{account_id}:{key_id}` (see [`names`]).
//!
//! When the keychain is missing, locked or refuses, the vault fails with
//! [`Error::KeychainUnavailable`] naming the fix. It never falls back to a file.
//!
//! The keychain API blocks: the `*_blocking` methods are for blocking contexts, the async ones
//! run them on tokio's blocking pool. Writes are serialised within the process.

mod memory;
mod os;

use std::sync::{Arc, Mutex, MutexGuard};

use keyring_core::api::CredentialStore;
use keyring_core::Entry;

use crate::catalog::validate_profile_name;
use crate::error::{Error, KeychainOp, Result};
use crate::secret::Secret;

pub use memory::VaultFaults;
pub use os::{FIX_LOCKED, FIX_NO_SECRET_SERVICE};

/// The namespace of the app's own entries.
pub const DEFAULT_NAMESPACE: &str = "dev.keyhaven.app";
/// The namespace tests use, so that they never touch a person's real entries.
pub const TEST_NAMESPACE: &str = "dev.keyhaven.test";
/// The longest secret the vault stores, in bytes: Windows Credential Manager's limit, applied on
/// every platform so that a secret stored on one works on all.
pub const MAX_SECRET_BYTES: usize = 2560;
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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Backend {
    OsKeychain,
    InMemory,
}

struct Inner {
    namespace: String,
    backend: Backend,
    /// The connected store; `None` until first use, and again after the keychain went away so
    /// that the next call reconnects.
    store: Mutex<Option<Arc<CredentialStore>>>,
}

/// Secrets at rest. Cheap to clone; clones share one keychain connection.
#[derive(Clone)]
pub struct Vault {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vault")
            .field("namespace", &self.inner.namespace)
            .field("backend", &self.inner.backend)
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
    /// (fault injection: a keychain that refuses writes, or is locked).
    pub fn in_memory_with_faults() -> (Vault, Arc<VaultFaults>) {
        let faults = Arc::new(VaultFaults::default());
        let store: Arc<CredentialStore> =
            Arc::new(memory::MemoryStore::with_faults(faults.clone()));
        (
            Vault::with(TEST_NAMESPACE, Backend::InMemory, Some(store)),
            faults,
        )
    }

    fn with(namespace: &str, backend: Backend, store: Option<Arc<CredentialStore>>) -> Vault {
        Vault {
            inner: Arc::new(Inner {
                namespace: namespace.to_string(),
                backend,
                store: Mutex::new(store),
            }),
        }
    }

    pub fn namespace(&self) -> &str {
        &self.inner.namespace
    }

    pub fn is_in_memory(&self) -> bool {
        self.inner.backend == Backend::InMemory
    }

    /// Checks that the keychain answers, connecting if needed.
    pub fn check_available(&self) -> Result<()> {
        self.store().map(|_| ())
    }

    /// Stores `secret` under `profile`/`name`, replacing any previous value, then reads it back
    /// and compares: a keychain that silently dropped the write is an error, not a lost secret.
    pub fn put_blocking(&self, profile: &str, name: &str, secret: &Secret) -> Result<()> {
        validate_entry(profile, name)?;
        if secret.is_empty() {
            return Err(Error::validation("secret", "is empty"));
        }
        if secret.len() > MAX_SECRET_BYTES {
            return Err(Error::SecretTooLong {
                len: secret.len(),
                max: MAX_SECRET_BYTES,
            });
        }
        let _writing = write_lock();
        let entry = self.entry(profile, name, KeychainOp::Write)?;
        entry
            .set_password(secret.expose())
            .map_err(|e| self.fail(e, KeychainOp::Write))?;
        let back = match entry.get_password() {
            Ok(text) => Secret::new(text),
            Err(keyring_core::Error::NoEntry) => return Err(Error::KeychainWrite),
            Err(e) => return Err(self.fail(e, KeychainOp::Read)),
        };
        if !back.constant_time_eq(secret) {
            return Err(Error::KeychainWrite);
        }
        tracing::debug!(profile, name, "stored a secret in the keychain");
        Ok(())
    }

    /// The secret stored under `profile`/`name`, if any.
    pub fn get_blocking(&self, profile: &str, name: &str) -> Result<Option<Secret>> {
        validate_entry(profile, name)?;
        let entry = self.entry(profile, name, KeychainOp::Read)?;
        match entry.get_password() {
            Ok(text) => Ok(Some(Secret::new(text))),
            Err(keyring_core::Error::NoEntry) => Ok(None),
            Err(e) => Err(self.fail(e, KeychainOp::Read)),
        }
    }

    /// Whether a secret is stored under `profile`/`name`, without reading the secret itself.
    pub fn contains_blocking(&self, profile: &str, name: &str) -> Result<bool> {
        validate_entry(profile, name)?;
        let entry = self.entry(profile, name, KeychainOp::Read)?;
        match entry.get_attributes() {
            Ok(_) => Ok(true),
            Err(keyring_core::Error::NoEntry) => Ok(false),
            Err(e) => Err(self.fail(e, KeychainOp::Read)),
        }
    }

    /// Deletes the secret under `profile`/`name`. A missing entry is not an error.
    pub fn delete_blocking(&self, profile: &str, name: &str) -> Result<()> {
        validate_entry(profile, name)?;
        let _writing = write_lock();
        let entry = self.entry(profile, name, KeychainOp::Delete)?;
        match entry.delete_credential() {
            Ok(()) | Err(keyring_core::Error::NoEntry) => Ok(()),
            Err(e) => Err(self.fail(e, KeychainOp::Delete)),
        }
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
            names
                .iter()
                .map(|name| this.contains_blocking(&profile, name))
                .collect()
        })
        .await?
    }

    fn service_name(&self, profile: &str) -> String {
        format!("{}/{}", self.inner.namespace, profile)
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
            && self.inner.backend == Backend::OsKeychain
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
