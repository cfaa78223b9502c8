//! The source-IP lockout: `threshold` failed attempts (an unknown, revoked or expired key, a call
//! refused for its origin or IP, or a failed login) from one source within `window` seconds lock
//! that source out of every key and login attempt until the window of the oldest of those
//! failures ends. Then it starts afresh. A source is an IPv4 address or an IPv6 /64 (one
//! subscriber's network: a host picks any address in it at will).
//!
//! Exact under concurrency: an attempt whose check takes time (a storage lookup, a password
//! hash) holds a place among the `threshold` before it is checked ([`Lockout::reserve`]), so
//! that a burst of attempts at once cannot check more than `threshold` of them; a failure
//! decided at once is counted only while there is room (a place reserved and failed at once)
//! and is otherwise answered as a lockout.
//!
//! The IP is the connection's peer address, or what a trusted proxy says it forwarded for (see
//! `--trusted-proxy`); a forged `X-Forwarded-For` neither escapes nor resets a lockout.

use std::collections::VecDeque;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

// foldhash (randomly seeded) for the maps every call touches: cheaper than SipHash.
use foldhash::{HashMap, HashMapExt};

use crate::domain::limits::RateWindow;

/// The source a failure is counted for: an IPv4 address (also when it arrives mapped into
/// IPv6), or the /64 network of an IPv6 address, as an address with its last 64 bits zero.
pub fn source_of(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !u128::from(u64::MAX))),
        },
    }
}

#[derive(Debug, Default)]
struct Record {
    /// Times of the most recent failures, oldest first, at most `threshold` of them.
    times: VecDeque<i64>,
    /// Attempts of this instance under way that hold a place among the `threshold`.
    pending: usize,
}

#[derive(Debug)]
pub struct Lockout {
    threshold: usize,
    window: i64,
    /// source → its failures and attempts under way.
    records: Mutex<HashMap<IpAddr, Record>>,
    /// How many sources `records` holds, readable without the lock: while no source has failed
    /// or is being checked, the hot path needs no lock at all.
    tracked: AtomicUsize,
}

/// A place held among a source's `threshold` attempts while one attempt is checked. Dropped
/// without [`Attempt::failed`], the attempt succeeded (or was not decided) and gives its place
/// back: a successful login is forgiven.
#[derive(Debug)]
pub struct Attempt<'a> {
    lockout: &'a Lockout,
    source: IpAddr,
    settled: bool,
}

impl Attempt<'_> {
    /// The source the attempt came from, as failures are counted for it.
    pub fn source(&self) -> IpAddr {
        self.source
    }

    /// The attempt failed: it counts as a failure at `now`. Returns the seconds of lockout this
    /// failure started, if it did.
    pub fn failed(mut self, now: i64) -> Option<i64> {
        self.settled = true;
        self.lockout
            .settle(self.source, Some(Settle::Local(now)), now)
    }

    /// The attempt failed and shared storage counted it, with every instance's failures: these
    /// are the source's failure times now, oldest first.
    pub fn failed_shared(mut self, times: &[i64], now: i64) -> Option<i64> {
        self.settled = true;
        self.lockout
            .settle(self.source, Some(Settle::Shared(times)), now)
    }
}

impl Drop for Attempt<'_> {
    fn drop(&mut self) {
        if !self.settled {
            self.lockout.settle(self.source, None, 0);
        }
    }
}

enum Settle<'t> {
    Local(i64),
    Shared(&'t [i64]),
}

impl Lockout {
    pub fn new(threshold: u32, window_secs: i64) -> Lockout {
        Lockout {
            threshold: usize::try_from(threshold).unwrap_or(usize::MAX).max(1),
            window: window_secs.max(1),
            records: Mutex::new(HashMap::new()),
            tracked: AtomicUsize::new(0),
        }
    }

    /// Seconds until `ip`'s source may try again, when it is locked out.
    pub fn locked(&self, ip: IpAddr, now: i64) -> Option<i64> {
        if self.tracked.load(Ordering::Acquire) == 0 {
            return None;
        }
        let mut map = self.lock();
        let record = map.get_mut(&source_of(ip))?;
        self.expire(&mut record.times, now);
        (record.times.len() >= self.threshold).then(|| self.retry_after(record, now))
    }

