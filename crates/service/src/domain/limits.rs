//! Rate limits: a fixed hourly window per key (for keys with an hourly limit) and a fixed daily
//! window per tenant (its tier's cap, reset at midnight UTC). A call is counted in both or in
//! neither, and the limits are exact however many callers race.
//!
//! With SQLite the service is the only process, and the windows live in its memory under one
//! lock. With a storage that several instances share (PostgreSQL), they live in storage, so that
//! N instances do not accept N times the limit (see [`crate::storage::Shared`]), and each
//! instance spends them through leases ([`Leases`]):
//! - an instance reserves a lease of a window's calls in storage and spends it from memory, with
//!   no round trip; at most one caller per key (or tenant) asks for the next lease, and the
//!   others wait for it;
//! - a lease is sized to the pace at which the instance spends it (about a second's worth, see
//!   [`lease_size`]), and storage never grants more than a sixteenth of the room left, so
//!   leases shrink to one call as a limit nears and the limit is never passed;
//! - what an instance has not spent it gives back about once a second ([`release_leases`]).
//!
//! With one instance the counts are exact. With several, an instance may refuse a call at the
//! limit while another still holds a few unspent calls of it (at most a sixteenth of what was
//! left when it took them), until that one gives them back.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

// foldhash (randomly seeded) for the maps every call touches: cheaper than SipHash.
use foldhash::HashMap;

use crate::clock::{DAY, HOUR};
use crate::config::TierRate;
use crate::domain::Domain;
use crate::error::ServiceError;
use crate::storage::{KeyRow, StoreFuture};

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

/// The lease asked for a window this instance has not spent from lately.
pub const FIRST_LEASE: u64 = 16;

/// Most calls of a window one instance leases at once.
pub const MAX_LEASE: u64 = 100_000;

/// How many calls of a window to ask storage for when this instance has none left: about one
/// flush interval's worth at the pace it has seen (the calls it spent in the last interval, and
/// a quarter more), or four times the lease it had when that ran out within this interval (the
/// pace has risen); between [`FIRST_LEASE`] and [`MAX_LEASE`]. Storage grants less near the
/// limit (a sixteenth of the room left, one call as it nears), so that the limit holds exactly
/// whatever is asked.
pub fn lease_size(last_interval: u64, last_lease: u64) -> u64 {
    let at_pace = last_interval.saturating_add(last_interval / 4);
    at_pace
        .max(last_lease.saturating_mul(4))
        .clamp(FIRST_LEASE, MAX_LEASE)
}

/// This instance's leases of shared rate windows, by id: keys' hours, or tenants' days. A call
/// spends from its lease in memory; when the lease is spent, one caller asks storage for the
/// next (sized by [`lease_size`]) while the others for the same id wait for it; what is left
/// unspent is given back about once a second ([`release_leases`]).
#[derive(Debug, Default)]
pub struct Leases(RwLock<HashMap<String, Arc<LeaseSlot>>>);

/// One id's lease, and its turn for a round trip to storage.
#[derive(Debug, Default)]
pub struct LeaseSlot {
    lease: Mutex<Lease>,
    /// Held while the lease is refilled or given back: at most one round trip at a time per id.
    turn: tokio::sync::Mutex<()>,
}

#[derive(Debug, Default, Clone, Copy)]
struct Lease {
    /// The window (hour or day number) leased.
    window: i64,
    /// Leased and not yet spent.
    available: u64,
    /// The current lease's size, and how much of it is spent.
    reserved: u64,
    spent: u64,
    /// The window's reserved total in storage right after the current lease was granted: this
    /// lease and everything else (other instances' leases, and calls this instance spent
    /// before).
    total: u64,
    /// Storage had no room at this limit when last asked: calls are refused without asking
    /// again until the next give-back (or under another limit).
    full_at: Option<u32>,
    /// Calls spent since the last give-back, and in the interval before it.
    this_interval: u64,
    last_interval: u64,
    /// The size of the last lease granted since the last give-back (0: none).
    last_lease: u64,
}

/// What a lease says about one more call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Spend {
    /// Spent: the window's calls after it, as far as this instance can tell.
    Spent(u64),
    /// Refused: the window's calls.
    Full(u64),
    /// Nothing left: ask storage.
    Empty,
}

