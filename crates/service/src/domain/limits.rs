//! Rate limits: a fixed hourly window per key (for keys with an hourly limit) and a fixed daily
//! window per tenant (its tier's cap, reset at midnight UTC). A call is counted in both or in
//! neither, and the limits are exact however many callers race.
//!
//! With SQLite the service is the only process, and the windows live in its memory under one
//! lock. With a storage that several instances share (PostgreSQL), they live in storage, so that
//! N instances do not accept N times the limit (see [`crate::storage::Shared`]):
//! - a key's hourly window is counted in storage call by call: exact across instances;
//! - a tenant's daily window is reserved in batches ([`DailyLeases`]): each instance spends its
//!   batch from memory, with no round trip, and gives back what it has not spent about once a
//!   second. Batches shrink to one call as the cap nears, so the cap is never passed; with one
//!   instance it is exact, with several an instance may refuse a call early, at the cap, while
//!   another still holds an unspent batch, until that is given back.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

// foldhash (randomly seeded) for the maps every call touches: cheaper than SipHash.
use foldhash::HashMap;

use crate::clock::{DAY, HOUR};
use crate::config::TierRate;
use crate::domain::Domain;
use crate::error::ServiceError;
use crate::storage::KeyRow;

#[derive(Debug, Default)]
pub struct RateCounters {
    /// key id → its hourly window
    keys: Windows,
    /// tenant id → its daily window
    tenants: Windows,
}

/// Fixed windows by id, each one atomic word: the window's number in the high 32 bits and the
/// calls accepted in it in the low 32. Calls on known ids take only the map's read lock, so the
/// worker threads never wait for each other (nor for one that was preempted holding a lock);
/// the write lock is for an id's first call and for pruning.
#[derive(Debug, Default)]
struct Windows(RwLock<HashMap<String, AtomicU64>>);

/// Where a call stands in its window, as the headers report it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateWindow {
    pub limit: u32,
    pub remaining: u32,
    /// Seconds until the window resets.
    pub reset: i64,
}

/// Why a call was refused, with the window that refused it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limited {
    /// The key's hourly limit.
    Hourly(RateWindow),
    /// The tenant's daily cap.
    Daily(RateWindow),
}

fn pack(window: i64, used: u32) -> u64 {
    // Window numbers are hours or days since 1970: 32 bits hold them for thousands of years, and
    // a number is only ever compared with another truncated the same way.
    (u64::from(window as u32) << 32) | u64::from(used)
}

/// The calls accepted in `window`, from a packed word.
fn used_of(word: u64, window: i64) -> u32 {
    if (word >> 32) as u32 == window as u32 {
        word as u32
    } else {
        0
    }
}

impl Windows {
    /// Counts one call in `id`'s `window` if fewer than `limit` were: `Ok(calls)` with it, or
    /// `Err(calls)` when the window is full.
    fn take(&self, id: &str, window: i64, limit: u32) -> Result<u32, u32> {
        {
            let map = self.0.read().unwrap_or_else(|p| p.into_inner());
            if let Some(word) = map.get(id) {
                return take_in(word, window, limit);
            }
        }
        let mut map = self.0.write().unwrap_or_else(|p| p.into_inner());
        let word = map.entry(id.to_owned()).or_default();
        take_in(word, window, limit)
    }

    /// Adds `calls` to `id`'s count in `window` (a count from an earlier run).
    fn add(&self, id: &str, window: i64, calls: u32) {
        let mut map = self.0.write().unwrap_or_else(|p| p.into_inner());
        let word = map.entry(id.to_owned()).or_default();
        let _ = word.fetch_update(Ordering::AcqRel, Ordering::Acquire, |w| {
            Some(pack(window, used_of(w, window).saturating_add(calls)))
        });
    }

