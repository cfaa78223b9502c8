//! What the service does, as functions over one [`Domain`]: a store, a clock and what the
//! service keeps in memory (rate windows, the lockout, usage counts, the key cache). Nothing
//! here knows HTTP: the `http` layer reads requests into these functions' arguments and their
//! results into answers; `service.rs` puts the two together.
//!
//! - [`keys`]: create, read, list, update, roll and revoke keys;
//! - [`verify`]: the hot path, a presented key to the key or a denial;
//! - [`auth`]: users, logins and sessions;
//! - [`tenants`]: tenants for admins and operators;
//! - [`reports`]: usage and denials for owners and support;
//! - [`usage`], [`limits`], [`lockout`], [`keycache`]: what is kept in memory.

pub mod auth;
pub mod keycache;
pub mod keys;
pub mod limits;
pub mod lockout;
pub mod reports;
pub mod tenants;
pub mod usage;
pub mod verify;

use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};

use tokio::sync::OnceCell;

use crate::clock::{Clock, DAY, HOUR};
use crate::config::ServiceConfig;
use crate::error::ServiceError;
use crate::secrets;
use crate::storage::Storage;
use keycache::KeyCache;
use limits::{Leases, RateCounters, SessionRates, TierRates};
use lockout::{Attempt, Lockout};
use usage::{Pending, UsageCounter};

/// How long denials are kept: 30 days.
const DENIAL_RETENTION: i64 = 30 * DAY;

/// The service's state, shared by every request. Cheap to clone.
#[derive(Clone)]
pub struct Domain {
    inner: Arc<Inner>,
}

/// A [`Domain`] that does not keep it alive: for tasks that end when the service does.
#[derive(Clone)]
pub struct WeakDomain(Weak<Inner>);

impl WeakDomain {
    pub fn upgrade(&self) -> Option<Domain> {
        self.0.upgrade().map(|inner| Domain { inner })
    }
}

struct Inner {
    config: ServiceConfig,
    clock: Arc<dyn Clock>,
    store: Box<dyn Storage>,
    rates: RateCounters,
    /// This instance's leases of keys' hourly windows and of tenants' daily windows, on a
    /// shared storage.
    hourly_leases: Leases,
    daily_leases: Leases,
    /// Round trips to shared storage for rate windows (leases, give-backs, peeks).
    rate_round_trips: AtomicU64,
    lockout: Lockout,
    usage: UsageCounter,
    key_cache: KeyCache,
    key_lookups: AtomicU64,
    /// A hash to verify against when the email is unknown, so that both failures cost the same.
    dummy_hash: OnceCell<String>,
    /// Turns for password hashing, one per core (see [`Domain::password_work`]).
    password_work: tokio::sync::Semaphore,
    /// Management calls per session and minute.
    session_rates: SessionRates,
    /// Calls per key in the windows of the tiers' request rates.
    tier_rates: TierRates,
    /// One usage flush at a time, so that counts reach storage in order.
    flush_lock: tokio::sync::Mutex<()>,
}

impl Domain {
    /// The domain over `store`, with `config` (checked by the caller) and `clock`.
    pub fn new(config: ServiceConfig, clock: Arc<dyn Clock>, store: Box<dyn Storage>) -> Domain {
        Domain {
            inner: Arc::new(Inner {
                clock,
                store,
                rates: RateCounters::default(),
                hourly_leases: Leases::default(),
                daily_leases: Leases::default(),
                rate_round_trips: AtomicU64::new(0),
                lockout: Lockout::new(
                    config.lockout_threshold,
                    i64::try_from(config.lockout_window.as_secs()).unwrap_or(i64::MAX),
                ),
                usage: UsageCounter::default(),
                key_cache: KeyCache::with_max_age(config.key_cache_max_age),
                config,
                key_lookups: AtomicU64::new(0),
                dummy_hash: OnceCell::new(),
                session_rates: SessionRates::default(),
                tier_rates: TierRates::default(),
                password_work: tokio::sync::Semaphore::new(
                    std::thread::available_parallelism().map_or(2, |n| n.get()),
                ),
                flush_lock: tokio::sync::Mutex::new(()),
            }),
        }
    }

