//! Accounts of services whose keys are made in their own dashboards (AniKura, Ananke Labs,
//! WaniKani, generic), against the contract fakes (`tests/fakes/`, from each document): keys
//! imported by pasting, checked before they are stored, listed from the profile's record; a
//! refused key (401) told apart from a key its service limits (Ananke's 403, AniKura's cap).

mod common;

use keyhaven_core::local_keys::{Presentation, Verdict};
use keyhaven_core::vault::names;
use keyhaven_core::{
    suggest_kinds, AuthFailure, ConnectorKind, Error, ErrorKind, ImportOptions, Keyhaven,
    NewAccount, Secret, Tier, Vault,
};
use keyhaven_testkit::fake::Fake;
use keyhaven_testkit::record_secret;
use serde_json::json;

use common::core;

fn minted(value: serde_json::Value) -> Secret {
    let text = value["secret"].as_str().expect("a secret").to_string();
    record_secret(&text);
    Secret::new(text)
}

fn named(name: &str) -> ImportOptions {
    ImportOptions {
        name: name.into(),
        ..ImportOptions::default()
    }
}

async fn add(core: &Keyhaven, kind: ConnectorKind, url: &str) -> String {
    core.accounts()
        .add(NewAccount {
            kind,
            name: "personal".into(),
            url: Some(url.into()),
            allow_http: false,
            tier: (kind == ConnectorKind::Anikura).then_some(Tier::Free),
        })
        .await
        .expect("account added")
        .id
}

async fn stored(core: &Keyhaven, account: &str, key: &str) -> bool {
    core.vault()
        .contains(&core.profile(), &names::key(account, key))
        .await
        .expect("vault")
}

#[tokio::test]
async fn an_anikura_key_is_imported_checked_against_the_daily_cap_and_found_broken_when_deleted() {
    an_anikura_key_is_imported_checked_against_the_daily_cap_and_found_broken_when_deleted_on(
        Vault::in_memory(),
    )
    .await;
}

/// The same on the real Secret Service (gnome-keyring), with its entries removed afterwards.
#[tokio::test]
async fn an_anikura_key_is_imported_checked_against_the_daily_cap_and_found_broken_when_deleted_on_the_real_keychain(
) {
    let namespace = common::unique("dev.keyhaven.test");
    let vault = common::real_keychain(&namespace);
    an_anikura_key_is_imported_checked_against_the_daily_cap_and_found_broken_when_deleted_on(
        vault.clone(),
    )
    .await;
    common::empty_keychain(&vault);
}

