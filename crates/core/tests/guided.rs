//! Guided rotation of keys of services with no key API, against their contract fakes: the new
//! key pasted, checked, stored and put in use; the old one confirmed refused before the rotation
//! is done; interrupted rotations resume where they stopped.

mod common;

use keyhaven_core::local_keys::Presentation;
use keyhaven_core::vault::names;
use keyhaven_core::{
    ConnectorKind, Error, GuidedOutcome, GuidedStep, ImportOptions, Keyhaven, NewAccount, Secret,
    Vault,
};
use keyhaven_testkit::fake::Fake;
use keyhaven_testkit::record_secret;
use serde_json::json;

use common::core_on;

fn minted(fake: &Fake, args: serde_json::Value) -> Secret {
    let text = fake.control("mint", args)["secret"]
        .as_str()
        .expect("secret")
        .to_string();
    record_secret(&text);
    Secret::new(text)
}

async fn account(core: &Keyhaven, kind: ConnectorKind, url: &str) -> String {
    core.accounts()
        .add(NewAccount {
            kind,
            name: "work".into(),
            url: Some(url.into()),
            allow_http: false,
            tier: None,
        })
        .await
        .expect("account")
        .id
}

async fn import(core: &Keyhaven, account: &str, secret: &Secret, options: ImportOptions) -> String {
    core.keys()
        .import_local(account, secret.clone(), options)
        .await
        .expect("imported")
        .meta
        .id
}

fn named(name: &str) -> ImportOptions {
    ImportOptions {
        name: name.into(),
        ..ImportOptions::default()
    }
}

#[tokio::test]
async fn a_guided_rotation_switches_to_the_pasted_key_and_ends_when_the_old_one_is_refused() {
    a_guided_rotation_switches_to_the_pasted_key_and_ends_when_the_old_one_is_refused_on(
        Vault::in_memory(),
    )
    .await;
}

/// The same on the real Secret Service (gnome-keyring), with its entries removed afterwards.
#[tokio::test]
async fn a_guided_rotation_switches_to_the_pasted_key_and_ends_when_the_old_one_is_refused_on_the_real_keychain(
) {
    let namespace = common::unique("dev.keyhaven.test");
    let vault = common::real_keychain(&namespace);
    a_guided_rotation_switches_to_the_pasted_key_and_ends_when_the_old_one_is_refused_on(
        vault.clone(),
    )
    .await;
    common::empty_keychain(&vault);
}

