//! Using a key, in API.md's order: the key itself, then where the call comes from, then its
//! scope, then the key's hourly limit and the tenant's daily cap; and the lockout of a source
//! IP that keeps failing. Time-dependent rules run on a manual clock.

#[macro_use]
mod common;

use common::{Db, TestService};
use keyhaven_api::{keyfmt, Role};
use keyhaven_service::ManualClock;
use reqwest::Method;
use serde_json::json;

/// 2026-03-10T10:20:00Z: mid-hour, mid-day.
const T0: i64 = 1_773_138_000;

scenario!(
    #[tokio::test]
    origin_is_checked_when_sent_otherwise_the_ip
);
async fn origin_is_checked_when_sent_otherwise_the_ip(db: Db) {
    let t = common::start(db).await;
    let (_, token) = t.signed_in("o@a.test", Role::Owner, "a").await;
    let (web, _) = t
        .create_key(
            &token,
            json!({"name": "web", "scopes": ["read"],
                   "allowed_origins": ["https://app.a.test"], "allowed_ips": ["10.0.0.0/8"]}),
        )
        .await;
    let (local, _) = t
        .create_key(
            &token,
            json!({"name": "local", "scopes": ["read"], "allowed_ips": ["127.0.0.0/8"]}),
        )
        .await;
    let (open, _) = t
        .create_key(&token, json!({"name": "open", "scopes": ["read"]}))
        .await;

    // With an Origin header, the origin decides and the IP is not looked at.
    let ok = t
        .ping_with(&web, "", &[("Origin", "https://APP.a.test")])
        .await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    let bad = t
        .ping_with(&web, "", &[("Origin", "https://evil.test")])
        .await;
    bad.assert_error(403, "origin_not_allowed");
    TestService::window(&bad);
    // Without one, the peer address must be in allowed_ips (127.0.0.1 is not in 10/8).
    t.ping_with(&web, "", &[])
        .await
        .assert_error(403, "ip_not_allowed");
    assert_eq!(t.ping_with(&local, "", &[]).await.status, 200);
    // A forged X-Forwarded-For does not make a call come from elsewhere.
    t.ping_with(&web, "", &[("X-Forwarded-For", "10.1.2.3")])
        .await
        .assert_error(403, "ip_not_allowed");
    // Empty lists pass everything.
    assert_eq!(
        t.ping_with(&open, "", &[("Origin", "https://any.test")])
            .await
            .status,
        200
    );

    // Order: origin before scope; scope after origin and IP pass.
    t.ping_with(&web, "?scope=write", &[("Origin", "https://evil.test")])
        .await
        .assert_error(403, "origin_not_allowed");
    t.ping_with(&local, "?scope=write", &[])
        .await
        .assert_error(403, "scope_missing");
}

scenario!(
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    the_hourly_limit_is_exact_under_64_concurrent_callers
);
async fn the_hourly_limit_is_exact_under_64_concurrent_callers(db: Db) {
    let clock = ManualClock::at(T0);
    let t = common::start_at(db, &clock, |_| {}).await;
    let (_, token) = t.signed_in("o@b.test", Role::Owner, "b").await;
    const N: usize = 20;
    let (key, _) = t
        .create_key(
            &token,
            json!({"name": "limited", "scopes": ["read"], "rate_limit_per_hour": N}),
        )
        .await;

    let calls = (0..64).map(|_| t.ping_with(&key, "", &[]));
    let answers = common::join_all(calls).await;
    let accepted = answers.iter().filter(|a| a.status == 200).count();
    assert_eq!(accepted, N, "exactly the limit is accepted");
    for a in answers.iter().filter(|a| a.status != 200) {
        a.assert_error(429, "rate_limited");
        let (limit, remaining, reset) = TestService::window(a);
        assert_eq!((limit, remaining), (N as u64, 0));
        assert_eq!(reset, 2_400, "40 minutes to the hour");
        assert_eq!(a.header("retry-after"), Some("2400"));
    }
    let mut remaining: Vec<u64> = answers
        .iter()
        .filter(|a| a.status == 200)
        .map(|a| TestService::window(a).1)
        .collect();
    remaining.sort_unstable();
    assert_eq!(
        remaining,
        (0..N as u64).collect::<Vec<_>>(),
        "each count once"
    );

    // The next hour starts afresh.
    clock.advance(2_400);
    let a = t.ping_with(&key, "", &[]).await;
    assert_eq!(a.status, 200);
    assert_eq!(TestService::window(&a), (N as u64, N as u64 - 1, 3_600));
}

