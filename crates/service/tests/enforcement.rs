//! Using a key, in API.md's order: the key itself, then where the call comes from (its IP,
//! always; its origin, when it names one), then its scope, then the key's hourly limit and the
//! tenant's daily cap; and the lockout of a source that keeps failing, exact under concurrent
//! attempts. Time-dependent rules run on a manual clock.

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
    an_origin_never_lifts_an_ip_list_and_x_origin_is_an_origin
);
async fn an_origin_never_lifts_an_ip_list_and_x_origin_is_an_origin(db: Db) {
    let t = common::start(db).await;
    let (_, token) = t.signed_in("o@a.test", Role::Owner, "a").await;
    // Allowed origins, and IPs that do not include this test's 127.0.0.1.
    let (remote, _) = t
        .create_key(
            &token,
            json!({"name": "remote", "scopes": ["read"],
                   "allowed_origins": ["https://app.a.test"], "allowed_ips": ["10.0.0.0/8"]}),
        )
        .await;
    // IPs only, none of them this one.
    let (ip_only, _) = t
        .create_key(
            &token,
            json!({"name": "ip only", "scopes": ["read"], "allowed_ips": ["10.0.0.0/8"]}),
        )
        .await;
    // Allowed origins, and IPs that include 127.0.0.1.
    let (both, _) = t
        .create_key(
            &token,
            json!({"name": "both", "scopes": ["read"],
                   "allowed_origins": ["https://app.a.test"], "allowed_ips": ["127.0.0.0/8"]}),
        )
        .await;
    let (open, _) = t
        .create_key(&token, json!({"name": "open", "scopes": ["read"]}))
        .await;

    // The right Origin does not let a call in from an address the key does not allow (TokenKit
    // checks IPs only without an Origin; any client can send one).
    let a = t
        .ping_with(&remote, "", &[("Origin", "https://app.a.test")])
        .await;
    a.assert_error(403, "ip_not_allowed");
    TestService::window(&a);
    t.ping_with(&ip_only, "", &[("Origin", "https://elsewhere.test")])
        .await
        .assert_error(403, "ip_not_allowed");
    // A forged X-Forwarded-For does not make a call come from elsewhere.
    t.ping_with(&ip_only, "", &[("X-Forwarded-For", "10.1.2.3")])
        .await
        .assert_error(403, "ip_not_allowed");

    // From an allowed address, the origin is checked when one is named: Origin, or X-Origin.
    let ok = t
        .ping_with(&both, "", &[("Origin", "https://APP.a.test")])
        .await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert_eq!(
        t.ping_with(&both, "", &[]).await.status,
        200,
        "no origin named"
    );
    t.ping_with(&both, "", &[("Origin", "https://evil.test")])
        .await
        .assert_error(403, "origin_not_allowed");
    t.ping_with(&both, "", &[("X-Origin", "https://evil.test")])
        .await
        .assert_error(403, "origin_not_allowed");
    assert_eq!(
        t.ping_with(&both, "", &[("X-Origin", "https://app.a.test")])
            .await
            .status,
        200
    );
    // Empty lists pass everything.
    assert_eq!(
        t.ping_with(&open, "", &[("Origin", "https://any.test")])
            .await
            .status,
        200
    );

    // Order: IP, then origin, then scope.
    t.ping_with(&remote, "?scope=write", &[("Origin", "https://evil.test")])
        .await
        .assert_error(403, "ip_not_allowed");
    t.ping_with(&both, "?scope=write", &[("Origin", "https://evil.test")])
        .await
        .assert_error(403, "origin_not_allowed");
    t.ping_with(&both, "?scope=write", &[])
        .await
        .assert_error(403, "scope_missing");
}

scenario!(
    #[tokio::test]
    calls_refused_for_their_ip_or_origin_count_toward_the_lockout
);
async fn calls_refused_for_their_ip_or_origin_count_toward_the_lockout(db: Db) {
    let t = common::start(db).await;
    let (_, token) = t.signed_in("o@l.test", Role::Owner, "l").await;
    let (elsewhere, _) = t
        .create_key(
            &token,
            json!({"name": "elsewhere", "scopes": ["read"], "allowed_ips": ["10.0.0.0/8"]}),
        )
        .await;
    let (web, _) = t
        .create_key(
            &token,
            json!({"name": "web", "scopes": ["read"], "allowed_origins": ["https://app.l.test"]}),
        )
        .await;
    let (open, _) = t
        .create_key(&token, json!({"name": "open", "scopes": ["read"]}))
        .await;
    for i in 0..5 {
        let a = t.ping_with(&elsewhere, "", &[]).await;
        a.assert_error(403, "ip_not_allowed");
        let b = t
            .ping_with(&web, "", &[("Origin", "https://evil.test")])
            .await;
        b.assert_error(403, "origin_not_allowed");
        if i < 4 {
            assert_eq!(t.ping_with(&open, "", &[]).await.status, 200, "round {i}");
        }
    }
    // Ten refusals for where the calls came from: the source is locked out, valid key or not.
    t.ping_with(&open, "", &[])
        .await
        .assert_error(429, "ip_locked_out");
    // A scope refusal is the key's business, not a failed attempt: it counted nothing (checked
    // on a service of its own).
    let t2 = common::start(db).await;
    let (_, token) = t2.signed_in("o@m.test", Role::Owner, "m").await;
    let (read, _) = t2
        .create_key(&token, json!({"name": "read", "scopes": ["read"]}))
        .await;
    for _ in 0..12 {
        t2.ping_with(&read, "?scope=write", &[])
            .await
            .assert_error(403, "scope_missing");
    }
    assert_eq!(t2.ping_with(&read, "", &[]).await.status, 200);
}