async fn a_guided_rotation_switches_to_the_pasted_key_and_ends_when_the_old_one_is_refused_on(
    vault: Vault,
) {
    let fake = Fake::start("wanikani");
    let data = tempfile::tempdir().expect("tempdir");
    let core = core_on(data.path(), &vault).await;
    let acc = account(&core, ConnectorKind::Wanikani, fake.url()).await;
    let old = minted(&fake, json!({"user": "koichi", "name": "sync"}));
    let old_id = import(
        &core,
        &acc,
        &old,
        ImportOptions {
            scopes: vec!["reviews:create".into()],
            ..named("sync")
        },
    )
    .await;

    let started = core
        .rotation()
        .begin_guided(&acc, &old_id)
        .await
        .expect("begin");
    assert_eq!(started.step, GuidedStep::NewKey);
    assert!(
        started.instructions().contains("WaniKani's settings"),
        "{}",
        started.instructions()
    );
    // Asked again (the window reopened): the same rotation, not a second one.
    let again = core
        .rotation()
        .begin_guided(&acc, &old_id)
        .await
        .expect("again");
    assert_eq!(again.id, started.id);

    // Stopped here and started again: the journal says where it was.
    drop(core);
    let core = core_on(data.path(), &vault).await;
    let pending = core.rotation().guided().expect("pending");
    assert_eq!(pending.len(), 1);
    assert_eq!(
        (pending[0].id.as_str(), pending[0].step),
        (started.id.as_str(), GuidedStep::NewKey)
    );

    // The old key pasted back, or a key WaniKani refuses: not taken.
    let err = core
        .rotation()
        .guided_new_key(&started.id, old.clone(), false)
        .await
        .expect_err("old key");
    assert!(err.to_string().contains("is the old key"), "{err}");
    let err = core
        .rotation()
        .guided_new_key(
            &started.id,
            Secret::new("00000000-not-a-token".into()),
            false,
        )
        .await
        .expect_err("refused");
    assert!(matches!(err, Error::Unauthorized { .. }), "{err:?}");

    let new = minted(&fake, json!({"user": "koichi", "name": "sync 2"}));
    let switched = core
        .rotation()
        .guided_new_key(&started.id, new.clone(), false)
        .await
        .expect("new key");
    assert_eq!(switched.step, GuidedStep::DeleteOld);
    let new_id = switched.new_key_id.clone().expect("new id");
    // Whatever reads the old key now gets the new one, with the old one's name and scopes.
    assert!(core
        .keys()
        .secret(&acc, &old_id)
        .await
        .expect("secret")
        .constant_time_eq(&new));
    assert_eq!(core.keys().current_id(&acc, &old_id).expect("id"), new_id);
    let listed = core.keys().list(&acc).await.expect("list");
    let shown = listed.iter().find(|k| k.meta.id == new_id).expect("listed");
    assert_eq!(shown.meta.name, "sync");
    assert_eq!(shown.meta.scopes, ["reviews:create"]);
    assert_eq!(shown.meta.replaces.as_deref(), Some(old_id.as_str()));

    // Not deleted yet: WaniKani still takes the old key, so the rotation waits.
    let outcome = core
        .rotation()
        .guided_confirm_deleted(&started.id, false)
        .await
        .expect("confirm");
    let GuidedOutcome::Waiting { message, .. } = outcome else {
        panic!("{outcome:?}");
    };
    assert!(message.contains("still accepts the old key"), "{message}");
    // Even the person's word does not override a service that still takes the key.
    assert!(matches!(
        core.rotation()
            .guided_confirm_deleted(&started.id, true)
            .await
            .expect("confirm"),
        GuidedOutcome::Waiting { .. }
    ));

    fake.control("delete", json!({"secret": old.expose()}));
    let done = core
        .rotation()
        .guided_confirm_deleted(&started.id, false)
        .await
        .expect("confirm");
    assert!(
        matches!(done, GuidedOutcome::Completed { ref new_key_id, .. } if *new_key_id == new_id),
        "{done:?}"
    );
    assert!(core.rotation().guided().expect("pending").is_empty());
    let listed = core.keys().list(&acc).await.expect("list");
    assert_eq!(
        listed
            .iter()
            .map(|k| k.meta.id.as_str())
            .collect::<Vec<_>>(),
        [new_id.as_str()]
    );
    assert!(!vault
        .contains(&core.profile(), &names::key(&acc, &old_id))
        .await
        .expect("vault"));
}

#[tokio::test]
async fn a_keychain_that_refuses_the_new_key_leaves_the_rotation_waiting_for_it() {
    let fake = Fake::start("anikura");
    let data = tempfile::tempdir().expect("tempdir");
    let (vault, faults) = Vault::in_memory_with_faults();
    let core = core_on(data.path(), &vault).await;
    let acc = account(&core, ConnectorKind::Anikura, fake.url()).await;
    let old = minted(&fake, json!({"account": "ann", "tier": "indie"}));
    let old_id = import(&core, &acc, &old, named("scraper")).await;
    let rotation = core
        .rotation()
        .begin_guided(&acc, &old_id)
        .await
        .expect("begin");
    let new = minted(&fake, json!({"account": "ann"}));
    fake.control("advance", json!({"seconds": 2}));
    faults.refuse_writes(true);
    let err = core
        .rotation()
        .guided_new_key(&rotation.id, new.clone(), false)
        .await
        .expect_err("keychain refuses");
    assert!(
        matches!(
            err.code(),
            keyhaven_core::ErrorKind::Keychain | keyhaven_core::ErrorKind::KeychainUnavailable
        ),
        "{err:?}"
    );
    faults.clear();
    let waiting = &core.rotation().guided().expect("pending")[0];
    assert_eq!(waiting.step, GuidedStep::NewKey);
    assert!(core
        .keys()
        .secret(&acc, &old_id)
        .await
        .expect("old")
        .constant_time_eq(&old));
    assert_eq!(
        core.keys().list(&acc).await.expect("list").len(),
        1,
        "no half-stored key"
    );

    // Pasted again once the keychain works: in use.
    fake.control("advance", json!({"seconds": 2}));
    let switched = core
        .rotation()
        .guided_new_key(&rotation.id, new, false)
        .await
        .expect("new key");
    assert_eq!(switched.step, GuidedStep::DeleteOld);

    // Cancelled after the switch: both keys stay, the new one in use.
    core.rotation()
        .cancel_guided(&rotation.id)
        .await
        .expect("cancel");
    assert!(core.rotation().guided().expect("pending").is_empty());
    assert_eq!(core.keys().list(&acc).await.expect("list").len(), 2);
}

