//! A TokenKit account against the contract fake (`tests/fakes/tokenkit.py`, from TokenKit's
//! document): sign-in with a user name and an API key of the account's, keys listed without
//! their values, created with origins, IPs and an hourly limit, checked with one call, deleted;
//! what TokenKit cannot do is refused before any request.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use keyhaven_api::CreateKeyRequest;
use keyhaven_core::connector::{http_client, HttpPolicy, PingCall};
use keyhaven_core::rotation::faults::{FaultAction, FaultContext, FaultHook, FaultPoint};
use keyhaven_core::vault::names;
use keyhaven_core::{
    Connector, ConnectorKind, Error, ErrorKind, Grace, Keyhaven, RotateOptions, RotationMethod,
    RotationOutcome, RotationStep, Secret, ServiceRef, TokenkitConnector, Vault,
};
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
        .accounts()
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
        .accounts()
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
    assert!(core.accounts().list().is_empty());

    // A user name, not an email: TokenKit takes either.
    let account = core
        .accounts()
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

    let caps = core.accounts().capabilities(&account.id).expect("caps");
    assert!(caps.list_keys && caps.create_key && caps.revoke_key && caps.ping);
    assert!(!caps.update_key && !caps.roll_key && !caps.key_usage && !caps.key_settings);

    let listed = core.keys().list(&account.id).await.expect("list");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].meta.name, "dashboard");

    // Create with the settings TokenKit takes: they reach it as sent.
    // TokenKit keys have no scopes: asking for some is refused before any request.
    let scoped = CreateKeyRequest {
        name: "scoped".into(),
        scopes: vec!["read".into()],
        ..CreateKeyRequest::default()
    };
    let err = core
        .keys()
        .create(&account.id, scoped)
        .await
        .expect_err("no scopes");
    assert!(
        matches!(err, Error::Validation { ref field, .. } if field == "scopes"),
        "{err:?}"
    );
    let request = CreateKeyRequest {
        name: "indexer-cron".into(),
        allowed_ips: Some(vec!["127.0.0.1".into()]),
        rate_limit_per_hour: Some(10_000),
        ..CreateKeyRequest::default()
    };
    let created = core
        .keys()
        .create(&account.id, request)
        .await
        .expect("create");
    record_secret(created.secret.expose());
    assert!(created.stored_in_keychain);
    let held = fake.control("key", json!({"key_id": created.meta.id}));
    assert_eq!(held["allowed_ips"], json!(["127.0.0.1"]));
    assert_eq!(held["rate_limit_per_hour"], json!(10_000));
    let listed = core.keys().list(&account.id).await.expect("list");
    assert_eq!(listed.len(), 2);
    assert!(listed
        .iter()
        .any(|k| k.meta.id == created.meta.id && k.stored_locally));

    // One cheap call says the key works; deleted, it is refused.
    core.keys()
        .ping(&account.id, &created.meta.id)
        .await
        .expect("works");
    core.keys()
        .revoke(&account.id, &created.meta.id)
        .await
        .expect("delete");
    assert_eq!(
        fake.control("key", json!({"key_id": created.meta.id}))["found"],
        json!(false)
    );
    assert_eq!(core.keys().list(&account.id).await.expect("list").len(), 1);

    // What TokenKit cannot do is refused before any request, saying so.
    let err = core
        .rotation()
        .rotate(&account.id, &listed[0].meta.id, Default::default(), &|_| {})
        .await
        .expect_err("no replacement without the key's settings");
    assert_eq!(err.code(), ErrorKind::Forbidden, "{err}");
    assert!(err.to_string().contains("not made with Keyhaven"), "{err}");
    let err = core
        .keys()
        .update(
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
    core.accounts()
        .sign_out(&account.id)
        .await
        .expect("sign out");
    core.accounts()
        .sign_in_again(&account.id, Secret::new(PASSWORD.into()), false)
        .await
        .expect("again");
    assert_eq!(core.keys().list(&account.id).await.expect("list").len(), 1);

    // Removing the account forgets its key too.
    core.accounts()
        .remove(&account.id, &account.id)
        .await
        .expect("remove");
    assert!(core
        .vault()
        .get(&core.profile(), &names::account_key(&account.id))
        .await
        .expect("read")
        .is_none());
}

// ---------------------------------------------------------------------------------------------
// Rotation by a twin: TokenKit has no roll and lists keys without their settings, so Keyhaven
// keeps the settings of the keys it makes and copies them into the twin.

fn twin_request() -> CreateKeyRequest {
    CreateKeyRequest {
        name: "indexer".into(),
        allowed_origins: Some(vec!["https://app.example.com".into()]),
        allowed_ips: Some(vec!["127.0.0.1".into()]),
        rate_limit_per_hour: Some(1_000),
        ..CreateKeyRequest::default()
    }
}