    /// Takes back a call [`Windows::take`] counted in `window` (when that window still runs).
    fn untake(&self, id: &str, window: i64) {
        let map = self.0.read().unwrap_or_else(|p| p.into_inner());
        if let Some(word) = map.get(id) {
            let _ = word.fetch_update(Ordering::AcqRel, Ordering::Acquire, |w| {
                let used = used_of(w, window);
                (used > 0).then(|| pack(window, used - 1))
            });
        }
    }

    fn used(&self, id: &str, window: i64) -> u32 {
        let map = self.0.read().unwrap_or_else(|p| p.into_inner());
        map.get(id)
            .map_or(0, |word| used_of(word.load(Ordering::Acquire), window))
    }

    /// Forgets the windows that ended before `window`.
    fn prune(&self, window: i64) {
        let mut map = self.0.write().unwrap_or_else(|p| p.into_inner());
        map.retain(|_, word| (*word.get_mut() >> 32) as u32 >= window as u32);
    }
}

fn take_in(word: &AtomicU64, window: i64, limit: u32) -> Result<u32, u32> {
    let mut current = word.load(Ordering::Acquire);
    loop {
        let used = used_of(current, window);
        if used >= limit {
            return Err(used);
        }
        match word.compare_exchange_weak(
            current,
            pack(window, used + 1),
            Ordering::AcqRel,
            Ordering::Acquire,
        ) {
            Ok(_) => return Ok(used + 1),
            Err(actual) => current = actual,
        }
    }
}

impl RateCounters {
    /// Accepts one call with `key` at `now` if both its hourly limit and its tenant's daily cap
    /// allow it, counting it against both; otherwise counts nothing and says which refused.
    /// The window reported is the one with fewer calls left.
    ///
    /// The hourly window is counted first and given back when the daily cap refuses: for that
    /// moment a racing call on the same key may see one call more than there will be.
    pub fn acquire(&self, key: &KeyRow, daily_cap: u32, now: i64) -> Result<RateWindow, Limited> {
        let hour = now.div_euclid(HOUR);
        let day = now.div_euclid(DAY);
        let hourly = match key.rate_limit_per_hour {
            None => None,
            Some(limit) => match self.keys.take(&key.id, hour, limit) {
                Ok(used) => Some(window(limit, used, hour, HOUR, now)),
                Err(used) => return Err(Limited::Hourly(window(limit, used, hour, HOUR, now))),
            },
        };
        match self.tenants.take(&key.tenant_id, day, daily_cap) {
            Ok(used) => {
                let daily = window(daily_cap, used, day, DAY, now);
                Ok(hourly.map_or(daily, |hourly| tighter(hourly, daily)))
            }
            Err(used) => {
                if hourly.is_some() {
                    self.keys.untake(&key.id, hour);
                }
                Err(Limited::Daily(window(daily_cap, used, day, DAY, now)))
            }
        }
    }

    /// Counts `calls` that were accepted with `key_id` (of `tenant_id`) in the hour starting at
    /// `hour_start`, as stored by an earlier run: in the key's hourly window when that hour is
    /// the current one, and in the tenant's daily window when it is today. After a restart, the
    /// windows go on from where they were instead of starting afresh.
    pub fn seed(&self, key_id: &str, tenant_id: &str, hour_start: i64, calls: u32, now: i64) {
        let hour = hour_start.div_euclid(HOUR);
        if hour == now.div_euclid(HOUR) {
            self.keys.add(key_id, hour, calls);
        }
        let day = hour_start.div_euclid(DAY);
        if day == now.div_euclid(DAY) {
            self.tenants.add(tenant_id, day, calls);
        }
    }

    /// Where `key` stands, without counting a call.
    pub fn peek(&self, key: &KeyRow, daily_cap: u32, now: i64) -> RateWindow {
        let hour = now.div_euclid(HOUR);
        let day = now.div_euclid(DAY);
        let daily = window(
            daily_cap,
            self.tenants.used(&key.tenant_id, day),
            day,
            DAY,
            now,
        );
        match key.rate_limit_per_hour {
            Some(limit) => tighter(
                window(limit, self.keys.used(&key.id, hour), hour, HOUR, now),
                daily,
            ),
            None => daily,
        }
    }

