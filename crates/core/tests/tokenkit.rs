//! A TokenKit account against the contract fake (`tests/fakes/tokenkit.py`, from TokenKit's
//! document): sign-in with a user name and an API key of the account's, keys listed without
//! their values, created with origins, IPs and an hourly limit, checked with one call, deleted;
//! what TokenKit cannot do is refused before any request.

mod common;

use keyhaven_api::CreateKeyRequest;
use keyhaven_core::vault::names;
use keyhaven_core::{ConnectorKind, Error, ErrorKind, Secret, ServiceRef};
use keyhaven_testkit::fake::Fake;
use keyhaven_testkit::record_secret;
use serde_json::json;

use common::core;

const USER: &str = "ann";
const PASSWORD: &str = "a TokenKit password";

fn signed_up(fake: &Fake) -> Secret {
    fake.control("add-user", json!({"username": USER, "password": PASSWORD}));
    let key = fake.control("mint", json!({"username": USER, "name": "dashboard"}))["key"]
        .as_str()
        .expect("key")
        .to_string();
    record_secret(&key);
    Secret::new(key)
}

#[tokio::test]
async fn a_tokenkit_account_lists_creates_checks_and_deletes_keys() {
    let fake = Fake::start("tokenkit");
    let dashboard_key = signed_up(&fake);
    let data = tempfile::tempdir().expect("tempdir");
    let core = core(data.path()).await;
    let service = ServiceRef::url(fake.url());

    // Without the account's API key, or with a wrong password: refused, nothing stored.
    let err = core
        .sign_in_to(
            ConnectorKind::Tokenkit,
            service.clone(),
            USER,
            Secret::new(PASSWORD.into()),
            None,
            true,
        )
        .await
        .expect_err("no api key");
    assert!(
        matches!(err, Error::Validation { ref field, .. } if field == "api key"),
        "{err:?}"
    );
    let err = core
        .sign_in_to(
            ConnectorKind::Tokenkit,
            service.clone(),
            USER,
            Secret::new("wrong".into()),
            Some(dashboard_key.clone()),
            true,
        )
        .await
        .expect_err("wrong password");
    assert_eq!(err.code(), ErrorKind::Unauthorized);
    assert!(core.accounts().is_empty());

    // A user name, not an email: TokenKit takes either.
    let account = core
        .sign_in_to(
            ConnectorKind::Tokenkit,
            service,
            USER,
            Secret::new(PASSWORD.into()),
            Some(dashboard_key.clone()),
            true,
        )
        .await
        .expect("sign in");
    assert_eq!(account.connector, ConnectorKind::Tokenkit);
    let kept = core
        .vault()
        .get(&core.profile(), &names::account_key(&account.id))
        .await
        .expect("read")
        .expect("the account's key is kept");
    assert!(kept.constant_time_eq(&dashboard_key));

    let caps = core.capabilities(&account.id).expect("caps");
    assert!(caps.list_keys && caps.create_key && caps.revoke_key && caps.ping);
    assert!(!caps.update_key && !caps.roll_key && !caps.key_usage && !caps.key_settings);

    let listed = core.list_keys(&account.id).await.expect("list");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].meta.name, "dashboard");

    // Create with the settings TokenKit takes: they reach it as sent.
    let request = CreateKeyRequest {
        name: "indexer-cron".into(),
        scopes: vec!["read".into()],
        allowed_ips: Some(vec!["127.0.0.1".into()]),
        rate_limit_per_hour: Some(10_000),
        ..CreateKeyRequest::default()
    };
    let created = core.create_key(&account.id, request).await.expect("create");
    record_secret(created.secret.expose());
    assert!(created.stored_in_keychain);
    let held = fake.control("key", json!({"key_id": created.meta.id}));
    assert_eq!(held["allowed_ips"], json!(["127.0.0.1"]));
    assert_eq!(held["rate_limit_per_hour"], json!(10_000));
    let listed = core.list_keys(&account.id).await.expect("list");
    assert_eq!(listed.len(), 2);
    assert!(listed
        .iter()
        .any(|k| k.meta.id == created.meta.id && k.stored_locally));

    // One cheap call says the key works; deleted, it is refused.
    core.ping_key(&account.id, &created.meta.id)
        .await
        .expect("works");
    core.revoke_key(&account.id, &created.meta.id)
        .await
        .expect("delete");
    assert_eq!(
        fake.control("key", json!({"key_id": created.meta.id}))["found"],
        json!(false)
    );
    assert_eq!(core.list_keys(&account.id).await.expect("list").len(), 1);

    // What TokenKit cannot do is refused before any request, saying so.
    let err = core
        .rotate_key(&account.id, &listed[0].meta.id, Default::default(), &|_| {})
        .await
        .expect_err("no replacement without the key's settings");
    assert_eq!(err.code(), ErrorKind::Forbidden, "{err}");
    assert!(
        err.to_string().contains("origins, IPs or hourly limit"),
        "{err}"
    );
    let err = core
        .update_key(
            &account.id,
            &listed[0].meta.id,
            keyhaven_api::UpdateKeyRequest {
                name: Some("renamed".into()),
                ..Default::default()
            },
        )
        .await
        .expect_err("no update");
    assert_eq!(err.code(), ErrorKind::Forbidden, "{err}");

    // Signing in again keeps using the account's key.
    core.sign_out(&account.id).await.expect("sign out");
    core.sign_in_again(&account.id, Secret::new(PASSWORD.into()), false)
        .await
        .expect("again");
    assert_eq!(core.list_keys(&account.id).await.expect("list").len(), 1);

    // Removing the account forgets its key too.
    core.remove_account(&account.id, &account.id)
        .await
        .expect("remove");
    assert!(core
        .vault()
        .get(&core.profile(), &names::account_key(&account.id))
        .await
        .expect("read")
        .is_none());
}
