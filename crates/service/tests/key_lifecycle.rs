//! The life of a key, told through the HTTP API: created, listed, read, used, refused a scope
//! it lacks, mistyped, revoked, and refused from then on. No answer ever repeats a secret.

#[macro_use]
mod common;

use common::Db;

use keyhaven_api::{keyfmt, Role};
use reqwest::Method;
use serde_json::json;

scenario!(
    #[tokio::test]
    a_key_from_creation_to_revocation
);
async fn a_key_from_creation_to_revocation(db: Db) {
    let t = common::start(db).await;
    let (owner, token) = t.signed_in("owner@acme.test", Role::Owner, "acme").await;

    // Alice creates a key for her CI job, with every optional field.
    let expires = (chrono::Utc::now() + chrono::Duration::days(30)).to_rfc3339();
    let (key, meta) = t
        .create_key(
            &token,
            json!({
                "name": "ci deploy",
                "scopes": ["read", "search"],
                "expires_at": expires,
                "allowed_origins": ["https://app.acme.test"],
                "allowed_ips": ["10.0.0.0/8", "127.0.0.1"],
                "rate_limit_per_hour": 100
            }),
        )
        .await;
    assert!(key.starts_with("kh_live_"));
    assert_eq!(keyfmt::check(&key), Ok("kh_live_"));
    let id = meta["id"].as_str().expect("id").to_owned();
    assert_eq!(meta["prefix"], &key[..12]);
    assert_eq!(meta["name"], "ci deploy");
    assert_eq!(meta["scopes"], json!(["read", "search"]));
    assert_eq!(meta["status"], "active");
    assert_eq!(meta["tenant_id"], owner.tenant_id.as_str());
    assert_eq!(meta["created_by"], owner.id.as_str());
    assert_eq!(meta["allowed_origins"], json!(["https://app.acme.test"]));
    assert_eq!(meta["allowed_ips"], json!(["10.0.0.0/8", "127.0.0.1"]));
    assert_eq!(meta["rate_limit_per_hour"], 100);
    assert!(meta["expires_at"].is_string() && meta["revoked_at"].is_null());

    // The list and the key's own page show the metadata, never the secret.
    let list = t.call(Method::GET, "/v1/keys", Some(&token), None).await;
    assert_eq!(list.status, 200);
    assert_eq!(list.json["keys"], json!([meta.clone()]));
    let one = t
        .call(Method::GET, &format!("/v1/keys/{id}"), Some(&token), None)
        .await;
    assert_eq!(one.status, 200);
    assert_eq!(one.json, meta);

    // Her program pings with the key, in each of the accepted headers.
    let ping = t.ping("X-API-Key", &key, "").await;
    assert_eq!(ping.status, 200, "{}", ping.body);
    assert_eq!(
        ping.json,
        json!({"key_id": id, "tenant_id": owner.tenant_id, "scopes": ["read", "search"]})
    );
    assert_eq!(ping.header("x-ratelimit-limit"), Some("100"));
    assert_eq!(ping.header("x-ratelimit-remaining"), Some("99"));
    let reset: i64 = ping
        .header("x-ratelimit-reset")
        .expect("reset")
        .parse()
        .expect("seconds");
    assert!((1..=3600).contains(&reset));
    assert_eq!(t.ping("api-key", &key, "").await.status, 200);
    assert_eq!(
        t.ping("Authorization", &format!("Bearer {key}"), "")
            .await
            .status,
        200
    );
    assert_eq!(
        t.ping("X-API-Key", &key, "")
            .await
            .header("x-ratelimit-remaining"),
        Some("96")
    );

    // It may search, but it may not write.
    assert_eq!(t.ping("X-API-Key", &key, "?scope=search").await.status, 200);
    let denied = t.ping("X-API-Key", &key, "?scope=write").await;
    denied.assert_error(403, "scope_missing");
    assert!(denied.message().contains("write"));
    assert_eq!(
        denied.header("x-ratelimit-limit"),
        Some("100"),
        "a denial carries the headers"
    );

    // A key in the URL is never accepted, even a valid one.
    let in_url = t
        .send(t.request(Method::GET, &format!("/v1/ping?key={key}")))
        .await;
    in_url.assert_error(401, "unauthorized");
    assert!(in_url.message().contains("URL"), "{}", in_url.message());
    t.send(
        t.request(Method::GET, &format!("/v1/ping?api_key={key}"))
            .header("X-API-Key", &key),
    )
    .await
    .assert_error(401, "unauthorized");

    // A one-character typo is refused with the same words as a key that never existed.
    let mut typo = key.clone().into_bytes();
    typo[15] = if typo[15] == b'x' { b'y' } else { b'x' };
    let typo = String::from_utf8(typo).expect("ascii");
    let refused_typo = t.ping("X-API-Key", &typo, "").await;
    refused_typo.assert_error(401, "unauthorized");
    let refused_unknown = t.ping("X-API-Key", &keyfmt::generate("kh_live_"), "").await;
    refused_unknown.assert_error(401, "unauthorized");
    assert_eq!(refused_typo.message(), refused_unknown.message());
    t.ping("X-API-Key", "hello", "")
        .await
        .assert_error(401, "unauthorized");
    t.send(t.request(Method::GET, "/v1/ping"))
        .await
        .assert_error(401, "unauthorized");

    // Alice revokes it: the very next call with it is refused.
    let gone = t.revoke_key(&token, &id).await;
    assert_eq!(gone.status, 204);
    assert!(gone.body.is_empty());
    let after = t.ping("X-API-Key", &key, "").await;
    after.assert_error(401, "unauthorized");
    assert_eq!(
        after.message(),
        refused_unknown.message(),
        "refusals are uniform"
    );
    let revoked = t
        .call(Method::GET, &format!("/v1/keys/{id}"), Some(&token), None)
        .await;
    assert_eq!(revoked.json["status"], "revoked");
    assert!(revoked.json["revoked_at"].is_string());

    // Revoking again changes nothing; a missing key is not found.
    let again = t.revoke_key(&token, &id).await;
    assert_eq!(again.status, 204);
    let still = t
        .call(Method::GET, &format!("/v1/keys/{id}"), Some(&token), None)
        .await;
    assert_eq!(still.json["revoked_at"], revoked.json["revoked_at"]);
    t.call(Method::DELETE, "/v1/keys/key_nope", Some(&token), None)
        .await
        .assert_error(404, "not_found");

    // The audit log holds the user's creation (from the command line), the login, the key's
    // creation and one revocation, with who and from where.
    let audit = t
        .service
        .audit_log(&owner.tenant_id, 10)
        .await
        .expect("audit");
    let actions: Vec<&str> = audit.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["key.revoke", "key.create", "login", "user.add"]);
    assert!(audit[..3]
        .iter()
        .all(|e| e.actor == owner.id && e.ip.as_deref() == Some("127.0.0.1")));
    assert_eq!(
        (
            audit[3].actor.as_str(),
            audit[3].target.as_str(),
            audit[3].ip.as_deref()
        ),
        ("system", owner.id.as_str(), None)
    );
    assert_eq!(audit[0].target, id);

    t.stop().await;
}

