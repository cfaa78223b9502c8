//! What the usage watcher concludes from one poll, with no I/O: each key's calls this hour and
//! today, quota projections at the current rate, the alerts that hold, and how long to wait
//! before the next poll. Everything takes `now`, so that tests need no clock.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use keyhaven_api::{KeyMeta, KeyStatus, KeyUsage, RateLimitInfo, TenantUsage, UsagePoint};
use serde::{Deserialize, Serialize};
use ts_rs::TS;

/// What to warn about, and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct AlertSettings {
    /// Warn about keys that expire within this many days.
    pub expiry_warning_days: u32,
    /// Warn about keys not used for this many days (0: never).
    pub unused_days: u32,
    /// Percentages of an hourly limit or a daily cap that raise an alert.
    pub usage_thresholds: Vec<u8>,
    /// Refused calls of one key within the current hour that make a spike (when they are also
    /// at least three times the key's hourly average of the day before).
    #[ts(type = "number")]
    pub denial_spike: u64,
    /// Each account's daily cap (its tier's), where the person knows it; otherwise the watcher
    /// uses what the service reported on a key's use (`X-RateLimit-Limit` of the daily window).
    #[serde(default)]
    pub daily_caps: BTreeMap<String, u32>,
}

impl Default for AlertSettings {
    fn default() -> AlertSettings {
        AlertSettings {
            expiry_warning_days: 7,
            unused_days: 30,
            usage_thresholds: vec![80, 95],
            denial_spike: 10,
            daily_caps: BTreeMap::new(),
        }
    }
}

/// A limit, how much of it is used, and when it runs out at the current rate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct QuotaProjection {
    #[ts(type = "number")]
    pub limit: u64,
    #[ts(type = "number")]
    pub used: u64,
    /// `used` as a whole percentage of `limit`.
    pub percent: u32,
    /// Calls per hour lately.
    pub rate_per_hour: f64,
    /// When the window starts again.
    #[ts(type = "string")]
    pub resets_at: DateTime<Utc>,
    /// When the limit is reached at the current rate, if before the reset (`None`: it is not).
    #[ts(type = "string | null")]
    pub reached_at: Option<DateTime<Utc>>,
}

/// One key's usage as the watcher last saw it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct KeySnapshot {
    pub meta: KeyMeta,
    /// Calls accepted, by hour, the last 24 hours, oldest first.
    pub series: Vec<UsagePoint>,
    #[ts(type = "number")]
    pub calls_this_hour: u64,
    #[ts(type = "number")]
    pub calls_today: u64,
    /// Calls refused this hour, by reason.
    #[ts(type = "{ [key in string]?: number }")]
    pub denied_this_hour: BTreeMap<String, u64>,
    /// Against the key's hourly limit, when it has one.
    pub hourly: Option<QuotaProjection>,
}

/// One account's usage: every key, and the tenant's daily cap when known. Kept in the profile's
/// usage cache, so that the last one is there offline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct UsageSnapshot {
    pub account_id: String,
    pub tenant_id: String,
    #[ts(type = "string")]
    pub fetched_at: DateTime<Utc>,
    pub keys: Vec<KeySnapshot>,
    #[ts(type = "number")]
    pub calls_today: u64,
    /// Against the tenant's daily cap (reset at midnight UTC), when the cap is known.
    pub daily: Option<QuotaProjection>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum AlertSeverity {
    Info,
    Warning,
    Critical,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum LimitKind {
    /// A key's hourly limit.
    HourlyLimit,
    /// The tenant's daily cap.
    DailyCap,
}

/// What an alert is about.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum AlertKind {
    KeyExpiring {
        #[ts(type = "string")]
        expires_at: DateTime<Utc>,
        #[ts(type = "number")]
        days_left: i64,
    },
    UsageThreshold {
        limit_kind: LimitKind,
        /// The threshold crossed (80, 95 …).
        threshold: u8,
        projection: QuotaProjection,
    },
    DenialSpike {
        #[ts(type = "number")]
        count: u64,
        /// The most frequent reason.
        top_reason: String,
        #[ts(type = "{ [key in string]?: number }")]
        reasons: BTreeMap<String, u64>,
    },
    KeyUnused {
        #[ts(type = "string | null")]
        last_used_at: Option<DateTime<Utc>>,
        #[ts(type = "number")]
        days: i64,
    },
    /// A key its service started refusing (401): deleted, regenerated or expired there.
    KeyRefused {
        /// The service's name.
        service: String,
        /// Where its keys are made: where a new one comes from.
        key_page: String,
    },
}