impl Lease {
    /// The window's calls as far as this instance can tell: everything reserved elsewhere
    /// counts as spent. Exact when this instance is the only one.
    fn used(&self) -> u64 {
        self.total.saturating_sub(self.reserved) + self.spent
    }

    fn spend(&mut self, window: i64, limit: u32) -> Spend {
        if self.window != window {
            return Spend::Empty;
        }
        if self.available > 0 {
            if self.used() >= u64::from(limit) {
                // A limit lowered since the lease was granted.
                return Spend::Full(self.used());
            }
            self.available -= 1;
            self.spent += 1;
            self.this_interval += 1;
            return Spend::Spent(self.used());
        }
        if self.full_at == Some(limit) {
            return Spend::Full(self.total.max(self.used()));
        }
        Spend::Empty
    }

    /// The lease to ask for.
    fn want(&self) -> u64 {
        lease_size(self.last_interval, self.last_lease)
    }

    /// Takes a lease granted by storage and spends one call of it: the window's calls after
    /// it, or `Err(calls)` when nothing was granted. Called only when [`Lease::spend`] found
    /// nothing left, so there is no earlier lease to keep.
    fn grant(&mut self, window: i64, limit: u32, granted: u64, total: u64) -> Result<u64, u64> {
        self.window = window;
        self.available = granted;
        self.reserved = granted;
        self.spent = 0;
        self.total = total;
        if granted == 0 {
            self.full_at = Some(limit);
            return Err(total);
        }
        self.full_at = None;
        self.last_lease = granted;
        match self.spend(window, limit) {
            Spend::Spent(used) => Ok(used),
            Spend::Full(used) => Err(used),
            Spend::Empty => Err(total),
        }
    }

    /// Takes back a call [`Lease::spend`] counted in `window`.
    fn untake(&mut self, window: i64) {
        if self.window == window && self.spent > 0 {
            self.spent -= 1;
            self.available += 1;
            self.this_interval = self.this_interval.saturating_sub(1);
        }
    }

    /// Takes the unspent calls to give back, `(window, calls)`, and starts a new interval.
    fn give_back(&mut self) -> (i64, u64) {
        let unused = self.available;
        self.available = 0;
        self.reserved -= unused.min(self.reserved);
        self.total = self.total.saturating_sub(unused);
        self.full_at = None;
        self.last_interval = self.this_interval;
        self.this_interval = 0;
        self.last_lease = 0;
        (self.window, unused)
    }

    /// Whether nothing is leased and nothing was spent for two intervals.
    fn idle(&self) -> bool {
        self.available == 0 && self.this_interval == 0 && self.last_interval == 0
    }
}