    /// A domain over a fresh store, on the system clock, for unit tests.
    #[cfg(test)]
    pub async fn open_for_test(config: ServiceConfig) -> Domain {
        let store = crate::storage::open(&config.db)
            .await
            .expect("open the store");
        Domain::new(config, Arc::new(crate::clock::SystemClock), store)
    }

    pub fn downgrade(&self) -> WeakDomain {
        WeakDomain(Arc::downgrade(&self.inner))
    }

    /// Where rates are counted in this process's memory (SQLite), starts the windows of the
    /// current hour and day from the calls stored by earlier runs, so that a restart never lets a
    /// key have its hourly limit, or a tenant its daily cap, twice. (Shared storage keeps the
    /// windows itself.)
    pub async fn seed_rate_windows(&self) -> Result<(), ServiceError> {
        if self.store().shared().is_some() {
            return Ok(());
        }
        let now = self.now();
        let today = now - now.rem_euclid(DAY);
        let stored = self.store().allowed_since(today).await?;
        let rates = self.rates();
        for calls in &stored {
            let count = u32::try_from(calls.count).unwrap_or(u32::MAX);
            rates.seed(&calls.key_id, &calls.tenant_id, calls.hour, count, now);
        }
        if !stored.is_empty() {
            tracing::info!(
                rows = stored.len(),
                "rate windows continued from the stored usage"
            );
        }
        Ok(())
    }

