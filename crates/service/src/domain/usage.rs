//! Usage counted in memory on the hot path and written to storage in batches: calls per key per
//! hour (accepted, and refused by reason), each key's last use, and recent denials. A flush
//! runs about once a second and once more on a graceful shutdown.
//!
//! Each thread counts in its own shard (threads take shards in turn), so that the worker threads
//! answering calls do not wait for each other's lock, nor for a thread preempted while holding
//! it; a flush takes every shard and merges them.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

// foldhash (randomly seeded) for the maps every call touches: cheaper than SipHash.
use foldhash::HashMap;

use crate::clock::HOUR;
use crate::storage::{CallCount, Denial, KeyRow, LastUse, UsageBatch, ALLOWED};

/// Denials kept in memory between two flushes; more than that are counted but not itemised.
const MAX_PENDING_DENIALS: usize = 10_000;
/// Longest origin kept in a denial record.
const MAX_ORIGIN_CHARS: usize = 256;

/// Shards of the counter; more than the worker threads of a usual machine.
const SHARDS: usize = 8;

#[derive(Debug, Default)]
pub struct UsageCounter {
    shards: [Shard; SHARDS],
    /// Denials itemised in all shards together, kept at most [`MAX_PENDING_DENIALS`].
    denials: AtomicUsize,
}

/// One shard, on cache lines of its own: threads counting in two shards do not share a line.
#[derive(Debug, Default)]
#[repr(align(128))]
struct Shard(Mutex<Pending>);

/// The shard of the calling thread.
fn shard_of_this_thread() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static SHARD: usize = NEXT.fetch_add(1, Ordering::Relaxed) % SHARDS;
    }
    SHARD.with(|shard| *shard)
}

#[derive(Debug, Default)]
pub struct Pending {
    /// key id → what happened to it since the last flush
    pub keys: HashMap<String, KeyPending>,
    pub denials: Vec<Denial>,
    /// Denials not itemised because the buffer was full.
    pub dropped_denials: u64,
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct KeyPending {
    pub tenant_id: String,
    /// hour start → counts
    pub hours: BTreeMap<i64, Counts>,
    /// Latest accepted call.
    pub last_used: Option<i64>,
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Counts {
    pub allowed: u64,
    /// denial code → calls refused with it
    pub denied: Vec<(&'static str, u64)>,
}

impl Pending {
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty() && self.denials.is_empty()
    }

    /// What a flush writes: the counts by key, hour and outcome and the last uses, each in
    /// one order, and the denials.
    pub fn batch(&self) -> UsageBatch<'_> {
        let mut batch = UsageBatch {
            denials: &self.denials,
            ..UsageBatch::default()
        };
        for (key_id, p) in &self.keys {
            for (&hour, counts) in &p.hours {
                let outcomes = std::iter::once((ALLOWED, counts.allowed))
                    .chain(counts.denied.iter().copied())
                    .filter(|(_, n)| *n > 0);
                for (outcome, n) in outcomes {
                    batch.calls.push(CallCount {
                        key_id,
                        hour,
                        outcome,
                        tenant_id: &p.tenant_id,
                        count: i64::try_from(n).unwrap_or(i64::MAX),
                    });
                }
            }
            if let Some(at) = p.last_used {
                batch.last_used.push(LastUse {
                    key_id,
                    tenant_id: &p.tenant_id,
                    at,
                });
            }
        }
        batch.calls.sort_unstable();
        batch.last_used.sort_unstable();
        batch
    }

    /// Adds `other`'s counts, denials and last uses to these.
    fn merge(&mut self, other: Pending) {
        for (id, back) in other.keys {
            let entry = self.keys.entry(id).or_insert_with(|| KeyPending {
                tenant_id: back.tenant_id.clone(),
                ..KeyPending::default()
            });
            for (hour, counts) in back.hours {
                let into = entry.hours.entry(hour).or_default();
                into.allowed += counts.allowed;
                for (code, n) in counts.denied {
                    match into.denied.iter_mut().find(|(c, _)| *c == code) {
                        Some((_, m)) => *m += n,
                        None => into.denied.push((code, n)),
                    }
                }
            }
            entry.last_used = entry.last_used.max(back.last_used);
        }
        self.denials.extend(other.denials);
        self.dropped_denials += other.dropped_denials;
    }
}

impl UsageCounter {
    /// The calling thread's shard, locked.
    fn shard(&self) -> std::sync::MutexGuard<'_, Pending> {
        self.shards[shard_of_this_thread()]
            .0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    fn with_key<R>(&self, key: &KeyRow, f: impl FnOnce(&mut KeyPending, &mut Pending) -> R) -> R {
        let mut pending = self.shard();
        let pending = &mut *pending;
        let mut entry = pending.keys.remove(&key.id).unwrap_or_else(|| KeyPending {
            tenant_id: key.tenant_id.clone(),
            ..KeyPending::default()
        });
        let out = f(&mut entry, pending);
        pending.keys.insert(key.id.clone(), entry);
        out
    }