scenario!(
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    two_hundred_wrong_logins_at_once_check_at_most_ten_passwords
);
async fn two_hundred_wrong_logins_at_once_check_at_most_ten_passwords(db: Db) {
    let t = common::start(db).await;
    let (_, password) = t.user("o@n.test", Role::Owner, "n").await;
    let logins = (0..200).map(|i| {
        t.call(
            Method::POST,
            "/v1/auth/login",
            None,
            Some(json!({"email": "o@n.test", "password": format!("wrong {i}")})),
        )
    });
    let answers = common::join_all(logins).await;
    let checked = answers.iter().filter(|a| a.status == 401).count();
    let locked = answers
        .iter()
        .filter(|a| a.status == 429 && a.code() == "ip_locked_out")
        .count();
    assert_eq!(checked, 10, "at most ten passwords checked");
    assert_eq!(
        locked, 190,
        "the others refused before their password was looked at"
    );
    // The right password too, now.
    t.call(
        Method::POST,
        "/v1/auth/login",
        None,
        Some(json!({"email": "o@n.test", "password": password})),
    )
    .await
    .assert_error(429, "ip_locked_out");
}

scenario!(
    #[tokio::test]
    a_successful_login_is_forgiven
);
async fn a_successful_login_is_forgiven(db: Db) {
    let t = common::start(db).await;
    let (_, password) = t.user("o@p.test", Role::Owner, "p").await;
    let login = |password: String| {
        t.call(
            Method::POST,
            "/v1/auth/login",
            None,
            Some(json!({"email": "o@p.test", "password": password})),
        )
    };
    for _ in 0..9 {
        login("wrong".into())
            .await
            .assert_error(401, "unauthorized");
    }
    // Right ones do not fill the tenth place, however many.
    for _ in 0..5 {
        assert_eq!(login(password.clone()).await.status, 200);
    }
    login("wrong".into())
        .await
        .assert_error(401, "unauthorized");
    login(password.clone())
        .await
        .assert_error(429, "ip_locked_out");
}

