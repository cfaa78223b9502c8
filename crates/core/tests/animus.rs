//! An Animus account against the contract fake (`tests/fakes/animus.py`, from Animus's
//! document): signed in with a pasted session token, keys listed with their scopes, renamed and
//! rescoped without a new secret, revoked; keys are made in the Animus app and imported by the
//! name Animus lists them under; a key is checked with one read, or one search for a key
//! without `read`.

mod common;

use keyhaven_api::UpdateKeyRequest;
use keyhaven_core::connector::{http_client, AnimusConnector, HttpPolicy, PingCall};
use keyhaven_core::local_keys::Verdict;
use keyhaven_core::vault::names;
use keyhaven_core::{
    AuthFailure, Connector, ConnectorKind, Error, ErrorKind, Keyhaven, Secret, ServiceRef,
};
use keyhaven_testkit::fake::Fake;
use keyhaven_testkit::record_secret;
use serde_json::json;

use common::core;

fn session(fake: &Fake) -> Secret {
    let jwt = fake.control("session", json!({"account": "ann"}))["jwt"]
        .as_str()
        .expect("jwt")
        .to_string();
    record_secret(&jwt);
    Secret::new(jwt)
}

/// A key made "in the Animus app": its id and secret.
fn mint(fake: &Fake, name: &str, scopes: &[&str]) -> (String, Secret) {
    let made = fake.control(
        "mint",
        json!({"account": "ann", "name": name, "scopes": scopes}),
    );
    let secret = made["secret"].as_str().expect("secret").to_string();
    record_secret(&secret);
    (
        made["id"].as_str().expect("id").to_string(),
        Secret::new(secret),
    )
}

async fn stored(core: &Keyhaven, account: &str, key: &str) -> bool {
    core.vault()
        .contains(&core.profile(), &names::key(account, key))
        .await
        .expect("vault")
}

fn scopes(list: &[&str]) -> Option<Vec<String>> {
    Some(list.iter().map(|s| s.to_string()).collect())
}

