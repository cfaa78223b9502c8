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

scenario!(
    #[tokio::test]
    admins_manage_tenants_and_a_suspension_stops_a_tenants_keys_at_once
);
async fn admins_manage_tenants_and_a_suspension_stops_a_tenants_keys_at_once(db: Db) {
    let t = common::start_with(db, |c| {
        c.tiers
            .insert("pro".into(), keyhaven_service::UNLIMITED_DAILY_CAP);
    })
    .await;
    let (_, admin) = t.signed_in("root@ops.test", Role::Admin, "ops").await;
    let (owner, token) = t.signed_in("o@shop.test", Role::Owner, "shop").await;
    let (_, support) = t.signed_in("s@ops.test", Role::Support, "ops").await;
    let shop = owner.tenant_id.clone();
    let tenant_path = format!("/v1/admin/tenants/{shop}");
    let patch = |body: Value| {
        let (admin, path) = (admin.clone(), tenant_path.clone());
        let t = &t;
        async move { t.call(Method::PATCH, &path, Some(&admin), Some(body)).await }
    };

    // Only an admin: an owner and support staff are refused, whatever they ask.
    for who in [&token, &support] {
        t.call(Method::GET, "/v1/admin/tenants", Some(who), None)
            .await
            .assert_error(403, "forbidden");
        t.call(
            Method::PATCH,
            &tenant_path,
            Some(who),
            Some(json!({"suspended": true})),
        )
        .await
        .assert_error(403, "forbidden");
    }

    let (key, _) = t
        .create_key(&token, json!({"name": "shop key", "scopes": ["read"]}))
        .await;
    let listed = t
        .call(Method::GET, "/v1/admin/tenants", Some(&admin), None)
        .await;
    assert_eq!(listed.status, 200, "{}", listed.body);
    let entry = listed.json["tenants"]
        .as_array()
        .expect("tenants")
        .iter()
        .find(|e| e["id"] == shop.as_str())
        .cloned()
        .expect("the shop is listed");
    assert_eq!(
        entry,
        json!({"id": shop, "name": "shop", "tier": "free", "suspended": false,
               "active_keys": 1, "key_cap": 10})
    );

    // A new tenant, in a tier of the deployment's; a name taken or a tier unknown is refused.
    let made = t
        .call(
            Method::POST,
            "/v1/admin/tenants",
            Some(&admin),
            Some(json!({"name": "new co", "tier": "pro"})),
        )
        .await;
    assert_eq!(made.status, 201, "{}", made.body);
    assert_eq!(made.json["tier"], "pro");
    assert_eq!(made.json["active_keys"], 0);
    t.call(
        Method::POST,
        "/v1/admin/tenants",
        Some(&admin),
        Some(json!({"name": "new co"})),
    )
    .await
    .assert_error(409, "conflict");
    let unknown = t
        .call(
            Method::POST,
            "/v1/admin/tenants",
            Some(&admin),
            Some(json!({"name": "other", "tier": "platinum"})),
        )
        .await;
    unknown.assert_error(422, "validation_failed");
    assert!(unknown.message().contains("tier"), "{}", unknown.message());

    // Suspended: its keys are refused on the next call, and it makes no keys; lifted, they work.
    assert_eq!(t.ping_with(&key, "", &[]).await.status, 200);
    let suspended = patch(json!({"suspended": true})).await;
    assert_eq!(suspended.status, 200, "{}", suspended.body);
    assert_eq!(suspended.json["suspended"], true);
    t.ping_with(&key, "", &[])
        .await
        .assert_error(403, "tenant_suspended");
    t.call(
        Method::POST,
        "/v1/keys",
        Some(&token),
        Some(json!({"name": "more", "scopes": ["read"]})),
    )
    .await
    .assert_error(403, "tenant_suspended");
    patch(json!({"suspended": false})).await;
    assert_eq!(t.ping_with(&key, "", &[]).await.status, 200);

    // A cap of its own, then the deployment's again; a key keeps working across a tier change.
    let capped = patch(json!({"key_cap": 1})).await;
    assert_eq!(capped.json["key_cap"], 1);
    t.call(
        Method::POST,
        "/v1/keys",
        Some(&token),
        Some(json!({"name": "second", "scopes": ["read"]})),
    )
    .await
    .assert_error(409, "key_limit_reached");
    assert_eq!(patch(json!({"key_cap": null})).await.json["key_cap"], 10);
    t.create_key(&token, json!({"name": "second", "scopes": ["read"]}))
        .await;
    let moved = patch(json!({"tier": "pro"})).await;
    assert_eq!(moved.json["tier"], "pro");
    let after = t.ping_with(&key, "", &[]).await;
    assert_eq!(after.status, 200);
    assert_eq!(
        after.header("x-ratelimit-limit"),
        Some(u32::MAX.to_string().as_str()),
        "no daily cap in an unlimited tier"
    );

    // Bad requests name the problem; an unknown tenant is 404.
    patch(json!({"colour": "red"}))
        .await
        .assert_error(422, "validation_failed");
    patch(json!({"key_cap": -1}))
        .await
        .assert_error(422, "validation_failed");
    t.call(
        Method::PATCH,
        "/v1/admin/tenants/ten_nope",
        Some(&admin),
        Some(json!({"suspended": true})),
    )
    .await
    .assert_error(404, "not_found");

    // Every change is in the tenant's audit log, by the admin.
    let audit = t.service.audit_log(&shop, 50).await.expect("audit");
    let changes = audit
        .iter()
        .filter(|e| e.action == "tenant.update" && e.target == shop)
        .count();
    assert_eq!(changes, 5);
}
