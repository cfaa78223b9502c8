//! Request counting for the `X-RateLimit-*` headers: fixed windows kept in memory, per key for
//! keys with an hourly limit, per tenant per UTC day otherwise. Enforcement comes later.

use std::collections::HashMap;
use std::sync::Mutex;

use axum::http::{HeaderMap, HeaderValue};

use crate::clock::{DAY, HOUR};
use crate::storage::KeyRow;

#[derive(Debug, Default)]
pub struct RateCounters {
    /// counter id → (window number, requests in it)
    windows: Mutex<HashMap<String, (i64, u32)>>,
}

/// Where a call stands in its window, as the headers report it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateWindow {
    pub limit: u32,
    pub remaining: u32,
    /// Seconds until the window resets.
    pub reset: i64,
}

impl RateCounters {
    /// Counts one call with `key` at `now` and reports its window.
    pub fn record(&self, key: &KeyRow, tenant_daily_cap: u32, now: i64) -> RateWindow {
        let (counter, limit, span) = match key.rate_limit_per_hour {
            Some(limit) => (format!("key:{}", key.id), limit, HOUR),
            None => (format!("tenant:{}", key.tenant_id), tenant_daily_cap, DAY),
        };
        let window = now.div_euclid(span);
        let used = {
            let mut windows = self.windows.lock().unwrap_or_else(|p| p.into_inner());
            let entry = windows.entry(counter).or_insert((window, 0));
            if entry.0 != window {
                *entry = (window, 0);
            }
            entry.1 = entry.1.saturating_add(1);
            entry.1
        };
        RateWindow {
            limit,
            remaining: limit.saturating_sub(used),
            reset: (window + 1) * span - now,
        }
    }
}

impl RateWindow {
    pub fn apply(&self, headers: &mut HeaderMap) {
        headers.insert("x-ratelimit-limit", HeaderValue::from(self.limit));
        headers.insert("x-ratelimit-remaining", HeaderValue::from(self.remaining));
        headers.insert("x-ratelimit-reset", HeaderValue::from(self.reset));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(limit: Option<u32>) -> KeyRow {
        KeyRow {
            id: "key_a".into(),
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
        }
    }

    #[test]
    fn hourly_limit_counts_down_and_resets_with_the_hour() {
        let c = RateCounters::default();
        let k = key(Some(3));
        let t = 10 * HOUR + 600;
        assert_eq!(
            c.record(&k, 100, t),
            RateWindow {
                limit: 3,
                remaining: 2,
                reset: 3000
            }
        );
        assert_eq!(c.record(&k, 100, t + 1).remaining, 1);
        assert_eq!(c.record(&k, 100, t + 2).remaining, 0);
        assert_eq!(c.record(&k, 100, t + 3).remaining, 0);
        assert_eq!(c.record(&k, 100, 11 * HOUR).remaining, 2);
    }

    #[test]
    fn without_an_hourly_limit_the_tenant_daily_cap_applies() {
        let c = RateCounters::default();
        let w = c.record(&key(None), 500, 3 * DAY + 100);
        assert_eq!(
            w,
            RateWindow {
                limit: 500,
                remaining: 499,
                reset: DAY - 100
            }
        );
    }
}