impl Leases {
    /// Spends one call of `id`'s lease of `window` under `limit`: the window's calls after it,
    /// or `Err(calls)` when the window is full. When the lease is spent, asks storage for the
    /// next through `refill(want)` (`(granted, reserved in total)`), unless another caller
    /// already is: then waits for that refill and spends from it.
    pub async fn spend<'a>(
        &self,
        id: &str,
        window: i64,
        limit: u32,
        refill: impl FnOnce(u64) -> StoreFuture<'a, (u64, u64)>,
    ) -> Result<Result<u64, u64>, ServiceError> {
        {
            let slots = self.0.read().unwrap_or_else(|p| p.into_inner());
            if let Some(slot) = slots.get(id) {
                match slot.lock().spend(window, limit) {
                    Spend::Spent(used) => return Ok(Ok(used)),
                    Spend::Full(used) => return Ok(Err(used)),
                    Spend::Empty => {}
                }
            }
        }
        let slot = self.slot(id);
        let _turn = slot.turn.lock().await;
        // Another caller may have refilled the lease while this one waited for its turn.
        let want = {
            let mut lease = slot.lock();
            match lease.spend(window, limit) {
                Spend::Spent(used) => return Ok(Ok(used)),
                Spend::Full(used) => return Ok(Err(used)),
                Spend::Empty => lease.want(),
            }
        };
        let (granted, total) = refill(want).await?;
        let spent = slot.lock().grant(window, limit, granted, total);
        Ok(spent)
    }

    /// Takes back a call [`Leases::spend`] counted in `id`'s `window`, when a later limit
    /// refused it: it goes back into the lease.
    pub fn untake(&self, id: &str, window: i64) {
        let slots = self.0.read().unwrap_or_else(|p| p.into_inner());
        if let Some(slot) = slots.get(id) {
            slot.lock().untake(window);
        }
    }

    /// Unspent calls of `id`'s lease of `window`.
    pub fn available(&self, id: &str, window: i64) -> u64 {
        let slots = self.0.read().unwrap_or_else(|p| p.into_inner());
        slots.get(id).map_or(0, |slot| {
            let lease = slot.lock();
            if lease.window == window {
                lease.available
            } else {
                0
            }
        })
    }

    /// `window`'s calls as this instance sees them while it holds a lease of it (or knows it
    /// full): `None` when it does not, and only storage can tell.
    pub fn seen(&self, id: &str, window: i64) -> Option<u64> {
        let slots = self.0.read().unwrap_or_else(|p| p.into_inner());
        let lease = *slots.get(id)?.lock();
        if lease.window != window {
            None
        } else if lease.available > 0 {
            Some(lease.used())
        } else if lease.full_at.is_some() {
            Some(lease.total.max(lease.used()))
        } else {
            None
        }
    }

    /// Every id's slot, for a give-back.
    pub fn slots(&self) -> Vec<(String, Arc<LeaseSlot>)> {
        let slots = self.0.read().unwrap_or_else(|p| p.into_inner());
        slots
            .iter()
            .map(|(id, slot)| (id.clone(), Arc::clone(slot)))
            .collect()
    }

    /// Forgets the ids with nothing leased and no call for two intervals, so that memory
    /// follows the keys and tenants in use.
    pub fn prune(&self) {
        let mut slots = self.0.write().unwrap_or_else(|p| p.into_inner());
        // A slot someone holds (a caller waiting for its turn) stays.
        slots.retain(|_, slot| Arc::strong_count(slot) > 1 || !slot.lock().idle());
    }

    fn slot(&self, id: &str) -> Arc<LeaseSlot> {
        let mut slots = self.0.write().unwrap_or_else(|p| p.into_inner());
        Arc::clone(slots.entry(id.to_owned()).or_default())
    }
}

impl LeaseSlot {
    fn lock(&self) -> std::sync::MutexGuard<'_, Lease> {
        self.lease.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits for the refill in flight, if any, and takes the unspent calls to give back:
    /// `(turn, window, calls)`. Refills wait until `turn` is dropped, after the give-back.
    pub async fn take_unused(&self) -> (tokio::sync::MutexGuard<'_, ()>, i64, u64) {
        let turn = self.turn.lock().await;
        let (window, unused) = self.lock().give_back();
        (turn, window, unused)
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
    let hourly = match key.rate_limit_per_hour {
        None => None,
        Some(limit) => {
            let spent = svc
                .hourly_leases()
                .spend(&key.id, hour, limit, |want| {
                    svc.note_rate_round_trip();
                    shared.lease_hourly(&key.id, hour, limit, want)
                })
                .await?;
            match spent {
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
            }
        }
    };
    let spent = svc
        .daily_leases()
        .spend(&key.tenant_id, day, daily_cap, |want| {
            svc.note_rate_round_trip();
            shared.reserve_daily(&key.tenant_id, day, daily_cap, want)
        })
        .await;
    // A call the daily cap refuses (or that storage could not decide) counts against neither
    // window: its hourly call goes back into the lease.
    let untake_hourly = || {
        if hourly.is_some() {
            svc.hourly_leases().untake(&key.id, hour);
        }
    };
    match spent {
        Ok(Ok(used)) => {
            let daily = window(daily_cap, as_u32(used), day, DAY, now);
            Ok(Ok(hourly.map_or(daily, |hourly| tighter(hourly, daily))))
        }
        Ok(Err(used)) => {
            untake_hourly();
            Ok(Err(Limited::Daily(window(
                daily_cap,
                as_u32(used),
                day,
                DAY,
                now,
            ))))
        }
        Err(e) => {
            untake_hourly();
            Err(e)
        }
    }
}

/// [`RateCounters::peek`] on this service's windows: in memory, or in shared storage. On a
/// shared storage, a window this instance holds a lease of is read from the lease; storage is
/// asked only for the others.
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
    let (hourly, daily) = (svc.hourly_leases(), svc.daily_leases());
    let hourly_seen = match key.rate_limit_per_hour {
        Some(_) => hourly.seen(&key.id, hour),
        None => Some(0),
    };
    let (hourly_used, daily_used) = match (hourly_seen, daily.seen(&key.tenant_id, day)) {
        (Some(hourly_used), Some(daily_used)) => (hourly_used, daily_used),
        _ => {
            svc.note_rate_round_trip();
            let (hourly_reserved, daily_reserved) =
                shared.peek(&key.id, hour, &key.tenant_id, day).await?;
            (
                hourly_reserved.saturating_sub(hourly.available(&key.id, hour)),
                daily_reserved.saturating_sub(daily.available(&key.tenant_id, day)),
            )
        }
    };
    let daily = window(daily_cap, as_u32(daily_used), day, DAY, now);
    Ok(match key.rate_limit_per_hour {
        Some(limit) => tighter(window(limit, as_u32(hourly_used), hour, HOUR, now), daily),
        None => daily,
    })
}