/// Something a person should know, for the window and an OS notification. Never a secret.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct Alert {
    /// Stable for one occurrence: the same alert is raised once.
    pub id: String,
    pub account_id: String,
    pub key_id: Option<String>,
    pub key_name: Option<String>,
    pub severity: AlertSeverity,
    pub kind: AlertKind,
    /// One sentence for a notification.
    pub message: String,
    /// Ids of lesser alerts this one makes redundant (a 95 % alert covers the 80 % one).
    #[serde(skip)]
    #[ts(skip)]
    pub covers: Vec<String>,
}

fn hour_start(t: DateTime<Utc>) -> DateTime<Utc> {
    t.duration_trunc(TimeDelta::hours(1)).unwrap_or(t)
}

fn day_start(t: DateTime<Utc>) -> DateTime<Utc> {
    t.duration_trunc(TimeDelta::days(1)).unwrap_or(t)
}

fn percent(used: u64, limit: u64) -> u32 {
    if limit == 0 {
        return 100;
    }
    u32::try_from(used.saturating_mul(100) / limit).unwrap_or(u32::MAX)
}

/// `used` of `limit` in a window ending at `resets_at`, at `rate` calls per hour.
fn project(
    limit: u64,
    used: u64,
    rate_per_hour: f64,
    now: DateTime<Utc>,
    resets_at: DateTime<Utc>,
) -> QuotaProjection {
    let reached_at = if used >= limit {
        Some(now)
    } else if rate_per_hour > 0.0 {
        let hours = (limit - used) as f64 / rate_per_hour;
        let at = now + TimeDelta::milliseconds((hours * 3_600_000.0) as i64);
        (at < resets_at).then_some(at)
    } else {
        None
    };
    QuotaProjection {
        limit,
        used,
        percent: percent(used, limit),
        rate_per_hour,
        resets_at,
        reached_at,
    }
}

/// Calls per hour between `since` and `now`, from hourly buckets starting at or after `since`.
fn rate(series: &[UsagePoint], since: DateTime<Utc>, now: DateTime<Utc>) -> f64 {
    let calls: u64 = series
        .iter()
        .filter(|p| p.t >= since && p.t <= now)
        .map(|p| p.allowed)
        .sum();
    // At least ten minutes, so that the first calls of an hour do not look like a flood.
    let hours = ((now - since).num_seconds().max(600)) as f64 / 3_600.0;
    calls as f64 / hours
}

/// One poll's answers turned into a snapshot. `series` come from `GET /v1/usage` by hour;
/// `metas` from `GET /v1/keys`.
pub fn snapshot(
    account_id: &str,
    usage: &TenantUsage,
    metas: &[KeyMeta],
    daily_cap: Option<u32>,
    now: DateTime<Utc>,
) -> UsageSnapshot {
    let hour = hour_start(now);
    let day = day_start(now);
    let mut keys = Vec::new();
    let mut all_series: Vec<&UsagePoint> = Vec::new();
    // Looked up by id: searching the whole answer for each key took some fifty million string
    // comparisons per poll of an account of ten thousand keys.
    let usage_of: HashMap<&str, &KeyUsage> =
        usage.keys.iter().map(|k| (k.key_id.as_str(), k)).collect();
    for meta in metas {
        let used = usage_of.get(meta.id.as_str()).copied();
        let series = used.map(|k| k.series.clone()).unwrap_or_default();
        let live = matches!(meta.status, KeyStatus::Active | KeyStatus::Expiring);
        if !live && series.iter().all(|p| p.allowed == 0 && p.denied.is_empty()) {
            continue;
        }
        let this_hour = series.iter().find(|p| p.t == hour);
        let calls_this_hour = this_hour.map_or(0, |p| p.allowed);
        let denied_this_hour = this_hour.map(|p| p.denied.clone()).unwrap_or_default();
        let calls_today = series
            .iter()
            .filter(|p| p.t >= day)
            .map(|p| p.allowed)
            .sum();
        let hourly = meta.rate_limit_per_hour.map(|limit| {
            project(
                u64::from(limit),
                calls_this_hour,
                rate(&series, hour, now),
                now,
                hour + TimeDelta::hours(1),
            )
        });
        let mut meta = meta.clone();
        if let Some(k) = used {
            meta.last_used_at = k.last_used_at.or(meta.last_used_at);
        }
        keys.push(KeySnapshot {
            meta,
            series,
            calls_this_hour,
            calls_today,
            denied_this_hour,
            hourly,
        });
    }
    for k in &keys {
        all_series.extend(k.series.iter());
    }
    let calls_today: u64 = keys.iter().map(|k| k.calls_today).sum();
    let daily = daily_cap.map(|cap| {
        // The rate over the last three hours (the current one included).
        let since = hour - TimeDelta::hours(2);
        let calls: u64 = all_series
            .iter()
            .filter(|p| p.t >= since && p.t <= now)
            .map(|p| p.allowed)
            .sum();
        let hours = ((now - since).num_seconds().max(600)) as f64 / 3_600.0;
        project(
            u64::from(cap),
            calls_today,
            calls as f64 / hours,
            now,
            day + TimeDelta::days(1),
        )
    });
    UsageSnapshot {
        account_id: account_id.to_string(),
        tenant_id: usage.tenant_id.clone(),
        fetched_at: now,
        keys,
        calls_today,
        daily,
    }
}

