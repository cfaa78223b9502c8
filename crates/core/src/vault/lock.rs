//! Which profiles have a passphrase, which of those are unlocked in this process, and when they
//! lock themselves again.
//!
//! Each profile the vault serves has a [`Guard`]. A profile with a passphrase is locked until the
//! facade's `unlock` gives the vault its profile key; the key then stays in memory (wiped on
//! drop) until an explicit lock, a switch to another profile, a passphrase change elsewhere, or
//! until the profile has been idle for its auto-lock time. Idle means no
//! [`touch`](super::Vault::touch): the app reports a person's activity; background work (usage
//! polling) does not count. Expiry is checked on every access and by a watchdog thread, so an
//! idle key does not linger until the next call.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::crypto::{Key32, LockRecord};

/// How long a profile stays unlocked without activity unless configured otherwise.
pub const DEFAULT_AUTO_LOCK: Duration = Duration::from_secs(15 * 60);

/// A source of monotonic time; tests inject a [`ManualClock`].
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> Instant;
}

/// The real monotonic clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }
}

/// A clock that moves only when told to. For tests of auto-lock without sleeping.
#[derive(Debug, Clone)]
pub struct ManualClock {
    start: Instant,
    offset: Arc<Mutex<Duration>>,
}

impl ManualClock {
    pub fn new() -> ManualClock {
        ManualClock {
            start: Instant::now(),
            offset: Arc::new(Mutex::new(Duration::ZERO)),
        }
    }

    /// Moves this clock (and its clones) forward.
    pub fn advance(&self, by: Duration) {
        let mut offset = self.offset.lock().unwrap_or_else(|p| p.into_inner());
        *offset += by;
    }
}

