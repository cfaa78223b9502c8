//! Changing a key without a new secret, and rolling it to a new secret with a grace period.

#[macro_use]
mod common;

use common::Db;

use keyhaven_api::Role;
use keyhaven_service::ManualClock;
use reqwest::Method;
use serde_json::{json, Value};

const T0: i64 = 1_773_138_000;

scenario!(
    #[tokio::test]
    rolling_keeps_the_old_key_for_the_grace_period_only
);
async fn rolling_keeps_the_old_key_for_the_grace_period_only(db: Db) {
    let clock = ManualClock::at(T0);
    let t = common::start_at(db, &clock, |_| {}).await;
    let (owner, token) = t.signed_in("o@a.test", Role::Owner, "a").await;
    let (old, meta) = t
        .create_key(
            &token,
            json!({"name": "deploy", "scopes": ["read", "write"], "rate_limit_per_hour": 50}),
        )
        .await;
    let old_id = meta["id"].as_str().expect("id").to_owned();

    let (new, rolled) = t.roll_key(&token, &old_id, 600).await;
    let new_meta = &rolled["meta"];
    let new_id = new_meta["id"].as_str().expect("id");
    assert_ne!(new_id, old_id);
    assert_ne!(new, old);
    assert_eq!(new_meta["name"], "deploy");
    assert_eq!(new_meta["scopes"], json!(["read", "write"]));
    assert_eq!(new_meta["rate_limit_per_hour"], 50);
    assert_eq!(new_meta["status"], "active");

    // Within the grace period both keys work; the old one shows as expiring.
    assert_eq!(t.ping_with(&new, "", &[]).await.status, 200);
    assert_eq!(t.ping_with(&old, "", &[]).await.status, 200);
    let old_now = t
        .call(
            Method::GET,
            &format!("/v1/keys/{old_id}"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(old_now.json["status"], "expiring");
    assert!(old_now.json["expires_at"].is_string());
    // Each names the other: the old key its replacement, the new key the one it replaces, in
    // the list as in each key's own read.
    assert_eq!(old_now.json["replaced_by"], new_id);
    assert_eq!(old_now.json["replaces"], Value::Null);
    assert_eq!(new_meta["replaces"], old_id.as_str());
    assert_eq!(new_meta["replaced_by"], Value::Null);
    let listed = t.call(Method::GET, "/v1/keys", Some(&token), None).await;
    let by_id = |id: &str| {
        listed.json["keys"]
            .as_array()
            .expect("keys")
            .iter()
            .find(|k| k["id"] == id)
            .cloned()
            .expect("listed")
    };
    assert_eq!(by_id(&old_id)["replaced_by"], new_id);
    assert_eq!(by_id(new_id)["replaces"], old_id.as_str());
    clock.advance(599);
    assert_eq!(t.ping_with(&old, "", &[]).await.status, 200);

    // When the grace ends the old key is expired and refused; the new one goes on.
    clock.advance(1);
    t.ping_with(&old, "", &[])
        .await
        .assert_error(401, "unauthorized");
    assert_eq!(t.ping_with(&new, "", &[]).await.status, 200);
    let old_now = t
        .call(
            Method::GET,
            &format!("/v1/keys/{old_id}"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(old_now.json["status"], "expired");

    // An expired key cannot be rolled again.
    t.call(
        Method::POST,
        &format!("/v1/keys/{old_id}/roll"),
        Some(&token),
        Some(json!({"grace_seconds": 0})),
    )
    .await
    .assert_error(409, "conflict");

    let audit = t
        .service
        .audit_log(&owner.tenant_id, 10)
        .await
        .expect("audit");
    let actions: Vec<(&str, &str)> = audit
        .iter()
        .map(|e| (e.action.as_str(), e.target.as_str()))
        .collect();
    assert!(
        actions.contains(&("key.roll", old_id.as_str())),
        "{actions:?}"
    );
    assert!(actions.contains(&("key.create", new_id)), "{actions:?}");
}

scenario!(
    #[tokio::test]
    rolling_with_no_grace_revokes_at_once_and_bad_rolls_are_refused
);
async fn rolling_with_no_grace_revokes_at_once_and_bad_rolls_are_refused(db: Db) {
    let t = common::start(db).await;
    let (_, token) = t.signed_in("o@b.test", Role::Owner, "b").await;
    let (_, support) = t.signed_in("s@b.test", Role::Support, "b").await;
    let (old, meta) = t
        .create_key(&token, json!({"name": "k", "scopes": ["read"]}))
        .await;
    let id = meta["id"].as_str().expect("id");
    let path = format!("/v1/keys/{id}/roll");

    t.call(Method::POST, &path, Some(&token), Some(json!({})))
        .await
        .assert_error(422, "validation_failed");
    let too_long = t
        .call(
            Method::POST,
            &path,
            Some(&token),
            Some(json!({"grace_seconds": 100_000_000})),
        )
        .await;
    too_long.assert_error(422, "validation_failed");
    assert!(too_long.message().contains("grace_seconds"));
    t.call(
        Method::POST,
        &path,
        Some(&support),
        Some(json!({"grace_seconds": 0})),
    )
    .await
    .assert_error(403, "forbidden");
    t.call(
        Method::POST,
        "/v1/keys/key_nope/roll",
        Some(&token),
        Some(json!({"grace_seconds": 0})),
    )
    .await
    .assert_error(404, "not_found");

    let (new, _) = t.roll_key(&token, id, 0).await;
    t.ping_with(&old, "", &[])
        .await
        .assert_error(401, "unauthorized");
    assert_eq!(t.ping_with(&new, "", &[]).await.status, 200);
    let old_meta = t
        .call(Method::GET, &format!("/v1/keys/{id}"), Some(&token), None)
        .await;
    assert_eq!(old_meta.json["status"], "revoked");
}

scenario!(
    #[tokio::test]
    retired_keys_stay_retired_a_key_in_grace_rolls_once_and_counts_toward_the_cap
);
async fn retired_keys_stay_retired_a_key_in_grace_rolls_once_and_counts_toward_the_cap(db: Db) {
    let clock = ManualClock::at(T0);
    let t = common::start_at(db, &clock, |c| c.max_active_keys = 3).await;
    let (_, token) = t.signed_in("o@g.test", Role::Owner, "g").await;
    let patch = |id: String, body: Value| {
        let token = token.clone();
        let t = &t;
        async move {
            t.call(
                Method::PATCH,
                &format!("/v1/keys/{id}"),
                Some(&token),
                Some(body),
            )
            .await
        }
    };

    // An expired key: a later expiry does not bring it back.
    let (short, meta) = t
        .create_key(
            &token,
            json!({"name": "short", "scopes": ["read"], "expires_at": "2026-03-10T10:21:00Z"}),
        )
        .await;
    let short_id = meta["id"].as_str().expect("id").to_owned();
    clock.advance(61);
    patch(
        short_id.clone(),
        json!({"expires_at": "2026-03-10T11:20:00Z"}),
    )
    .await
    .assert_error(409, "conflict");
    t.ping_with(&short, "", &[])
        .await
        .assert_error(401, "unauthorized");

    // A key in its grace period: no change, no second roll.
    let (_, meta) = t
        .create_key(&token, json!({"name": "rolled", "scopes": ["read"]}))
        .await;
    let old_id = meta["id"].as_str().expect("id").to_owned();
    t.roll_key(&token, &old_id, 600).await;
    patch(old_id.clone(), json!({"name": "renamed"}))
        .await
        .assert_error(409, "conflict");
    patch(old_id.clone(), json!({"expires_at": null}))
        .await
        .assert_error(409, "conflict");
    t.call(
        Method::POST,
        &format!("/v1/keys/{old_id}/roll"),
        Some(&token),
        Some(json!({"grace_seconds": 600})),
    )
    .await
    .assert_error(409, "conflict");

    // The cap (3) counts the key in its grace period: with it, the new one and a third, a roll
    // that keeps the third alive for a while would make four.
    let (_, meta) = t
        .create_key(&token, json!({"name": "third", "scopes": ["read"]}))
        .await;
    let third = meta["id"].as_str().expect("id").to_owned();
    t.call(
        Method::POST,
        "/v1/keys",
        Some(&token),
        Some(json!({"name": "fourth", "scopes": ["read"]})),
    )
    .await
    .assert_error(409, "key_limit_reached");
    t.call(
        Method::POST,
        &format!("/v1/keys/{third}/roll"),
        Some(&token),
        Some(json!({"grace_seconds": 60})),
    )
    .await
    .assert_error(409, "key_limit_reached");
    // Without a grace period the old key goes as the new one comes: it fits.
    let (third_again, _) = t.roll_key(&token, &third, 0).await;
    assert_eq!(t.ping_with(&third_again, "", &[]).await.status, 200);
    // Once the grace period ends, the old key no longer counts.
    clock.advance(600);
    t.create_key(&token, json!({"name": "fourth", "scopes": ["read"]}))
        .await;
}

scenario!(
    #[tokio::test]
    tokenkit_legacy_domain_is_taken_as_an_origin_and_said_so
);
async fn tokenkit_legacy_domain_is_taken_as_an_origin_and_said_so(db: Db) {
    let t = common::start(db).await;
    let (_, token) = t.signed_in("o@d.test", Role::Owner, "d").await;
    let (key, meta) = t
        .create_key(
            &token,
            json!({"name": "legacy", "scopes": ["read"], "domain": "Example.io"}),
        )
        .await;
    assert_eq!(meta["allowed_origins"], json!(["https://example.io"]));
    let note = meta["note"]
        .as_str()
        .expect("a note says how domain was read");
    assert!(note.contains("https://example.io"), "{note}");
    assert_eq!(
        t.ping_with(&key, "", &[("Origin", "https://example.io")])
            .await
            .status,
        200
    );
    t.ping_with(&key, "", &[("Origin", "https://other.io")])
        .await
        .assert_error(403, "origin_not_allowed");
    // What is stored carries no note: the next read says nothing of it.
    let id = meta["id"].as_str().expect("id");
    let read = t
        .call(Method::GET, &format!("/v1/keys/{id}"), Some(&token), None)
        .await;
    assert_eq!(read.json["allowed_origins"], json!(["https://example.io"]));
    assert!(read.json.get("note").is_none(), "{}", read.body);

    // On update, beside the origins sent.
    let updated = t
        .call(
            Method::PATCH,
            &format!("/v1/keys/{id}"),
            Some(&token),
            Some(json!({"allowed_origins": ["https://app.d.test"], "domain": "shop.d.test"})),
        )
        .await;
    assert_eq!(updated.status, 200, "{}", updated.body);
    assert_eq!(
        updated.json["allowed_origins"],
        json!(["https://app.d.test", "https://shop.d.test"])
    );
    assert!(updated.json["note"].is_string());

    // A domain that is not a bare host is refused, naming the field.
    for bad in [
        "https://example.io",
        "example.io/path",
        "ex ample.io",
        "",
        "example.io:8443",
    ] {
        let a = t
            .call(
                Method::POST,
                "/v1/keys",
                Some(&token),
                Some(json!({"name": "bad", "scopes": ["read"], "domain": bad})),
            )
            .await;
        a.assert_error(422, "validation_failed");
        assert!(a.message().contains("domain"), "{bad}: {}", a.message());
    }
}

scenario!(
    #[tokio::test]
    updating_a_key_keeps_its_secret
);
async fn updating_a_key_keeps_its_secret(db: Db) {
    let t = common::start(db).await;
    let (owner, token) = t.signed_in("o@c.test", Role::Owner, "c").await;
    let (_, support) = t.signed_in("s@c.test", Role::Support, "c").await;
    let (_, stranger) = t.signed_in("x@d.test", Role::Admin, "d").await;
    let (key, meta) = t
        .create_key(
            &token,
            json!({"name": "k", "scopes": ["read"], "rate_limit_per_hour": 5}),
        )
        .await;
    let id = meta["id"].as_str().expect("id");
    let path = format!("/v1/keys/{id}");
    t.ping_with(&key, "?scope=write", &[])
        .await
        .assert_error(403, "scope_missing");

    let updated = t
        .call(
            Method::PATCH,
            &path,
            Some(&token),
            Some(json!({"name": " renamed ", "scopes": ["read", "write"],
                        "rate_limit_per_hour": null, "allowed_ips": ["127.0.0.1"]})),
        )
        .await;
    assert_eq!(updated.status, 200, "{}", updated.body);
    assert_eq!(updated.json["id"], id);
    assert_eq!(updated.json["prefix"], meta["prefix"]);
    assert_eq!(updated.json["name"], "renamed");
    assert_eq!(updated.json["scopes"], json!(["read", "write"]));
    assert!(updated.json["rate_limit_per_hour"].is_null());
    assert_eq!(updated.json["allowed_ips"], json!(["127.0.0.1"]));
    assert_eq!(updated.json["allowed_origins"], json!([]), "untouched");
    let a = t.ping_with(&key, "?scope=write", &[]).await;
    assert_eq!(a.status, 200, "the same secret now may write");

    // Bad fields are named; nothing is half-written.
    for (body, field) in [
        (json!({"allowed_ips": ["not an ip"]}), "allowed_ips[0]"),
        (json!({"scopes": []}), "scopes"),
        (
            json!({"name": "ok", "rate_limit_per_hour": 0}),
            "rate_limit_per_hour",
        ),
        (json!({"expires_at": "2001-01-01T00:00:00Z"}), "expires_at"),
        (
            json!({"rate_limit_per_hour": "many"}),
            "rate_limit_per_hour",
        ),
        (json!({"nmae": "typo"}), "nmae"),
    ] {
        let a = t.call(Method::PATCH, &path, Some(&token), Some(body)).await;
        a.assert_error(422, "validation_failed");
        assert!(a.message().contains(field), "{field}: {}", a.message());
    }
    let same = t.call(Method::GET, &path, Some(&token), None).await;
    assert_eq!(same.json, updated.json);

    t.call(
        Method::PATCH,
        &path,
        Some(&support),
        Some(json!({"name": "x"})),
    )
    .await
    .assert_error(403, "forbidden");
    t.call(
        Method::PATCH,
        &path,
        Some(&stranger),
        Some(json!({"name": "x"})),
    )
    .await
    .assert_error(404, "not_found");

    t.call(Method::DELETE, &path, Some(&token), None).await;
    t.call(
        Method::PATCH,
        &path,
        Some(&token),
        Some(json!({"name": "x"})),
    )
    .await
    .assert_error(409, "conflict");

    let audit = t
        .service
        .audit_log(&owner.tenant_id, 10)
        .await
        .expect("audit");
    assert_eq!(
        audit
            .iter()
            .filter(|e| e.action == "key.update" && e.target == id)
            .count(),
        1
    );
}

scenario!(
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    no_call_is_accepted_after_delete_has_answered_even_under_load
);
async fn no_call_is_accepted_after_delete_has_answered_even_under_load(db: Db) {
    // Refused calls from the load must not lock this IP out mid-test.
    let t = std::sync::Arc::new(common::start_with(db, |c| c.lockout_threshold = 10_000).await);
    let (_, token) = t.signed_in("o@r.test", Role::Owner, "r").await;
    let (key, meta) = t
        .create_key(&token, json!({"name": "busy", "scopes": ["read"]}))
        .await;
    let id = meta["id"].as_str().expect("id").to_owned();
    assert_eq!(t.ping_with(&key, "", &[]).await.status, 200, "now cached");

    // Callers keep using the key while it is revoked.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut load = Vec::new();
    for _ in 0..4 {
        let (t, key, stop) = (t.clone(), key.clone(), stop.clone());
        load.push(tokio::spawn(async move {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let status = t.ping_with(&key, "", &[]).await.status;
                assert!(status == 200 || status == 401, "{status}");
            }
        }));
    }
    let gone = t.revoke_key(&token, &id).await;
    assert_eq!(gone.status, 204);
    for _ in 0..20 {
        t.ping_with(&key, "", &[])
            .await
            .assert_error(401, "unauthorized");
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for task in load {
        task.await.expect("load task");
    }
}