fn name_of(meta: &KeyMeta) -> String {
    format!("\u{201c}{}\u{201d} ({}…)", meta.name, meta.prefix)
}

/// The threshold alert for a projection: the highest threshold crossed, covering the lower.
fn threshold_alert(
    subject: &str,
    kind: LimitKind,
    window: DateTime<Utc>,
    projection: &QuotaProjection,
    thresholds: &[u8],
) -> Option<(u8, String, Vec<String>)> {
    let mut crossed: Vec<u8> = thresholds
        .iter()
        .copied()
        .filter(|t| *t > 0 && projection.percent >= u32::from(*t))
        .collect();
    crossed.sort_unstable();
    crossed.dedup();
    let top = *crossed.last()?;
    let id = |t: u8| {
        format!(
            "usage:{subject}:{}:{}:{t}",
            match kind {
                LimitKind::HourlyLimit => "hour",
                LimitKind::DailyCap => "day",
            },
            window.timestamp()
        )
    };
    let covers = crossed
        .iter()
        .filter(|t| **t != top)
        .map(|t| id(*t))
        .collect();
    Some((top, id(top), covers))
}

fn when(t: Option<DateTime<Utc>>) -> String {
    match t {
        Some(t) => format!("at {} UTC", t.format("%H:%M")),
        None => "not before it resets".to_string(),
    }
}