scenario!(
    #[tokio::test]
    the_daily_cap_is_per_tenant_by_tier_and_resets_at_midnight_utc
);
async fn the_daily_cap_is_per_tenant_by_tier_and_resets_at_midnight_utc(db: Db) {
    let clock = ManualClock::at(T0);
    let t = common::start_at(db, &clock, |c| {
        c.tiers.insert("free".into(), 3);
        c.tiers.insert("pro".into(), 5);
    })
    .await;
    let (owner, token) = t.signed_in("o@c.test", Role::Owner, "c").await;
    let (k1, _) = t
        .create_key(&token, json!({"name": "1", "scopes": ["read"]}))
        .await;
    let (k2, _) = t
        .create_key(
            &token,
            json!({"name": "2", "scopes": ["read"], "rate_limit_per_hour": 100}),
        )
        .await;
    let (_, other) = t.signed_in("o@d.test", Role::Owner, "d").await;
    let (stranger, _) = t
        .create_key(&other, json!({"name": "d", "scopes": ["read"]}))
        .await;

    for key in [&k1, &k2, &k1] {
        assert_eq!(t.ping_with(key, "", &[]).await.status, 200);
    }
    let to_midnight = 86_400 - T0.rem_euclid(86_400);
    for key in [&k1, &k2] {
        let over = t.ping_with(key, "", &[]).await;
        over.assert_error(429, "daily_cap_reached");
        assert_eq!(TestService::window(&over), (3, 0, to_midnight));
        assert_eq!(
            over.header("retry-after"),
            Some(to_midnight.to_string().as_str())
        );
    }
    assert_eq!(
        t.ping_with(&stranger, "", &[]).await.status,
        200,
        "another tenant has its own cap"
    );
    // A refused call does not eat into the key's hourly limit.
    clock.advance(to_midnight - 1);
    t.ping_with(&k2, "", &[])
        .await
        .assert_error(429, "daily_cap_reached");

    // Midnight UTC: the cap resets.
    clock.advance(1);
    let a = t.ping_with(&k1, "", &[]).await;
    assert_eq!(a.status, 200);
    assert_eq!(TestService::window(&a), (3, 2, 86_400));

    // A tenant moved to another tier gets its cap.
    t.service
        .set_tenant_tier(&owner.tenant_id, Some("pro"))
        .await
        .expect("tier");
    let a = t.ping_with(&k1, "", &[]).await;
    assert_eq!(TestService::window(&a).0, 5);
    assert!(t
        .service
        .set_tenant_tier(&owner.tenant_id, Some("gold"))
        .await
        .is_err());
}

scenario!(
    #[tokio::test]
    ten_failures_lock_the_source_ip_out_and_forged_forwarding_does_not_help
);
async fn ten_failures_lock_the_source_ip_out_and_forged_forwarding_does_not_help(db: Db) {
    let clock = ManualClock::at(T0);
    let t = common::start_at(db, &clock, |_| {}).await;
    let (user, password) = t.user("o@e.test", Role::Owner, "e").await;
    let token = t.login("o@e.test", &password).await;
    let (key, _) = t
        .create_key(&token, json!({"name": "good", "scopes": ["read"]}))
        .await;
    let (revoked, meta) = t
        .create_key(&token, json!({"name": "gone", "scopes": ["read"]}))
        .await;
    let id = meta["id"].as_str().expect("id");
    t.call(
        Method::DELETE,
        &format!("/v1/keys/{id}"),
        Some(&token),
        None,
    )
    .await;

    // Nine failures of every kind, some claiming to come from elsewhere: still allowed.
    let unknown = keyfmt::generate("kh_live_");
    for i in 0..3 {
        let a = t
            .ping_with(
                &unknown,
                "",
                &[("X-Forwarded-For", &format!("203.0.113.{i}"))],
            )
            .await;
        a.assert_error(401, "unauthorized");
        assert_eq!(TestService::window(&a).1, 10 - (i + 1), "failures left");
    }
    for _ in 0..3 {
        t.ping_with(&revoked, "", &[])
            .await
            .assert_error(401, "unauthorized");
    }
    for _ in 0..3 {
        t.call(
            Method::POST,
            "/v1/auth/login",
            None,
            Some(json!({"email": "o@e.test", "password": "wrong password"})),
        )
        .await
        .assert_error(401, "unauthorized");
    }
    clock.advance(60);
    assert_eq!(
        t.ping_with(&key, "", &[]).await.status,
        200,
        "nine is not ten"
    );

    // The tenth locks the IP out: the valid key and the right password are refused too.
    t.ping_with("kh_live_typo", "", &[])
        .await
        .assert_error(401, "unauthorized");
    let locked = t.ping_with(&key, "", &[]).await;
    locked.assert_error(429, "ip_locked_out");
    assert_eq!(
        locked.header("retry-after"),
        Some("240"),
        "until the window ends"
    );
    let login = t
        .call(
            Method::POST,
            "/v1/auth/login",
            None,
            Some(json!({"email": "o@e.test", "password": password})),
        )
        .await;
    login.assert_error(429, "ip_locked_out");
    assert_eq!(login.header("retry-after"), Some("240"));

    // A forged X-Forwarded-For neither escapes the lockout nor resets it.
    for forged in ["198.51.100.7", "127.0.0.2, 10.0.0.1", "unknown"] {
        let a = t
            .ping_with(
                &key,
                "",
                &[("X-Forwarded-For", forged), ("X-Real-IP", forged)],
            )
            .await;
        a.assert_error(429, "ip_locked_out");
        assert_eq!(a.header("retry-after"), Some("240"));
    }
    clock.advance(239);
    t.ping_with(&key, "", &[])
        .await
        .assert_error(429, "ip_locked_out");

    // Management with a session is not a key or login attempt: it still works.
    assert_eq!(
        t.call(Method::GET, "/v1/me", Some(&token), None)
            .await
            .status,
        200
    );

    // The window ends: the IP starts afresh.
    clock.advance(1);
    assert_eq!(t.ping_with(&key, "", &[]).await.status, 200);
    let _ = user;
}
