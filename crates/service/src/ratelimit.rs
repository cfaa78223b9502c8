//! Rate limits: a fixed hourly window per key (for keys with an hourly limit) and a fixed daily
//! window per tenant (its tier's cap, reset at midnight UTC). A call is counted in both or in
//! neither, and the limits are exact however many callers race.
//!
//! With SQLite the service is the only process, and the windows live in its memory under one
//! lock. With a storage that several instances share (PostgreSQL), they live in storage and
//! are counted there atomically (see [`crate::storage::SharedRates`]), so that N instances do
//! not accept N times the limit.

use std::collections::HashMap;
use std::sync::Mutex;

use axum::http::{HeaderMap, HeaderName, HeaderValue};

use crate::clock::{DAY, HOUR};
use crate::error::ServiceError;
use crate::service::Service;
use crate::storage::{KeyRow, RateCall, RateCounts, RateOutcome};

#[derive(Debug, Default)]
pub struct RateCounters {
    windows: Mutex<Windows>,
}

#[derive(Debug, Default)]
struct Windows {
    /// key id → (hour number, calls accepted in it)
    keys: HashMap<String, (i64, u32)>,
    /// tenant id → (day number, calls accepted in it)
    tenants: HashMap<String, (i64, u32)>,
}

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

fn used_in(map: &HashMap<String, (i64, u32)>, id: &str, window: i64) -> u32 {
    match map.get(id) {
        Some((w, n)) if *w == window => *n,
        _ => 0,
    }
}

fn bump(map: &mut HashMap<String, (i64, u32)>, id: &str, window: i64) {
    match map.get_mut(id) {
        Some(entry) if entry.0 == window => entry.1 = entry.1.saturating_add(1),
        Some(entry) => *entry = (window, 1),
        None => {
            map.insert(id.to_owned(), (window, 1));
        }
    }
}

impl RateCounters {
    /// Accepts one call with `key` at `now` if both its hourly limit and its tenant's daily cap
    /// allow it, counting it against both; otherwise counts nothing and says which refused.
    /// The window reported is the one with fewer calls left.
    pub fn acquire(&self, key: &KeyRow, daily_cap: u32, now: i64) -> Result<RateWindow, Limited> {
        let mut w = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        let hour = now.div_euclid(HOUR);
        let day = now.div_euclid(DAY);
        let hourly = key.rate_limit_per_hour.map(|limit| {
            let used = used_in(&w.keys, &key.id, hour);
            (limit, used)
        });
        let daily_used = used_in(&w.tenants, &key.tenant_id, day);
        if let Some((limit, used)) = hourly {
            if used >= limit {
                return Err(Limited::Hourly(window(limit, used, hour, HOUR, now)));
            }
        }
        if daily_used >= daily_cap {
            return Err(Limited::Daily(window(daily_cap, daily_used, day, DAY, now)));
        }
        if hourly.is_some() {
            bump(&mut w.keys, &key.id, hour);
        }
        bump(&mut w.tenants, &key.tenant_id, day);
        drop(w);
        let daily = window(daily_cap, daily_used + 1, day, DAY, now);
        Ok(match hourly {
            Some((limit, used)) => tighter(window(limit, used + 1, hour, HOUR, now), daily),
            None => daily,
        })
    }

    /// Where `key` stands, without counting a call.
    pub fn peek(&self, key: &KeyRow, daily_cap: u32, now: i64) -> RateWindow {
        let w = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        let hour = now.div_euclid(HOUR);
        let day = now.div_euclid(DAY);
        let daily = window(
            daily_cap,
            used_in(&w.tenants, &key.tenant_id, day),
            day,
            DAY,
            now,
        );
        match key.rate_limit_per_hour {
            Some(limit) => tighter(
                window(limit, used_in(&w.keys, &key.id, hour), hour, HOUR, now),
                daily,
            ),
            None => daily,
        }
    }

    /// Forgets windows that have ended, so that memory follows the keys in use.
    pub fn prune(&self, now: i64) {
        let mut w = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        let hour = now.div_euclid(HOUR);
        let day = now.div_euclid(DAY);
        w.keys.retain(|_, (n, _)| *n >= hour);
        w.tenants.retain(|_, (n, _)| *n >= day);
    }
}

