//! Signing in and out: good and bad credentials, the session's life, and logout.

#[macro_use]
mod common;

use common::Db;

use std::time::Duration;

use keyhaven_api::Role;
use reqwest::Method;
use serde_json::json;

scenario!(
    #[tokio::test]
    signing_in_with_good_and_bad_credentials
);
async fn signing_in_with_good_and_bad_credentials(db: Db) {
    let t = common::start(db).await;
    let (user, password) = t.user("Carol@Acme.test", Role::Member, "acme").await;

    let ok = t
        .call(
            Method::POST,
            "/v1/auth/login",
            None,
            Some(json!({"email": "carol@acme.test", "password": password})),
        )
        .await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    let token = ok.json["token"].as_str().expect("token").to_owned();
    t.remember(&token);
    assert!(token.starts_with("khs_") && token.len() >= 40);
    assert_eq!(
        ok.json["user"],
        json!({"id": user.id, "email": "Carol@Acme.test", "role": "member", "tenant_id": user.tenant_id})
    );
    let expires: chrono::DateTime<chrono::Utc> = ok.json["expires_at"]
        .as_str()
        .expect("expiry")
        .parse()
        .expect("rfc 3339");
    let hours = (expires - chrono::Utc::now()).num_minutes() as f64 / 60.0;
    assert!(
        (11.9..=12.0).contains(&hours),
        "a 12 h session by default, got {hours}"
    );

    let me = t.call(Method::GET, "/v1/me", Some(&token), None).await;
    assert_eq!(me.json, ok.json["user"]);

    let wrong_password = t
        .call(
            Method::POST,
            "/v1/auth/login",
            None,
            Some(json!({"email": "carol@acme.test", "password": "not her password"})),
        )
        .await;
    wrong_password.assert_error(401, "unauthorized");
    let unknown_email = t
        .call(
            Method::POST,
            "/v1/auth/login",
            None,
            Some(json!({"email": "nobody@acme.test", "password": password})),
        )
        .await;
    unknown_email.assert_error(401, "unauthorized");
    assert_eq!(
        wrong_password.message(),
        unknown_email.message(),
        "nothing tells which was wrong"
    );

    let audit = t
        .service
        .audit_log(&user.tenant_id, 10)
        .await
        .expect("audit");
    let logins: Vec<_> = audit.iter().filter(|e| e.action == "login").collect();
    assert_eq!(logins.len(), 1, "only the successful login is audited");
    assert_eq!(logins[0].actor, user.id);
    assert_eq!(audit.len(), 2, "and the user's creation");
}

scenario!(
    #[tokio::test]
    logging_out_revokes_the_token
);
async fn logging_out_revokes_the_token(db: Db) {
    let t = common::start(db).await;
    let (_, token) = t.signed_in("d@a.test", Role::Owner, "a").await;
    let (_, other) = {
        let (user, password) = t.user("e@a.test", Role::Owner, "a").await;
        (user, t.login("e@a.test", &password).await)
    };
    let out = t
        .call(Method::POST, "/v1/auth/logout", Some(&token), None)
        .await;
    assert_eq!(out.status, 204);
    t.call(Method::GET, "/v1/me", Some(&token), None)
        .await
        .assert_error(401, "unauthorized");
    t.call(Method::POST, "/v1/auth/logout", Some(&token), None)
        .await
        .assert_error(401, "unauthorized");
    assert_eq!(
        t.call(Method::GET, "/v1/me", Some(&other), None)
            .await
            .status,
        200,
        "other sessions live on"
    );
}

scenario!(
    #[tokio::test]
    a_session_expires_on_the_server
);
async fn a_session_expires_on_the_server(db: Db) {
    let clock = keyhaven_service::ManualClock::starting_now();
    let t = common::start_at(db, &clock, |c| c.session_ttl = Duration::from_secs(2)).await;
    let (_, token) = t.signed_in("f@a.test", Role::Owner, "a").await;
    assert_eq!(
        t.call(Method::GET, "/v1/me", Some(&token), None)
            .await
            .status,
        200
    );
    clock.advance(1);
    assert_eq!(
        t.call(Method::GET, "/v1/me", Some(&token), None)
            .await
            .status,
        200,
        "within its two seconds"
    );
    // The service's clock moves past the session's two seconds: nothing waits for them.
    clock.advance(2);
    let expired = t.call(Method::GET, "/v1/keys", Some(&token), None).await;
    expired.assert_error(401, "unauthorized");
    assert!(expired.message().contains("session"));
}

scenario!(
    #[tokio::test]
    a_taken_email_is_a_conflict
);
async fn a_taken_email_is_a_conflict(db: Db) {
    let t = common::start(db).await;
    t.user("g@a.test", Role::Owner, "a").await;
    let err = t
        .service
        .add_user("G@a.test", Role::Member, "b", "long enough")
        .await
        .expect_err("taken");
    assert!(
        matches!(err, keyhaven_service::ServiceError::DuplicateEmail),
        "{err:?}"
    );
    let short = t
        .service
        .add_user("h@a.test", Role::Member, "b", "short")
        .await
        .expect_err("short");
    assert!(short.to_string().contains("password"), "{short}");
}

scenario!(
    #[tokio::test]
    management_calls_are_rate_limited_per_session_with_the_same_headers
);
async fn management_calls_are_rate_limited_per_session_with_the_same_headers(db: Db) {
    let clock = keyhaven_service::ManualClock::at(1_773_138_000);
    let t = common::start_at(db, &clock, |c| c.session_rate_per_minute = 5).await;
    let (_, token) = t.signed_in("o@rate.test", Role::Owner, "rate").await;
    let (_, other) = t.signed_in("m@rate.test", Role::Member, "rate").await;
    let (key, _) = t
        .create_key(&token, json!({"name": "k", "scopes": ["read"]}))
        .await;
    // The create was the first call of the minute: four left, each answer saying so.
    for left in (0..4).rev() {
        let a = t.call(Method::GET, "/v1/me", Some(&token), None).await;
        assert_eq!(a.status, 200);
        assert_eq!(a.header("x-ratelimit-limit"), Some("5"));
        assert_eq!(
            a.header("x-ratelimit-remaining"),
            Some(left.to_string().as_str())
        );
        assert_eq!(a.header("x-ratelimit-reset"), Some("60"));
    }
    let refused = t.call(Method::GET, "/v1/keys", Some(&token), None).await;
    refused.assert_error(429, "rate_limited");
    assert_eq!(refused.header("retry-after"), Some("60"));
    assert_eq!(refused.header("x-ratelimit-remaining"), Some("0"));
    // Another session, and calls with a key, are not held by it.
    assert_eq!(
        t.call(Method::GET, "/v1/me", Some(&other), None)
            .await
            .status,
        200
    );
    assert_eq!(t.ping_with(&key, "", &[]).await.status, 200);
    // The next minute starts afresh.
    clock.advance(60);
    assert_eq!(
        t.call(Method::GET, "/v1/me", Some(&token), None)
            .await
            .status,
        200
    );
}