scenario!(
    #[tokio::test]
    without_an_hourly_limit_the_headers_report_the_daily_cap
);
async fn without_an_hourly_limit_the_headers_report_the_daily_cap(db: Db) {
    let t = common::start(db).await;
    let (_, token) = t.signed_in("o@b.test", Role::Member, "b").await;
    let (key, _) = t
        .create_key(&token, json!({"name": "n", "scopes": ["read"]}))
        .await;
    let ping = t.ping("X-API-Key", &key, "").await;
    assert_eq!(ping.status, 200);
    let limit: u32 = ping
        .header("x-ratelimit-limit")
        .expect("limit")
        .parse()
        .expect("number");
    let remaining: u32 = ping
        .header("x-ratelimit-remaining")
        .expect("left")
        .parse()
        .expect("n");
    assert_eq!(remaining, limit - 1);
    let reset: i64 = ping
        .header("x-ratelimit-reset")
        .expect("reset")
        .parse()
        .expect("seconds");
    assert!((1..=86_400).contains(&reset));
}

scenario!(
    #[tokio::test]
    a_configured_prefix_and_scopes_are_used
);
async fn a_configured_prefix_and_scopes_are_used(db: Db) {
    let t = common::start_with(db, |c| {
        c.key_prefix = "kh_test_".into();
        c.scopes = vec!["orders:read".into(), "orders:write".into()];
    })
    .await;
    let (_, token) = t.signed_in("o@c.test", Role::Admin, "c").await;
    let (key, meta) = t
        .create_key(&token, json!({"name": "n", "scopes": ["orders:read"]}))
        .await;
    assert!(key.starts_with("kh_test_"));
    assert_eq!(meta["scopes"], json!(["orders:read"]));
    let a = t
        .call(
            Method::POST,
            "/v1/keys",
            Some(&token),
            Some(json!({"name": "n", "scopes": ["read"]})),
        )
        .await;
    a.assert_error(422, "validation_failed");
    assert!(a.message().contains("scopes[0]") && a.message().contains("orders:read"));
}