async fn an_anikura_key_is_imported_checked_against_the_daily_cap_and_found_broken_when_deleted_on(
    vault: Vault,
) {
    let fake = Fake::start("anikura");
    let data = tempfile::tempdir().expect("tempdir");
    let core = common::core_on(data.path(), &vault).await;
    let account = add(&core, ConnectorKind::Anikura, fake.url()).await;
    let saved = core.accounts().get(&account).expect("account");
    assert_eq!(saved.tier, Some(Tier::Free));
    assert!(
        saved.label.starts_with("AniKura · personal @ 127.0.0.1"),
        "{}",
        saved.label
    );
    let caps = core.accounts().capabilities(&account).expect("caps");
    assert!(caps.import_keys && caps.local_keys && caps.ping);
    assert!(!caps.create_key && !caps.revoke_key && !caps.list_keys && !caps.login);

    let secret = minted(fake.control("mint", json!({"account": "ann", "tier": "free"})));
    let view = core
        .keys()
        .import_local(&account, secret.clone(), named("scraper"))
        .await
        .expect("imported");
    assert_eq!(view.meta.name, "scraper");
    assert!(view.meta.prefix.starts_with("ak_live_") && view.meta.prefix.len() == 12);
    assert!(view.stored_locally);
    let check = view.check.expect("checked before it was stored");
    assert_eq!(check.verdict, Verdict::Works);
    let quota = check.quota.expect("AniKura's quota headers");
    assert_eq!((quota.remaining, quota.limit), (Some(1_999), Some(2_000)));
    assert!(quota.resets_at > chrono::Utc::now());
    assert!(stored(&core, &account, &view.meta.id).await);
    assert!(core
        .keys()
        .secret(&account, &view.meta.id)
        .await
        .expect("secret")
        .constant_time_eq(&secret));

    // The same secret twice: said, not stored again.
    let again = core
        .keys()
        .import_local(&account, secret.clone(), named("again"))
        .await
        .expect_err("twice");
    assert!(
        again
            .to_string()
            .contains("already in this account as \"scraper\""),
        "{again}"
    );

    // Listed from the profile's record, as the service cannot list keys.
    let listed = core.keys().list(&account).await.expect("list");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].meta.id, view.meta.id);
    assert_eq!(
        core.keys()
            .get(&account, &view.meta.id, None)
            .await
            .expect("get")
            .name,
        "scraper"
    );

    // A second call within the Free tier's 2 seconds is limited, not broken.
    let limited = core
        .keys()
        .check(&account, &view.meta.id)
        .await
        .expect("check");
    assert_eq!(limited.verdict, Verdict::Limited, "{limited:?}");
    fake.control("advance", json!({"seconds": 3}));
    let works = core
        .keys()
        .check(&account, &view.meta.id)
        .await
        .expect("check");
    assert_eq!(works.verdict, Verdict::Works);
    assert_eq!(works.quota.and_then(|q| q.remaining), Some(1_998));

    // Deleted in the dashboard: refused, and the message says where to make a new one.
    fake.control("delete", json!({"secret": secret.expose()}));
    fake.control("advance", json!({"seconds": 3}));
    let broken = core
        .keys()
        .check(&account, &view.meta.id)
        .await
        .expect("check");
    assert_eq!(broken.verdict, Verdict::Refused);
    assert!(
        broken.message.contains("AniKura's dashboard"),
        "{}",
        broken.message
    );
    let listed = core.keys().list(&account).await.expect("list");
    assert_eq!(
        listed[0].check.as_ref().map(|c| c.verdict),
        Some(Verdict::Refused)
    );

    // Keyhaven cannot delete it there, and says where; it forgets it here.
    let err = core
        .keys()
        .revoke(&account, &view.meta.id)
        .await
        .expect_err("no revoke");
    assert_eq!(err.code(), ErrorKind::Forbidden);
    assert!(err.to_string().contains("AniKura's dashboard"), "{err}");
    core.keys()
        .forget(&account, &view.meta.id)
        .await
        .expect("forget");
    assert!(core.keys().list(&account).await.expect("list").is_empty());
    assert!(!stored(&core, &account, &view.meta.id).await);
}

#[tokio::test]
async fn a_key_the_service_refuses_is_not_stored_and_one_that_cannot_be_checked_only_when_asked() {
    let fake = Fake::start("anikura");
    let data = tempfile::tempdir().expect("tempdir");
    let core = core(data.path()).await;
    let account = add(&core, ConnectorKind::Anikura, fake.url()).await;
    let err = core
        .keys()
        .import_local(
            &account,
            Secret::new("ak_live_NotAKeyAniKuraMadeAtAll000000".into()),
            named("typo"),
        )
        .await
        .expect_err("refused");
    assert!(
        matches!(
            err,
            Error::Unauthorized {
                reason: AuthFailure::KeyRejected
            }
        ),
        "{err:?}"
    );
    assert!(core.keys().list(&account).await.expect("list").is_empty());

    // A service that cannot be reached: the key is kept only when the person says so.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("port");
    let port = closed.local_addr().expect("addr").port();
    drop(closed);
    let offline = core
        .accounts()
        .add(NewAccount {
            kind: ConnectorKind::Ananke,
            name: "offline".into(),
            url: Some(format!("http://127.0.0.1:{port}")),
            allow_http: false,
            tier: None,
        })
        .await
        .expect("account")
        .id;
    let secret = Secret::new("ak_live_HeldWhileTheServiceIsDown1234".into());
    record_secret(secret.expose());
    let err = core
        .keys()
        .import_local(&offline, secret.clone(), named("later"))
        .await
        .expect_err("unchecked");
    assert!(
        err.to_string().contains("could not be reached") && err.to_string().contains("unverified"),
        "{err}"
    );
    assert!(core.keys().list(&offline).await.expect("list").is_empty());
    let view = core
        .keys()
        .import_local(
            &offline,
            secret,
            ImportOptions {
                unverified: true,
                ..named("later")
            },
        )
        .await
        .expect("stored unverified");
    assert!(view.check.is_none());
    let check = core
        .keys()
        .check(&offline, &view.meta.id)
        .await
        .expect("check");
    assert_eq!(check.verdict, Verdict::Unknown);

    // Removing the account forgets its keys' records and secrets.
    core.accounts()
        .remove(&offline, &offline)
        .await
        .expect("remove");
    assert!(!stored(&core, &offline, &view.meta.id).await);
    assert!(
        !data
            .path()
            .join("profiles")
            .join(core.profile())
            .join("local-keys.json")
            .exists()
            || !std::fs::read_to_string(
                data.path()
                    .join("profiles")
                    .join(core.profile())
                    .join("local-keys.json")
            )
            .expect("read")
            .contains(&offline)
    );
}

