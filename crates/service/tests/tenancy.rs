//! Tenancy: another tenant's keys do not exist for you, whatever the endpoint; support staff
//! read every tenant and change nothing.

#[macro_use]
mod common;

use common::Db;

use keyhaven_api::Role;
use reqwest::Method;
use serde_json::{json, Value};

scenario!(
    #[tokio::test]
    every_tenant_scoped_endpoint_hides_another_tenants_key
);
async fn every_tenant_scoped_endpoint_hides_another_tenants_key(db: Db) {
    let t = common::start(db).await;
    let (alice, a_token) = t.signed_in("alice@a.test", Role::Owner, "tenant a").await;
    let (_, b_owner) = t.signed_in("bob@b.test", Role::Owner, "tenant b").await;
    let (_, b_admin) = t.signed_in("root@b.test", Role::Admin, "tenant b").await;
    let (key, meta) = t
        .create_key(
            &a_token,
            json!({"name": "alice secret project", "scopes": ["read"]}),
        )
        .await;
    let id = meta["id"].as_str().expect("id").to_owned();
    let prefix = meta["prefix"].as_str().expect("prefix").to_owned();
    assert_eq!(t.ping_with(&key, "", &[]).await.status, 200);
    let a = alice.tenant_id.as_str();

    let by_id: Vec<(Method, String, Option<Value>)> = vec![
        (Method::GET, format!("/v1/keys/{id}"), None),
        (
            Method::PATCH,
            format!("/v1/keys/{id}"),
            Some(json!({"name": "mine"})),
        ),
        (Method::DELETE, format!("/v1/keys/{id}"), None),
        (
            Method::POST,
            format!("/v1/keys/{id}/roll"),
            Some(json!({"grace_seconds": 0})),
        ),
        (Method::GET, format!("/v1/keys/{id}/usage"), None),
        (Method::GET, format!("/v1/keys/{id}/denials"), None),
    ];
    let naming_tenant: Vec<String> = vec![
        format!("/v1/keys?tenant_id={a}"),
        format!("/v1/keys/{id}?tenant_id={a}"),
        format!("/v1/keys/{id}/usage?tenant_id={a}"),
        format!("/v1/keys/{id}/denials?tenant_id={a}"),
        format!("/v1/usage?tenant_id={a}"),
        format!("/v1/audit?tenant_id={a}"),
    ];
    for token in [&b_owner, &b_admin] {
        for (method, path, body) in &by_id {
            let r = t
                .call(method.clone(), path, Some(token), body.clone())
                .await;
            r.assert_error(404, "not_found");
            for leak in [id.as_str(), prefix.as_str(), "alice", a] {
                assert!(!r.body.contains(leak), "{method} {path} leaked {leak}");
            }
        }
    }
    for path in &naming_tenant {
        let r = t.call(Method::GET, path, Some(&b_owner), None).await;
        r.assert_error(404, "not_found");
        assert!(!r.body.contains(&id) && !r.body.contains("alice"));
    }
    // Their own lists show nothing of tenant a either.
    for path in ["/v1/keys", "/v1/usage", "/v1/audit"] {
        let r = t.call(Method::GET, path, Some(&b_owner), None).await;
        assert_eq!(r.status, 200, "{path}");
        assert!(!r.body.contains(&id) && !r.body.contains(&prefix), "{path}");
    }
    // Nothing happened to the key.
    assert_eq!(t.ping_with(&key, "", &[]).await.status, 200);
    let still = t
        .call(Method::GET, &format!("/v1/keys/{id}"), Some(&a_token), None)
        .await;
    assert_eq!(still.json["name"], "alice secret project");
    assert_eq!(still.json["status"], "active");
}

scenario!(
    #[tokio::test]
    support_finds_keys_by_prefix_and_reads_any_tenant_but_changes_nothing
);
async fn support_finds_keys_by_prefix_and_reads_any_tenant_but_changes_nothing(db: Db) {
    let t = common::start(db).await;
    let (alice, a_token) = t.signed_in("alice@a.test", Role::Owner, "Acme").await;
    let (_, helper) = t
        .signed_in("help@desk.test", Role::Support, "helpdesk")
        .await;
    let (_, member) = t.signed_in("m@desk.test", Role::Member, "helpdesk").await;
    let (key, meta) = t
        .create_key(&a_token, json!({"name": "ticket 42", "scopes": ["read"]}))
        .await;
    let id = meta["id"].as_str().expect("id").to_owned();
    t.ping_with(&key, "?scope=write", &[])
        .await
        .assert_error(403, "scope_missing");
    let a = alice.tenant_id.as_str();

    // From the prefix in a ticket to the key, across tenants.
    let found = t
        .call(
            Method::GET,
            &format!("/v1/support/keys?prefix={}", &key[..11]),
            Some(&helper),
            None,
        )
        .await;
    assert_eq!(found.status, 200, "{}", found.body);
    let keys = found.json["keys"].as_array().expect("keys");
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0]["id"], id.as_str());
    assert_eq!(keys[0]["tenant_name"], "Acme");
    assert_eq!(keys[0]["tenant_id"], a);
    let none = t
        .call(
            Method::GET,
            "/v1/support/keys?prefix=kh_test_",
            Some(&helper),
            None,
        )
        .await;
    assert_eq!(none.json, json!({"keys": []}));
    for bad in ["", "?prefix=", "?prefix=kh_live_0123456789", "?prefix=a%25"] {
        t.call(
            Method::GET,
            &format!("/v1/support/keys{bad}"),
            Some(&helper),
            None,
        )
        .await
        .assert_error(422, "validation_failed");
    }
    for token in [&member, &a_token] {
        t.call(Method::GET, "/v1/support/keys?prefix=kh", Some(token), None)
            .await
            .assert_error(403, "forbidden");
    }

    // Metadata, usage, denials and audit of that tenant.
    for path in [
        format!("/v1/keys?tenant_id={a}"),
        format!("/v1/keys/{id}?tenant_id={a}"),
        format!("/v1/keys/{id}/usage?tenant_id={a}"),
        format!("/v1/usage?tenant_id={a}"),
        format!("/v1/audit?tenant_id={a}"),
    ] {
        let r = t.call(Method::GET, &path, Some(&helper), None).await;
        assert_eq!(r.status, 200, "{path}: {}", r.body);
    }
    let denials = t
        .call(
            Method::GET,
            &format!("/v1/keys/{id}/denials?tenant_id={a}"),
            Some(&helper),
            None,
        )
        .await;
    assert_eq!(denials.json[0]["code"], "scope_missing");

    // And changes nothing.
    for (method, path, body) in [
        (
            Method::POST,
            "/v1/keys".to_owned(),
            json!({"name": "x", "scopes": ["read"]}),
        ),
        (
            Method::PATCH,
            format!("/v1/keys/{id}"),
            json!({"name": "x"}),
        ),
        (
            Method::POST,
            format!("/v1/keys/{id}/roll"),
            json!({"grace_seconds": 0}),
        ),
    ] {
        let r = t.call(method, &path, Some(&helper), Some(body)).await;
        assert!(r.status == 403 || r.status == 404, "{path}: {}", r.status);
    }
    assert_eq!(t.ping_with(&key, "", &[]).await.status, 200);
}