    /// One round of upkeep, run about once a second: flushes usage, gives back what leases of
    /// rate windows have not spent, forgets ended rate windows and aged lockout records, and, once an hour (when
    /// `*last_prune` is an hour old), old denials and failed attempts in storage.
    pub async fn upkeep(&self, last_prune: &mut i64) {
        if let Err(e) = self.flush_usage().await {
            tracing::error!(error = %e, "usage flush failed; will retry");
        }
        limits::release_leases(self).await;
        let now = self.now();
        self.inner.rates.prune(now);
        self.inner.lockout.prune(now);
        self.inner.session_rates.prune(now);
        self.inner.tier_rates.prune(now);
        if now.saturating_sub(*last_prune) < HOUR {
            return;
        }
        *last_prune = now;
        match self.store().prune_denials(now - DENIAL_RETENTION).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(removed = n, "old denials forgotten"),
            Err(e) => tracing::error!(error = %e, "pruning denials failed"),
        }
        if let Some(shared) = self.store().shared() {
            let window = i64::try_from(self.config().lockout_window.as_secs()).unwrap_or(i64::MAX);
            if let Err(e) = shared.prune_failures(now.saturating_sub(window)).await {
                tracing::error!(error = %e, "forgetting old failed attempts failed");
            }
        }
    }

    /// Writes the usage counted in memory to storage; on failure the counts are kept for the
    /// next attempt.
    pub async fn flush_usage(&self) -> Result<(), ServiceError> {
        let _one_at_a_time = self.inner.flush_lock.lock().await;
        let pending = self.inner.usage.take();
        if pending.dropped_denials > 0 {
            tracing::warn!(
                dropped = pending.dropped_denials,
                "denials beyond the per-flush buffer were counted but not itemised"
            );
        }
        if pending.is_empty() {
            return Ok(());
        }
        match self.store().flush_usage(&pending.batch()).await {
            Ok(()) => Ok(()),
            Err(e) => {
                self.inner.usage.restore(Pending {
                    dropped_denials: 0,
                    ..pending
                });
                Err(e)
            }
        }
    }

    pub fn config(&self) -> &ServiceConfig {
        &self.inner.config
    }

    /// Now, by the service's clock, in seconds since the Unix epoch.
    pub fn now(&self) -> i64 {
        self.inner.clock.now()
    }

    pub fn store(&self) -> &dyn Storage {
        self.inner.store.as_ref()
    }

    pub fn rates(&self) -> &RateCounters {
        &self.inner.rates
    }

    /// Counts a failure decided at once (a malformed key, a cached key refused) from `ip`
    /// toward its source's lockout: `Err(seconds)` when the source is locked out already and
    /// the attempt is to be answered as a lockout.
    pub async fn fail_now(&self, ip: IpAddr, now: i64) -> Result<Option<i64>, i64> {
        let attempt = self.lockout().reserve(ip, now)?;
        Ok(self.attempt_failed(attempt, now).await)
    }

    /// Counts a failed attempt that held its place (see [`lockout`]) toward its source's
    /// lockout, across every instance when the storage is shared; the seconds the source is
    /// locked out for, when this failure locked it.
    pub async fn attempt_failed(&self, attempt: Attempt<'_>, now: i64) -> Option<i64> {
        let lockout = self.lockout();
        let rule = |times: &mut Vec<i64>| lockout.record_in(times, now);
        let source = attempt.source();
        let recorded = match self.store().shared() {
            Some(shared) => shared
                .record_failure(&source.to_string(), &rule)
                .await
                .map(Some),
            None => Ok(None),
        };
        let started = match recorded {
            Ok(None) => attempt.failed(now),
            Ok(Some(times)) => attempt.failed_shared(&times, now),
            Err(e) => {
                // Still counted here: storage being away must not lift the lockout.
                tracing::error!(error = %e, "cannot record a failed attempt in storage");
                attempt.failed(now)
            }
        };
        if let Some(secs) = started {
            tracing::warn!(source = %source, lockout_secs = secs, "source IP locked out after repeated failures");
        }
        started
    }

    /// Runs a password hash or check on the blocking pool, at most as many at once as the
    /// machine has cores: a burst of logins waits its turn instead of taking a hash's memory
    /// (Argon2id, 19 MiB) each at once.
    pub async fn password_work<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, ServiceError> {
        // The semaphore is never closed, so a turn always comes.
        let _turn = self.inner.password_work.acquire().await.ok();
        Ok(tokio::task::spawn_blocking(work).await?)
    }

    pub fn tier_rates(&self) -> &TierRates {
        &self.inner.tier_rates
    }

    pub fn session_rates(&self) -> &SessionRates {
        &self.inner.session_rates
    }

    pub fn hourly_leases(&self) -> &Leases {
        &self.inner.hourly_leases
    }

    pub fn daily_leases(&self) -> &Leases {
        &self.inner.daily_leases
    }

    /// Counts a round trip to shared storage for a rate window.
    pub fn note_rate_round_trip(&self) {
        self.inner.rate_round_trips.fetch_add(1, Ordering::Relaxed);
    }

    /// Round trips to shared storage for rate windows since the start (0 on SQLite, which keeps
    /// them in memory).
    pub fn rate_round_trips(&self) -> u64 {
        self.inner.rate_round_trips.load(Ordering::Relaxed)
    }

    pub fn lockout(&self) -> &Lockout {
        &self.inner.lockout
    }

    pub fn usage(&self) -> &UsageCounter {
        &self.inner.usage
    }

    pub fn key_cache(&self) -> &KeyCache {
        &self.inner.key_cache
    }

    /// Counts storage lookups of presented keys, so that tests can prove which inputs never
    /// reach storage.
    pub fn note_key_lookup(&self) {
        self.inner.key_lookups.fetch_add(1, Ordering::Relaxed);
    }

    #[cfg(test)]
    pub fn key_lookups(&self) -> u64 {
        self.inner.key_lookups.load(Ordering::Relaxed)
    }

    pub async fn dummy_password_hash(&self) -> Result<&str, ServiceError> {
        let hash = self
            .inner
            .dummy_hash
            .get_or_try_init(|| async {
                let dummy = secrets::random_password();
                self.password_work(move || secrets::hash_password(&dummy))
                    .await?
            })
            .await?;
        Ok(hash)
    }
}

impl std::fmt::Debug for Domain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Domain")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}
