//! Who may do what: roles, tenants, sessions versus API keys, and the active-key cap.

#[macro_use]
mod common;

use common::Db;

use keyhaven_api::Role;
use reqwest::Method;
use serde_json::json;

scenario!(
    #[tokio::test]
    support_staff_can_read_but_not_create_or_revoke
);
async fn support_staff_can_read_but_not_create_or_revoke(db: Db) {
    let t = common::start(db).await;
    let (_, owner) = t.signed_in("owner@a.test", Role::Owner, "a").await;
    let (_, support) = t.signed_in("help@a.test", Role::Support, "a").await;
    let (_, meta) = t
        .create_key(&owner, json!({"name": "k", "scopes": ["read"]}))
        .await;
    let id = meta["id"].as_str().expect("id");

    let list = t.call(Method::GET, "/v1/keys", Some(&support), None).await;
    assert_eq!(list.status, 200);
    assert_eq!(list.json["keys"][0]["id"], id);
    assert_eq!(
        t.call(Method::GET, &format!("/v1/keys/{id}"), Some(&support), None)
            .await
            .status,
        200
    );

    let create = t
        .call(
            Method::POST,
            "/v1/keys",
            Some(&support),
            Some(json!({"name": "x", "scopes": ["read"]})),
        )
        .await;
    create.assert_error(403, "forbidden");
    assert!(create.message().contains("support"));
    t.call(
        Method::DELETE,
        &format!("/v1/keys/{id}"),
        Some(&support),
        None,
    )
    .await
    .assert_error(403, "forbidden");
    let still = t
        .call(Method::GET, &format!("/v1/keys/{id}"), Some(&owner), None)
        .await;
    assert_eq!(still.json["status"], "active");
}

scenario!(
    #[tokio::test]
    another_tenants_keys_do_not_exist_for_you
);
async fn another_tenants_keys_do_not_exist_for_you(db: Db) {
    let t = common::start(db).await;
    let (_, alice) = t.signed_in("alice@a.test", Role::Owner, "tenant a").await;
    let (_, bob) = t.signed_in("bob@b.test", Role::Admin, "tenant b").await;
    let (key, meta) = t
        .create_key(&alice, json!({"name": "alice's", "scopes": ["read"]}))
        .await;
    let id = meta["id"].as_str().expect("id");

    let list = t.call(Method::GET, "/v1/keys", Some(&bob), None).await;
    assert_eq!(list.json, json!({"keys": []}));
    t.call(Method::GET, &format!("/v1/keys/{id}"), Some(&bob), None)
        .await
        .assert_error(404, "not_found");
    t.call(Method::DELETE, &format!("/v1/keys/{id}"), Some(&bob), None)
        .await
        .assert_error(404, "not_found");
    assert_eq!(
        t.ping("X-API-Key", &key, "").await.status,
        200,
        "bob could not revoke it"
    );
}

scenario!(
    #[tokio::test]
    api_keys_never_manage_keys
);
async fn api_keys_never_manage_keys(db: Db) {
    let t = common::start(db).await;
    let (_, token) = t.signed_in("o@a.test", Role::Owner, "a").await;
    let (key, _) = t
        .create_key(&token, json!({"name": "k", "scopes": ["read", "write"]}))
        .await;

    for (method, path) in [
        (Method::GET, "/v1/keys"),
        (Method::POST, "/v1/keys"),
        (Method::GET, "/v1/me"),
    ] {
        let a = t
            .send(
                t.request(method.clone(), path)
                    .bearer_auth(&key)
                    .json(&json!({"name": "x", "scopes": ["read"]})),
            )
            .await;
        a.assert_error(403, "forbidden");
        let a = t
            .send(t.request(method, path).header("X-API-Key", &key))
            .await;
        a.assert_error(403, "forbidden");
    }
    // Neither is a session token accepted as an API key.
    t.ping("X-API-Key", &token, "")
        .await
        .assert_error(401, "unauthorized");
    // And without any credentials, management answers unauthorized.
    t.call(Method::GET, "/v1/keys", None, None)
        .await
        .assert_error(401, "unauthorized");
    t.call(Method::GET, "/v1/keys", Some("khs_made_up"), None)
        .await
        .assert_error(401, "unauthorized");
}

scenario!(
    #[tokio::test]
    the_active_key_cap_is_enforced_and_freed_by_revoking
);
async fn the_active_key_cap_is_enforced_and_freed_by_revoking(db: Db) {
    let t = common::start_with(db, |c| c.max_active_keys = 2).await;
    let (_, token) = t.signed_in("o@a.test", Role::Owner, "a").await;
    let (_, first) = t
        .create_key(&token, json!({"name": "1", "scopes": ["read"]}))
        .await;
    t.create_key(&token, json!({"name": "2", "scopes": ["read"]}))
        .await;

    let over = t
        .call(
            Method::POST,
            "/v1/keys",
            Some(&token),
            Some(json!({"name": "3", "scopes": ["read"]})),
        )
        .await;
    over.assert_error(409, "key_limit_reached");
    assert!(over.message().contains('2'), "{}", over.message());
    assert_eq!(
        t.call(Method::GET, "/v1/keys", Some(&token), None)
            .await
            .json["keys"]
            .as_array()
            .map(Vec::len),
        Some(2)
    );

    let id = first["id"].as_str().expect("id");
    assert_eq!(t.revoke_key(&token, id).await.status, 204);
    t.create_key(&token, json!({"name": "3", "scopes": ["read"]}))
        .await;
}

scenario!(
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    racing_creations_never_pass_the_cap
);
async fn racing_creations_never_pass_the_cap(db: Db) {
    let t = common::start_with(db, |c| c.max_active_keys = 2).await;
    let (_, token) = t.signed_in("race@a.test", Role::Owner, "a").await;
    let create = || {
        t.call(
            Method::POST,
            "/v1/keys",
            Some(&token),
            Some(json!({"name": "racer", "scopes": ["read"]})),
        )
    };
    let (a, b, c, d, e, f) =
        tokio::join!(create(), create(), create(), create(), create(), create());
    let answers = [a, b, c, d, e, f];
    assert_eq!(
        answers.iter().filter(|a| a.status == 201).count(),
        2,
        "exactly the cap is created"
    );
    for a in answers.iter().filter(|a| a.status != 201) {
        a.assert_error(409, "key_limit_reached");
    }
}
