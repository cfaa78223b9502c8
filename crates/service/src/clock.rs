//! Time as the service stores it: whole seconds since the Unix epoch, UTC. The service reads
//! time through a [`Clock`], so that tests can move it instead of sleeping.

use std::fmt::Debug;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::error::ServiceError;

pub const HOUR: i64 = 3_600;
pub const DAY: i64 = 86_400;

/// Where the service reads the time from.
pub trait Clock: Send + Sync + Debug + 'static {
    /// Now, in whole seconds since the Unix epoch.
    fn now(&self) -> i64;
}

/// The system's clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> i64 {
        Utc::now().timestamp()
    }
}

/// A clock that moves only when told to; clones share the same time. For tests.
#[derive(Debug, Clone)]
pub struct ManualClock(Arc<AtomicI64>);

impl ManualClock {
    /// A clock standing at `secs` since the Unix epoch.
    pub fn at(secs: i64) -> ManualClock {
        ManualClock(Arc::new(AtomicI64::new(secs)))
    }

    /// A clock standing at the system's time now.
    pub fn starting_now() -> ManualClock {
        ManualClock::at(SystemClock.now())
    }

    pub fn set(&self, secs: i64) {
        self.0.store(secs, Ordering::SeqCst);
    }

    pub fn advance(&self, secs: i64) {
        self.0.fetch_add(secs, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// A stored time as the wire shows it.
pub fn to_utc(secs: i64) -> Result<DateTime<Utc>, ServiceError> {
    DateTime::from_timestamp(secs, 0)
        .ok_or_else(|| ServiceError::CorruptData(format!("timestamp {secs} is out of range")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_moves_when_told() {
        let c = ManualClock::at(100);
        let shared = c.clone();
        c.advance(5);
        assert_eq!(shared.now(), 105);
        shared.set(7);
        assert_eq!(c.now(), 7);
        assert!(SystemClock.now() > 1_600_000_000);
    }
}