    /// Counts an accepted call.
    pub fn allowed(&self, key: &KeyRow, now: i64) {
        let mut pending = self.shard();
        let entry = match pending.keys.get_mut(&key.id) {
            Some(entry) => entry,
            None => pending
                .keys
                .entry(key.id.clone())
                .or_insert_with(|| KeyPending {
                    tenant_id: key.tenant_id.clone(),
                    ..KeyPending::default()
                }),
        };
        entry.hours.entry(hour_of(now)).or_default().allowed += 1;
        entry.last_used = Some(entry.last_used.map_or(now, |t| t.max(now)));
    }

    /// Counts a refused call and keeps its record.
    pub fn denied(
        &self,
        key: &KeyRow,
        code: &'static str,
        ip: Option<IpAddr>,
        origin: Option<&str>,
        now: i64,
    ) {
        self.with_key(key, |entry, pending| {
            let counts = entry.hours.entry(hour_of(now)).or_default();
            match counts.denied.iter_mut().find(|(c, _)| *c == code) {
                Some((_, n)) => *n += 1,
                None => counts.denied.push((code, 1)),
            }
            if self.denials.fetch_add(1, Ordering::AcqRel) < MAX_PENDING_DENIALS {
                pending.denials.push(Denial {
                    tenant_id: key.tenant_id.clone(),
                    key_id: key.id.clone(),
                    at: now,
                    code,
                    ip: ip.map(|ip| ip.to_canonical().to_string()),
                    origin: origin.map(|o| o.chars().take(MAX_ORIGIN_CHARS).collect()),
                });
            } else {
                self.denials.fetch_sub(1, Ordering::AcqRel);
                pending.dropped_denials += 1;
            }
        });
    }

    /// Everything counted since the last call, leaving the counter empty. Denials come in the
    /// order they happened (storage lists the recent ones in the order they were written).
    pub fn take(&self) -> Pending {
        let mut all = Pending::default();
        for shard in &self.shards {
            let taken = std::mem::take(&mut *shard.0.lock().unwrap_or_else(|p| p.into_inner()));
            self.denials
                .fetch_sub(taken.denials.len(), Ordering::AcqRel);
            all.merge(taken);
        }
        all.denials.sort_by_key(|d| d.at);
        all
    }