    /// Holds a place for one attempt from `ip` before it is checked, or refuses it with the
    /// seconds until its source may try again: when its failures and the attempts under way
    /// already fill the `threshold`.
    pub fn reserve(&self, ip: IpAddr, now: i64) -> Result<Attempt<'_>, i64> {
        let source = source_of(ip);
        let mut map = self.lock();
        let record = map.entry(source).or_default();
        self.expire(&mut record.times, now);
        if record.times.len() + record.pending >= self.threshold {
            let retry = self.retry_after(record, now);
            if record.times.is_empty() && record.pending == 0 {
                map.remove(&source);
            }
            return Err(retry);
        }
        record.pending += 1;
        // Before the lock is released: a later `locked` sees this source as tracked.
        self.tracked.store(map.len(), Ordering::Release);
        Ok(Attempt {
            lockout: self,
            source,
            settled: false,
        })
    }

    fn settle(&self, source: IpAddr, failure: Option<Settle<'_>>, now: i64) -> Option<i64> {
        let mut map = self.lock();
        let record = map.entry(source).or_default();
        record.pending = record.pending.saturating_sub(1);
        let started = match failure {
            None => None,
            Some(Settle::Local(at)) => {
                self.expire(&mut record.times, now);
                record.times.push_back(at);
                self.trim(&mut record.times);
                (record.times.len() >= self.threshold).then(|| self.retry_after(record, now))
            }
            Some(Settle::Shared(times)) => {
                record.times = times.iter().copied().collect();
                self.trim(&mut record.times);
                self.expire(&mut record.times, now);
                (record.times.len() >= self.threshold).then(|| self.retry_after(record, now))
            }
        };
        if record.times.is_empty() && record.pending == 0 {
            map.remove(&source);
        }
        self.tracked.store(map.len(), Ordering::Release);
        started
    }

    /// [`Attempt::failed`]'s rule applied to failure times kept elsewhere (in storage that
    /// several instances share), oldest first.
    pub fn record_in(&self, times: &mut Vec<i64>, now: i64) {
        let mut deque: VecDeque<i64> = times.drain(..).collect();
        self.expire(&mut deque, now);
        if deque.len() < self.threshold {
            deque.push_back(now);
        }
        times.extend(deque);
    }

    /// Takes a source's failure times as shared storage holds them (every instance's failures),
    /// replacing what this instance knew; its attempts under way stay.
    pub fn set(&self, ip: IpAddr, times: &[i64]) {
        let source = source_of(ip);
        let mut map = self.lock();
        let record = map.entry(source).or_default();
        let mut told: VecDeque<i64> = times.iter().copied().collect();
        self.trim(&mut told);
        // Notices are read one after the other while failures go on being recorded: a list
        // read for an earlier notice can arrive after this instance already holds a later one
        // (a failure it recorded itself). Such a list ends earlier, or at the same time with
        // fewer failures, and would lift a lockout that holds.
        let stale = match (told.back(), record.times.back()) {
            (Some(theirs), Some(mine)) => {
                theirs < mine || (theirs == mine && told.len() < record.times.len())
            }
            _ => false,
        };
        if !stale {
            record.times = told;
        }
        if record.times.is_empty() && record.pending == 0 {
            map.remove(&source);
        }
        self.tracked.store(map.len(), Ordering::Release);
    }

    /// The source's allowance of failures, in the shape of the rate-limit headers.
    pub fn allowance(&self, ip: Option<IpAddr>, now: i64) -> RateWindow {
        let limit = u32::try_from(self.threshold).unwrap_or(u32::MAX);
        let mut map = self.lock();
        let Some(record) = ip.and_then(|ip| map.get_mut(&source_of(ip))) else {
            return RateWindow {
                limit,
                remaining: limit,
                reset: 0,
            };
        };
        self.expire(&mut record.times, now);
        RateWindow {
            limit,
            remaining: limit.saturating_sub(u32::try_from(record.times.len()).unwrap_or(u32::MAX)),
            reset: record
                .times
                .front()
                .map_or(0, |first| first + self.window - now),
        }
    }

    /// Forgets sources whose failures have all aged out and that have no attempt under way.
    pub fn prune(&self, now: i64) {
        let mut map = self.lock();
        map.retain(|_, r| {
            r.pending > 0 || r.times.back().is_some_and(|last| last + self.window > now)
        });
        self.tracked.store(map.len(), Ordering::Release);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, Record>> {
        self.records.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Seconds until a source that is full may try again: when its oldest failure ages out, or
    /// (when only attempts under way fill it) a second, by when they are decided.
    fn retry_after(&self, record: &Record, now: i64) -> i64 {
        match record.times.front() {
            Some(first) if record.times.len() >= self.threshold => {
                (first + self.window - now).max(1)
            }
            _ => 1,
        }
    }

    /// Keeps the newest `threshold` failure times.
    fn trim(&self, times: &mut VecDeque<i64>) {
        while times.len() > self.threshold {
            times.pop_front();
        }
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

    /// A failure decided at once, as `Domain::fail_now` counts one without shared storage.
    fn fail_now(l: &Lockout, ip: IpAddr, now: i64) -> Result<Option<i64>, i64> {
        l.reserve(ip, now).map(|attempt| attempt.failed(now))
    }

    fn fail(l: &Lockout, ip: IpAddr, now: i64) -> Option<i64> {
        fail_now(l, ip, now).expect("not locked yet")
    }

    #[test]
    fn ten_failures_in_five_minutes_lock_until_the_window_ends() {
        let l = Lockout::new(10, 300);
        for i in 0..9 {
            assert_eq!(fail(&l, IP, 1000 + i * 10), None);
        }
        assert_eq!(l.locked(IP, 1100), None);
        assert_eq!(fail(&l, IP, 1100), Some(200), "the tenth failure locks");
        assert_eq!(l.locked(IP, 1150), Some(150));
        assert_eq!(
            fail_now(&l, IP, 1150),
            Err(150),
            "no eleventh failure is counted"
        );
        assert_eq!(l.locked(OTHER, 1150), None, "only that IP");
        assert_eq!(l.locked(IP, 1299), Some(1));
        assert_eq!(l.locked(IP, 1300), None, "the window ended");
        assert_eq!(l.allowance(Some(IP), 1300).remaining, 10, "afresh");
    }

    #[test]
    fn failures_spread_wider_than_the_window_never_lock() {
        let l = Lockout::new(10, 300);
        for i in 0..40 {
            assert_eq!(fail(&l, IP, i * 40), None, "failure {i}");
        }
        let w = l.allowance(Some(IP), 40 * 40);
        assert!(w.remaining > 0);
        l.prune(100_000);
        assert_eq!(l.allowance(Some(IP), 100_000).remaining, 10);
        assert_eq!(l.tracked.load(Ordering::Acquire), 0);
    }

    #[test]
    fn attempts_under_way_hold_their_places_and_a_success_gives_its_back() {
        let l = Lockout::new(10, 300);
        let held: Vec<_> = (0..10).map(|_| l.reserve(IP, 50).expect("room")).collect();
        assert_eq!(
            l.reserve(IP, 50).err(),
            Some(1),
            "ten under way fill the source"
        );
        assert_eq!(l.locked(IP, 50), None, "not locked out: nothing failed yet");
        let mut held = held.into_iter();
        for _ in 0..9 {
            assert_eq!(held.next().expect("attempt").failed(60), None);
        }
        // The tenth succeeds: forgiven, its place is free again.
        drop(held.next());
        assert_eq!(l.allowance(Some(IP), 60).remaining, 1);
        let last = l.reserve(IP, 70).expect("the freed place");
        assert_eq!(last.failed(70), Some(290), "the tenth failure locks");
        assert_eq!(l.reserve(IP, 71).err(), Some(289));
    }

    #[test]
    fn threads_racing_from_one_source_check_at_most_ten() {
        let l = Lockout::new(10, 300);
        let checked = AtomicUsize::new(0);
        std::thread::scope(|s| {
            for _ in 0..8 {
                s.spawn(|| {
                    for _ in 0..25 {
                        if let Ok(attempt) = l.reserve(IP, 100) {
                            checked.fetch_add(1, Ordering::Relaxed);
                            attempt.failed(100);
                        }
                    }
                });
            }
        });
        assert_eq!(checked.load(Ordering::Relaxed), 10);
        assert_eq!(l.locked(IP, 100), Some(300));
    }

    #[test]
    fn an_ipv6_source_is_its_64_and_a_mapped_ipv4_is_the_ipv4() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().expect("ip");
        let b: IpAddr = "2001:db8:1:2:ffff:ffff:ffff:ffff".parse().expect("ip");
        let c: IpAddr = "2001:db8:1:3::1".parse().expect("ip");
        assert_eq!(
            source_of(a),
            "2001:db8:1:2::".parse::<IpAddr>().expect("ip")
        );
        assert_eq!(source_of(a), source_of(b));
        assert_ne!(source_of(a), source_of(c));
        let mapped: IpAddr = "::ffff:192.0.2.1".parse().expect("ip");
        assert_eq!(source_of(mapped), IP);

        let l = Lockout::new(2, 300);
        fail(&l, a, 10);
        fail(&l, b, 11);
        assert!(l.locked(a, 12).is_some() && l.locked(b, 12).is_some());
        assert_eq!(l.locked(c, 12), None, "another /64");
    }

    #[test]
    fn shared_times_replace_the_local_ones_and_keep_attempts_under_way() {
        let l = Lockout::new(3, 300);
        let attempt = l.reserve(IP, 10).expect("room");
        l.set(IP, &[5, 6]);
        assert_eq!(
            l.reserve(IP, 10).err(),
            Some(1),
            "two failures and one under way"
        );
        assert_eq!(attempt.failed_shared(&[5, 6, 10], 10), Some(295));
        l.set(IP, &[]);
        assert_eq!(l.locked(IP, 10), None);
        assert_eq!(l.tracked.load(Ordering::Acquire), 0);
    }

    #[test]
    fn a_list_read_for_an_earlier_notice_does_not_lift_a_lockout() {
        let l = Lockout::new(3, 300);
        let attempt = l.reserve(IP, 10).expect("room");
        // This instance recorded the third failure itself...
        assert_eq!(attempt.failed_shared(&[10, 10, 10], 10), Some(300));
        // ...then the notice of the second arrives, with the list as it was read then.
        l.set(IP, &[10, 10]);
        assert!(l.locked(IP, 11).is_some(), "still locked out");
        l.set(IP, &[9]);
        assert!(
            l.locked(IP, 11).is_some(),
            "an older list is not taken either"
        );
        // A later list is taken, whatever it holds.
        l.set(IP, &[10, 10, 10, 12]);
        assert!(l.locked(IP, 12).is_some());
    }
}
