//! `POST /v1/verify`: an API's own backend asks the service about a key its caller sent.

#[macro_use]
mod common;

async fn verify(t: &TestService, token: &str, body: serde_json::Value) -> common::Answer {
    t.call(Method::POST, "/v1/verify", Some(token), Some(body))
        .await
}

use common::{Db, TestService};
use keyhaven_api::{keyfmt, Role};
use reqwest::Method;
use serde_json::json;

scenario!(
    #[tokio::test]
    a_backend_verifies_its_callers_keys
);
async fn a_backend_verifies_its_callers_keys(db: Db) {
    let t = common::start(db).await;
    let (_, owner) = t.signed_in("o@a.test", Role::Owner, "a").await;
    let (_, member) = t.signed_in("m@a.test", Role::Member, "a").await;
    let (_, support) = t.signed_in("s@a.test", Role::Support, "a").await;
    let (_, other) = t.signed_in("o@b.test", Role::Owner, "b").await;
    let (key, meta) = t
        .create_key(
            &owner,
            json!({"name": "app", "scopes": ["read", "search"], "rate_limit_per_hour": 3,
                   "allowed_origins": ["https://app.a.test"], "allowed_ips": ["192.0.2.0/24"]}),
        )
        .await;
    let id = meta["id"].as_str().expect("id");
    let (b_key, _) = t
        .create_key(
            &other,
            json!({"name": "b", "scopes": ["read"], "rate_limit_per_hour": 5}),
        )
        .await;

    let ok = verify(
        &t,
        &owner,
        json!({"key": key, "scope": "search", "ip": "192.0.2.10"}),
    )
    .await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    let reset = ok.json["ratelimit"]["reset"].as_i64().expect("reset");
    assert_eq!(
        ok.json,
        json!({"valid": true, "key_id": id, "scopes": ["read", "search"],
               "ratelimit": {"limit": 3, "remaining": 2, "reset": reset}})
    );

    for (body, code) in [
        (
            json!({"key": key, "scope": "write", "ip": "192.0.2.10"}),
            "scope_missing",
        ),
        (
            json!({"key": key, "origin": "https://evil.test", "ip": "192.0.2.10"}),
            "origin_not_allowed",
        ),
        (json!({"key": key, "ip": "198.51.100.1"}), "ip_not_allowed"),
        (json!({"key": key}), "ip_not_allowed"),
        // An origin never lifts the IP list.
        (
            json!({"key": key, "origin": "https://app.a.test"}),
            "ip_not_allowed",
        ),
    ] {
        let a = verify(&t, &owner, body).await;
        assert_eq!(a.status, 200);
        assert_eq!(a.json["valid"], false);
        assert_eq!(a.json["code"], code);
        assert_eq!(a.json["ratelimit"]["limit"], 3);
        assert!(a.json.get("key_id").is_none());
    }
    let o = json!({"key": key, "origin": "https://app.a.test", "ip": "192.0.2.10"});
    assert_eq!(verify(&t, &owner, o.clone()).await.json["valid"], true);
    assert_eq!(
        verify(&t, &owner, o.clone()).await.json["ratelimit"]["remaining"],
        0
    );
    let limited = verify(&t, &owner, o).await;
    assert_eq!(limited.json["code"], "rate_limited");

    // Unknown keys, and another tenant's key, are simply not valid, and touch nothing.
    for k in [
        keyfmt::generate("kh_live_"),
        "not a key".to_owned(),
        b_key.clone(),
    ] {
        let a = verify(&t, &owner, json!({"key": k, "ip": "192.0.2.10"})).await;
        assert_eq!(a.status, 200);
        assert_eq!(
            a.json,
            json!({"valid": false, "code": "unauthorized",
                   "ratelimit": {"limit": 0, "remaining": 0, "reset": 0}})
        );
    }
    let b_ping = t.ping_with(&b_key, "", &[]).await;
    assert_eq!(
        TestService::window(&b_ping).1,
        4,
        "b's key was not counted by a's verify"
    );

    // Verify failures are about the backend's callers: they never lock this IP out.
    for _ in 0..12 {
        verify(&t, &owner, json!({"key": keyfmt::generate("kh_live_")})).await;
    }
    assert_eq!(t.ping_with(&b_key, "", &[]).await.status, 200);

    // Only owners and admins; bad input is named.
    for token in [&member, &support] {
        verify(&t, token, json!({"key": key}))
            .await
            .assert_error(403, "forbidden");
    }
    t.send(
        t.request(Method::POST, "/v1/verify")
            .header("X-API-Key", &key)
            .json(&json!({"key": key})),
    )
    .await
    .assert_error(403, "forbidden");
    let bad_ip = verify(&t, &owner, json!({"key": key, "ip": "here"})).await;
    bad_ip.assert_error(422, "validation_failed");
    assert!(bad_ip.message().contains("`ip`"));
    verify(&t, &owner, json!({"scope": "read"}))
        .await
        .assert_error(422, "validation_failed");
}