/// Every alert that holds for `snap` now; the watcher raises those not raised before.
pub fn alerts(snap: &UsageSnapshot, settings: &AlertSettings, now: DateTime<Utc>) -> Vec<Alert> {
    let mut out = Vec::new();
    let account_id = &snap.account_id;
    let alert = |key: Option<&KeyMeta>, id: String, severity, kind, message: String| Alert {
        id,
        account_id: account_id.clone(),
        key_id: key.map(|k| k.id.clone()),
        key_name: key.map(|k| k.name.clone()),
        severity,
        kind,
        message,
        covers: Vec::new(),
    };
    for key in &snap.keys {
        let meta = &key.meta;
        let live = matches!(meta.status, KeyStatus::Active | KeyStatus::Expiring);
        if !live {
            continue;
        }
        // Expiring soon.
        if let Some(expires_at) = meta.expires_at {
            let left = expires_at - now;
            if expires_at > now && left <= TimeDelta::days(i64::from(settings.expiry_warning_days))
            {
                let days_left = left.num_days();
                let severity = if left <= TimeDelta::days(1) {
                    AlertSeverity::Critical
                } else {
                    AlertSeverity::Warning
                };
                let in_words = if days_left == 0 {
                    format!("in {} hours", left.num_hours().max(1))
                } else {
                    format!("in {days_left} days")
                };
                out.push(alert(
                    Some(meta),
                    format!("expiring:{}:{}", meta.id, expires_at.timestamp()),
                    severity,
                    AlertKind::KeyExpiring {
                        expires_at,
                        days_left,
                    },
                    format!("Key {} expires {in_words}.", name_of(meta)),
                ));
            }
        }
        // Near its hourly limit.
        if let Some(p) = &key.hourly {
            if let Some((threshold, id, covers)) = threshold_alert(
                &meta.id,
                LimitKind::HourlyLimit,
                hour_start(now),
                p,
                &settings.usage_thresholds,
            ) {
                let mut a = alert(
                    Some(meta),
                    id,
                    if threshold >= 95 {
                        AlertSeverity::Critical
                    } else {
                        AlertSeverity::Warning
                    },
                    AlertKind::UsageThreshold {
                        limit_kind: LimitKind::HourlyLimit,
                        threshold,
                        projection: p.clone(),
                    },
                    format!(
                        "Key {} has used {}% of its hourly limit ({} of {}); at this rate it is reached {}.",
                        name_of(meta),
                        p.percent,
                        p.used,
                        p.limit,
                        when(p.reached_at)
                    ),
                );
                a.covers = covers;
                out.push(a);
            }
        }
        // A spike of refused calls.
        let count: u64 = key.denied_this_hour.values().sum();
        if settings.denial_spike > 0 && count >= settings.denial_spike {
            let hour = hour_start(now);
            let before: u64 = key
                .series
                .iter()
                .filter(|p| p.t < hour)
                .flat_map(|p| p.denied.values())
                .sum();
            let average = before as f64 / 23.0;
            if count as f64 >= 3.0 * average {
                let (top_reason, top) = key
                    .denied_this_hour
                    .iter()
                    .max_by_key(|(_, n)| **n)
                    .map(|(r, n)| (r.clone(), *n))
                    .unwrap_or_default();
                out.push(alert(
                    Some(meta),
                    format!("denials:{}:{}", meta.id, hour.timestamp()),
                    AlertSeverity::Warning,
                    AlertKind::DenialSpike {
                        count,
                        top_reason: top_reason.clone(),
                        reasons: key.denied_this_hour.clone(),
                    },
                    format!(
                        "Key {} was refused {count} times this hour, mostly {} ({top}).",
                        name_of(meta),
                        top_reason.replace('_', " ")
                    ),
                ));
            }
        }
        // Unused for a long time.
        if settings.unused_days > 0 {
            let since = meta.last_used_at.unwrap_or(meta.created_at);
            let idle = now - since;
            if idle >= TimeDelta::days(i64::from(settings.unused_days)) {
                let days = idle.num_days();
                let what = match meta.last_used_at {
                    Some(_) => format!("has not been used for {days} days"),
                    None => format!("has never been used in its {days} days"),
                };
                out.push(alert(
                    Some(meta),
                    format!("unused:{}:{}", meta.id, since.timestamp()),
                    AlertSeverity::Info,
                    AlertKind::KeyUnused {
                        last_used_at: meta.last_used_at,
                        days,
                    },
                    format!(
                        "Key {} {what}; revoke it if nothing needs it.",
                        name_of(meta)
                    ),
                ));
            }
        }
    }
    // Near the tenant's daily cap.
    if let Some(p) = &snap.daily {
        if let Some((threshold, id, covers)) = threshold_alert(
            &format!("tenant-{}", snap.tenant_id),
            LimitKind::DailyCap,
            day_start(now),
            p,
            &settings.usage_thresholds,
        ) {
            let mut a = alert(
                None,
                id,
                if threshold >= 95 {
                    AlertSeverity::Critical
                } else {
                    AlertSeverity::Warning
                },
                AlertKind::UsageThreshold {
                    limit_kind: LimitKind::DailyCap,
                    threshold,
                    projection: p.clone(),
                },
                format!(
                    "The account has used {}% of its daily cap ({} of {}); at this rate it is reached {}.",
                    p.percent,
                    p.used,
                    p.limit,
                    when(p.reached_at)
                ),
            );
            a.covers = covers;
            out.push(a);
        }
    }
    out
}

/// The alerts of `all` not raised before, marking them (and what they cover) as raised.
pub fn new_alerts(all: Vec<Alert>, raised: &mut HashSet<String>) -> Vec<Alert> {
    let mut out = Vec::new();
    for alert in all {
        if raised.contains(&alert.id) {
            continue;
        }
        raised.insert(alert.id.clone());
        raised.extend(alert.covers.iter().cloned());
        out.push(alert);
    }
    out
}

/// How one poll went, for the next delay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PollResult {
    Fresh {
        ratelimit: Option<RateLimitInfo>,
    },
    /// 429: wait `Retry-After` when given.
    Throttled {
        retry_after: Option<u64>,
    },
    /// The service did not answer.
    Offline,
    /// Any other failure (signed out, forbidden, a bad answer).
    Failed,
}