scenario!(
    #[tokio::test]
    a_key_stops_working_when_it_expires
);
async fn a_key_stops_working_when_it_expires(db: Db) {
    let clock = keyhaven_service::ManualClock::starting_now();
    let t = common::start_at(db, &clock, |_| {}).await;
    let (_, token) = t.signed_in("o@d.test", Role::Owner, "d").await;
    let soon = chrono::DateTime::from_timestamp(keyhaven_service::Clock::now(&clock) + 2, 0)
        .expect("time")
        .to_rfc3339();
    let (key, meta) = t
        .create_key(
            &token,
            json!({"name": "short-lived", "scopes": ["read"], "expires_at": soon}),
        )
        .await;
    assert_eq!(t.ping("X-API-Key", &key, "").await.status, 200);
    // The service's clock moves past the key's expiry: nothing waits for it.
    clock.advance(3);
    t.ping("X-API-Key", &key, "")
        .await
        .assert_error(401, "unauthorized");
    let id = meta["id"].as_str().expect("id");
    let now = t
        .call(Method::GET, &format!("/v1/keys/{id}"), Some(&token), None)
        .await;
    assert_eq!(now.json["status"], "expired");
    // An expired key no longer counts toward the cap, and is not revoked.
    assert!(now.json["revoked_at"].is_null());
}

scenario!(
    #[tokio::test]
    the_key_list_comes_a_page_at_a_time_and_by_status
);
async fn the_key_list_comes_a_page_at_a_time_and_by_status(db: Db) {
    let t = common::start_with(db, |c| c.max_active_keys = 100).await;
    let (_, token) = t.signed_in("o@pages.test", Role::Owner, "pages").await;
    let mut ids = Vec::new();
    for i in 0..7 {
        let (_, meta) = t
            .create_key(
                &token,
                json!({"name": format!("key {i}"), "scopes": ["read"]}),
            )
            .await;
        ids.push(meta["id"].as_str().expect("id").to_owned());
    }
    for id in &ids[1..3] {
        t.revoke_key(&token, id).await;
    }
    let (_, rolled) = t.roll_key(&token, &ids[4], 600).await;
    ids.push(rolled["meta"]["id"].as_str().expect("id").to_owned());

    // Pages of three, followed by their cursors: every key once, oldest first.
    let list = |query: String| {
        let token = token.clone();
        let t = &t;
        async move {
            t.call(Method::GET, &format!("/v1/keys{query}"), Some(&token), None)
                .await
        }
    };
    let ids_of = |a: &common::Answer| -> Vec<String> {
        a.json["keys"]
            .as_array()
            .expect("keys")
            .iter()
            .map(|k| k["id"].as_str().expect("id").to_owned())
            .collect()
    };
    let mut seen = Vec::new();
    let mut query = "?limit=3".to_owned();
    let mut pages = 0;
    loop {
        let page = list(query.clone()).await;
        assert_eq!(page.status, 200, "{}", page.body);
        let got = ids_of(&page);
        assert!(got.len() <= 3);
        seen.extend(got);
        pages += 1;
        match page.json["next_cursor"].as_str() {
            Some(cursor) => query = format!("?limit=3&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, ids, "every key once, in the order made");
    let all = list(String::new()).await;
    assert_eq!(ids_of(&all), ids);
    assert!(all.json.get("next_cursor").is_none(), "one page holds them");

    // By status.
    let of = |status: &'static str| list(format!("?status={status}"));
    assert_eq!(ids_of(&of("revoked").await), ids[1..3].to_vec());
    assert_eq!(ids_of(&of("expiring").await), vec![ids[4].clone()]);
    let active = of("active").await;
    assert_eq!(ids_of(&active).len(), 5);
    let first = list("?status=active&limit=4".into()).await;
    let cursor = first.json["next_cursor"].as_str().expect("more").to_owned();
    let rest = list(format!("?status=active&limit=4&cursor={cursor}")).await;
    assert_eq!(ids_of(&rest).len(), 1);
    assert_eq!(ids_of(&of("expired").await), Vec::<String>::new());

    // Bad paging is refused, naming what is wrong.
    for (query, field) in [
        ("?limit=0", "limit"),
        ("?limit=1001", "limit"),
        ("?limit=ten", "limit"),
        ("?cursor=not-a-cursor", "cursor"),
        ("?cursor=1.", "cursor"),
        ("?status=gone", "status"),
    ] {
        let a = list(query.into()).await;
        a.assert_error(422, "validation_failed");
        assert!(a.message().contains(field), "{query}: {}", a.message());
    }
}