/// Gives back to shared storage the unspent calls of this instance's leases, each after any
/// refill of it in flight. Runs about once a second and at shutdown; a lease not given back
/// (storage unreachable) is lost for the rest of its window, which can only make a limit refuse
/// early, never pass it.
pub async fn release_leases(svc: &Domain) {
    let Some(shared) = svc.store().shared() else {
        return;
    };
    for (leases, hourly) in [(svc.hourly_leases(), true), (svc.daily_leases(), false)] {
        for (id, slot) in leases.slots() {
            let (_turn, window, unused) = slot.take_unused().await;
            if unused == 0 {
                continue;
            }
            svc.note_rate_round_trip();
            let released = if hourly {
                shared.release_hourly(&id, window, unused).await
            } else {
                shared.release_daily(&id, window, unused).await
            };
            if let Err(e) = released {
                tracing::warn!(error = %e, id, unused, "could not give back a lease");
            }
        }
        leases.prune();
    }
}

fn as_u32(n: u64) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
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
    fn a_lease_is_sized_to_the_pace_seen_and_grows_when_it_runs_out_early() {
        assert_eq!(lease_size(0, 0), FIRST_LEASE, "no pace seen yet");
        assert_eq!(
            lease_size(5, 0),
            FIRST_LEASE,
            "a slow pace: the smallest lease"
        );
        assert_eq!(
            lease_size(8_000, 0),
            10_000,
            "the last interval's calls and a quarter more"
        );
        assert_eq!(
            lease_size(0, 16),
            64,
            "a lease spent within its interval: four times"
        );
        assert_eq!(lease_size(8_000, 4_000), 16_000);
        assert_eq!(lease_size(8_000, 1_000), 10_000, "never below the pace");
        assert_eq!(lease_size(10_000_000, 0), MAX_LEASE);
        assert_eq!(lease_size(0, u64::MAX), MAX_LEASE);
        assert_eq!(lease_size(u64::MAX, 0), MAX_LEASE);
    }

    /// A window in storage, granting as `keyhaven_reserve_daily` and `keyhaven_lease_hourly`
    /// do: what is asked, but at most a sixteenth of the room left (at least one call while
    /// there is room). Each grant yields first, so that callers waiting for it pile up.
    #[derive(Default)]
    struct Stored {
        reserved: Mutex<u64>,
        round_trips: AtomicU64,
    }

    impl Stored {
        fn reserve(&self, limit: u32, want: u64) -> StoreFuture<'_, (u64, u64)> {
            Box::pin(async move {
                self.round_trips.fetch_add(1, Ordering::Relaxed);
                tokio::task::yield_now().await;
                let mut reserved = self.reserved.lock().expect("lock");
                let room = u64::from(limit).saturating_sub(*reserved);
                let granted = want.min((room / 16).max(1)).min(room);
                *reserved += granted;
                Ok((granted, *reserved))
            })
        }

        fn release(&self, unused: u64) {
            *self.reserved.lock().expect("lock") -= unused;
        }

        fn reserved(&self) -> u64 {
            *self.reserved.lock().expect("lock")
        }

        fn round_trips(&self) -> u64 {
            self.round_trips.load(Ordering::Relaxed)
        }
    }

    async fn spend(leases: &Leases, stored: &Stored, limit: u32) -> Result<u64, u64> {
        leases
            .spend("ten_a", 7, limit, |want| stored.reserve(limit, want))
            .await
            .expect("stored")
    }

    /// Gives back what `leases` holds unspent, as [`release_leases`] does.
    async fn give_back(leases: &Leases, stored: &Stored) {
        for (_, slot) in leases.slots() {
            let (_turn, _, unused) = slot.take_unused().await;
            stored.release(unused);
        }
    }

    #[tokio::test]
    async fn callers_racing_on_a_spent_lease_wait_for_one_refill_and_count_exactly() {
        let (leases, stored) = (Leases::default(), Stored::default());
        let calls = (0..100).map(|_| spend(&leases, &stored, 1_000_000));
        let mut used: Vec<u64> = keyhaven_testkit::join_all(calls)
            .await
            .into_iter()
            .map(|r| r.expect("accepted"))
            .collect();
        used.sort_unstable();
        assert_eq!(
            used,
            (1..=100).collect::<Vec<_>>(),
            "each call counted once"
        );
        // One refill at a time, each growing fourfold: 16 + 64 + 256 calls for 100 callers,
        // not one round trip per caller.
        assert_eq!(stored.round_trips(), 3);
        assert_eq!(stored.reserved(), 336);
        give_back(&leases, &stored).await;
        assert_eq!(stored.reserved(), 100, "the unspent calls are given back");
        // The next interval's lease is sized to the last one's pace: 100 calls and a quarter.
        assert_eq!(spend(&leases, &stored, 1_000_000).await, Ok(101));
        assert_eq!(stored.reserved(), 225);
    }

    #[tokio::test]
    async fn two_instances_never_pass_the_limit_and_what_one_gives_back_the_other_spends() {
        let stored = Stored::default();
        let (a, b) = (Leases::default(), Leases::default());
        // Calls alternate between the instances until the limit: exactly the limit is accepted.
        let mut accepted = 0;
        for i in 0..2_000 {
            let on = if i % 2 == 0 { &a } else { &b };
            if spend(on, &stored, 1_000).await.is_ok() {
                accepted += 1;
            }
        }
        give_back(&a, &stored).await;
        give_back(&b, &stored).await;
        assert_eq!(accepted, 1_000, "the limit, exactly");
        assert_eq!(stored.reserved(), 1_000);

        // A fresh window: A leases 16 calls and spends one; B is refused once the rest of the
        // room is reserved, and refuses on its own from then on, with no round trip.
        let stored = Stored::default();
        let (a, b) = (Leases::default(), Leases::default());
        assert_eq!(spend(&a, &stored, 40).await, Ok(1));
        assert_eq!(stored.reserved(), 2, "a sixteenth of the room: 40 / 16");
        let mut on_b = 0;
        while spend(&b, &stored, 40).await.is_ok() {
            on_b += 1;
        }
        assert_eq!(on_b, 38);
        let trips = stored.round_trips();
        assert_eq!(spend(&b, &stored, 40).await, Err(40));
        assert_eq!(stored.round_trips(), trips, "refused from memory");
        // A gives back its unspent call at the flush; B's next interval finds it.
        give_back(&a, &stored).await;
        give_back(&b, &stored).await;
        assert_eq!(stored.reserved(), 39);
        assert_eq!(spend(&b, &stored, 40).await, Ok(40));
        assert_eq!(spend(&b, &stored, 40).await, Err(40));
    }

    #[tokio::test]
    async fn a_call_taken_back_returns_to_the_lease_and_a_new_window_starts_afresh() {
        let (leases, stored) = (Leases::default(), Stored::default());
        assert_eq!(spend(&leases, &stored, 1_000).await, Ok(1));
        assert_eq!(leases.available("ten_a", 7), 15);
        leases.untake("ten_a", 7);
        assert_eq!(leases.available("ten_a", 7), 16);
        assert_eq!(leases.seen("ten_a", 7), Some(0));
        assert_eq!(spend(&leases, &stored, 1_000).await, Ok(1));
        // A limit lowered to what is used refuses from the lease.
        assert_eq!(spend(&leases, &stored, 1).await, Err(1));
        // Another window: the lease of the last one is not spent in it.
        let next = leases
            .spend("ten_a", 8, 1_000, |want| stored.reserve(1_000, want))
            .await
            .expect("stored");
        assert_eq!(
            next,
            Ok(17),
            "storage's count, as this sketch keeps one window"
        );
        assert_eq!(leases.available("ten_a", 7), 0);
        give_back(&leases, &stored).await;
        leases.prune();
        assert_eq!(leases.slots().len(), 1, "used in the last interval: kept");
        give_back(&leases, &stored).await;
        leases.prune();
        assert!(
            leases.slots().is_empty(),
            "idle for two intervals: forgotten"
        );
    }
}