async fn tokenkit_account(core: &Keyhaven, fake: &Fake, user: &str) -> (String, Secret) {
    fake.control("add-user", json!({"username": user, "password": PASSWORD}));
    let dashboard = fake.control("mint", json!({"username": user, "name": "dashboard"}))["key"]
        .as_str()
        .expect("key")
        .to_string();
    record_secret(&dashboard);
    let account = core
        .accounts()
        .sign_in_to(
            ConnectorKind::Tokenkit,
            ServiceRef::url(fake.url()),
            user,
            Secret::new(PASSWORD.into()),
            Some(Secret::new(dashboard.clone())),
            true,
        )
        .await
        .expect("sign in");
    (account.id, Secret::new(dashboard))
}

async fn works(fake: &Fake, secret: &Secret) -> bool {
    TokenkitConnector::with_policy(
        fake.url(),
        HttpPolicy::LoopbackOnly,
        http_client().expect("http"),
    )
    .expect("connector")
    .ping(secret, &PingCall::default())
    .await
    .is_ok()
}

#[tokio::test]
async fn a_tokenkit_key_made_with_keyhaven_rotates_to_a_twin_with_its_settings() {
    let fake = Fake::start("tokenkit");
    let data = tempfile::tempdir().expect("tempdir");
    let core = core(data.path()).await;
    let (account, dashboard) = tokenkit_account(&core, &fake, USER).await;
    let old = core
        .keys()
        .create(&account, twin_request())
        .await
        .expect("create");
    record_secret(old.secret.expose());

    // Listed with the settings Keyhaven kept (TokenKit's list has none).
    let listed = core.keys().list(&account).await.expect("list");
    let shown = listed
        .iter()
        .find(|k| k.meta.id == old.meta.id)
        .expect("listed");
    assert_eq!(shown.meta.allowed_ips, ["127.0.0.1"]);
    assert_eq!(shown.meta.rate_limit_per_hour, Some(1_000));

    // No grace period on TokenKit (no expiry to set): refused before anything changes.
    let err = core
        .rotation()
        .rotate(
            &account,
            &old.meta.id,
            RotateOptions {
                grace: Grace::OneHour,
                method: RotationMethod::Replace,
            },
            &|_| {},
        )
        .await
        .expect_err("no grace");
    assert_eq!(err.code(), ErrorKind::Forbidden, "{err}");

    let outcome = core
        .rotation()
        .rotate(&account, &old.meta.id, RotateOptions::default(), &|_| {})
        .await
        .expect("rotate");
    let RotationOutcome::Completed { new_key, .. } = outcome else {
        panic!("{outcome:?}");
    };
    let twin = fake.control("key", json!({"key_id": new_key.id}));
    assert_eq!(twin["allowed_ips"], json!(["127.0.0.1"]));
    assert_eq!(twin["allowed_origins"], json!(["https://app.example.com"]));
    assert_eq!(twin["rate_limit_per_hour"], json!(1_000));
    assert_eq!(twin["name"], json!("indexer"));
    assert_eq!(
        fake.control("key", json!({"key_id": old.meta.id}))["found"],
        json!(false),
        "the old key is deleted"
    );
    let now = core
        .keys()
        .secret(&account, &old.meta.id)
        .await
        .expect("followed");
    assert!(!now.constant_time_eq(&old.secret) && works(&fake, &now).await);
    assert!(!works(&fake, &old.secret).await);
    assert!(
        works(&fake, &dashboard).await,
        "the account's own key is untouched"
    );

    // The twin is a key Keyhaven made: it rotates again.
    core.rotation()
        .rotate(&account, &new_key.id, RotateOptions::default(), &|_| {})
        .await
        .expect("rotate the twin");
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    CrashBefore,
    CrashAfter,
    ServiceDown,
    KeychainRefusesWrites,
    KeychainLocked,
    VerificationFails,
}

