//! Bad input of every kind gets the service's error shape, naming what was wrong.

#[macro_use]
mod common;

use common::Db;

use keyhaven_api::Role;
use reqwest::Method;
use serde_json::{json, Value};

scenario!(
    #[tokio::test]
    bodies_that_are_not_the_json_expected
);
async fn bodies_that_are_not_the_json_expected(db: Db) {
    let t = common::start(db).await;
    let (_, token) = t.signed_in("o@a.test", Role::Owner, "a").await;
    let post = |body: &'static str, content_type: Option<&'static str>| {
        let mut req = t
            .request(Method::POST, "/v1/keys")
            .bearer_auth(&token)
            .body(body);
        if let Some(ct) = content_type {
            req = req.header("Content-Type", ct);
        }
        t.send(req)
    };

    let a = post(
        r#"{"name": "x", "scopes": ["read"]"#,
        Some("application/json"),
    )
    .await;
    a.assert_error(422, "validation_failed");
    assert!(a.message().contains("JSON"), "{}", a.message());

    let a = post(r#"{"name": "x" "scopes": []}"#, Some("application/json")).await;
    a.assert_error(422, "validation_failed");
    assert!(a.message().contains("not valid JSON"), "{}", a.message());

    let a = post(r#"{"name": "x", "scopes": ["read"]}"#, None).await;
    a.assert_error(422, "validation_failed");
    assert!(a.message().contains("Content-Type"), "{}", a.message());

    let a = post(r#"{"name": "x"}"#, Some("application/json")).await;
    a.assert_error(422, "validation_failed");
    assert!(a.message().contains("`scopes`"), "{}", a.message());

    let a = post(
        r#"{"name": "x", "scopes": ["read"], "rate_limit_per_hour": "many"}"#,
        Some("application/json"),
    )
    .await;
    a.assert_error(422, "validation_failed");
    assert!(
        a.message().contains("`rate_limit_per_hour`") && !a.message().contains("many"),
        "{}",
        a.message()
    );

    let login = t
        .send(
            t.request(Method::POST, "/v1/auth/login")
                .header("Content-Type", "application/json")
                .body("["),
        )
        .await;
    login.assert_error(422, "validation_failed");
}

scenario!(
    #[tokio::test]
    a_body_over_64_kib_is_too_large
);
async fn a_body_over_64_kib_is_too_large(db: Db) {
    let t = common::start(db).await;
    let (_, token) = t.signed_in("o@a.test", Role::Owner, "a").await;
    let big = json!({"name": "x".repeat(65 * 1024), "scopes": ["read"]});
    t.call(Method::POST, "/v1/keys", Some(&token), Some(big))
        .await
        .assert_error(413, "payload_too_large");
    let big_login = json!({"email": "o@a.test", "password": "p".repeat(65 * 1024)});
    t.call(Method::POST, "/v1/auth/login", None, Some(big_login))
        .await
        .assert_error(413, "payload_too_large");
    // Just under the limit is read, and then judged on its fields.
    let near = json!({"name": "x".repeat(60 * 1024), "scopes": ["read"]});
    let a = t
        .call(Method::POST, "/v1/keys", Some(&token), Some(near))
        .await;
    a.assert_error(422, "validation_failed");
    assert!(a.message().contains("`name`"));
}

scenario!(
    #[tokio::test]
    each_bad_field_is_named
);
async fn each_bad_field_is_named(db: Db) {
    let t = common::start(db).await;
    let (_, token) = t.signed_in("o@a.test", Role::Owner, "a").await;
    let past = (chrono::Utc::now() - chrono::Duration::hours(1)).to_rfc3339();
    let cases: [(Value, &str); 13] = [
        (json!({"name": "", "scopes": ["read"]}), "`name`"),
        (json!({"name": "   ", "scopes": ["read"]}), "`name`"),
        (
            json!({"name": "n".repeat(101), "scopes": ["read"]}),
            "`name`",
        ),
        // Invisible characters that make one name pass for another.
        (
            json!({"name": "prod\u{202E}tset", "scopes": ["read"]}),
            "`name`",
        ),
        (
            json!({"name": "deploy\u{200B}bot", "scopes": ["read"]}),
            "`name`",
        ),
        (json!({"name": "n", "scopes": []}), "`scopes`"),
        (
            json!({"name": "n", "scopes": ["read", "admin"]}),
            "`scopes[1]`",
        ),
        (
            json!({"name": "n", "scopes": ["read", "read"]}),
            "`scopes[1]`",
        ),
        (
            json!({"name": "n", "scopes": ["read"], "expires_at": past}),
            "`expires_at`",
        ),
        (
            json!({"name": "n", "scopes": ["read"], "expires_at": "tomorrow"}),
            "`expires_at`",
        ),
        (
            json!({"name": "n", "scopes": ["read"], "allowed_origins": ["https://ok.test", "ok.test/path"]}),
            "`allowed_origins[1]`",
        ),
        (
            json!({"name": "n", "scopes": ["read"], "allowed_ips": ["10.0.0.0/33"]}),
            "`allowed_ips[0]`",
        ),
        (
            json!({"name": "n", "scopes": ["read"], "rate_limit_per_hour": 0}),
            "`rate_limit_per_hour`",
        ),
    ];
    for (body, field) in cases {
        let a = t
            .call(Method::POST, "/v1/keys", Some(&token), Some(body.clone()))
            .await;
        a.assert_error(422, "validation_failed");
        assert!(a.message().contains(field), "{body}: {}", a.message());
    }
    let list = t.call(Method::GET, "/v1/keys", Some(&token), None).await;
    assert_eq!(list.json, json!({"keys": []}), "nothing was stored");
}

scenario!(
    #[tokio::test]
    unknown_routes_and_methods_get_the_error_shape
);
async fn unknown_routes_and_methods_get_the_error_shape(db: Db) {
    let t = common::start(db).await;
    t.send(t.request(Method::GET, "/v1/nothing-here"))
        .await
        .assert_error(404, "not_found");
    t.send(t.request(Method::GET, "/"))
        .await
        .assert_error(404, "not_found");
    t.send(t.request(Method::PUT, "/v1/keys"))
        .await
        .assert_error(404, "not_found");
}

scenario!(
    #[tokio::test]
    the_openapi_document_describes_the_api
);
async fn the_openapi_document_describes_the_api(db: Db) {
    let t = common::start(db).await;
    let a = t.send(t.request(Method::GET, "/v1/openapi.json")).await;
    assert_eq!(a.status, 200);
    assert_eq!(a.header("content-type"), Some("application/json"));
    assert_eq!(a.json["openapi"], "3.1.0");
    for path in [
        "/v1/auth/login",
        "/v1/auth/logout",
        "/v1/me",
        "/v1/keys",
        "/v1/keys/{id}",
        "/v1/ping",
    ] {
        assert!(a.json["paths"][path].is_object(), "{path}");
    }
    assert!(a.json["components"]["schemas"]["Error"].is_object());
}

scenario!(
    #[tokio::test]
    ids_and_emails_with_a_nul_character_name_nothing
);
/// A NUL character (which PostgreSQL's text cannot hold) in an id, a tenant or an email is
/// just something that does not exist, on either storage: never a server error.
async fn ids_and_emails_with_a_nul_character_name_nothing(db: Db) {
    let t = common::start(db).await;
    let (_, token) = t.signed_in("o@nul.test", Role::Owner, "nul").await;
    let (_, support) = t.signed_in("s@nul.test", Role::Support, "staff").await;
    let (_, meta) = t
        .create_key(&token, json!({"name": "k", "scopes": ["read"]}))
        .await;
    let id = meta["id"].as_str().expect("id");
    let bad = format!("{id}%00");
    for (method, path, body) in [
        (Method::GET, format!("/v1/keys/{bad}"), None),
        (
            Method::PATCH,
            format!("/v1/keys/{bad}"),
            Some(json!({"name": "n"})),
        ),
        (Method::DELETE, format!("/v1/keys/{bad}"), None),
        (
            Method::POST,
            format!("/v1/keys/{bad}/roll"),
            Some(json!({"grace_seconds": 0})),
        ),
        (Method::GET, format!("/v1/keys/{bad}/usage"), None),
        (Method::GET, format!("/v1/keys/{bad}/denials"), None),
    ] {
        t.call(method, &path, Some(&token), body)
            .await
            .assert_error(404, "not_found");
    }
    for path in [
        "/v1/keys?tenant_id=x%00",
        "/v1/usage?tenant_id=x%00",
        "/v1/audit?tenant_id=x%00",
    ] {
        let a = t.call(Method::GET, path, Some(&support), None).await;
        assert!(a.status < 500, "{path}: {} {}", a.status, a.body);
    }
    t.call(
        Method::POST,
        "/v1/auth/login",
        None,
        Some(json!({"email": "o@nul.test\u{0}", "password": "whatever-it-is"})),
    )
    .await
    .assert_error(401, "unauthorized");
    // The key itself is untouched.
    let still = t
        .call(Method::GET, &format!("/v1/keys/{id}"), Some(&token), None)
        .await;
    assert_eq!(still.json["status"], "active");
}
