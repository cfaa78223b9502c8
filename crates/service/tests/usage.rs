//! What support and owners see of a key's life: usage by hour and day, denials with their
//! reasons, the audit log. Usage is counted in memory and reaches the database in batches.

#[macro_use]
mod common;

use std::time::Duration;

use common::Db;
use keyhaven_api::Role;
use keyhaven_service::ManualClock;
use reqwest::Method;
use serde_json::json;

/// 2026-03-10T10:20:00Z
const T0: i64 = 1_773_138_000;

scenario!(
    #[tokio::test]
    usage_denials_and_audit_tell_the_story_of_a_key
);
async fn usage_denials_and_audit_tell_the_story_of_a_key(db: Db) {
    let clock = ManualClock::at(T0);
    // No background flush during this test: reads flush what they need.
    let t = common::start_at(db, &clock, |c| {
        c.usage_flush_interval = Duration::from_secs(3600)
    })
    .await;
    let (owner, token) = t.signed_in("o@a.test", Role::Owner, "a").await;
    let (key, meta) = t
        .create_key(
            &token,
            json!({"name": "web", "scopes": ["read"], "rate_limit_per_hour": 3,
                   "allowed_origins": ["https://app.a.test"]}),
        )
        .await;
    let id = meta["id"].as_str().expect("id").to_owned();
    let app = [("Origin", "https://app.a.test")];
    for _ in 0..3 {
        assert_eq!(t.ping_with(&key, "", &app).await.status, 200);
    }
    t.ping_with(&key, "", &app)
        .await
        .assert_error(429, "rate_limited");
    t.ping_with(&key, "", &[("Origin", "https://evil.test")])
        .await
        .assert_error(403, "origin_not_allowed");
    t.ping_with(&key, "?scope=write", &app)
        .await
        .assert_error(403, "scope_missing");

    // Nothing has been written per call.
    let stored = t.db.clone();
    assert_eq!(stored.count("SELECT COUNT(*) FROM usage_hourly").await, 0);
    assert_eq!(
        stored
            .count("SELECT COUNT(*) FROM api_keys WHERE last_used_at IS NOT NULL")
            .await,
        0
    );

    let usage = t
        .call(
            Method::GET,
            &format!("/v1/keys/{id}/usage"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(usage.status, 200, "{}", usage.body);
    assert_eq!(usage.json["key_id"], id.as_str());
    assert_eq!(usage.json["last_used_at"], "2026-03-10T10:20:00Z");
    let series = usage.json["series"].as_array().expect("series");
    assert_eq!(series.len(), 24);
    assert_eq!(
        series[23],
        json!({"t": "2026-03-10T10:00:00Z", "allowed": 3,
               "denied": {"origin_not_allowed": 1, "rate_limited": 1, "scope_missing": 1}})
    );
    assert_eq!(
        series[0],
        json!({"t": "2026-03-09T11:00:00Z", "allowed": 0, "denied": {}})
    );
    assert_eq!(
        stored.count("SELECT SUM(count) FROM usage_hourly").await,
        6,
        "flushed once, all of it"
    );

    // The next hour is a new bucket; by day, both fall in one.
    clock.advance(3_600);
    t.revoke_key(&token, &id).await;
    t.ping_with(&key, "", &app)
        .await
        .assert_error(401, "unauthorized");
    let by_day = t
        .call(
            Method::GET,
            &format!("/v1/keys/{id}/usage?granularity=day&from=2026-03-09T00:00:00Z&to=2026-03-10T23:59:59Z"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(by_day.status, 200, "{}", by_day.body);
    assert_eq!(
        by_day.json["series"],
        json!([
            {"t": "2026-03-09T00:00:00Z", "allowed": 0, "denied": {}},
            {"t": "2026-03-10T00:00:00Z", "allowed": 3,
             "denied": {"origin_not_allowed": 1, "rate_limited": 1, "revoked": 1, "scope_missing": 1}}
        ])
    );

    // Denials, newest first, with why, from where and from which origin.
    let denials = t
        .call(
            Method::GET,
            &format!("/v1/keys/{id}/denials?limit=3"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(denials.status, 200, "{}", denials.body);
    let d = denials.json.as_array().expect("list");
    assert_eq!(d.len(), 3);
    assert_eq!(d[0]["code"], "revoked");
    assert_eq!(d[0]["at"], "2026-03-10T11:20:00Z");
    assert_eq!(d[1]["code"], "scope_missing");
    assert_eq!(d[2]["code"], "origin_not_allowed");
    assert_eq!(d[2]["origin"], "https://evil.test");
    assert_eq!(d[2]["ip"], "127.0.0.1");

    // The whole tenant in one answer.
    let all = t.call(Method::GET, "/v1/usage", Some(&token), None).await;
    assert_eq!(all.status, 200, "{}", all.body);
    assert_eq!(all.json["tenant_id"], owner.tenant_id.as_str());
    assert_eq!(all.json["keys"][0]["key_id"], id.as_str());
    assert_eq!(
        all.json["keys"][0]["series"].as_array().map(Vec::len),
        Some(24)
    );

    // The audit log: who did what to what, when, from where.
    let audit = t
        .call(Method::GET, "/v1/audit?limit=2", Some(&token), None)
        .await;
    assert_eq!(audit.status, 200, "{}", audit.body);
    assert_eq!(
        audit.json,
        json!([
            {"at": "2026-03-10T11:20:00Z", "actor": owner.id, "action": "key.revoke", "target": id, "ip": "127.0.0.1"},
            {"at": "2026-03-10T10:20:00Z", "actor": owner.id, "action": "key.create", "target": id, "ip": "127.0.0.1"}
        ])
    );

    // Bad parameters are named.
    for (path, field) in [
        (format!("/v1/keys/{id}/denials?limit=0"), "limit"),
        (format!("/v1/keys/{id}/denials?limit=1001"), "limit"),
        ("/v1/audit?limit=many".to_owned(), "limit"),
        ("/v1/usage?granularity=week".to_owned(), "granularity"),
        (format!("/v1/keys/{id}/usage?from=yesterday"), "from"),
        (format!("/v1/keys/{id}/usage?to=2026-13-01T00:00:00Z"), "to"),
        ("/v1/usage?from=2020-01-01T00:00:00Z".to_owned(), "from"),
    ] {
        let a = t.call(Method::GET, &path, Some(&token), None).await;
        a.assert_error(422, "validation_failed");
        assert!(a.message().contains(field), "{path}: {}", a.message());
    }
    t.call(Method::GET, "/v1/keys/key_nope/usage", Some(&token), None)
        .await
        .assert_error(404, "not_found");
}

scenario!(
    #[tokio::test]
    a_graceful_stop_writes_every_counted_call
);
async fn a_graceful_stop_writes_every_counted_call(db: Db) {
    let t = common::start_with(db, |c| c.usage_flush_interval = Duration::from_secs(3600)).await;
    let (_, token) = t.signed_in("o@b.test", Role::Owner, "b").await;
    let (key, _) = t
        .create_key(&token, json!({"name": "k", "scopes": ["read"]}))
        .await;
    for _ in 0..7 {
        assert_eq!(t.ping_with(&key, "", &[]).await.status, 200);
    }
    t.ping_with(&key, "?scope=write", &[])
        .await
        .assert_error(403, "scope_missing");
    let stored = t.stop_keeping_data().await;
    assert_eq!(
        stored
            .count("SELECT SUM(count) FROM usage_hourly WHERE outcome = 'allowed'")
            .await,
        7
    );
    assert_eq!(stored.count("SELECT COUNT(*) FROM denials").await, 1);
    assert_eq!(
        stored
            .count("SELECT COUNT(*) FROM api_keys WHERE last_used_at IS NOT NULL")
            .await,
        1
    );
}

scenario!(
    #[tokio::test]
    usage_reaches_the_database_within_the_flush_interval
);
async fn usage_reaches_the_database_within_the_flush_interval(db: Db) {
    let t = common::start_with(db, |c| c.usage_flush_interval = Duration::from_millis(50)).await;
    let (_, token) = t.signed_in("o@c.test", Role::Owner, "c").await;
    let (key, _) = t
        .create_key(&token, json!({"name": "k", "scopes": ["read"]}))
        .await;
    assert_eq!(t.ping_with(&key, "", &[]).await.status, 200);
    // Waiting for the background flush, which the test cannot trigger otherwise.
    let mut written = 0;
    for _ in 0..100 {
        written = t.count_in_db("SELECT COUNT(*) FROM usage_hourly").await;
        if written > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(written, 1);
}

scenario!(
    #[tokio::test]
    denials_are_kept_for_thirty_days
);
async fn denials_are_kept_for_thirty_days(db: Db) {
    let clock = ManualClock::at(T0);
    let t = common::start_at(db, &clock, |c| {
        c.usage_flush_interval = Duration::from_millis(20)
    })
    .await;
    let (_, token) = t.signed_in("o@d.test", Role::Owner, "d").await;
    let (key, meta) = t
        .create_key(&token, json!({"name": "k", "scopes": ["read"]}))
        .await;
    let id = meta["id"].as_str().expect("id");
    t.ping_with(&key, "?scope=write", &[])
        .await
        .assert_error(403, "scope_missing");
    let path = format!("/v1/keys/{id}/denials");
    let kept = t.call(Method::GET, &path, Some(&token), None).await;
    assert_eq!(kept.json.as_array().map(Vec::len), Some(1));

    clock.advance(31 * 86_400);
    // Waiting for the background pruning, which the test cannot trigger otherwise.
    let mut left = 1;
    for _ in 0..200 {
        left = t.count_in_db("SELECT COUNT(*) FROM denials").await;
        if left == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(left, 0);
}