#[tokio::test]
async fn ananke_tells_a_broken_key_from_a_suspended_tenant() {
    let fake = Fake::start("ananke");
    let data = tempfile::tempdir().expect("tempdir");
    let core = core(data.path()).await;
    let account = add(&core, ConnectorKind::Ananke, fake.url()).await;
    let secret = minted(fake.control("mint", json!({"tenant": "acme"})));
    let key = core
        .keys()
        .import_local(&account, secret.clone(), named("templates"))
        .await
        .expect("imported")
        .meta
        .id;

    fake.control("set_tenant", json!({"tenant": "acme", "suspended": true}));
    let suspended = core.keys().check(&account, &key).await.expect("check");
    assert_eq!(suspended.verdict, Verdict::Limited);
    assert!(
        suspended.message.contains("403") && suspended.message.contains("suspended"),
        "{}",
        suspended.message
    );

    fake.control("set_tenant", json!({"tenant": "acme", "suspended": false}));
    fake.control("revoke", json!({"secret": secret.expose()}));
    let revoked = core.keys().check(&account, &key).await.expect("check");
    assert_eq!(revoked.verdict, Verdict::Refused);
    assert!(
        revoked.message.contains("Ananke Console"),
        "{}",
        revoked.message
    );
}

#[tokio::test]
async fn wanikani_tokens_keep_their_permissions_and_expiry() {
    let fake = Fake::start("wanikani");
    let data = tempfile::tempdir().expect("tempdir");
    let core = core(data.path()).await;
    let account = add(&core, ConnectorKind::Wanikani, fake.url()).await;
    let secret = minted(fake.control(
        "mint",
        json!({"user": "koichi", "name": "anki sync", "permissions": ["reviews:create"]}),
    ));
    let expires = chrono::Utc::now() + chrono::Duration::days(30);
    let view = core
        .keys()
        .import_local(
            &account,
            secret.clone(),
            ImportOptions {
                scopes: vec!["reviews:create".into(), " ".into()],
                expires_at: Some(expires),
                ..named("anki sync")
            },
        )
        .await
        .expect("imported");
    assert_eq!(view.meta.scopes, ["reviews:create"]);
    assert_eq!(view.meta.expires_at, Some(expires));
    assert_eq!(
        view.meta.prefix.len(),
        4,
        "no documented prefix: four characters"
    );
    assert_eq!(view.check.map(|c| c.verdict), Some(Verdict::Works));

    fake.control("delete", json!({"secret": secret.expose()}));
    let check = core
        .keys()
        .check(&account, &view.meta.id)
        .await
        .expect("check");
    assert_eq!(check.verdict, Verdict::Refused);
    assert!(check.message.contains("WaniKani"), "{}", check.message);
}