    /// Forgets windows that have ended, so that memory follows the keys in use.
    pub fn prune(&self, now: i64) {
        self.keys.prune(now.div_euclid(HOUR));
        self.tenants.prune(now.div_euclid(DAY));
    }
}

/// Management calls per session, in fixed windows of a minute (in each instance's memory).
#[derive(Debug, Default)]
pub struct SessionRates(Windows);

/// A session's window: a minute.
const MINUTE: i64 = 60;

impl SessionRates {
    /// Counts one call of the session `id` at `now` if fewer than `limit` were made in its
    /// minute: the window after it, or `Err` with the full window.
    pub fn take(&self, id: &str, limit: u32, now: i64) -> Result<RateWindow, RateWindow> {
        let minute = now.div_euclid(MINUTE);
        match self.0.take(id, minute, limit) {
            Ok(used) => Ok(window(limit, used, minute, MINUTE, now)),
            Err(used) => Err(window(limit, used, minute, MINUTE, now)),
        }
    }

    /// Forgets the sessions of minutes that have ended.
    pub fn prune(&self, now: i64) {
        self.0.prune(now.div_euclid(MINUTE));
    }
}

/// Calls per key in the windows of the tiers' request rates (AniKura's free tier: one call
/// every two seconds), in each instance's memory: one set of windows per span.
#[derive(Debug, Default)]
pub struct TierRates(Mutex<BTreeMap<u32, Arc<Windows>>>);

impl TierRates {
    fn windows(&self, seconds: u32) -> Arc<Windows> {
        let mut spans = self.0.lock().unwrap_or_else(|p| p.into_inner());
        Arc::clone(spans.entry(seconds).or_default())
    }

    /// Counts one call of `key_id` at `now` if `rate` allows it: the window after it, or `Err`
    /// with the full window.
    pub fn take(&self, key_id: &str, rate: TierRate, now: i64) -> Result<RateWindow, RateWindow> {
        let span = i64::from(rate.seconds);
        let number = now.div_euclid(span);
        match self.windows(rate.seconds).take(key_id, number, rate.calls) {
            Ok(used) => Ok(window(rate.calls, used, number, span, now)),
            Err(used) => Err(window(rate.calls, used, number, span, now)),
        }
    }

    /// Takes back a call [`TierRates::take`] counted, when a later limit refused it.
    pub fn untake(&self, key_id: &str, rate: TierRate, now: i64) {
        let number = now.div_euclid(i64::from(rate.seconds));
        self.windows(rate.seconds).untake(key_id, number);
    }

    /// Forgets the windows that have ended.
    pub fn prune(&self, now: i64) {
        let spans = self.0.lock().unwrap_or_else(|p| p.into_inner());
        for (seconds, windows) in spans.iter() {
            windows.prune(now.div_euclid(i64::from(*seconds)));
        }
    }
}

/// Most calls of a daily window one instance reserves at once.
pub const MAX_DAILY_BATCH: u32 = 1000;

/// This instance's reserved batches of its tenants' daily windows, on a shared storage.
#[derive(Debug, Default)]
pub struct DailyLeases {
    leases: Mutex<HashMap<String, Lease>>,
}

#[derive(Debug, Default, Clone, Copy)]
struct Lease {
    day: i64,
    /// Reserved and not yet spent.
    available: u64,
    /// Reserved by this lease in all.
    reserved: u64,
    /// Spent from this lease.
    spent: u64,
    /// The window's reserved total in storage, as last seen: this lease and everything else
    /// (other instances' batches, and calls this instance spent before this lease).
    total: u64,
}

impl Lease {
    /// The window's calls as far as this instance can tell: everything reserved elsewhere
    /// counts as spent. Exact when this instance is the only one.
    fn used(&self) -> u64 {
        self.total.saturating_sub(self.reserved) + self.spent
    }

    fn spend(&mut self) -> u64 {
        self.available -= 1;
        self.spent += 1;
        self.used()
    }
}