    /// Puts back what a failed flush took, so that nothing is lost (but denials beyond
    /// [`MAX_PENDING_DENIALS`], which are counted as dropped).
    pub fn restore(&self, mut taken: Pending) {
        let pending = self.denials.load(Ordering::Acquire);
        let room = MAX_PENDING_DENIALS.saturating_sub(pending);
        let lost = taken.denials.len().saturating_sub(room);
        taken.denials.truncate(room);
        taken.dropped_denials += lost as u64;
        self.denials
            .fetch_add(taken.denials.len(), Ordering::AcqRel);
        self.shard().merge(taken);
    }
}

pub fn hour_of(t: i64) -> i64 {
    t.div_euclid(HOUR) * HOUR
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(id: &str) -> KeyRow {
        KeyRow::for_test(id)
    }

    #[test]
    fn calls_are_counted_by_key_hour_and_outcome() {
        let u = UsageCounter::default();
        let k = key("key_a");
        u.allowed(&k, 7_200 + 5);
        u.allowed(&k, 7_200 + 9);
        u.denied(
            &k,
            "scope_missing",
            None,
            Some("https://x.test"),
            7_200 + 10,
        );
        u.denied(&k, "scope_missing", None, None, 10_800);
        let taken = u.take();
        assert!(u.take().is_empty());
        let p = &taken.keys["key_a"];
        assert_eq!(p.last_used, Some(7_209));
        assert_eq!(p.hours[&7_200].allowed, 2);
        assert_eq!(p.hours[&7_200].denied, [("scope_missing", 1)]);
        assert_eq!(p.hours[&10_800].denied, [("scope_missing", 1)]);
        assert_eq!(taken.denials.len(), 2);
        assert_eq!(taken.denials[0].origin.as_deref(), Some("https://x.test"));

        u.allowed(&k, 7_300);
        u.restore(taken);
        let again = u.take();
        assert_eq!(again.keys["key_a"].hours[&7_200].allowed, 3);
        assert_eq!(again.denials.len(), 2);
    }

    #[test]
    fn counts_from_more_threads_than_shards_are_all_taken() {
        let u = UsageCounter::default();
        let k = key("key_a");
        std::thread::scope(|s| {
            for _ in 0..SHARDS + 4 {
                s.spawn(|| {
                    for i in 0..1_000 {
                        u.allowed(&k, 7_200 + i % 60);
                    }
                });
            }
        });
        let taken = u.take();
        let p = &taken.keys["key_a"];
        assert_eq!(p.hours[&7_200].allowed, 1_000 * (SHARDS as u64 + 4));
        assert_eq!(p.last_used, Some(7_259));
        assert!(u.take().is_empty(), "every shard was emptied");
    }

    #[test]
    fn denials_counted_in_several_shards_are_taken_in_the_order_they_happened() {
        let u = UsageCounter::default();
        let k = key("key_a");
        // One thread after another, each in the next shard and each a second earlier.
        for n in 0..SHARDS as i64 + 3 {
            std::thread::scope(|s| {
                s.spawn(|| u.denied(&k, "revoked", None, None, 7_300 - n));
            });
        }
        let at: Vec<i64> = u.take().denials.iter().map(|d| d.at).collect();
        let mut sorted = at.clone();
        sorted.sort_unstable();
        assert_eq!(at.len(), SHARDS + 3);
        assert_eq!(at, sorted);
    }

    #[test]
    fn denials_are_itemised_up_to_the_bound_across_threads_and_counted_beyond_it() {
        let u = UsageCounter::default();
        let k = key("key_a");
        let per_thread = MAX_PENDING_DENIALS / 4 + 10;
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    for _ in 0..per_thread {
                        u.denied(&k, "revoked", None, None, 7_200);
                    }
                });
            }
        });
        let taken = u.take();
        assert_eq!(taken.denials.len(), MAX_PENDING_DENIALS);
        assert_eq!(taken.dropped_denials, 40);
        let counted = taken.keys["key_a"].hours[&7_200].denied.clone();
        assert_eq!(
            counted,
            [("revoked", 4 * per_thread as u64)],
            "every one counted"
        );

        u.denied(&k, "revoked", None, None, 7_201);
        u.restore(taken);
        let again = u.take();
        assert_eq!(
            again.denials.len(),
            MAX_PENDING_DENIALS,
            "the bound holds on restore"
        );
        assert_eq!(again.dropped_denials, 41);
        u.denied(&k, "revoked", None, None, 7_202);
        assert_eq!(u.take().denials.len(), 1, "room again after a take");
    }
}