scenario!(
    #[tokio::test]
    behind_a_trusted_proxy_the_client_is_the_forwarded_one_and_an_ipv6_64_is_one_source
);
async fn behind_a_trusted_proxy_the_client_is_the_forwarded_one_and_an_ipv6_64_is_one_source(
    db: Db,
) {
    let t = common::start_with(db, |c| {
        c.trusted_proxies = vec!["127.0.0.1/32".parse().expect("net")];
    })
    .await;
    let (_, token) = t.signed_in("o@q.test", Role::Owner, "q").await;
    let (office, _) = t
        .create_key(
            &token,
            json!({"name": "office", "scopes": ["read"], "allowed_ips": ["203.0.113.0/24"]}),
        )
        .await;
    let from = |ip: &'static str| [("X-Forwarded-For", ip)];
    // The proxy's client is the caller: its address is what the allowed IPs are held against.
    assert_eq!(
        t.ping_with(&office, "", &from("203.0.113.9")).await.status,
        200
    );
    t.ping_with(&office, "", &from("198.51.100.9"))
        .await
        .assert_error(403, "ip_not_allowed");
    // What the client wrote before the proxy's own entry is not believed.
    t.ping_with(&office, "", &from("203.0.113.9, 198.51.100.9"))
        .await
        .assert_error(403, "ip_not_allowed");

    // Two addresses of one IPv6 /64 are one source: five failures from each lock both out...
    let unknown = keyfmt::generate("kh_live_");
    for host in ["2001:db8:1:2::a", "2001:db8:1:2:ffff::b"] {
        for _ in 0..5 {
            t.ping_with(&unknown, "", &from(host))
                .await
                .assert_error(401, "unauthorized");
        }
    }
    let (open, _) = t
        .create_key(&token, json!({"name": "open", "scopes": ["read"]}))
        .await;
    t.ping_with(&open, "", &from("2001:db8:1:2::c"))
        .await
        .assert_error(429, "ip_locked_out");
    // ...and not the next /64, nor an IPv4 client of the same proxy.
    assert_eq!(
        t.ping_with(&open, "", &from("2001:db8:1:3::c"))
            .await
            .status,
        200
    );
    assert_eq!(
        t.ping_with(&open, "", &from("203.0.113.9")).await.status,
        200
    );
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
    let statuses: Vec<(u16, String)> = answers
        .iter()
        .map(|a| (a.status, a.json["error"]["code"].to_string()))
        .collect();
    assert_eq!(accepted, N, "exactly the limit is accepted: {statuses:?}");
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
    t.revoke_key(&token, id).await;

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

scenario!(
    #[tokio::test]
    a_restart_never_lets_a_key_have_its_hourly_limit_or_the_tenant_its_cap_twice
);
async fn a_restart_never_lets_a_key_have_its_hourly_limit_or_the_tenant_its_cap_twice(db: Db) {
    let clock = ManualClock::at(T0);
    let tiers = |c: &mut keyhaven_service::ServiceConfig| {
        c.tiers.insert("free".into(), 8);
    };
    let t = common::start_at(db, &clock, tiers).await;
    let (_, token) = t.signed_in("o@restart.test", Role::Owner, "restart").await;
    let (limited, _) = t
        .create_key(
            &token,
            json!({"name": "limited", "scopes": ["read"], "rate_limit_per_hour": 5}),
        )
        .await;
    let (other, _) = t
        .create_key(&token, json!({"name": "other", "scopes": ["read"]}))
        .await;
    for key in [&limited, &other] {
        for _ in 0..3 {
            assert_eq!(t.ping_with(key, "", &[]).await.status, 200);
        }
    }

    // Stopped (the last usage is written on the way out) and started again on the same data.
    let data = t.stop_keeping_data().await;
    let t = common::start_on(data, tiers, std::sync::Arc::new(clock.clone())).await;
    let first = t.ping_with(&limited, "", &[]).await;
    assert_eq!(first.status, 200);
    assert_eq!(
        TestService::window(&first).1,
        1,
        "the hour's window goes on: 4 of 5 used"
    );
    assert_eq!(t.ping_with(&limited, "", &[]).await.status, 200);
    t.ping_with(&limited, "", &[])
        .await
        .assert_error(429, "rate_limited");
    // Eight calls today in all: the tenant's cap is reached for the other key too.
    t.ping_with(&other, "", &[])
        .await
        .assert_error(429, "daily_cap_reached");
}

scenario!(
    #[tokio::test]
    a_tier_with_a_request_rate_holds_each_key_to_it
);
async fn a_tier_with_a_request_rate_holds_each_key_to_it(db: Db) {
    // AniKura's free tier: 2,000 calls a day, one call every two seconds per key.
    let clock = ManualClock::at(T0);
    let t = common::start_at(db, &clock, |c| {
        c.tiers.insert("free".into(), 2_000);
        c.tier_rates.insert(
            "free".into(),
            keyhaven_service::TierRate {
                calls: 1,
                seconds: 2,
            },
        );
        c.tiers.insert("pro".into(), 100_000);
    })
    .await;
    let (owner, token) = t.signed_in("o@rate.test", Role::Owner, "rate").await;
    let (a, _) = t
        .create_key(&token, json!({"name": "a", "scopes": ["read"]}))
        .await;
    let (b, _) = t
        .create_key(&token, json!({"name": "b", "scopes": ["read"]}))
        .await;

    let first = t.ping_with(&a, "", &[]).await;
    assert_eq!(first.status, 200);
    assert_eq!(
        TestService::window(&first),
        (2_000, 1_999, 49_200),
        "the headers keep telling the day's quota"
    );
    let second = t.ping_with(&a, "", &[]).await;
    second.assert_error(429, "rate_limited");
    assert_eq!(second.header("retry-after"), Some("2"));
    // Per key: another key of the tenant has its own window.
    assert_eq!(t.ping_with(&b, "", &[]).await.status, 200);
    // The refused call counted against nothing else: two calls of the day are used.
    clock.advance(2);
    let third = t.ping_with(&a, "", &[]).await;
    assert_eq!(third.status, 200);
    assert_eq!(TestService::window(&third).1, 1_997);

    // In a tier without a rate, calls follow one another freely.
    t.service
        .set_tenant_tier(&owner.tenant_id, Some("pro"))
        .await
        .expect("tier");
    for _ in 0..3 {
        assert_eq!(t.ping_with(&a, "", &[]).await.status, 200);
    }
}