impl PollResult {
    /// The wait the service asked for: `Retry-After` with a 429, or the reset of a rate-limit
    /// window it reported used up. It counts from the service's answer, not from the poll's start.
    pub fn service_wait(&self) -> Option<Duration> {
        match self {
            PollResult::Fresh {
                ratelimit: Some(rl),
            } if rl.remaining == 0 => Some(Duration::from_secs(
                u64::try_from(rl.reset.max(1)).unwrap_or(1),
            )),
            PollResult::Throttled {
                retry_after: Some(secs),
            } => Some(Duration::from_secs(*secs)),
            _ => None,
        }
    }
}

/// The wait before the next poll: the interval after a good poll (longer when the window the
/// service reports is used up); `Retry-After` after a 429; an exponential backoff
/// (interval × 2^failures, capped) while the service is unreachable or failing.
pub fn next_delay(
    result: &PollResult,
    failures: u32,
    interval: Duration,
    max_backoff: Duration,
) -> Duration {
    let backoff = || {
        let factor = 1u32 << failures.min(16);
        interval
            .saturating_mul(factor)
            .min(max_backoff)
            .max(interval)
    };
    if let Some(wait) = result.service_wait() {
        return interval.max(wait);
    }
    match result {
        PollResult::Fresh { .. } => interval,
        PollResult::Throttled { .. } | PollResult::Offline | PollResult::Failed => backoff(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use keyhaven_api::KeyUsage;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().expect("time")
    }

    fn meta(id: &str, limit: Option<u32>) -> KeyMeta {
        KeyMeta {
            id: id.into(),
            tenant_id: "ten_1".into(),
            name: format!("{id} name"),
            prefix: "kh_test_AbCd".into(),
            scopes: vec!["read".into()],
            status: KeyStatus::Active,
            created_at: at("2030-03-09T00:00:00Z"),
            last_used_at: None,
            expires_at: None,
            revoked_at: None,
            allowed_origins: vec![],
            allowed_ips: vec![],
            rate_limit_per_hour: limit,
            created_by: "usr_1".into(),
            replaced_by: None,
            replaces: None,
            note: None,
        }
    }

    fn point(t: &str, allowed: u64, denied: &[(&str, u64)]) -> UsagePoint {
        UsagePoint {
            t: at(t),
            allowed,
            denied: denied.iter().map(|(c, n)| (c.to_string(), *n)).collect(),
        }
    }

    fn usage(keys: Vec<(&str, Vec<UsagePoint>)>) -> TenantUsage {
        TenantUsage {
            tenant_id: "ten_1".into(),
            keys: keys
                .into_iter()
                .map(|(id, series)| KeyUsage {
                    key_id: id.into(),
                    last_used_at: None,
                    series,
                })
                .collect(),
        }
    }

    #[test]
    fn hourly_limits_are_projected_at_the_current_rate() {
        // 10:30, 40 calls since 10:00 of a 100/hour limit: 80 an hour, so 60 more take 45 min,
        // past the reset at 11:00.
        let now = at("2030-03-10T10:30:00Z");
        let u = usage(vec![(
            "k1",
            vec![
                point("2030-03-10T09:00:00Z", 5, &[]),
                point("2030-03-10T10:00:00Z", 40, &[]),
            ],
        )]);
        let s = snapshot("acc", &u, &[meta("k1", Some(100))], None, now);
        let p = s.keys[0].hourly.clone().expect("hourly");
        assert_eq!((p.used, p.limit, p.percent), (40, 100, 40));
        assert!((p.rate_per_hour - 80.0).abs() < 0.01);
        assert_eq!(p.resets_at, at("2030-03-10T11:00:00Z"));
        assert_eq!(p.reached_at, None);
        assert_eq!(s.keys[0].calls_today, 45);
        // 90 calls by 10:30: 180 an hour, 10 more take 200 s.
        let u = usage(vec![("k1", vec![point("2030-03-10T10:00:00Z", 90, &[])])]);
        let s = snapshot("acc", &u, &[meta("k1", Some(100))], None, now);
        let p = s.keys[0].hourly.clone().expect("hourly");
        assert_eq!(p.reached_at, Some(now + TimeDelta::seconds(200)));
        let alerts = alerts(&s, &AlertSettings::default(), now);
        let a = alerts
            .iter()
            .find(|a| matches!(a.kind, AlertKind::UsageThreshold { .. }))
            .expect("threshold alert");
        assert!(matches!(
            a.kind,
            AlertKind::UsageThreshold {
                threshold: 80,
                limit_kind: LimitKind::HourlyLimit,
                ..
            }
        ));
        assert!(a.message.contains("90%"), "{}", a.message);
        assert!(a.message.contains("10:33"), "{}", a.message);
    }

    #[test]
    fn the_daily_cap_counts_every_key_since_midnight() {
        let now = at("2030-03-10T02:30:00Z");
        let u = usage(vec![
            (
                "k1",
                vec![
                    point("2030-03-09T23:00:00Z", 500, &[]),
                    point("2030-03-10T01:00:00Z", 300, &[]),
                    point("2030-03-10T02:00:00Z", 200, &[]),
                ],
            ),
            ("k2", vec![point("2030-03-10T02:00:00Z", 360, &[])]),
        ]);
        let s = snapshot(
            "acc",
            &u,
            &[meta("k1", None), meta("k2", None)],
            Some(1000),
            now,
        );
        let d = s.daily.clone().expect("daily");
        assert_eq!(d.used, 860);
        assert_eq!(d.percent, 86);
        assert_eq!(d.resets_at, at("2030-03-11T00:00:00Z"));
        // 860 calls since 00:00 in the last 2.5 hours: 344 an hour, 140 more in ~24 min.
        let reached = d.reached_at.expect("reached today");
        assert!(reached > now && reached < now + TimeDelta::minutes(30));
        let all = alerts(&s, &AlertSettings::default(), now);
        let daily: Vec<&Alert> = all
            .iter()
            .filter(|a| {
                matches!(
                    a.kind,
                    AlertKind::UsageThreshold {
                        limit_kind: LimitKind::DailyCap,
                        ..
                    }
                )
            })
            .collect();
        assert_eq!(daily.len(), 1);
        assert_eq!(daily[0].severity, AlertSeverity::Warning);
        assert!(daily[0].key_id.is_none());
    }

    #[test]
    fn thresholds_fire_once_and_the_higher_covers_the_lower() {
        let now = at("2030-03-10T10:30:00Z");
        let settings = AlertSettings::default();
        let mut raised = HashSet::new();
        let snap = |n| {
            snapshot(
                "acc",
                &usage(vec![("k1", vec![point("2030-03-10T10:00:00Z", n, &[])])]),
                &[meta("k1", Some(100))],
                None,
                now,
            )
        };
        let first = new_alerts(alerts(&snap(81), &settings, now), &mut raised);
        assert_eq!(first.len(), 1);
        assert!(new_alerts(alerts(&snap(85), &settings, now), &mut raised).is_empty());
        let second = new_alerts(alerts(&snap(96), &settings, now), &mut raised);
        assert_eq!(second.len(), 1);
        assert_eq!(second[0].severity, AlertSeverity::Critical);
        // A jump straight to 97 % in a new hour raises only the 95 % alert.
        let later = at("2030-03-10T11:30:00Z");
        let s = snapshot(
            "acc",
            &usage(vec![("k1", vec![point("2030-03-10T11:00:00Z", 97, &[])])]),
            &[meta("k1", Some(100))],
            None,
            later,
        );
        let jump = new_alerts(alerts(&s, &settings, later), &mut raised);
        assert_eq!(jump.len(), 1);
        assert!(matches!(
            jump[0].kind,
            AlertKind::UsageThreshold { threshold: 95, .. }
        ));
        assert!(new_alerts(alerts(&s, &settings, later), &mut raised).is_empty());
    }

    #[test]
    fn expiry_spikes_and_idle_keys() {
        let now = at("2030-03-10T10:30:00Z");
        let mut soon = meta("soon", None);
        soon.expires_at = Some(now + TimeDelta::hours(20));
        let mut later = meta("later", None);
        later.expires_at = Some(now + TimeDelta::days(5));
        let mut far = meta("far", None);
        far.expires_at = Some(now + TimeDelta::days(30));
        let mut used = meta("used", None);
        used.created_at = now - TimeDelta::days(100);
        used.last_used_at = Some(now - TimeDelta::days(2));
        let mut idle = meta("idle", None);
        idle.created_at = now - TimeDelta::days(45);
        let mut revoked = meta("revoked", None);
        revoked.status = KeyStatus::Revoked;
        revoked.created_at = now - TimeDelta::days(300);
        let u = usage(vec![
            (
                "used",
                vec![
                    point("2030-03-10T08:00:00Z", 1, &[("scope_missing", 2)]),
                    point(
                        "2030-03-10T10:00:00Z",
                        3,
                        &[("origin_not_allowed", 9), ("scope_missing", 3)],
                    ),
                ],
            ),
            (
                "soon",
                vec![point("2030-03-10T10:00:00Z", 0, &[("rate_limited", 4)])],
            ),
        ]);
        let metas = [soon, later, far, used, idle, revoked];
        let s = snapshot("acc", &u, &metas, None, now);
        assert_eq!(s.keys.len(), 5, "a revoked key without usage is left out");
        let all = alerts(&s, &AlertSettings::default(), now);
        let of = |key: &str| -> Vec<&AlertKind> {
            all.iter()
                .filter(|a| a.key_id.as_deref() == Some(key))
                .map(|a| &a.kind)
                .collect()
        };
        assert!(matches!(
            of("soon")[..],
            [AlertKind::KeyExpiring { days_left: 0, .. }]
        ));
        assert!(matches!(
            of("later")[..],
            [AlertKind::KeyExpiring { days_left: 5, .. }]
        ));
        assert!(of("far").is_empty());
        match of("used")[..] {
            [AlertKind::DenialSpike {
                count,
                top_reason,
                reasons,
            }] => {
                assert_eq!(*count, 12);
                assert_eq!(top_reason, "origin_not_allowed");
                assert_eq!(reasons.get("scope_missing"), Some(&3));
            }
            ref other => panic!("{other:?}"),
        }
        assert!(matches!(
            of("idle")[..],
            [AlertKind::KeyUnused {
                last_used_at: None,
                days: 45
            }]
        ));
        let severity = |key: &str| {
            all.iter()
                .find(|a| a.key_id.as_deref() == Some(key))
                .map(|a| a.severity)
        };
        assert_eq!(severity("soon"), Some(AlertSeverity::Critical));
        assert_eq!(severity("later"), Some(AlertSeverity::Warning));
        // A key refused every hour has no spike: it is its normal.
        let steady: Vec<UsagePoint> = (0..24)
            .map(|h| UsagePoint {
                t: at("2030-03-09T11:00:00Z") + TimeDelta::hours(h),
                allowed: 0,
                denied: [("ip_not_allowed".to_string(), 20)].into(),
            })
            .collect();
        let s = snapshot(
            "acc",
            &usage(vec![("used", steady)]),
            &metas[3..4],
            None,
            now,
        );
        assert!(alerts(&s, &AlertSettings::default(), now)
            .iter()
            .all(|a| !matches!(a.kind, AlertKind::DenialSpike { .. })));
    }

    #[test]
    fn delays_honour_the_service() {
        let i = Duration::from_secs(60);
        let max = Duration::from_secs(900);
        assert_eq!(
            next_delay(&PollResult::Fresh { ratelimit: None }, 0, i, max),
            i
        );
        let spent = RateLimitInfo {
            limit: 100,
            remaining: 0,
            reset: 300,
        };
        assert_eq!(
            next_delay(
                &PollResult::Fresh {
                    ratelimit: Some(spent)
                },
                0,
                i,
                max
            ),
            Duration::from_secs(300)
        );
        let left = RateLimitInfo {
            remaining: 5,
            ..spent
        };
        assert_eq!(
            next_delay(
                &PollResult::Fresh {
                    ratelimit: Some(left)
                },
                0,
                i,
                max
            ),
            i
        );
        assert_eq!(
            next_delay(
                &PollResult::Throttled {
                    retry_after: Some(120)
                },
                1,
                i,
                max
            ),
            Duration::from_secs(120)
        );
        assert_eq!(
            next_delay(&PollResult::Offline, 1, i, max),
            Duration::from_secs(120)
        );
        assert_eq!(
            next_delay(&PollResult::Offline, 3, i, max),
            Duration::from_secs(480)
        );
        assert_eq!(next_delay(&PollResult::Offline, 10, i, max), max);
        assert_eq!(next_delay(&PollResult::Failed, 40, i, max), max);
    }
}
