//! An in-memory credential store behind the same keyring-core API as the OS keychains, for fast
//! tests. Unlike keyring-core's mock store, its `Debug` never shows a value, and values are wiped
//! when replaced or dropped. Tests can make it refuse, as a locked or failing keychain would
//! ([`VaultFaults`]).

use std::any::Any;
use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use keyring_core::api::{Credential, CredentialApi, CredentialStoreApi};
use keyring_core::{Entry, Error, Result};
use zeroize::Zeroizing;

type Map = HashMap<(String, String), Zeroizing<Vec<u8>>>;
type Items = Arc<Mutex<Map>>;

fn lock(items: &Items) -> MutexGuard<'_, Map> {
    // A panic while holding this lock cannot leave a half-written entry: every operation is a
    // single map call. So a poisoned lock is safe to keep using.
    items
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Faults a test switches on in an in-memory vault. Refusals reach the core as a real
/// keychain's do: `NoStorageAccess`, which the vault reports as `KeychainUnavailable`.
#[derive(Debug)]
pub struct VaultFaults {
    refuse_writes: AtomicBool,
    locked: AtomicBool,
    /// Writes (and deletes) still allowed before they are refused; negative: no limit.
    writes_left: AtomicI64,
}

impl Default for VaultFaults {
    fn default() -> VaultFaults {
        VaultFaults {
            refuse_writes: AtomicBool::new(false),
            locked: AtomicBool::new(false),
            writes_left: AtomicI64::new(-1),
        }
    }
}

// Switched only by tests, through the `test-support` feature.
#[cfg_attr(not(feature = "test-support"), allow(dead_code))]
impl VaultFaults {
    /// Writes and deletes fail; reads still work (a keychain that refuses to store).
    pub fn refuse_writes(&self, on: bool) {
        self.refuse_writes.store(on, Ordering::SeqCst);
    }

    /// Every operation fails (a locked keychain).
    pub fn lock(&self, on: bool) {
        self.locked.store(on, Ordering::SeqCst);
    }

    /// The next `n` writes and deletes work, every later one is refused (a keychain that fails
    /// part way through a series of changes).
    pub fn refuse_writes_after(&self, n: u32) {
        self.writes_left.store(i64::from(n), Ordering::SeqCst);
    }

    /// Back to a keychain that works.
    pub fn clear(&self) {
        self.refuse_writes(false);
        self.lock(false);
        self.writes_left.store(-1, Ordering::SeqCst);
    }

    fn check(&self, write: bool) -> Result<()> {
        let spent = write
            && self
                .writes_left
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |left| {
                    (left > 0).then(|| left - 1)
                })
                .is_err_and(|left| left == 0);
        let refused = self.locked.load(Ordering::SeqCst)
            || spent
            || (write && self.refuse_writes.load(Ordering::SeqCst));
        if refused {
            Err(Error::NoStorageAccess(Box::new(Refused)))
        } else {
            Ok(())
        }
    }
}

#[derive(Debug)]
struct Refused;

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the test keychain refuses this operation")
    }
}

impl std::error::Error for Refused {}

#[derive(Default)]
pub(super) struct MemoryStore {
    items: Items,
    faults: Arc<VaultFaults>,
}

impl MemoryStore {
    #[cfg(feature = "test-support")]
    pub(super) fn with_faults(faults: Arc<VaultFaults>) -> MemoryStore {
        MemoryStore {
            items: Items::default(),
            faults,
        }
    }
}

impl fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MemoryStore")
    }
}

impl CredentialStoreApi for MemoryStore {
    fn vendor(&self) -> String {
        "Keyhaven in-memory store (tests only)".to_string()
    }

    fn id(&self) -> String {
        "keyhaven-memory".to_string()
    }

    fn build(
        &self,
        service: &str,
        user: &str,
        _modifiers: Option<&HashMap<&str, &str>>,
    ) -> Result<Entry> {
        let cred: Arc<Credential> = Arc::new(MemoryCred {
            items: self.items.clone(),
            key: (service.to_string(), user.to_string()),
            faults: self.faults.clone(),
        });
        Ok(Entry::new_with_credential(cred))
    }

    /// Entries whose service is `spec["service"]` (all entries without one).
    fn search(&self, spec: &HashMap<&str, &str>) -> Result<Vec<Entry>> {
        self.faults.check(false)?;
        let service = spec.get("service").copied();
        let keys: Vec<(String, String)> = lock(&self.items)
            .keys()
            .filter(|(s, _)| service.is_none_or(|want| s == want))
            .cloned()
            .collect();
        Ok(keys
            .into_iter()
            .map(|key| {
                let cred: Arc<Credential> = Arc::new(MemoryCred {
                    items: self.items.clone(),
                    key,
                    faults: self.faults.clone(),
                });
                Entry::new_with_credential(cred)
            })
            .collect())
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

struct MemoryCred {
    items: Items,
    key: (String, String),
    faults: Arc<VaultFaults>,
}

impl fmt::Debug for MemoryCred {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryCred")
            .field("service", &self.key.0)
            .field("user", &self.key.1)
            .finish_non_exhaustive()
    }
}

impl CredentialApi for MemoryCred {
    fn set_secret(&self, secret: &[u8]) -> Result<()> {
        self.faults.check(true)?;
        lock(&self.items).insert(self.key.clone(), Zeroizing::new(secret.to_vec()));
        Ok(())
    }

    fn get_secret(&self) -> Result<Vec<u8>> {
        self.faults.check(false)?;
        match lock(&self.items).get(&self.key) {
            Some(value) => Ok(value.to_vec()),
            None => Err(Error::NoEntry),
        }
    }

    fn get_attributes(&self) -> Result<HashMap<String, String>> {
        self.faults.check(false)?;
        match lock(&self.items).contains_key(&self.key) {
            true => Ok(HashMap::new()),
            false => Err(Error::NoEntry),
        }
    }

    fn delete_credential(&self) -> Result<()> {
        self.faults.check(true)?;
        match lock(&self.items).remove(&self.key) {
            Some(_) => Ok(()),
            None => Err(Error::NoEntry),
        }
    }

    fn get_credential(&self) -> Result<Option<Arc<Credential>>> {
        self.faults.check(false)?;
        match lock(&self.items).contains_key(&self.key) {
            true => Ok(None),
            false => Err(Error::NoEntry),
        }
    }

    fn get_specifiers(&self) -> Option<(String, String)> {
        Some(self.key.clone())
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn debug_fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}
