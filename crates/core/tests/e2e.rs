//! The core against the real key service on loopback (in-process, SQLite in a temporary folder)
//! and, for the main story, the real Secret Service. See `keychain.rs` for how to run with one.

use std::path::PathBuf;

use keyhaven_api::{ErrorCode, KeyStatus, Role};
use keyhaven_core::vault::names;
use keyhaven_core::{
    Account, AuthFailure, Connector, Error, ErrorKind, Keyhaven, NativeConnector, Secret,
    ServiceRef, VaultChoice,
};

mod common;

use common::{
    files_containing, files_under, key_request, ping_status, real_keychain, unique, Svc, PASSWORD,
};

#[tokio::test]
async fn sign_in_create_use_revoke_with_the_real_keychain() {
    let mut svc = Svc::start(|_| {}).await;
    svc.user("ann@example.com", Role::Owner, "Acme").await;
    let data = tempfile::tempdir().expect("tempdir");
    let namespace = unique("dev.keyhaven.test");
    let keychain = real_keychain(&namespace);
    let core = Keyhaven::open(common::config(
        data.path(),
        VaultChoice::SecretService,
        &namespace,
    ))
    .await
    .expect("core opens");
    let profile = core.profile();

    // Sign in: the account is recorded and active; its session is in the keychain.
    let account = common::sign_in_session_only(&core, &svc, "ann@example.com").await;
    assert_eq!(account.role, Role::Owner);
    assert_eq!(account.email, "ann@example.com");
    assert_eq!(
        core.accounts().active().map(|a| a.id),
        Some(account.id.clone())
    );
    let session = keychain
        .get(&profile, &names::session(&account.id))
        .await
        .expect("read session")
        .expect("the session token is in the keychain");

    // Signing in again to the same service and email updates the same account.
    let again = common::sign_in_session_only(&core, &svc, " ann@example.com ").await;
    assert_eq!(again.id, account.id);
    assert_eq!(core.accounts().list().len(), 1);

    // Create a key: its secret is in the keychain and is what the service accepts.
    let created = core
        .keys()
        .create(&account.id, key_request("e2e deploy"))
        .await
        .expect("create");
    assert!(created.stored_in_keychain, "{:?}", created.keychain_error);
    let secret = created.secret.clone();
    assert!(secret.expose().starts_with("kh_test_"));
    assert_eq!(created.meta.prefix, secret.expose()[..12]);
    let in_keychain = keychain
        .get(&profile, &names::key(&account.id, &created.meta.id))
        .await
        .expect("read key")
        .expect("the key's secret is in the keychain");
    assert_eq!(in_keychain, secret);
    assert_eq!(
        core.keys()
            .secret(&account.id, &created.meta.id)
            .await
            .expect("key secret"),
        secret
    );
    assert_eq!(ping_status(&svc.url(), in_keychain.expose()).await, 200);
    let pinged = core
        .keys()
        .ping(&account.id, &created.meta.id)
        .await
        .expect("ping via core");
    assert_eq!(pinged.key_id, created.meta.id);

    // The list shows it, held on this computer.
    let keys = core.keys().list(&account.id).await.expect("list");
    let listed = keys
        .iter()
        .find(|k| k.meta.id == created.meta.id)
        .expect("listed");
    assert!(listed.stored_locally);
    assert_eq!(listed.meta.name, "e2e deploy");
    assert_eq!(listed.meta.status, KeyStatus::Active);

    // Revoke: the service refuses the key at once and the keychain entry is gone.
    core.keys()
        .revoke(&account.id, &created.meta.id)
        .await
        .expect("revoke");
    assert_eq!(ping_status(&svc.url(), secret.expose()).await, 401);
    assert_eq!(
        keychain
            .get(&profile, &names::key(&account.id, &created.meta.id))
            .await
            .expect("read"),
        None
    );
    let err = core
        .keys()
        .secret(&account.id, &created.meta.id)
        .await
        .expect_err("gone");
    assert_eq!(err.code(), ErrorKind::NotFound);
    let err = core
        .keys()
        .ping(&account.id, &created.meta.id)
        .await
        .expect_err("gone");
    assert_eq!(err.code(), ErrorKind::NotFound);
    for k in core
        .keys()
        .list(&account.id)
        .await
        .expect("list after revoke")
    {
        assert!(!k.stored_locally);
    }

    // No secret, session token or password anywhere in the data folder.
    for needle in [secret.expose(), session.expose(), PASSWORD] {
        assert_eq!(files_containing(data.path(), needle), Vec::<PathBuf>::new());
    }
    assert!(!files_under(data.path()).is_empty());

    // Sign out: the session leaves the keychain; the account stays, signed out.
    core.accounts()
        .sign_out(&account.id)
        .await
        .expect("sign out");
    assert_eq!(
        keychain
            .get(&profile, &names::session(&account.id))
            .await
            .expect("read"),
        None
    );
    let err = core.keys().list(&account.id).await.expect_err("signed out");
    assert!(
        matches!(
            err,
            Error::Unauthorized {
                reason: AuthFailure::SessionExpired
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("sign in again"));
    assert_eq!(core.accounts().list().len(), 1);

    svc.stop().await;
}

#[tokio::test]
async fn wrong_password_is_unauthorized_and_adds_nothing() {
    let svc = Svc::start(|_| {}).await;
    svc.user("ann@example.com", Role::Owner, "Acme").await;
    let data = tempfile::tempdir().expect("tempdir");
    let core = common::core(data.path()).await;
    let err = core
        .accounts()
        .sign_in(
            svc.service_ref(),
            "ann@example.com",
            Secret::new("wrong password".into()),
            true,
        )
        .await
        .expect_err("wrong password");
    assert!(
        matches!(
            err,
            Error::Unauthorized {
                reason: AuthFailure::WrongCredentials
            }
        ),
        "{err:?}"
    );
    assert_eq!(err.code(), ErrorKind::Unauthorized);
    assert!(!err.to_string().contains("wrong password"));
    assert!(core.accounts().list().is_empty());
    assert!(files_containing(data.path(), "wrong password").is_empty());
}

/// SECURITY 18: plain `http://` to another host is refused unless the person allows it for the
/// account; with the override the account works and the choice is kept in the catalog.
///
/// The test needs a URL that the rule treats as another host yet reaches the service, which
/// listens on 127.0.0.1 only: `0.0.0.0` is not a loopback address to the rule, and Linux
/// delivers a connection to it to this computer.
#[cfg(target_os = "linux")]
#[tokio::test]
async fn plain_http_to_another_host_needs_the_accounts_override() {
    let svc = Svc::start(|_| {}).await;
    svc.user("ann@example.com", Role::Owner, "Acme").await;
    let port = url::Url::parse(&svc.url())
        .expect("url")
        .port()
        .expect("port");
    let elsewhere = format!("http://0.0.0.0:{port}");
    let data = tempfile::tempdir().expect("tempdir");
    let core = common::core(data.path()).await;

    let err = sign_in_as_ann(&core, &elsewhere, false)
        .await
        .expect_err("refused without the override");
    assert_eq!(err.code(), ErrorKind::InsecureUrl, "{err:?}");
    assert!(
        err.to_string().contains("allow unencrypted http://"),
        "{err}"
    );
    assert!(core.accounts().list().is_empty());

    let account = sign_in_as_ann(&core, &elsewhere, true)
        .await
        .expect("signed in with the override");
    assert_eq!(
        account.service,
        ServiceRef::Url {
            url: format!("{elsewhere}/"),
            allow_http: true,
        }
    );
    core.keys()
        .create(&account.id, key_request("over http"))
        .await
        .expect("create over plain http");
    assert_eq!(core.keys().list(&account.id).await.expect("list").len(), 1);

    // The choice is kept: a core opened again on the same folder still reaches the service.
    drop(core);
    let again = common::core(data.path()).await;
    let kept = again.accounts().list();
    assert_eq!(kept.len(), 1);
    assert!(matches!(
        &kept[0].service,
        ServiceRef::Url {
            allow_http: true,
            ..
        }
    ));

    // The override is dropped where it is not needed: this computer (and https://).
    let other = common::core(&data.path().join("other")).await;
    let local = sign_in_as_ann(&other, &svc.url(), true)
        .await
        .expect("sign in on loopback");
    assert_eq!(local.service, ServiceRef::url(format!("{}/", svc.url())));
}

async fn sign_in_as_ann(core: &Keyhaven, url: &str, allow_http: bool) -> Result<Account, Error> {
    let service = ServiceRef::Url {
        url: url.to_string(),
        allow_http,
    };
    let password = Secret::new(PASSWORD.into());
    core.accounts()
        .sign_in(service, "ann@example.com", password, false)
        .await
}

#[tokio::test]
async fn a_refused_session_is_renewed_once_with_the_remembered_password() {
    let svc = Svc::start(|_| {}).await;
    svc.user("ann@example.com", Role::Owner, "Acme").await;
    svc.user("bob@example.com", Role::Member, "Acme").await;
    let data = tempfile::tempdir().expect("tempdir");
    let core = common::core(data.path()).await;
    let profile = core.profile();
    let direct = NativeConnector::new(&svc.url()).expect("connector");

    // Remembered password: a session ended behind the core's back is renewed transparently.
    let ann = common::sign_in(&core, &svc, "ann@example.com").await;
    let old = core
        .vault()
        .get(&profile, &names::session(&ann.id))
        .await
        .expect("get")
        .expect("session");
    direct
        .logout(&old)
        .await
        .expect("end the session on the service");
    assert!(direct.me(&old).await.is_err(), "the old session is dead");
    core.keys()
        .list(&ann.id)
        .await
        .expect("renewed transparently");
    let new = core
        .vault()
        .get(&profile, &names::session(&ann.id))
        .await
        .expect("get")
        .expect("session");
    assert_ne!(new, old);
    assert_eq!(direct.me(&new).await.expect("me").email, "ann@example.com");

    // No remembered password: the person is asked to sign in again.
    let bob = common::sign_in_session_only(&core, &svc, "bob@example.com").await;
    assert_eq!(core.accounts().active().map(|a| a.id), Some(bob.id.clone()));
    let token = core
        .vault()
        .get(&profile, &names::session(&bob.id))
        .await
        .expect("get")
        .expect("session");
    direct.logout(&token).await.expect("end the session");
    let err = core.keys().list(&bob.id).await.expect_err("expired");
    assert!(
        matches!(
            err,
            Error::Unauthorized {
                reason: AuthFailure::SessionExpired
            }
        ),
        "{err:?}"
    );

    // Signing out forgets the remembered password too: no silent renewal afterwards.
    core.accounts().sign_out(&ann.id).await.expect("sign out");
    assert_eq!(
        core.vault()
            .get(&profile, &names::password(&ann.id))
            .await
            .expect("get"),
        None
    );
    assert!(
        core.keys()
            .list(&ann.id)
            .await
            .expect_err("signed out")
            .code()
            == ErrorKind::Unauthorized
    );
}

#[tokio::test]
async fn embedded_service_accounts_follow_the_url_the_app_gives() {
    let svc = Svc::start(|_| {}).await;
    svc.user("me@keyhaven.local", Role::Owner, "Acme").await;
    let data = tempfile::tempdir().expect("tempdir");
    let core = common::core(data.path()).await;
    core.set_embedded_url(Some(svc.url()));
    let account = core
        .accounts()
        .sign_in(
            ServiceRef::Embedded,
            "me@keyhaven.local",
            Secret::new(PASSWORD.into()),
            true,
        )
        .await
        .expect("sign in to the embedded service");
    assert_eq!(account.service, ServiceRef::Embedded);
    assert!(core
        .keys()
        .list(&account.id)
        .await
        .expect("list")
        .is_empty());
    // The catalog records "embedded", not this launch's URL.
    assert!(files_containing(data.path(), "127.0.0.1").is_empty());
    assert!(!files_containing(data.path(), "\"embedded\"").is_empty());

    core.set_embedded_url(None);
    let err = core
        .keys()
        .list(&account.id)
        .await
        .expect_err("not running");
    assert_eq!(err.code(), ErrorKind::EmbeddedServiceNotRunning);
}

#[tokio::test]
async fn service_refusals_become_domain_errors() {
    let mut svc = Svc::start(|c| c.max_active_keys = 2).await;
    svc.user("ann@example.com", Role::Owner, "Acme").await;
    svc.user("sue@example.com", Role::Support, "Acme").await;
    let data = tempfile::tempdir().expect("tempdir");
    let core = common::core(data.path()).await;
    let ann = common::sign_in_session_only(&core, &svc, "ann@example.com").await;
    for name in ["one", "two"] {
        let created = core
            .keys()
            .create(&ann.id, key_request(name))
            .await
            .expect("create");
        assert!(created.stored_in_keychain);
    }
    let err = core
        .keys()
        .create(&ann.id, key_request("three"))
        .await
        .expect_err("limit");
    assert!(matches!(err, Error::KeyLimitReached { .. }), "{err:?}");
    assert_eq!(err.service_code(), Some(ErrorCode::KeyLimitReached));

    let err = core
        .keys()
        .revoke(&ann.id, "key_does_not_exist")
        .await
        .expect_err("no such key");
    assert_eq!(err.code(), ErrorKind::NotFound);

    let sue = common::sign_in_session_only(&core, &svc, "sue@example.com").await;
    assert_eq!(sue.role, Role::Support);
    let err = core
        .keys()
        .create(&sue.id, key_request("nope"))
        .await
        .expect_err("read-only");
    assert_eq!(err.code(), ErrorKind::Forbidden, "{err:?}");

    // A service that is gone is a network error naming its URL.
    let url = svc.url();
    svc.stop().await;
    let err = core.keys().list(&ann.id).await.expect_err("service down");
    match &err {
        Error::Network { url: named, .. } => assert!(named.starts_with(&url), "{named}"),
        other => panic!("expected a network error, got {other:?}"),
    }
}