fn rate_call(key: &KeyRow, daily_cap: u32, now: i64) -> RateCall {
    RateCall {
        key_id: key.id.clone(),
        tenant_id: key.tenant_id.clone(),
        hour: now.div_euclid(HOUR),
        hourly_limit: key.rate_limit_per_hour,
        day: now.div_euclid(DAY),
        daily_cap,
    }
}

/// The windows reported for counts read from shared storage.
fn windows(
    key: &KeyRow,
    daily_cap: u32,
    now: i64,
    counts: RateCounts,
) -> Result<RateWindow, Limited> {
    let used = |n: u64| u32::try_from(n).unwrap_or(u32::MAX);
    let (hour, day) = (now.div_euclid(HOUR), now.div_euclid(DAY));
    let daily = window(daily_cap, used(counts.daily_used), day, DAY, now);
    let hourly = key
        .rate_limit_per_hour
        .map(|limit| window(limit, used(counts.hourly_used), hour, HOUR, now));
    match (counts.outcome, hourly) {
        (RateOutcome::HourlyLimit, Some(hourly)) => Err(Limited::Hourly(hourly)),
        (RateOutcome::DailyCap, _) => Err(Limited::Daily(daily)),
        (_, Some(hourly)) => Ok(tighter(hourly, daily)),
        (_, None) => Ok(daily),
    }
}

/// [`RateCounters::acquire`] on this service's windows: in memory, or in shared storage.
pub async fn acquire(
    svc: &Service,
    key: &KeyRow,
    daily_cap: u32,
    now: i64,
) -> Result<Result<RateWindow, Limited>, ServiceError> {
    match svc.store().shared_rates() {
        None => Ok(svc.rates().acquire(key, daily_cap, now)),
        Some(shared) => {
            let counts = shared.acquire(&rate_call(key, daily_cap, now)).await?;
            Ok(windows(key, daily_cap, now, counts))
        }
    }
}

/// [`RateCounters::peek`] on this service's windows: in memory, or in shared storage.
pub async fn peek(
    svc: &Service,
    key: &KeyRow,
    daily_cap: u32,
    now: i64,
) -> Result<RateWindow, ServiceError> {
    match svc.store().shared_rates() {
        None => Ok(svc.rates().peek(key, daily_cap, now)),
        Some(shared) => {
            let counts = shared.peek(&rate_call(key, daily_cap, now)).await?;
            Ok(match windows(key, daily_cap, now, counts) {
                Ok(w) | Err(Limited::Hourly(w) | Limited::Daily(w)) => w,
            })
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

static LIMIT: HeaderName = HeaderName::from_static("x-ratelimit-limit");
static REMAINING: HeaderName = HeaderName::from_static("x-ratelimit-remaining");
static RESET: HeaderName = HeaderName::from_static("x-ratelimit-reset");

/// A number as a header value, formatted on the stack and copied once.
fn number(n: i64) -> HeaderValue {
    use std::io::Write;
    let mut buf = [0u8; 20];
    let mut rest = &mut buf[..];
    // 20 bytes hold any i64.
    let _ = write!(rest, "{n}");
    let len = 20 - rest.len();
    HeaderValue::from_bytes(&buf[..len]).unwrap_or(HeaderValue::from_static("0"))
}

impl RateWindow {
    /// Sets the `X-RateLimit-*` headers (on every answer to a call with a key: the hot path).
    pub fn apply(&self, headers: &mut HeaderMap) {
        headers.insert(LIMIT.clone(), number(i64::from(self.limit)));
        headers.insert(REMAINING.clone(), number(i64::from(self.remaining)));
        headers.insert(RESET.clone(), number(self.reset));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(id: &str, limit: Option<u32>) -> KeyRow {
        KeyRow {
            id: id.into(),
            tenant_id: "ten_a".into(),
            name: "n".into(),
            prefix: "kh_live_abcd".into(),
            scopes: vec!["read".into()],
            created_at: 0,
            last_used_at: None,
            expires_at: None,
            revoked_at: None,
            allowed_origins: vec![],
            allowed_ips: vec![],
            rate_limit_per_hour: limit,
            created_by: "usr_a".into(),
            replaced_by: None,
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
}