#[tokio::test]
async fn ananke_keeps_the_rotation_open_while_the_old_key_is_only_limited() {
    let fake = Fake::start("ananke");
    let data = tempfile::tempdir().expect("tempdir");
    let core = core_on(data.path(), &Vault::in_memory()).await;
    let acc = account(&core, ConnectorKind::Ananke, fake.url()).await;
    let old = minted(&fake, json!({"tenant": "acme"}));
    let old_id = import(&core, &acc, &old, named("templates")).await;
    let rotation = core
        .rotation()
        .begin_guided(&acc, &old_id)
        .await
        .expect("begin");
    let new = minted(&fake, json!({"tenant": "acme"}));
    core.rotation()
        .guided_new_key(&rotation.id, new, false)
        .await
        .expect("two keys alive at once");
    // A suspended tenant answers 403 to every key: that is not the old key refused.
    fake.control("set_tenant", json!({"tenant": "acme", "suspended": true}));
    let outcome = core
        .rotation()
        .guided_confirm_deleted(&rotation.id, false)
        .await
        .expect("confirm");
    assert!(
        matches!(outcome, GuidedOutcome::Waiting { .. }),
        "{outcome:?}"
    );
    fake.control("set_tenant", json!({"tenant": "acme", "suspended": false}));
    fake.control("revoke", json!({"secret": old.expose()}));
    let outcome = core
        .rotation()
        .guided_confirm_deleted(&rotation.id, false)
        .await
        .expect("confirm");
    assert!(
        matches!(outcome, GuidedOutcome::Completed { .. }),
        "{outcome:?}"
    );
}

#[tokio::test]
async fn a_generic_key_without_a_check_url_completes_on_the_persons_word() {
    let data = tempfile::tempdir().expect("tempdir");
    let core = core_on(data.path(), &Vault::in_memory()).await;
    let acc = account(&core, ConnectorKind::Generic, "https://api.example.com").await;
    let presentation = Presentation {
        header: "X-Token".into(),
        value_prefix: String::new(),
        verify_url: None,
    };
    let old = Secret::new("generic-old-secret-0001".into());
    record_secret(old.expose());
    let old_id = import(
        &core,
        &acc,
        &old,
        ImportOptions {
            presentation: Some(presentation),
            unverified: true,
            ..named("legacy")
        },
    )
    .await;
    let rotation = core
        .rotation()
        .begin_guided(&acc, &old_id)
        .await
        .expect("begin");
    let new = Secret::new("generic-new-secret-0002".into());
    record_secret(new.expose());
    let err = core
        .rotation()
        .guided_new_key(&rotation.id, new.clone(), false)
        .await
        .expect_err("cannot be checked");
    assert!(err.to_string().contains("could not be checked"), "{err}");
    core.rotation()
        .guided_new_key(&rotation.id, new, true)
        .await
        .expect("taken unverified");
    let outcome = core
        .rotation()
        .guided_confirm_deleted(&rotation.id, false)
        .await
        .expect("confirm");
    assert!(
        matches!(outcome, GuidedOutcome::Waiting { .. }),
        "{outcome:?}"
    );
    let outcome = core
        .rotation()
        .guided_confirm_deleted(&rotation.id, true)
        .await
        .expect("confirm");
    assert!(
        matches!(outcome, GuidedOutcome::Completed { .. }),
        "{outcome:?}"
    );
    // Kept the header the old key was sent in.
    let kept = core.keys().list(&acc).await.expect("list");
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0].meta.name, "legacy");
}

#[tokio::test]
async fn keys_keyhaven_can_rotate_itself_are_not_guided() {
    let data = tempfile::tempdir().expect("tempdir");
    let core = core_on(data.path(), &Vault::in_memory()).await;
    let svc = common::Svc::start(|_| {}).await;
    svc.user("ann@example.com", keyhaven_api::Role::Owner, "Ann's")
        .await;
    let account = common::sign_in(&core, &svc, "ann@example.com").await;
    let err = core
        .rotation()
        .begin_guided(&account.id, "key_1")
        .await
        .expect_err("native");
    assert!(
        err.to_string().contains("rotated by Keyhaven itself"),
        "{err}"
    );
}