impl DailyLeases {
    /// Spends one call of the tenant's batch for `day`: the window's calls after it, or `None`
    /// when there is no batch left (or the cap, lowered since, is reached).
    fn take(&self, tenant_id: &str, day: i64, cap: u32) -> Option<u64> {
        let mut leases = self.leases.lock().unwrap_or_else(|p| p.into_inner());
        let lease = leases.get_mut(tenant_id)?;
        (lease.day == day && lease.available > 0 && lease.used() < u64::from(cap))
            .then(|| lease.spend())
    }

    /// Adds a batch reserved in storage and spends one call of it: the window's calls after it,
    /// or `Err(calls)` when nothing was granted.
    fn grant(&self, tenant_id: &str, day: i64, granted: u64, total: u64) -> Result<u64, u64> {
        let mut leases = self.leases.lock().unwrap_or_else(|p| p.into_inner());
        let lease = leases.entry(tenant_id.to_owned()).or_default();
        if lease.day != day {
            // An earlier day's batch ended with its day.
            *lease = Lease {
                day,
                ..Lease::default()
            };
        }
        lease.available += granted;
        lease.reserved += granted;
        lease.total = lease.total.max(total);
        if granted == 0 {
            return Err(lease.total.max(lease.used()));
        }
        Ok(lease.spend())
    }

    /// Unspent calls of the tenant's batch for `day`.
    fn available(&self, tenant_id: &str, day: i64) -> u64 {
        let leases = self.leases.lock().unwrap_or_else(|p| p.into_inner());
        leases
            .get(tenant_id)
            .filter(|l| l.day == day)
            .map_or(0, |l| l.available)
    }

    /// Takes every batch: `(tenant, day, unspent calls)` of those with calls left to give back.
    pub fn drain(&self) -> Vec<(String, i64, u64)> {
        let mut leases = self.leases.lock().unwrap_or_else(|p| p.into_inner());
        leases
            .drain()
            .filter(|(_, l)| l.available > 0)
            .map(|(tenant, l)| (tenant, l.day, l.available))
            .collect()
    }
}

/// [`RateCounters::acquire`] on this service's windows: in memory, or in shared storage.
pub async fn acquire(
    svc: &Domain,
    key: &KeyRow,
    daily_cap: u32,
    now: i64,
) -> Result<Result<RateWindow, Limited>, ServiceError> {
    let Some(shared) = svc.store().shared() else {
        return Ok(svc.rates().acquire(key, daily_cap, now));
    };
    let (hour, day) = (now.div_euclid(HOUR), now.div_euclid(DAY));
    let as_u32 = |n: u64| u32::try_from(n).unwrap_or(u32::MAX);
    let hourly = match key.rate_limit_per_hour {
        None => None,
        Some(limit) => match shared.take_hourly(&key.id, hour, limit).await? {
            Ok(used) => Some(window(limit, as_u32(used), hour, HOUR, now)),
            Err(used) => {
                return Ok(Err(Limited::Hourly(window(
                    limit,
                    as_u32(used),
                    hour,
                    HOUR,
                    now,
                ))))
            }
        },
    };
    let leases = svc.daily_leases();
    let daily = match leases.take(&key.tenant_id, day, daily_cap) {
        Some(used) => Ok(used),
        None => {
            let reserved = shared
                .reserve_daily(&key.tenant_id, day, daily_cap, MAX_DAILY_BATCH)
                .await;
            let (granted, total) = match reserved {
                Ok(reserved) => reserved,
                Err(e) => {
                    if hourly.is_some() {
                        // Not accepted: best effort, the call should not use up the hour.
                        let _ = shared.untake_hourly(&key.id, hour).await;
                    }
                    return Err(e);
                }
            };
            leases.grant(&key.tenant_id, day, granted, total)
        }
    };
    match daily {
        Ok(used) => {
            let daily = window(daily_cap, as_u32(used), day, DAY, now);
            Ok(Ok(hourly.map_or(daily, |hourly| tighter(hourly, daily))))
        }
        Err(used) => {
            if hourly.is_some() {
                // Refused: the call counts against neither window.
                shared.untake_hourly(&key.id, hour).await?;
            }
            Ok(Err(Limited::Daily(window(
                daily_cap,
                as_u32(used),
                day,
                DAY,
                now,
            ))))
        }
    }
}

