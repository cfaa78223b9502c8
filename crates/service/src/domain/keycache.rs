//! Keys recently verified, by the SHA-256 of their secret, so that the hot path usually needs no
//! storage lookup. Every change to a key or a tenant's tier in this process invalidates the
//! whole cache before the change is answered; with a storage that several instances share,
//! every change another instance commits invalidates it too, as soon as storage says so. A
//! generation number keeps a lookup that raced with a change from caching what it read before.
//!
//! Invalidation is what keeps the cache right. A maximum age is only the backstop, should a
//! change notice ever be lost: an entry older than that is looked up again.
//!
//! Calls that present the same secret while it is being looked up share that one lookup (a
//! [`Flight`]): a burst of calls with a valid key after the cache was emptied makes one storage
//! read, and holds one place among its source's attempts (see `lockout`), not one each.

use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

// foldhash (randomly seeded) for the maps every call touches: cheaper than SipHash.
use foldhash::HashMap;

use bytes::Bytes;
use keyhaven_api::PingResponse;

use crate::storage::{KeyForCheck, KeyRow};

/// Entries kept at most; when full, the cache starts over.
const MAX_ENTRIES: usize = 100_000;

#[derive(Debug, Default)]
pub struct KeyCache {
    inner: RwLock<Inner>,
    /// Entries older than this are not used; `None`: no limit.
    max_age: Option<Duration>,
    /// Storage lookups running now, by hash.
    flights: Mutex<HashMap<[u8; 32], Arc<Flight>>>,
}

/// One storage lookup of a hash, shared by the calls that present its secret while it runs: the
/// key, or `None` when storage has no such key.
pub type Flight = tokio::sync::OnceCell<Option<Arc<Cached>>>;

#[derive(Debug, Default)]
struct Inner {
    generation: u64,
    keys: HashMap<[u8; 32], (Instant, Arc<Cached>)>,
}

/// What verification needs about a key, as storage last said.
#[derive(Debug, Clone)]
pub struct Cached {
    pub row: KeyRow,
    pub secret_hash: Vec<u8>,
    pub tenant_tier: Option<String>,
    /// Whether the key's tenant is suspended (its keys are refused).
    pub tenant_suspended: bool,
    /// `GET /v1/ping`'s answer for this key, serialised once: it changes only with the row.
    pub ping_body: Bytes,
}

impl Cached {
    pub fn new(found: KeyForCheck) -> Cached {
        let KeyForCheck {
            row,
            secret_hash,
            tenant_tier,
            tenant_suspended,
        } = found;
        let ping = PingResponse {
            key_id: row.id.clone(),
            tenant_id: row.tenant_id.clone(),
            scopes: row.scopes.clone(),
        };
        // Strings and a list of strings always serialise.
        let ping_body = serde_json::to_vec(&ping)
            .map(Bytes::from)
            .unwrap_or_default();
        Cached {
            row,
            secret_hash,
            tenant_tier,
            tenant_suspended,
            ping_body,
        }
    }
}

impl KeyCache {
    /// A cache whose entries are used for at most `max_age` after they were read from storage.
    pub fn with_max_age(max_age: Duration) -> KeyCache {
        KeyCache {
            inner: RwLock::default(),
            max_age: Some(max_age),
            flights: Mutex::default(),
        }
    }

    /// The lookup of `hash` running now, or a new one to run. The call that runs it hands it to
    /// [`KeyCache::land`] once it is done.
    pub fn flight(&self, hash: &[u8; 32]) -> Arc<Flight> {
        let mut flights = self.flights.lock().unwrap_or_else(|p| p.into_inner());
        Arc::clone(flights.entry(*hash).or_default())
    }

    /// Ends `flight`: later calls start their own lookup (or find the key cached).
    pub fn land(&self, hash: &[u8; 32], flight: &Arc<Flight>) {
        let mut flights = self.flights.lock().unwrap_or_else(|p| p.into_inner());
        if flights.get(hash).is_some_and(|f| Arc::ptr_eq(f, flight)) {
            flights.remove(hash);
        }
    }

    /// The cached entry, shared: a hit costs no copy of the key.
    pub fn get(&self, hash: &[u8; 32]) -> Option<Arc<Cached>> {
        let inner = self.inner.read().unwrap_or_else(|p| p.into_inner());
        let (at, entry) = inner.keys.get(hash)?;
        if self.max_age.is_some_and(|max| at.elapsed() > max) {
            return None;
        }
        Some(Arc::clone(entry))
    }

    /// The generation to pass to [`KeyCache::insert`]; read it before reading storage.
    pub fn generation(&self) -> u64 {
        self.inner
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .generation
    }

    /// Caches what storage said, unless something changed since `generation` was read.
    pub fn insert(&self, generation: u64, hash: [u8; 32], entry: Arc<Cached>) {
        let mut inner = self.inner.write().unwrap_or_else(|p| p.into_inner());
        if inner.generation != generation {
            return;
        }
        if inner.keys.len() >= MAX_ENTRIES {
            inner.keys.clear();
        }
        inner.keys.insert(hash, (Instant::now(), entry));
    }

    /// Forgets everything; call after a change is stored and before it is answered.
    pub fn invalidate(&self) {
        let mut inner = self.inner.write().unwrap_or_else(|p| p.into_inner());
        inner.generation += 1;
        inner.keys.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry() -> Arc<Cached> {
        Arc::new(Cached::new(KeyForCheck {
            row: KeyRow::for_test("key_a"),
            secret_hash: vec![1; 32],
            tenant_tier: None,
            tenant_suspended: false,
        }))
    }

    #[test]
    fn the_ping_answer_is_the_keys_identity() {
        let body: PingResponse = serde_json::from_slice(&entry().ping_body).expect("json");
        assert_eq!(
            body,
            PingResponse {
                key_id: "key_a".into(),
                tenant_id: "ten_a".into(),
                scopes: vec![],
            }
        );
    }

    #[test]
    fn a_change_during_a_lookup_keeps_its_result_out() {
        let c = KeyCache::default();
        let before = c.generation();
        c.invalidate(); // a revocation commits while the lookup reads storage
        c.insert(before, [1; 32], entry());
        assert!(c.get(&[1; 32]).is_none());

        let now = c.generation();
        c.insert(now, [1; 32], entry());
        assert!(c.get(&[1; 32]).is_some());
        c.invalidate();
        assert!(c.get(&[1; 32]).is_none());
    }

    #[test]
    fn entries_older_than_the_maximum_age_are_not_used() {
        let c = KeyCache::with_max_age(Duration::ZERO);
        c.insert(c.generation(), [1; 32], entry());
        std::thread::sleep(Duration::from_millis(2));
        assert!(c.get(&[1; 32]).is_none(), "looked up again");

        let c = KeyCache::with_max_age(Duration::from_secs(3600));
        c.insert(c.generation(), [1; 32], entry());
        assert!(c.get(&[1; 32]).is_some());
    }
}