#[tokio::test]
async fn an_animus_account_lists_imports_updates_checks_and_revokes_keys() {
    let fake = Fake::start("animus");
    let data = tempfile::tempdir().expect("tempdir");
    let core = core(data.path()).await;
    let service = ServiceRef::url(fake.url());
    let (cli_id, cli_secret) = mint(&fake, "cli", &["read"]);
    let (finder_id, finder_secret) = mint(&fake, "finder", &["search"]);
    let (twin_a, twin_a_secret) = mint(&fake, "twin", &["read", "write"]);
    let (twin_b, _) = mint(&fake, "twin", &["read"]);

    // A token Animus does not know is refused, saying that only a new one helps.
    let err = core
        .accounts()
        .sign_in_to(
            ConnectorKind::Animus,
            service.clone(),
            "personal",
            Secret::new("eyJnot-a-session".into()),
            None,
            true,
        )
        .await
        .expect_err("unknown token");
    assert!(
        matches!(
            err,
            Error::Unauthorized {
                reason: AuthFailure::SessionTokenRefused
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("new one"), "{err}");
    assert!(core.accounts().list().is_empty());

    // A plain name for the account; the token is the session, never kept as a password.
    let account = core
        .accounts()
        .sign_in_to(
            ConnectorKind::Animus,
            service,
            "personal",
            session(&fake),
            None,
            true,
        )
        .await
        .expect("sign in");
    assert_eq!(account.connector, ConnectorKind::Animus);
    assert_eq!(account.email, "personal");
    assert!(!account.remember_password);
    assert!(!core
        .vault()
        .contains(&core.profile(), &names::password(&account.id))
        .await
        .expect("vault"));
    let id = account.id.clone();

    let caps = core.accounts().capabilities(&id).expect("caps");
    assert!(caps.login && caps.list_keys && caps.get_key && caps.update_key);
    assert!(caps.revoke_key && caps.ping && caps.import_keys && caps.key_settings);
    assert!(!caps.create_key && !caps.roll_key && !caps.key_usage && !caps.local_keys);

    let listed = core.keys().list(&id).await.expect("list");
    assert_eq!(listed.len(), 4);
    let cli = listed
        .iter()
        .find(|k| k.meta.id == cli_id)
        .expect("cli listed");
    assert_eq!(
        (cli.meta.name.as_str(), cli.meta.scopes.clone()),
        ("cli", vec!["read".to_string()])
    );
    assert!(listed.iter().all(|k| !k.stored_locally));

    // No create call on Animus: refused before any request, saying where keys are made.
    let err = core
        .keys()
        .create(
            &id,
            keyhaven_core::new_key_request(
                "new".into(),
                vec!["read".into()],
                None,
                None,
                None,
                None,
            )
            .expect("request"),
        )
        .await
        .expect_err("no create");
    assert_eq!(err.code(), ErrorKind::Forbidden, "{err}");
    assert!(
        err.to_string().contains("Animus app") && err.to_string().contains("import"),
        "{err}"
    );

    // Import: by the name Animus lists; a name it does not list, or one two keys share, asks.
    let err = core
        .keys()
        .import(&id, cli_secret.clone())
        .await
        .expect_err("a name is needed");
    assert!(
        matches!(err, Error::Validation { ref field, .. } if field == "name"),
        "{err:?}"
    );
    let err = core
        .keys()
        .import_listed(&id, cli_secret.clone(), Some("nope"), None)
        .await
        .expect_err("no such name");
    assert!(
        err.to_string().contains("no key") && err.to_string().contains("\"cli\""),
        "{err}"
    );
    let meta = core
        .keys()
        .import_listed(&id, cli_secret.clone(), Some("cli"), None)
        .await
        .expect("import cli");
    assert_eq!(meta.id, cli_id);
    assert!(stored(&core, &id, &cli_id).await);
    core.keys().ping(&id, &cli_id).await.expect("works");

    let err = core
        .keys()
        .import_listed(&id, twin_a_secret.clone(), Some("twin"), None)
        .await
        .expect_err("two keys named twin");
    assert!(
        err.to_string().contains(&twin_a) && err.to_string().contains("--key"),
        "{err}"
    );
    // The secret of a read+write key is not a read-only one: its check shows which it fits.
    let err = core
        .keys()
        .import_listed(&id, finder_secret.clone(), Some("twin"), Some(&twin_b))
        .await
        .expect_err("a search-only secret is not twin b");
    assert!(err.to_string().contains("another key"), "{err}");
    assert!(!stored(&core, &id, &twin_b).await);
    core.keys()
        .import_listed(&id, twin_a_secret, Some("twin"), Some(&twin_a))
        .await
        .expect("import twin a by its id");
    assert!(stored(&core, &id, &twin_a).await && !stored(&core, &id, &twin_b).await);
    let err = core
        .keys()
        .import_listed(&id, cli_secret.clone(), None, Some(&twin_b))
        .await
        .expect_err("the same secret twice");
    assert!(err.to_string().contains("already"), "{err}");

    // A key without `read` answers 403 to the read: it works, as the search shows.
    core.keys()
        .import_listed(&id, finder_secret, Some("finder"), None)
        .await
        .expect("import finder");
    let check = core.keys().check(&id, &finder_id).await.expect("check");
    assert_eq!(check.verdict, Verdict::Works, "{}", check.message);

    // Name and scopes change; the secret stays and still works.
    let updated = core
        .keys()
        .update(
            &id,
            &cli_id,
            UpdateKeyRequest {
                name: Some("cli-renamed".into()),
                scopes: scopes(&["read", "search"]),
                ..UpdateKeyRequest::default()
            },
        )
        .await
        .expect("update");
    assert_eq!(updated.name, "cli-renamed");
    assert_eq!(updated.scopes, vec!["read", "search"]);
    let shown = core.keys().get(&id, &cli_id, None).await.expect("get");
    assert_eq!(
        (shown.name.as_str(), shown.scopes.len()),
        ("cli-renamed", 2)
    );
    core.keys()
        .ping(&id, &cli_id)
        .await
        .expect("the same secret works");

    // A scope Animus does not have, or a setting its keys lack, is refused before any request:
    // with Animus down, the refusal is still Keyhaven's own.
    fake.control("outage", json!({"on": true}));
    let err = core
        .keys()
        .update(
            &id,
            &cli_id,
            UpdateKeyRequest {
                scopes: scopes(&["read", "admin"]),
                ..UpdateKeyRequest::default()
            },
        )
        .await
        .expect_err("unknown scope");
    assert!(
        matches!(err, Error::Validation { ref field, .. } if field == "scopes"),
        "{err:?}"
    );
    assert!(err.to_string().contains("admin"), "{err}");
    let err = core
        .keys()
        .update(
            &id,
            &cli_id,
            UpdateKeyRequest {
                rate_limit_per_hour: Some(Some(100)),
                ..UpdateKeyRequest::default()
            },
        )
        .await
        .expect_err("no hourly limit on Animus");
    assert!(
        err.to_string().contains("only their name and scopes"),
        "{err}"
    );
    fake.control("outage", json!({"on": false}));

    // Revoked, the key is refused (401), and its secret has left this computer.
    core.keys().revoke(&id, &cli_id).await.expect("revoke");
    assert!(!stored(&core, &id, &cli_id).await);
    assert!(core.keys().list(&id).await.expect("list").len() == 3);
    let animus = AnimusConnector::with_policy(
        fake.url(),
        HttpPolicy::LoopbackOnly,
        http_client().expect("http"),
    )
    .expect("connector");
    let err = animus
        .ping(&cli_secret, &PingCall::default())
        .await
        .expect_err("revoked");
    assert!(
        matches!(
            err,
            Error::Unauthorized {
                reason: AuthFailure::KeyRejected
            }
        ),
        "{err:?}"
    );

    // A session token Animus stops taking cannot be renewed: sign in again with a new one.
    core.vault()
        .put(
            &core.profile(),
            &names::session(&id),
            &Secret::new(r#"{"jwt":"eyJstale","user":"personal"}"#.into()),
        )
        .await
        .expect("put");
    let err = core.keys().list(&id).await.expect_err("stale token");
    assert!(
        matches!(
            err,
            Error::Unauthorized {
                reason: AuthFailure::SessionTokenRefused
            }
        ),
        "{err:?}"
    );
    core.accounts()
        .sign_in_again(&id, session(&fake), true)
        .await
        .expect("a new token");
    assert_eq!(core.keys().list(&id).await.expect("list").len(), 3);
}
