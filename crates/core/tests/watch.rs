//! The usage watcher against the real key service: real traffic raises each alert once (a key
//! expiring, 80 % and 95 % of an hourly limit and of the daily cap, a spike of refusals with
//! their reason, a key unused for weeks), one `/v1/usage` request per account per poll, the
//! last usage cached for offline use; and through a gateway, `Retry-After`, an exhausted
//! `X-RateLimit-Remaining`, the network going away and coming back, pause and resume.
//!
//! The service runs on a manual clock fixed in the middle of an hour (and the watcher reads the
//! same time), so that no test straddles an hour or a midnight.

mod common;

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use keyhaven_api::{CreateKeyRequest, Role};
use keyhaven_core::watch::{LimitKind, WatchConfig};
use keyhaven_core::{AlertKind, AlertSettings, AlertSeverity, Keyhaven, Secret, WatchEvent};
use keyhaven_service::{Clock, ManualClock};

use common::{ping_status, ping_with, Gateway, Svc};

/// Events as they arrive, with when.
#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<(Instant, WatchEvent)>>>);

impl Log {
    fn sink(&self) -> impl Fn(WatchEvent) + Send + Sync + 'static {
        let log = self.0.clone();
        move |e| log.lock().expect("log").push((Instant::now(), e))
    }

    fn all(&self) -> Vec<(Instant, WatchEvent)> {
        self.0.lock().expect("log").clone()
    }

    fn alerts(&self) -> Vec<keyhaven_core::Alert> {
        self.all()
            .into_iter()
            .filter_map(|(_, e)| match e {
                WatchEvent::Alert { alert } => Some(*alert),
                _ => None,
            })
            .collect()
    }

    fn count(&self, what: impl Fn(&WatchEvent) -> bool) -> usize {
        self.all().iter().filter(|(_, e)| what(e)).count()
    }

    /// Waits until an event matches, and returns when it arrived.
    async fn wait_for(&self, what: impl Fn(&WatchEvent) -> bool, label: &str) -> Instant {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some((at, _)) = self.all().into_iter().find(|(_, e)| what(e)) {
                return at;
            }
            assert!(
                Instant::now() < deadline,
                "no {label} event; got {:#?}",
                self.all()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits for an event that arrives after `after`.
    async fn wait_after(
        &self,
        after: Instant,
        what: impl Fn(&WatchEvent) -> bool,
        label: &str,
    ) -> Instant {
        self.wait_for(|e| what(e), label).await;
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some((at, _)) = self
                .all()
                .into_iter()
                .find(|(at, e)| *at > after && what(e))
            {
                return at;
            }
            assert!(Instant::now() < deadline, "no {label} event after the mark");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

fn is_usage(e: &WatchEvent) -> bool {
    matches!(e, WatchEvent::Usage { .. })
}

/// The middle of the current hour: a time that no test run straddles.
fn mid_hour() -> i64 {
    let now = Utc::now().timestamp();
    now - now.rem_euclid(3600) + 1800
}

fn clock_of(manual: &ManualClock) -> keyhaven_core::watch::Clock {
    let manual = manual.clone();
    Arc::new(move || {
        Utc.timestamp_opt(manual.now(), 0)
            .single()
            .unwrap_or_else(Utc::now)
    })
}

fn config(manual: &ManualClock, interval_ms: u64, alerts: AlertSettings) -> WatchConfig {
    WatchConfig {
        interval: Duration::from_millis(interval_ms),
        max_backoff: Duration::from_millis(interval_ms * 4),
        metadata_interval: Duration::from_secs(60),
        alerts,
        key_checks: None,
        clock: clock_of(manual),
    }
}

async fn create(core: &Keyhaven, account: &str, request: CreateKeyRequest) -> (String, Secret) {
    let created = core.keys().create(account, request).await.expect("create");
    (created.meta.id, created.secret)
}

fn request(name: &str) -> CreateKeyRequest {
    CreateKeyRequest {
        name: name.into(),
        scopes: vec!["read".into()],
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_traffic_raises_each_alert_once_and_usage_stays_available_offline() {
    let t0 = mid_hour();
    let manual = ManualClock::at(t0 - 40 * 86_400);
    let clock: Arc<dyn Clock> = Arc::new(manual.clone());
    let mut svc = Svc::start_with_clock(
        |c| {
            c.tiers = BTreeMap::from([("free".to_string(), 50)]);
        },
        Some(clock),
    )
    .await;
    svc.user("ann@example.com", Role::Owner, "Acme").await;
    svc.user("bob@example.com", Role::Owner, "Bobco").await;
    let gateway = Gateway::start(svc.url()).await;
    let data = tempfile::tempdir().expect("tempdir");
    let core = common::core(data.path()).await;
    let sign_in = |email: &'static str| {
        let core = core.clone();
        let service = gateway.service_ref();
        async move {
            core.accounts()
                .sign_in(service, email, Secret::new(common::PASSWORD.into()), true)
                .await
                .expect("sign in")
        }
    };

    // Forty days ago: a key made and never used since.
    let ann = sign_in("ann@example.com").await;
    let (dusty, _) = create(&core, &ann.id, request("dusty")).await;
    manual.set(t0);
    // Today (the session from 40 days ago has expired: renewed with the remembered password).
    let expires = Utc
        .timestamp_opt(t0 + 2 * 86_400, 0)
        .single()
        .expect("time");
    let (limited, limited_key) = create(
        &core,
        &ann.id,
        CreateKeyRequest {
            rate_limit_per_hour: Some(10),
            ..request("limited")
        },
    )
    .await;
    let (expiring, _) = create(
        &core,
        &ann.id,
        CreateKeyRequest {
            expires_at: Some(expires),
            ..request("expiring")
        },
    )
    .await;
    let (web, web_key) = create(
        &core,
        &ann.id,
        CreateKeyRequest {
            allowed_origins: Some(vec!["https://app.example.com".into()]),
            ..request("web")
        },
    )
    .await;
    let (bulk, bulk_key) = create(&core, &ann.id, request("bulk")).await;
    let bob = sign_in("bob@example.com").await;
    create(&core, &bob.id, request("bob's")).await;

    // Traffic: 8 of 10 an hour on one key; 40 of the daily 50 in all; 12 refusals of another.
    let url = svc.url();
    for _ in 0..8 {
        assert_eq!(ping_status(&url, limited_key.expose()).await, 200);
    }
    for _ in 0..32 {
        assert_eq!(ping_status(&url, bulk_key.expose()).await, 200);
    }
    for _ in 0..12 {
        let status = ping_with(
            &url,
            web_key.expose(),
            &[],
            Some("https://evil.example.com"),
        )
        .await;
        assert_eq!(status, 403);
    }

    let settings = AlertSettings {
        expiry_warning_days: 7,
        unused_days: 30,
        usage_thresholds: vec![80, 95],
        denial_spike: 10,
        daily_caps: BTreeMap::from([(ann.id.clone(), 50)]),
    };
    let log = Log::default();
    let watch = core
        .watch()
        .start(config(&manual, 150, settings.clone()), log.sink())
        .expect("watch");
    let has = |key: &str, what: fn(&AlertKind) -> bool| {
        let key = key.to_string();
        move |e: &WatchEvent| match e {
            WatchEvent::Alert { alert } => {
                alert.key_id.as_deref() == Some(key.as_str()) && what(&alert.kind)
            }
            _ => false,
        }
    };
    let daily_at = |t: u8| move |e: &WatchEvent| matches!(e, WatchEvent::Alert { alert } if matches!(alert.kind, AlertKind::UsageThreshold { limit_kind: LimitKind::DailyCap, threshold, .. } if threshold == t));
    log.wait_for(
        has(&limited, |k| {
            matches!(
                k,
                AlertKind::UsageThreshold {
                    limit_kind: LimitKind::HourlyLimit,
                    threshold: 80,
                    ..
                }
            )
        }),
        "hourly 80 %",
    )
    .await;
    log.wait_for(
        has(&expiring, |k| {
            matches!(k, AlertKind::KeyExpiring { days_left: 2, .. })
        }),
        "expiring",
    )
    .await;
    log.wait_for(
        has(&web, |k| matches!(k, AlertKind::DenialSpike { .. })),
        "denial spike",
    )
    .await;
    log.wait_for(
        has(&dusty, |k| matches!(k, AlertKind::KeyUnused { .. })),
        "unused",
    )
    .await;
    log.wait_for(daily_at(80), "daily 80 %").await;

    // What the alerts say.
    let alerts = log.alerts();
    let spike = alerts
        .iter()
        .find(|a| a.key_id.as_deref() == Some(web.as_str()))
        .expect("spike");
    match &spike.kind {
        AlertKind::DenialSpike {
            count, top_reason, ..
        } => {
            assert_eq!(*count, 12);
            assert_eq!(top_reason, "origin_not_allowed");
        }
        other => panic!("{other:?}"),
    }
    assert!(
        spike.message.contains("origin not allowed"),
        "{}",
        spike.message
    );
    let unused = alerts
        .iter()
        .find(|a| a.key_id.as_deref() == Some(dusty.as_str()))
        .expect("unused");
    assert!(matches!(
        unused.kind,
        AlertKind::KeyUnused {
            last_used_at: None,
            days: 40
        }
    ));
    assert_eq!(unused.severity, AlertSeverity::Info);
    // No alert for the keys that are fine.
    assert!(alerts
        .iter()
        .all(|a| a.key_id.as_deref() != Some(bulk.as_str())));
    assert!(alerts.iter().all(|a| a.account_id == ann.id));

    // More traffic: the limit is reached, the cap nearly.
    for _ in 0..2 {
        assert_eq!(ping_status(&url, limited_key.expose()).await, 200);
    }
    assert_eq!(ping_status(&url, limited_key.expose()).await, 429);
    for _ in 0..6 {
        assert_eq!(ping_status(&url, bulk_key.expose()).await, 200);
    }
    log.wait_for(
        has(&limited, |k| {
            matches!(
                k,
                AlertKind::UsageThreshold {
                    limit_kind: LimitKind::HourlyLimit,
                    threshold: 95,
                    ..
                }
            )
        }),
        "hourly 95 %",
    )
    .await;
    log.wait_for(daily_at(95), "daily 95 %").await;
    // A few more polls: nothing is raised twice.
    let mark = Instant::now();
    log.wait_after(mark, is_usage, "usage").await;
    let mark = Instant::now();
    log.wait_after(mark, is_usage, "usage").await;
    let alerts = log.alerts();
    let mut ids: Vec<&str> = alerts.iter().map(|a| a.id.as_str()).collect();
    ids.sort();
    let before = ids.len();
    ids.dedup();
    assert_eq!(ids.len(), before, "an alert was raised twice: {ids:?}");
    assert_eq!(alerts.len(), 7, "{alerts:#?}");

    // One /v1/usage request per account per poll, never one per key. (A pause takes effect
    // between polls, so that no request is in flight when counting.)
    watch.pause();
    log.wait_for(|e| matches!(e, WatchEvent::Paused), "paused")
        .await;
    watch.stop().await;
    let usage_events = log.count(is_usage);
    let seen = gateway.control.seen.lock().expect("seen").clone();
    assert_eq!(
        seen.iter().filter(|p| p.as_str() == "/v1/usage").count(),
        usage_events
    );
    assert!(seen
        .iter()
        .all(|p| !(p.starts_with("/v1/keys/") && p.ends_with("/usage"))));
    let per_account = |id: &str| {
        log.count(|e| matches!(e, WatchEvent::Usage { account_id, .. } if account_id == id))
    };
    let (a, b) = (per_account(&ann.id), per_account(&bob.id));
    // Every poll fresh: a poll that failed, found the service away or was asked to wait emits no
    // usage event and would make the accounts' counts differ for a reason to see here.
    let events = log.all();
    let troubled: Vec<&WatchEvent> = events
        .iter()
        .map(|(_, e)| e)
        .filter(|e| {
            matches!(
                e,
                WatchEvent::Failed { .. }
                    | WatchEvent::Offline { .. }
                    | WatchEvent::Throttled { .. }
            )
        })
        .collect();
    assert!(
        troubled.is_empty(),
        "polls that were not fresh: {troubled:#?}\nevery event: {:#?}",
        events.iter().map(|(_, e)| e).collect::<Vec<_>>()
    );
    assert!(a >= 2 && b >= 2, "polls: {a} and {b}");
    assert!(
        a.abs_diff(b) <= 1,
        "each account is polled in turn: {a} and {b}"
    );

    // The projections of the last poll.
    let snap = core
        .watch()
        .cached(&ann.id)
        .expect("cache")
        .expect("cached");
    let key = |id: &str| snap.keys.iter().find(|k| k.meta.id == id).expect("key");
    let hourly = key(&limited).hourly.clone().expect("hourly");
    assert_eq!((hourly.used, hourly.limit, hourly.percent), (10, 10, 100));
    assert_eq!(key(&limited).denied_this_hour.get("rate_limited"), Some(&1));
    let daily = snap.daily.clone().expect("daily");
    assert_eq!((daily.used, daily.limit), (48, 50));
    assert!(
        daily.reached_at.is_some(),
        "at this rate the cap is reached today"
    );
    assert_eq!(
        daily.resets_at,
        Utc.timestamp_opt(t0 - t0.rem_euclid(86_400) + 86_400, 0)
            .single()
            .expect("midnight")
    );
    assert_eq!(snap.calls_today, 48);

    // Offline: the service is gone, the last usage is still there.
    svc.stop().await;
    let offline = core
        .watch()
        .cached(&ann.id)
        .expect("cache")
        .expect("cached");
    assert_eq!(offline, snap);

    // A new watcher (as after a restart) raises nothing already raised.
    svc.restart().await;
    let again = Log::default();
    let watch = core
        .watch()
        .start(config(&manual, 150, settings), again.sink())
        .expect("watch");
    let mark = Instant::now();
    again.wait_after(mark, is_usage, "usage").await;
    again.wait_after(Instant::now(), is_usage, "usage").await;
    assert!(again.alerts().is_empty(), "{:#?}", again.alerts());
    watch.stop().await;

    // A key's use tells the core the daily cap, which projections then use unasked.
    core.keys().ping(&ann.id, &bulk).await.expect("ping");
    let fresh = core
        .watch()
        .refresh(&ann.id, &AlertSettings::default())
        .await
        .expect("refresh");
    let seconds_to_midnight = 86_400 - Utc::now().timestamp().rem_euclid(86_400);
    if seconds_to_midnight > 3_600 {
        assert_eq!(fresh.daily.expect("learned").limit, 50);
    }
    // The cache holds no secret.
    for secret in [&limited_key, &web_key, &bulk_key] {
        assert!(common::files_containing(data.path(), secret.expose()).is_empty());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_watcher_honours_retry_after_and_ratelimit_and_rides_out_the_network() {
    let manual = ManualClock::at(mid_hour());
    let clock: Arc<dyn Clock> = Arc::new(manual.clone());
    let svc = Svc::start_with_clock(|_| {}, Some(clock)).await;
    svc.user("ann@example.com", Role::Owner, "Acme").await;
    let mut gateway = Gateway::start(svc.url()).await;
    let data = tempfile::tempdir().expect("tempdir");
    let core = common::core(data.path()).await;
    let ann = core
        .accounts()
        .sign_in(
            gateway.service_ref(),
            "ann@example.com",
            Secret::new(common::PASSWORD.into()),
            true,
        )
        .await
        .expect("sign in");
    let (_, key) = create(&core, &ann.id, request("app")).await;
    assert_eq!(ping_status(&svc.url(), key.expose()).await, 200);
    let control = gateway.control.clone();
    let usage_requests = move || control.requests_to("/v1/usage");

    // 429 with Retry-After: 2 on the first poll: nothing more for two seconds.
    gateway.control.retry_after.store(2, Ordering::SeqCst);
    gateway.control.throttle_next.store(1, Ordering::SeqCst);
    let log = Log::default();
    let watch = core
        .watch()
        .start(config(&manual, 100, AlertSettings::default()), log.sink())
        .expect("watch");
    let throttled = log
        .wait_for(
            |e| {
                matches!(
                    e,
                    WatchEvent::Throttled {
                        retry_in_seconds: 2,
                        ..
                    }
                )
            },
            "throttled",
        )
        .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        usage_requests(),
        1,
        "no request while the service asked to wait"
    );
    let fresh = log.wait_for(is_usage, "usage after the wait").await;
    assert!(
        fresh - throttled >= Duration::from_millis(1900),
        "{:?}",
        fresh - throttled
    );

    // X-RateLimit-Remaining: 0 with a reset in 2 s: the next poll waits for the reset.
    gateway.control.reset.store(2, Ordering::SeqCst);
    gateway.control.remaining.store(0, Ordering::SeqCst);
    let mark = Instant::now();
    let spent = log
        .wait_after(
            mark,
            |e| {
                matches!(
                    e,
                    WatchEvent::Throttled {
                        retry_in_seconds: 2,
                        ..
                    }
                )
            },
            "window spent",
        )
        .await;
    gateway.control.remaining.store(u32::MAX, Ordering::SeqCst);
    let before = usage_requests();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        usage_requests(),
        before,
        "no request before the window resets"
    );
    let next = log
        .wait_after(spent, is_usage, "usage after the reset")
        .await;
    assert!(
        next - spent >= Duration::from_millis(1900),
        "{:?}",
        next - spent
    );

    // The network goes away: one Offline event however many retries; the cache stays.
    gateway.go_offline().await;
    let down = log
        .wait_for(|e| matches!(e, WatchEvent::Offline { .. }), "offline")
        .await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(log.count(|e| matches!(e, WatchEvent::Offline { .. })), 1);
    let cached = core
        .watch()
        .cached(&ann.id)
        .expect("cache")
        .expect("cached");
    assert_eq!(cached.keys.len(), 1);
    if let Some((_, WatchEvent::Offline { reason, .. })) = log
        .all()
        .into_iter()
        .find(|(_, e)| matches!(e, WatchEvent::Offline { .. }))
    {
        assert_eq!(reason.code, keyhaven_core::ErrorKind::Network);
    }
    // It comes back: Online, then fresh usage.
    gateway.go_online().await;
    let up = log
        .wait_after(down, |e| matches!(e, WatchEvent::Online { .. }), "online")
        .await;
    log.wait_after(up, is_usage, "usage when back").await;

    // Paused: no request at all; resumed: a poll at once.
    watch.pause();
    log.wait_for(|e| matches!(e, WatchEvent::Paused), "paused")
        .await;
    let before = usage_requests();
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(usage_requests(), before, "no request while paused");
    watch.resume();
    let resumed = log
        .wait_for(|e| matches!(e, WatchEvent::Resumed), "resumed")
        .await;
    log.wait_after(resumed, is_usage, "usage on resume").await;
    assert!(usage_requests() > before);

    // The watcher's other subscribers get the same events.
    let mut rx = watch.subscribe();
    watch.poll_now();
    let event = tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("an event")
        .expect("open");
    assert!(is_usage(&event), "{event:?}");
    watch.stop().await;
}

/// One account behind a slow link (its polls take longer than the interval) and one behind a
/// fast one: they are still polled in turn, the slow one never twice while the other waits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_account_is_not_polled_more_often_than_a_fast_one() {
    let manual = ManualClock::at(mid_hour());
    let clock: Arc<dyn Clock> = Arc::new(manual.clone());
    let svc = Svc::start_with_clock(|_| {}, Some(clock)).await;
    svc.user("ann@example.com", Role::Owner, "Acme").await;
    svc.user("bob@example.com", Role::Owner, "Bobco").await;
    let slow = Gateway::start(svc.url()).await;
    let fast = Gateway::start(svc.url()).await;
    let data = tempfile::tempdir().expect("tempdir");
    let core = common::core(data.path()).await;
    let mut ids = Vec::new();
    for (gateway, email) in [(&slow, "ann@example.com"), (&fast, "bob@example.com")] {
        let account = core
            .accounts()
            .sign_in(
                gateway.service_ref(),
                email,
                Secret::new(common::PASSWORD.into()),
                true,
            )
            .await
            .expect("sign in");
        create(&core, &account.id, request("app")).await;
        ids.push(account.id);
    }
    slow.control.usage_delay_ms.store(300, Ordering::SeqCst);

    let log = Log::default();
    let watch = core
        .watch()
        .start(config(&manual, 100, AlertSettings::default()), log.sink())
        .expect("watch");
    let per_account = |id: &str| {
        log.count(|e| matches!(e, WatchEvent::Usage { account_id, .. } if account_id == id))
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while per_account(&ids[0]) < 8 {
        assert!(Instant::now() < deadline, "{:#?}", log.all());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    watch.pause();
    log.wait_for(|e| matches!(e, WatchEvent::Paused), "paused")
        .await;
    watch.stop().await;
    assert_eq!(
        log.count(|e| !matches!(e, WatchEvent::Usage { .. } | WatchEvent::Paused)),
        0,
        "{:#?}",
        log.all()
    );
    let (a, b) = (per_account(&ids[0]), per_account(&ids[1]));
    assert!(
        a.abs_diff(b) <= 1,
        "each account is polled in turn: slow {a}, fast {b}"
    );
}
