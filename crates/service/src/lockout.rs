//! The source-IP lockout: `threshold` failed attempts (an unknown, revoked or expired key, or a
//! failed login) from one IP within `window` seconds lock that IP out of every key and login
//! attempt until the window of the oldest of those failures ends. Then it starts afresh.
//!
//! The IP is the connection's peer address; `X-Forwarded-For` is never read, so a forged one
//! neither escapes nor resets a lockout.

use std::collections::hash_map::Entry;
use std::collections::VecDeque;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

// foldhash (randomly seeded) for the maps every call touches: cheaper than SipHash.
use foldhash::{HashMap, HashMapExt};

use crate::ratelimit::RateWindow;

#[derive(Debug)]
pub struct Lockout {
    threshold: usize,
    window: i64,
    /// ip → times of its most recent failures, oldest first, at most `threshold` of them.
    failures: Mutex<HashMap<IpAddr, VecDeque<i64>>>,
    /// How many IPs `failures` holds, readable without the lock: while none has failed, the
    /// hot path needs no lock at all.
    tracked: AtomicUsize,
}

impl Lockout {
    pub fn new(threshold: u32, window_secs: i64) -> Lockout {
        Lockout {
            threshold: usize::try_from(threshold).unwrap_or(usize::MAX).max(1),
            window: window_secs.max(1),
            failures: Mutex::new(HashMap::new()),
            tracked: AtomicUsize::new(0),
        }
    }

    /// Seconds until `ip` may try again, when it is locked out.
    pub fn locked(&self, ip: IpAddr, now: i64) -> Option<i64> {
        if self.tracked.load(Ordering::Acquire) == 0 {
            return None;
        }
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let times = map.get_mut(&ip)?;
        self.expire(times, now);
        if times.len() >= self.threshold {
            times.front().map(|first| first + self.window - now)
        } else {
            None
        }
    }

    /// Records a failed attempt; returns the seconds of lockout it started, if it did.
    pub fn fail(&self, ip: IpAddr, now: i64) -> Option<i64> {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        if let Entry::Vacant(new) = map.entry(ip) {
            new.insert(VecDeque::new());
            // Before the lock is released: a later `locked` sees this IP as tracked.
            self.tracked.store(map.len(), Ordering::Release);
        }
        let times = map.entry(ip).or_default();
        self.record(times, now)
    }

    /// The rule for one failed attempt at `now`, on an IP's failure times.
    fn record(&self, times: &mut VecDeque<i64>, now: i64) -> Option<i64> {
        self.expire(times, now);
        if times.len() >= self.threshold {
            // Already locked: attempts are refused before they are checked, so none lands here.
            return times.front().map(|first| first + self.window - now);
        }
        times.push_back(now);
        if times.len() >= self.threshold {
            times.front().map(|first| first + self.window - now)
        } else {
            None
        }
    }

    /// [`Lockout::fail`]'s rule applied to failure times kept elsewhere (in storage that
    /// several instances share), oldest first.
    pub fn record_in(&self, times: &mut Vec<i64>, now: i64) {
        let mut deque: VecDeque<i64> = times.drain(..).collect();
        self.record(&mut deque, now);
        times.extend(deque);
    }

    /// Takes an IP's failure times as shared storage holds them (every instance's failures),
    /// replacing what this instance knew.
    pub fn set(&self, ip: IpAddr, times: &[i64]) {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        if times.is_empty() {
            map.remove(&ip);
        } else {
            let keep = times.len().saturating_sub(self.threshold);
            map.insert(ip, times[keep..].iter().copied().collect());
        }
        self.tracked.store(map.len(), Ordering::Release);
    }

    /// The IP's allowance of failures, in the shape of the rate-limit headers.
    pub fn allowance(&self, ip: Option<IpAddr>, now: i64) -> RateWindow {
        let limit = u32::try_from(self.threshold).unwrap_or(u32::MAX);
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let times = ip.and_then(|ip| map.get_mut(&ip));
        let Some(times) = times else {
            return RateWindow {
                limit,
                remaining: limit,
                reset: 0,
            };
        };
        self.expire(times, now);
        RateWindow {
            limit,
            remaining: limit.saturating_sub(u32::try_from(times.len()).unwrap_or(u32::MAX)),
            reset: times.front().map_or(0, |first| first + self.window - now),
        }
    }

    /// Forgets IPs whose failures have all aged out.
    pub fn prune(&self, now: i64) {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        map.retain(|_, times| times.back().is_some_and(|last| last + self.window > now));
        self.tracked.store(map.len(), Ordering::Release);
    }

    /// Drops failures older than the window; a lockout that has run its course clears all.
    fn expire(&self, times: &mut VecDeque<i64>, now: i64) {
        if times.len() >= self.threshold {
            if times
                .front()
                .is_some_and(|first| first + self.window <= now)
            {
                times.clear();
            }
            return;
        }
        while times.front().is_some_and(|t| t + self.window <= now) {
            times.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const IP: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 1));
    const OTHER: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 2));

    #[test]
    fn ten_failures_in_five_minutes_lock_until_the_window_ends() {
        let l = Lockout::new(10, 300);
        for i in 0..9 {
            assert_eq!(l.fail(IP, 1000 + i * 10), None);
        }
        assert_eq!(l.locked(IP, 1100), None);
        assert_eq!(l.fail(IP, 1100), Some(200), "the tenth failure locks");
        assert_eq!(l.locked(IP, 1150), Some(150));
        assert_eq!(l.locked(OTHER, 1150), None, "only that IP");
        assert_eq!(l.locked(IP, 1299), Some(1));
        assert_eq!(l.locked(IP, 1300), None, "the window ended");
        assert_eq!(l.allowance(Some(IP), 1300).remaining, 10, "afresh");
    }

    #[test]
    fn failures_spread_wider_than_the_window_never_lock() {
        let l = Lockout::new(10, 300);
        for i in 0..40 {
            assert_eq!(l.fail(IP, i * 40), None, "failure {i}");
        }
        let w = l.allowance(Some(IP), 40 * 40);
        assert!(w.remaining > 0);
        l.prune(100_000);
        assert_eq!(l.allowance(Some(IP), 100_000).remaining, 10);
    }
}