impl Default for ManualClock {
    fn default() -> ManualClock {
        ManualClock::new()
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Instant {
        self.start + *self.offset.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A change of a profile's secrets between plain and encrypted that has started and not yet
/// finished. While one is recorded, entries may be in either form; unlocking finishes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Migration {
    /// A passphrase is being set: plain entries are being encrypted.
    Wrap,
    /// The passphrase is being removed: encrypted entries are being decrypted.
    Unwrap,
}

/// What the vault needs to know about a profile's passphrase (from its `profile.json`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Protection {
    pub record: Option<LockRecord>,
    pub migration: Option<Migration>,
    /// `None`: never locks by itself.
    pub auto_lock: Option<Duration>,
}

pub(super) struct Guard {
    pub(super) protection: Protection,
    key: Option<Key32>,
    last_activity: Instant,
}

impl Guard {
    fn expired(&self, now: Instant) -> bool {
        self.key.is_some()
            && self
                .protection
                .auto_lock
                .is_some_and(|idle| now.saturating_duration_since(self.last_activity) >= idle)
    }
}

/// The key state of every profile this vault has been told about.
pub(super) struct Guards {
    clock: Mutex<Arc<dyn Clock>>,
    profiles: Mutex<HashMap<String, Guard>>,
    watchdog: Mutex<bool>,
}

/// What a secret operation may use for `profile`.
pub(super) enum Access {
    /// No passphrase: values are stored as they are.
    Plain,
    /// Unlocked: the profile key.
    Key(Key32),
    /// Has a passphrase and no key in memory.
    Locked,
}

impl Guards {
    pub(super) fn new(clock: Arc<dyn Clock>) -> Guards {
        Guards {
            clock: Mutex::new(clock),
            profiles: Mutex::new(HashMap::new()),
            watchdog: Mutex::new(false),
        }
    }

    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<String, Guard>> {
        self.profiles.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(super) fn now(&self) -> Instant {
        let clock = self.clock.lock().unwrap_or_else(|p| p.into_inner()).clone();
        clock.now()
    }

    pub(super) fn set_clock(&self, clock: Arc<dyn Clock>) {
        *self.clock.lock().unwrap_or_else(|p| p.into_inner()) = clock;
    }

    /// Sets what the vault knows about `profile`. The key in memory is kept only while the
    /// passphrase record stays the same: a passphrase set, changed or removed (here or by another
    /// process) locks the profile, and whoever changed it here unlocks it again.
    pub(super) fn configure(&self, profile: &str, protection: Protection) {
        let now = self.now();
        let mut map = self.map();
        let guard = map.entry(profile.to_string()).or_insert_with(|| Guard {
            protection: Protection::default(),
            key: None,
            last_activity: now,
        });
        if protection.record != guard.protection.record {
            guard.key = None;
        }
        guard.protection = protection;
    }

    pub(super) fn protection(&self, profile: &str) -> Protection {
        self.map()
            .get(profile)
            .map(|g| g.protection.clone())
            .unwrap_or_default()
    }

    pub(super) fn set_key(&self, profile: &str, key: Key32) {
        let now = self.now();
        let mut map = self.map();
        let guard = map.entry(profile.to_string()).or_insert_with(|| Guard {
            protection: Protection::default(),
            key: None,
            last_activity: now,
        });
        guard.key = Some(key);
        guard.last_activity = now;
    }

    pub(super) fn access(&self, profile: &str) -> Access {
        let now = self.now();
        let mut map = self.map();
        let Some(guard) = map.get_mut(profile) else {
            return Access::Plain;
        };
        if guard.expired(now) {
            guard.key = None;
            tracing::info!(profile, "profile locked after being idle");
        }
        match (&guard.protection.record, &guard.key) {
            (None, _) => Access::Plain,
            (Some(_), Some(key)) => Access::Key(key.clone()),
            (Some(_), None) => Access::Locked,
        }
    }

    pub(super) fn touch(&self, profile: &str) {
        let now = self.now();
        let mut map = self.map();
        if let Some(guard) = map.get_mut(profile) {
            if guard.expired(now) {
                guard.key = None;
            } else {
                guard.last_activity = now;
            }
        }
    }

    pub(super) fn lock(&self, profile: &str) {
        if let Some(guard) = self.map().get_mut(profile) {
            guard.key = None;
        }
    }

    pub(super) fn lock_all_except(&self, keep: &str) {
        for (name, guard) in self.map().iter_mut() {
            if name != keep {
                guard.key = None;
            }
        }
    }

    /// Moves `from`'s state to `to` (a rename).
    pub(super) fn rename(&self, from: &str, to: &str) {
        let mut map = self.map();
        if let Some(guard) = map.remove(from) {
            map.insert(to.to_string(), guard);
        }
    }

    pub(super) fn forget(&self, profile: &str) {
        self.map().remove(profile);
    }

    /// Drops every key that has been idle too long.
    fn expire_idle(&self) {
        let now = self.now();
        for (name, guard) in self.map().iter_mut() {
            if guard.expired(now) {
                guard.key = None;
                tracing::info!(profile = %name, "profile locked after being idle");
            }
        }
    }

    fn any_key(&self) -> bool {
        self.map().values().any(|g| g.key.is_some())
    }

    /// Starts, once per vault, a thread that locks idle profiles every second. It ends when the
    /// vault is dropped.
    pub(super) fn start_watchdog(self: &Arc<Guards>) {
        let mut started = self.watchdog.lock().unwrap_or_else(|p| p.into_inner());
        if *started {
            return;
        }
        let weak: Weak<Guards> = Arc::downgrade(self);
        let spawned = std::thread::Builder::new()
            .name("keyhaven-auto-lock".into())
            .spawn(move || loop {
                std::thread::sleep(Duration::from_secs(1));
                match weak.upgrade() {
                    Some(guards) => {
                        guards.expire_idle();
                        if !guards.any_key() {
                            *guards.watchdog.lock().unwrap_or_else(|p| p.into_inner()) = false;
                            return;
                        }
                    }
                    None => return,
                }
            });
        match spawned {
            Ok(_) => *started = true,
            Err(e) => tracing::warn!(
                "could not start the auto-lock thread ({e}); idle profiles lock on their next use"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use zeroize::Zeroizing;

    fn record() -> LockRecord {
        LockRecord {
            kdf: super::super::crypto::KdfParams::INSECURE_FOR_TESTS,
            salt: String::new(),
            wrapped_key: String::new(),
        }
    }

    #[test]
    fn keys_expire_after_the_idle_time_and_touch_extends_it() {
        let clock = ManualClock::new();
        let guards = Guards::new(Arc::new(clock.clone()));
        assert!(matches!(guards.access("ann"), Access::Plain));
        guards.configure(
            "ann",
            Protection {
                record: Some(record()),
                migration: None,
                auto_lock: Some(Duration::from_secs(60)),
            },
        );
        assert!(matches!(guards.access("ann"), Access::Locked));
        guards.set_key("ann", Zeroizing::new([1; 32]));
        assert!(matches!(guards.access("ann"), Access::Key(_)));
        clock.advance(Duration::from_secs(59));
        guards.touch("ann");
        clock.advance(Duration::from_secs(59));
        assert!(
            matches!(guards.access("ann"), Access::Key(_)),
            "touch extended it"
        );
        clock.advance(Duration::from_secs(1));
        assert!(
            matches!(guards.access("ann"), Access::Locked),
            "idle for 60 s"
        );
        // A touch after expiry does not bring the key back.
        guards.set_key("ann", Zeroizing::new([1; 32]));
        clock.advance(Duration::from_secs(61));
        guards.touch("ann");
        assert!(matches!(guards.access("ann"), Access::Locked));
    }

    #[test]
    fn switching_locks_the_others_and_removing_the_record_drops_the_key() {
        let guards = Guards::new(Arc::new(SystemClock));
        for p in ["ann", "bob"] {
            guards.configure(
                p,
                Protection {
                    record: Some(record()),
                    migration: None,
                    auto_lock: None,
                },
            );
            guards.set_key(p, Zeroizing::new([2; 32]));
        }
        guards.lock_all_except("bob");
        assert!(matches!(guards.access("ann"), Access::Locked));
        assert!(matches!(guards.access("bob"), Access::Key(_)));
        guards.configure("bob", Protection::default());
        assert!(matches!(guards.access("bob"), Access::Plain));
        guards.rename("ann", "anne");
        assert!(matches!(guards.access("anne"), Access::Locked));
        assert!(matches!(guards.access("ann"), Access::Plain));
    }
}