/// The same promise as the native rotation's fault injection (`tests/rotation.rs`), on TokenKit:
/// after any fault at any step, and a resume, the old key works or its twin is stored, works and
/// has its settings; no other key is left alive.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_twin_rotation_survives_every_fault_with_a_working_key() {
    let fake = Fake::start("tokenkit");
    let mut cases = Vec::new();
    for step in RotationStep::ALL {
        for fault in [
            Fault::CrashBefore,
            Fault::CrashAfter,
            Fault::ServiceDown,
            Fault::KeychainRefusesWrites,
            Fault::KeychainLocked,
        ] {
            cases.push((step, fault));
        }
    }
    cases.push((RotationStep::Verify, Fault::VerificationFails));
    let mut ends: std::collections::BTreeMap<&str, usize> = Default::default();
    for (n, (step, fault)) in cases.iter().copied().enumerate() {
        let label = format!("case {n}: {fault:?} at {step:?}");
        // Checking deleted keys counts as failures from this IP: start each case past TokenKit's
        // five-minute window, so that its IP block does not end the next one.
        fake.control("advance", json!({"seconds": 600}));
        let data = tempfile::tempdir().expect("tempdir");
        let (vault, faults) = Vault::in_memory_with_faults();
        let core = common::core_on(data.path(), &vault).await;
        let (account, _) = tokenkit_account(&core, &fake, &format!("user{n}")).await;
        let old = core
            .keys()
            .create(&account, twin_request())
            .await
            .expect("create");
        record_secret(old.secret.expose());
        let session = core
            .vault()
            .get(&core.profile(), &names::session(&account))
            .await
            .expect("read")
            .expect("session");
        let point = match fault {
            Fault::CrashAfter => FaultPoint::After(step),
            _ => FaultPoint::Before(step),
        };
        let fired = Arc::new(AtomicBool::new(false));
        let (fired_in, faults_in, url, session_in) = (
            fired.clone(),
            faults.clone(),
            fake.url().to_string(),
            session.clone(),
        );
        let hook: FaultHook = Arc::new(move |ctx: FaultContext| {
            let (fired, faults, url, session) = (
                fired_in.clone(),
                faults_in.clone(),
                url.clone(),
                session_in.clone(),
            );
            Box::pin(async move {
                if ctx.point != point || fired.swap(true, Ordering::SeqCst) {
                    return FaultAction::Continue;
                }
                match fault {
                    Fault::CrashBefore | Fault::CrashAfter => return FaultAction::Crash,
                    Fault::ServiceDown => {
                        control(&url, "outage", json!({"on": true})).await;
                    }
                    Fault::KeychainRefusesWrites => faults.refuse_writes(true),
                    Fault::KeychainLocked => faults.lock(true),
                    Fault::VerificationFails => {
                        let new = ctx.new_key_id.expect("a new key to verify");
                        TokenkitConnector::with_policy(
                            &url,
                            HttpPolicy::LoopbackOnly,
                            http_client().expect("http"),
                        )
                        .expect("connector")
                        .revoke_key(&session, &new)
                        .await
                        .expect("deleted behind Keyhaven's back");
                    }
                }
                FaultAction::Continue
            })
        });
        core.rotation().set_fault_hook(Some(hook));
        let result = core
            .rotation()
            .rotate(&account, &old.meta.id, RotateOptions::default(), &|_| {})
            .await;
        assert!(fired.load(Ordering::SeqCst), "{label}: never reached");
        fake.control("outage", json!({"on": false}));
        faults.clear();
        drop(core);
        let core = common::core_on(data.path(), &vault).await;
        let resumed = core.rotation().resume(&|_| {}).await.expect("resume");
        let end = match (&result, resumed.first()) {
            (_, Some(RotationOutcome::Completed { .. }))
            | (Ok(RotationOutcome::Completed { .. }), None) => "completed",
            (_, Some(RotationOutcome::RolledBack { .. }))
            | (Ok(RotationOutcome::RolledBack { .. }), None) => "rolled back",
            (Err(e), None) if step == RotationStep::Prepare => {
                assert!(
                    !matches!(e, Error::TaskFailed { .. })
                        || fault == Fault::CrashBefore
                        || fault == Fault::CrashAfter,
                    "{label}: {e:?}"
                );
                "refused"
            }
            other => panic!("{label}: {other:?}"),
        };
        assert!(
            core.rotation().pending().expect("pending").is_empty(),
            "{label}"
        );
        *ends.entry(end).or_default() += 1;

        // What is alive on TokenKit: the account's own key, and exactly one of old or twin.
        let now = core
            .keys()
            .secret(&account, &old.meta.id)
            .await
            .expect("a secret");
        assert!(works(&fake, &now).await, "{label}: the key in use works");
        let keys = core.keys().list(&account).await.expect("list");
        let others: Vec<_> = keys.iter().filter(|k| k.meta.name != "dashboard").collect();
        assert_eq!(others.len(), 1, "{label}: one key alive: {others:?}");
        let alive = &others[0].meta;
        if end == "completed" {
            assert_ne!(alive.id, old.meta.id, "{label}");
            assert!(!works(&fake, &old.secret).await, "{label}: old deleted");
            let twin = fake.control("key", json!({"key_id": alive.id}));
            assert_eq!(twin["allowed_ips"], json!(["127.0.0.1"]), "{label}");
            assert_eq!(twin["rate_limit_per_hour"], json!(1_000), "{label}");
        } else {
            assert_eq!(alive.id, old.meta.id, "{label}");
            assert!(now.constant_time_eq(&old.secret), "{label}");
        }
    }
    println!(
        "TokenKit twin rotation, fault injection: {} step × fault cases, each left a working key ({ends:?})",
        cases.len()
    );
}

/// A control call from inside the rotation's hook (the blocking helper would stall the runtime).
async fn control(url: &str, name: &str, args: serde_json::Value) {
    reqwest::Client::new()
        .post(format!("{url}/_fake/{name}"))
        .json(&args)
        .send()
        .await
        .expect("control")
        .error_for_status()
        .expect("control ok");
}