/// [`RateCounters::peek`] on this service's windows: in memory, or in shared storage.
pub async fn peek(
    svc: &Domain,
    key: &KeyRow,
    daily_cap: u32,
    now: i64,
) -> Result<RateWindow, ServiceError> {
    let Some(shared) = svc.store().shared() else {
        return Ok(svc.rates().peek(key, daily_cap, now));
    };
    let (hour, day) = (now.div_euclid(HOUR), now.div_euclid(DAY));
    let as_u32 = |n: u64| u32::try_from(n).unwrap_or(u32::MAX);
    let (hourly_used, reserved) = shared.peek(&key.id, hour, &key.tenant_id, day).await?;
    let unspent = svc.daily_leases().available(&key.tenant_id, day);
    let daily = window(
        daily_cap,
        as_u32(reserved.saturating_sub(unspent)),
        day,
        DAY,
        now,
    );
    Ok(match key.rate_limit_per_hour {
        Some(limit) => tighter(window(limit, as_u32(hourly_used), hour, HOUR, now), daily),
        None => daily,
    })
}

/// Gives back to shared storage the unspent calls of this instance's daily batches. Runs about
/// once a second and at shutdown; a batch not given back (storage unreachable) is lost for the
/// rest of its day, which can only make the cap refuse early, never pass it.
pub async fn release_daily_leases(svc: &Domain) {
    let Some(shared) = svc.store().shared() else {
        return;
    };
    for (tenant_id, day, unspent) in svc.daily_leases().drain() {
        if let Err(e) = shared.release_daily(&tenant_id, day, unspent).await {
            tracing::warn!(error = %e, tenant_id, unspent, "could not give back a daily batch");
        }
    }
}

fn window(limit: u32, used: u32, number: i64, span: i64, now: i64) -> RateWindow {
    RateWindow {
        limit,
        remaining: limit.saturating_sub(used),
        reset: (number + 1) * span - now,
    }
}