#[tokio::test]
async fn a_generic_key_is_sent_in_the_header_given_and_checked_at_the_url_given() {
    let fake = Fake::start("wanikani");
    let data = tempfile::tempdir().expect("tempdir");
    let core = core(data.path()).await;

    // A generic account names its service's URL.
    let err = core
        .accounts()
        .add(NewAccount {
            kind: ConnectorKind::Generic,
            name: "mine".into(),
            url: None,
            allow_http: false,
            tier: None,
        })
        .await
        .expect_err("no url");
    assert!(
        matches!(err, Error::Validation { ref field, .. } if field == "url"),
        "{err:?}"
    );
    let account = add(&core, ConnectorKind::Generic, fake.url()).await;
    let secret = minted(fake.control("mint", json!({"user": "ann", "name": "generic"})));

    let err = core
        .keys()
        .import_local(&account, secret.clone(), named("no header"))
        .await
        .expect_err("header needed");
    assert!(
        matches!(err, Error::Validation { ref field, .. } if field == "header"),
        "{err:?}"
    );
    let bad_header = ImportOptions {
        presentation: Some(Presentation {
            header: "Not A Header".into(),
            value_prefix: String::new(),
            verify_url: None,
        }),
        ..named("bad")
    };
    let err = core
        .keys()
        .import_local(&account, secret.clone(), bad_header)
        .await
        .expect_err("bad header");
    assert!(
        matches!(err, Error::Validation { ref field, .. } if field == "header"),
        "{err:?}"
    );

    // Without a check URL it cannot be checked, so it is kept only unverified.
    let unchecked = ImportOptions {
        presentation: Some(Presentation {
            header: "Authorization".into(),
            value_prefix: "Bearer ".into(),
            verify_url: None,
        }),
        ..named("unchecked")
    };
    let err = core
        .keys()
        .import_local(&account, secret.clone(), unchecked)
        .await
        .expect_err("cannot check");
    assert!(err.to_string().contains("No check URL"), "{err}");

    let checked = ImportOptions {
        presentation: Some(Presentation {
            header: "Authorization".into(),
            value_prefix: "Bearer ".into(),
            verify_url: Some(format!("{}/v2/user", fake.url())),
        }),
        ..named("checked")
    };
    let view = core
        .keys()
        .import_local(&account, secret.clone(), checked)
        .await
        .expect("imported");
    assert_eq!(view.check.map(|c| c.verdict), Some(Verdict::Works));
    fake.control("delete", json!({"secret": secret.expose()}));
    assert_eq!(
        core.keys()
            .check(&account, &view.meta.id)
            .await
            .expect("check")
            .verdict,
        Verdict::Refused
    );
}

#[tokio::test]
async fn accounts_without_sign_in_are_checked_when_added() {
    let data = tempfile::tempdir().expect("tempdir");
    let core = core(data.path()).await;
    let new = |kind, name: &str, tier| NewAccount {
        kind,
        name: name.into(),
        url: None,
        allow_http: false,
        tier,
    };
    // The documented host by default.
    let account = core
        .accounts()
        .add(new(ConnectorKind::Anikura, "work", None))
        .await
        .expect("added");
    assert!(
        matches!(&account.service, keyhaven_core::ServiceRef::Url { url, .. } if url == "https://api.anikura.io/"),
        "{:?}",
        account.service
    );
    assert_eq!(account.tier, Some(Tier::Free), "free unless said");
    assert_eq!(
        core.accounts().active().map(|a| a.id),
        Some(account.id.clone())
    );
    for (request, field) in [
        (new(ConnectorKind::Anikura, "work", None), "name"),
        (new(ConnectorKind::Anikura, " ", None), "name"),
        (new(ConnectorKind::Ananke, "x", Some(Tier::Indie)), "tier"),
        (new(ConnectorKind::Native, "x", None), "kind"),
        (new(ConnectorKind::Tokenkit, "x", None), "kind"),
    ] {
        let err = core.accounts().add(request).await.expect_err("refused");
        assert!(
            matches!(err, Error::Validation { field: ref f, .. } if f == field),
            "{field}: {err:?}"
        );
    }
    // Plain http:// to another host: refused without the person's override (SECURITY 18).
    let mut remote = new(ConnectorKind::Ananke, "remote", None);
    remote.url = Some("http://ananke.example".into());
    assert_eq!(
        core.accounts().add(remote).await.expect_err("http").code(),
        ErrorKind::InsecureUrl
    );
}

#[test]
fn a_prefix_two_services_share_names_both() {
    let kinds = |text: &str| suggest_kinds(&Secret::new(text.into()));
    assert_eq!(
        kinds("ak_live_abc"),
        [ConnectorKind::Anikura, ConnectorKind::Ananke]
    );
    assert_eq!(kinds("kh_live_abc"), [ConnectorKind::Native]);
    assert!(kinds("0f3b2c1d-uuid").is_empty());
}