/// The process stopped while switching (the journal says `switching`): what it finds decides.
/// The new key's secret and record both here: the switch completes. Either missing: back to
/// waiting for the new key, with nothing half-stored left.
#[tokio::test]
async fn a_rotation_stopped_while_switching_resumes_from_what_it_finds() {
    let fake = Fake::start("wanikani");
    let data = tempfile::tempdir().expect("tempdir");
    let vault = Vault::in_memory();
    let core = core_on(data.path(), &vault).await;
    let acc = account(&core, ConnectorKind::Wanikani, fake.url()).await;
    let old = minted(&fake, json!({"user": "koichi", "name": "a"}));
    let old_id = import(&core, &acc, &old, named("a")).await;
    let rotation = core
        .rotation()
        .begin_guided(&acc, &old_id)
        .await
        .expect("begin");
    let new = minted(&fake, json!({"user": "koichi", "name": "b"}));
    let switched = core
        .rotation()
        .guided_new_key(&rotation.id, new, false)
        .await
        .expect("switched");
    let new_id = switched.new_key_id.clone().expect("new id");
    let journal = data
        .path()
        .join("profiles")
        .join(core.profile())
        .join("guided-rotations")
        .join(format!("{}.json", rotation.id));
    let set_step = |step: &str| {
        let mut value: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&journal).expect("journal"))
                .expect("json");
        value["step"] = json!(step);
        std::fs::write(&journal, value.to_string()).expect("write");
    };

    set_step("switching");
    drop(core);
    let core = core_on(data.path(), &vault).await;
    let resumed = core
        .rotation()
        .guided_new_key(&rotation.id, Secret::new("ignored".into()), false)
        .await
        .expect("resumed");
    assert_eq!(resumed.step, GuidedStep::DeleteOld);
    assert_eq!(resumed.new_key_id.as_deref(), Some(new_id.as_str()));

    // Its secret lost with the process: back to waiting, the record gone too.
    set_step("switching");
    vault
        .delete(&core.profile(), &names::key(&acc, &new_id))
        .await
        .expect("delete");
    let outcome = core
        .rotation()
        .guided_confirm_deleted(&rotation.id, false)
        .await
        .expect("confirm");
    let GuidedOutcome::Waiting { rotation: back, .. } = outcome else {
        panic!("{outcome:?}");
    };
    assert_eq!((back.step, back.new_key_id), (GuidedStep::NewKey, None));
    let ids: Vec<String> = core
        .keys()
        .list(&acc)
        .await
        .expect("list")
        .into_iter()
        .map(|k| k.meta.id)
        .collect();
    assert_eq!(ids, std::slice::from_ref(&old_id));
    assert_eq!(core.keys().current_id(&acc, &old_id).expect("id"), old_id);
    assert!(core
        .keys()
        .secret(&acc, &old_id)
        .await
        .expect("old")
        .constant_time_eq(&old));
}

/// Animus lists and revokes keys but makes them only in its app: the new key is the one that
/// appears in its list, and Keyhaven revokes the old one itself once the new one is in use.
#[tokio::test]
async fn an_animus_rotation_finds_the_new_key_in_the_list_and_revokes_the_old_one() {
    let fake = Fake::start("animus");
    let data = tempfile::tempdir().expect("tempdir");
    let core = core_on(data.path(), &Vault::in_memory()).await;
    let jwt = fake.control("session", json!({"account": "ann"}))["jwt"]
        .as_str()
        .expect("jwt")
        .to_string();
    record_secret(&jwt);
    let account = core
        .accounts()
        .sign_in_to(
            ConnectorKind::Animus,
            keyhaven_core::ServiceRef::url(fake.url()),
            "work",
            Secret::new(jwt),
            None,
            false,
        )
        .await
        .expect("sign in")
        .id;
    let mint = |name: &str| {
        let made = fake.control(
            "mint",
            json!({"account": "ann", "name": name, "scopes": ["read", "search"]}),
        );
        let secret = made["secret"].as_str().expect("secret").to_string();
        record_secret(&secret);
        (
            made["id"].as_str().expect("id").to_string(),
            Secret::new(secret),
        )
    };
    let (old_id, old) = mint("deploy");
    core.keys()
        .import_listed(&account, old.clone(), Some("deploy"), None)
        .await
        .expect("imported");
    let rotation = core
        .rotation()
        .begin_guided(&account, &old_id)
        .await
        .expect("begin");
    assert!(rotation.listed);
    assert!(
        rotation.instructions().contains("the Animus app"),
        "{}",
        rotation.instructions()
    );

    // Pasted before the key was made there: nothing new is listed.
    let (_, stray) = (
        String::new(),
        Secret::new("anm_not_made_yet_000000000000".into()),
    );
    let err = core
        .rotation()
        .guided_new_key(&rotation.id, stray, false)
        .await
        .expect_err("nothing new");
    assert!(err.to_string().contains("lists no key made since"), "{err}");

    let (new_id, new) = mint("deploy");
    let switched = core
        .rotation()
        .guided_new_key(&rotation.id, new.clone(), false)
        .await
        .expect("switched");
    assert_eq!(switched.new_key_id.as_deref(), Some(new_id.as_str()));
    assert!(switched
        .instructions()
        .contains("Keyhaven revokes the old key"));
    assert!(core
        .keys()
        .secret(&account, &old_id)
        .await
        .expect("secret")
        .constant_time_eq(&new));

    let done = core
        .rotation()
        .guided_confirm_deleted(&rotation.id, false)
        .await
        .expect("confirm");
    assert!(matches!(done, GuidedOutcome::Completed { .. }), "{done:?}");
    let listed: Vec<String> = core
        .keys()
        .list(&account)
        .await
        .expect("list")
        .into_iter()
        .map(|k| k.meta.id)
        .collect();
    assert_eq!(listed, [new_id], "the old key is revoked on Animus");
}