/// The window with fewer calls left (the hourly one on a tie).
fn tighter(hourly: RateWindow, daily: RateWindow) -> RateWindow {
    if daily.remaining < hourly.remaining {
        daily
    } else {
        hourly
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(id: &str, limit: Option<u32>) -> KeyRow {
        KeyRow {
            scopes: vec!["read".into()],
            rate_limit_per_hour: limit,
            ..KeyRow::for_test(id)
        }
    }

    #[test]
    fn hourly_limit_counts_down_refuses_and_resets_with_the_hour() {
        let c = RateCounters::default();
        let k = key("key_a", Some(3));
        let t = 10 * HOUR + 600;
        assert_eq!(
            c.acquire(&k, 100, t),
            Ok(RateWindow {
                limit: 3,
                remaining: 2,
                reset: 3000
            })
        );
        assert_eq!(c.acquire(&k, 100, t + 1).map(|w| w.remaining), Ok(1));
        assert_eq!(c.acquire(&k, 100, t + 2).map(|w| w.remaining), Ok(0));
        assert_eq!(
            c.acquire(&k, 100, t + 3),
            Err(Limited::Hourly(RateWindow {
                limit: 3,
                remaining: 0,
                reset: 2997
            }))
        );
        assert_eq!(c.peek(&k, 100, t + 4).remaining, 0);
        assert_eq!(
            c.acquire(&k, 100, 11 * HOUR).map(|w| w.remaining),
            Ok(2),
            "a new hour"
        );
    }

    #[test]
    fn the_daily_cap_is_shared_by_the_tenants_keys_and_resets_at_midnight() {
        let c = RateCounters::default();
        let (a, b) = (key("key_a", None), key("key_b", Some(50)));
        let t = 3 * DAY + 100;
        assert_eq!(
            c.acquire(&a, 2, t),
            Ok(RateWindow {
                limit: 2,
                remaining: 1,
                reset: DAY - 100
            })
        );
        assert_eq!(
            c.acquire(&b, 2, t).map(|w| (w.limit, w.remaining)),
            Ok((2, 0)),
            "the daily window is the tighter one"
        );
        assert!(matches!(c.acquire(&b, 2, t), Err(Limited::Daily(_))));
        assert_eq!(
            c.peek(&b, 2, t).remaining,
            0,
            "a refused call counted nothing"
        );
        assert_eq!(c.acquire(&a, 2, 4 * DAY).map(|w| w.remaining), Ok(1));
        c.prune(4 * DAY);
        assert_eq!(c.peek(&b, 2, 4 * DAY).limit, 2);
    }

    #[test]
    fn a_call_the_daily_cap_refuses_does_not_use_up_the_hour() {
        let c = RateCounters::default();
        let k = key("key_a", Some(10));
        let t = 5 * DAY + 100;
        assert!(c.acquire(&k, 1, t).is_ok());
        for _ in 0..3 {
            assert!(matches!(c.acquire(&k, 1, t), Err(Limited::Daily(_))));
        }
        assert_eq!(
            c.keys.used("key_a", t.div_euclid(HOUR)),
            1,
            "only the accepted call"
        );
        assert_eq!(
            c.peek(&k, 5, t).remaining,
            4,
            "the daily window, then tighter"
        );
    }

    #[test]
    fn threads_racing_on_one_key_get_exactly_its_limit_and_the_tenant_exactly_its_cap() {
        let c = RateCounters::default();
        let (limited, free) = (key("key_a", Some(500)), key("key_b", None));
        let t = 7 * DAY + 5;
        // Eight threads race on one key, then on the other. Not both at once: a call that holds
        // the limited key's last hourly slot while the other key's calls fill the daily cap gives
        // the slot back, which rightly leaves the limited key one short of its limit.
        let race = |key: &KeyRow| -> usize {
            std::thread::scope(|s| {
                let runs: Vec<_> = (0..8)
                    .map(|_| {
                        s.spawn(|| {
                            (0..200)
                                .filter(|_| c.acquire(key, 1_200, t).is_ok())
                                .count()
                        })
                    })
                    .collect();
                runs.into_iter().map(|r| r.join().expect("thread")).sum()
            })
        };
        let on_limited = race(&limited);
        let on_free = race(&free);
        assert_eq!(on_limited, 500, "the hourly limit, exactly");
        assert_eq!(on_limited + on_free, 1_200, "the daily cap, exactly");
        assert_eq!(c.peek(&free, 1_200, t).remaining, 0);
    }

    #[test]
    fn a_daily_batch_is_spent_from_memory_and_counts_exactly_for_one_instance() {
        let l = DailyLeases::default();
        assert_eq!(l.take("ten_a", 7, 100), None, "no batch yet");
        // A batch of 6 reserved when 0 were used: the first call is spent at once.
        assert_eq!(l.grant("ten_a", 7, 6, 6), Ok(1));
        assert_eq!(l.take("ten_a", 7, 100), Some(2));
        assert_eq!(l.available("ten_a", 7), 4);
        assert_eq!(l.take("ten_a", 8, 100), None, "another day");
        assert_eq!(l.take("ten_a", 7, 2), None, "a cap lowered to what is used");
        // Given back: 4 unspent; the next batch starts from what storage then holds (2).
        assert_eq!(l.drain(), vec![("ten_a".to_owned(), 7, 4)]);
        assert_eq!(l.take("ten_a", 7, 100), None);
        assert_eq!(l.grant("ten_a", 7, 3, 5), Ok(3));
        assert_eq!(l.take("ten_a", 7, 100), Some(4));
        // Nothing granted: the cap is reached.
        assert_eq!(l.grant("ten_b", 7, 0, 9), Err(9));
    }
}