/// Faults at each step of a guided rotation, as the native rotation is tested: the service away,
/// the keychain locked, the keychain refusing writes, when the new key is pasted and when the old
/// one's deletion is confirmed. Each time a working key stays in use, nothing is half-stored, and
/// once the fault passes the same rotation goes on to completion.
#[tokio::test]
async fn a_guided_rotation_survives_each_fault_at_each_step() {
    #[derive(Debug, Clone, Copy)]
    enum Fault {
        ServiceDown,
        KeychainLocked,
        KeychainRefusesWrites,
    }
    let fake = Fake::start("wanikani");
    for fault in [
        Fault::ServiceDown,
        Fault::KeychainLocked,
        Fault::KeychainRefusesWrites,
    ] {
        for at_confirm in [false, true] {
            let label = format!(
                "{fault:?} at {}",
                if at_confirm { "confirm" } else { "paste" }
            );
            let data = tempfile::tempdir().expect("tempdir");
            let (vault, faults) = Vault::in_memory_with_faults();
            let core = core_on(data.path(), &vault).await;
            let acc = account(&core, ConnectorKind::Wanikani, fake.url()).await;
            let old = minted(&fake, json!({"user": "koichi", "name": "sync"}));
            let old_id = import(&core, &acc, &old, named("sync")).await;
            let rotation = core
                .rotation()
                .begin_guided(&acc, &old_id)
                .await
                .expect("begin");
            let new = minted(&fake, json!({"user": "koichi", "name": "sync 2"}));
            let inject = |on: bool| match fault {
                Fault::ServiceDown => {
                    fake.control("outage", json!({"on": on}));
                }
                Fault::KeychainLocked => faults.lock(on),
                Fault::KeychainRefusesWrites => faults.refuse_writes(on),
            };
            if at_confirm {
                core.rotation()
                    .guided_new_key(&rotation.id, new.clone(), false)
                    .await
                    .expect("switched");
                fake.control("delete", json!({"secret": old.expose()}));
                inject(true);
                let result = core
                    .rotation()
                    .guided_confirm_deleted(&rotation.id, false)
                    .await;
                inject(false);
                assert!(
                    !matches!(result, Ok(GuidedOutcome::Completed { .. })),
                    "{label}: completed through the fault: {result:?}"
                );
                // The new key is in use throughout.
                let in_use = core.keys().secret(&acc, &old_id).await.expect("secret");
                assert!(in_use.constant_time_eq(&new), "{label}");
            } else {
                inject(true);
                let result = core
                    .rotation()
                    .guided_new_key(&rotation.id, new.clone(), false)
                    .await;
                inject(false);
                assert!(result.is_err(), "{label}: took the key through the fault");
                // Nothing half-stored: the old key is in use, the rotation waits for the new one.
                let in_use = core.keys().secret(&acc, &old_id).await.expect("secret");
                assert!(in_use.constant_time_eq(&old), "{label}");
                assert_eq!(
                    core.keys().list(&acc).await.expect("list").len(),
                    1,
                    "{label}"
                );
                let waiting = &core.rotation().guided().expect("pending")[0];
                assert_eq!(waiting.step, GuidedStep::NewKey, "{label}");
                core.rotation()
                    .guided_new_key(&rotation.id, new.clone(), false)
                    .await
                    .expect("switched once the fault passed");
                fake.control("delete", json!({"secret": old.expose()}));
            }
            // The fault passed: the same rotation completes.
            let done = core
                .rotation()
                .guided_confirm_deleted(&rotation.id, false)
                .await
                .expect("confirm");
            assert!(
                matches!(done, GuidedOutcome::Completed { .. }),
                "{label}: {done:?}"
            );
            let ids: Vec<String> = core
                .keys()
                .list(&acc)
                .await
                .expect("list")
                .into_iter()
                .map(|k| k.meta.id)
                .collect();
            assert_eq!(ids.len(), 1, "{label}");
            assert_ne!(ids[0], old_id, "{label}");
        }
    }
}
