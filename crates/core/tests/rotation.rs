//! Rotation against the real key service: the stories (with the real Secret Service for the
//! main one), and fault injection at every step — the process dying before or after a step's
//! effect, the service unreachable, the keychain refusing writes or locked, the new key failing
//! verification — after which the old key still works or the new one is stored and works,
//! checked by calling the service with each secret.

mod common;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use keyhaven_api::{KeyMeta, KeyStatus, Role};
use keyhaven_core::rotation::faults::{FaultAction, FaultContext, FaultHook, FaultPoint};
use keyhaven_core::vault::names;
use keyhaven_core::{
    Connector, Error, ErrorKind, Grace, Keyhaven, Method, NativeConnector, RotateOptions,
    RotationMethod, RotationOutcome, RotationProgress, RotationStep, Secret, StepStatus, Vault,
    VaultChoice,
};

use common::{core_on, files_containing, ping_status, sign_in, Svc};

fn options(method: RotationMethod, grace: Grace) -> RotateOptions {
    RotateOptions { grace, method }
}

/// Collects progress reports.
#[derive(Default)]
struct Events(Mutex<Vec<RotationProgress>>);

impl Events {
    fn sink(&self) -> impl Fn(&RotationProgress) + Send + Sync + '_ {
        move |p: &RotationProgress| self.0.lock().expect("events").push(p.clone())
    }

    fn steps(&self, status: StepStatus) -> Vec<RotationStep> {
        self.0
            .lock()
            .expect("events")
            .iter()
            .filter(|p| p.status == status)
            .map(|p| p.step)
            .collect()
    }
}

async fn session(core: &Keyhaven, account: &str) -> Secret {
    core.vault()
        .get(&core.profile(), &names::session(account))
        .await
        .expect("read")
        .expect("session stored")
}

async fn keys_on_service(url: &str, token: &Secret) -> Vec<KeyMeta> {
    NativeConnector::new(url)
        .expect("connector")
        .list_keys(token, None)
        .await
        .expect("list keys")
}

fn completed(outcome: &RotationOutcome) -> (&KeyMeta, Method) {
    match outcome {
        RotationOutcome::Completed {
            new_key, method, ..
        } => (new_key, *method),
        other => panic!("expected a completed rotation, got {other:?}"),
    }
}

#[tokio::test]
async fn a_rotation_with_the_real_keychain_replaces_verifies_switches_and_revokes() {
    let svc = Svc::start(|_| {}).await;
    svc.user("ann@example.com", Role::Owner, "Acme").await;
    let data = tempfile::tempdir().expect("tempdir");
    let namespace = common::unique("dev.keyhaven.test");
    let keychain = common::real_keychain(&namespace);
    let core = Keyhaven::open(common::config(
        data.path(),
        VaultChoice::SecretService,
        &namespace,
    ))
    .await
    .expect("core");
    let ann = sign_in(&core, &svc, "ann@example.com").await;
    let old = core
        .keys()
        .create(&ann.id, common::key_request("deploy"))
        .await
        .expect("create");
    assert!(old.stored_in_keychain);

    let events = Events::default();
    let outcome = core
        .rotation()
        .rotate(
            &ann.id,
            &old.meta.id,
            options(RotationMethod::Auto, Grace::None),
            &events.sink(),
        )
        .await
        .expect("rotate");
    let (new, method) = completed(&outcome);
    assert_eq!(method, Method::Replace);
    assert_eq!(new.name, "deploy");
    assert_eq!(new.scopes, old.meta.scopes);
    assert_ne!(new.id, old.meta.id);
    // Every step reported, in order, started then done.
    assert_eq!(events.steps(StepStatus::Started), RotationStep::ALL);
    let done: Vec<RotationStep> = events.steps(StepStatus::Done);
    assert_eq!(&done[..7], &RotationStep::ALL);
    assert!(events.steps(StepStatus::Failed).is_empty());

    // The new secret is in the real keychain and works; the old id leads to it.
    let profile = core.profile();
    let stored = keychain
        .get(&profile, &names::key(&ann.id, &new.id))
        .await
        .expect("read")
        .expect("new secret in the keychain");
    assert_eq!(ping_status(&svc.url(), stored.expose()).await, 200);
    assert_eq!(
        core.keys()
            .secret(&ann.id, &old.meta.id)
            .await
            .expect("via old id"),
        stored
    );
    assert_eq!(
        core.keys().current_id(&ann.id, &old.meta.id).expect("id"),
        new.id
    );
    // The old key is revoked and its secret gone from the keychain.
    assert_eq!(ping_status(&svc.url(), old.secret.expose()).await, 401);
    assert_eq!(
        keychain
            .get(&profile, &names::key(&ann.id, &old.meta.id))
            .await
            .expect("read"),
        None
    );
    let listed = core.keys().list(&ann.id).await.expect("list");
    let by_id: BTreeMap<&str, bool> = listed
        .iter()
        .map(|k| (k.meta.id.as_str(), k.stored_locally))
        .collect();
    assert_eq!(by_id.get(new.id.as_str()), Some(&true));
    assert_eq!(by_id.get(old.meta.id.as_str()), Some(&false));
    assert!(core.rotation().pending().expect("pending").is_empty());
    for secret in [old.secret.expose(), stored.expose()] {
        assert!(files_containing(data.path(), secret).is_empty());
    }
    keychain
        .delete(&profile, &names::key(&ann.id, &new.id))
        .await
        .expect("cleanup");
}

#[tokio::test]
async fn grace_periods_keep_the_old_key_working_by_roll_or_by_expiry() {
    let svc = Svc::start(|_| {}).await;
    svc.user("ann@example.com", Role::Owner, "Acme").await;
    let data = tempfile::tempdir().expect("tempdir");
    let core = common::core(data.path()).await;
    let ann = sign_in(&core, &svc, "ann@example.com").await;
    let url = svc.url();

    // A roll: the service keeps the old key alive for the hour, marked expiring.
    let old = core
        .keys()
        .create(&ann.id, common::key_request("rolled"))
        .await
        .expect("create");
    let before = chrono::Utc::now();
    let outcome = core
        .rotation()
        .rotate(
            &ann.id,
            &old.meta.id,
            options(RotationMethod::Roll, Grace::OneHour),
            &|_| {},
        )
        .await
        .expect("roll");
    let (new, method) = completed(&outcome);
    assert_eq!(method, Method::Roll);
    let RotationOutcome::Completed {
        old_key_expires_at, ..
    } = &outcome
    else {
        unreachable!()
    };
    let ends = old_key_expires_at.expect("grace end");
    assert!(
        ends > before + chrono::Duration::minutes(59)
            && ends < before + chrono::Duration::minutes(61)
    );
    assert_eq!(
        ping_status(&url, old.secret.expose()).await,
        200,
        "old works in its grace"
    );
    let new_secret = core.keys().secret(&ann.id, &new.id).await.expect("new");
    assert_eq!(ping_status(&url, new_secret.expose()).await, 200);
    let old_meta = core
        .keys()
        .get(&ann.id, &old.meta.id, None)
        .await
        .expect("old");
    assert_eq!(old_meta.status, KeyStatus::Expiring);

    // A replacement with a grace period: the old key is set to expire after it.
    let old = core
        .keys()
        .create(&ann.id, common::key_request("replaced"))
        .await
        .expect("create");
    let outcome = core
        .rotation()
        .rotate(
            &ann.id,
            &old.meta.id,
            options(RotationMethod::Auto, Grace::OneDay),
            &|_| {},
        )
        .await
        .expect("replace");
    let (new, method) = completed(&outcome);
    assert_eq!(method, Method::Replace);
    let old_meta = core
        .keys()
        .get(&ann.id, &old.meta.id, None)
        .await
        .expect("old");
    let ends = old_meta.expires_at.expect("expiry set");
    assert!(ends > chrono::Utc::now() + chrono::Duration::hours(23));
    assert_eq!(ping_status(&url, old.secret.expose()).await, 200);
    let new_secret = core
        .keys()
        .secret(&ann.id, &old.meta.id)
        .await
        .expect("via old id");
    assert_eq!(
        core.keys().current_id(&ann.id, &old.meta.id).expect("id"),
        new.id
    );
    assert_eq!(ping_status(&url, new_secret.expose()).await, 200);
}

#[tokio::test]
async fn at_the_key_cap_rotations_are_refused_and_refusals_change_nothing() {
    let svc = Svc::start(|c| c.max_active_keys = 2).await;
    svc.user("ann@example.com", Role::Owner, "Acme").await;
    svc.user("sue@example.com", Role::Support, "Acme").await;
    let data = tempfile::tempdir().expect("tempdir");
    let core = common::core(data.path()).await;
    let ann = sign_in(&core, &svc, "ann@example.com").await;
    let old = core
        .keys()
        .create(&ann.id, common::key_request("only"))
        .await
        .expect("create");
    let other = core
        .keys()
        .create(&ann.id, common::key_request("other"))
        .await
        .expect("create");

    // At the cap, every way of rotating needs one more key for a while (a key in its grace
    // period counts): undone, the old key untouched.
    for (method, grace) in [
        (RotationMethod::Auto, Grace::None),
        (RotationMethod::Auto, Grace::OneHour),
        (RotationMethod::Roll, Grace::OneHour),
    ] {
        let outcome = core
            .rotation()
            .rotate(&ann.id, &old.meta.id, options(method, grace), &|_| {})
            .await
            .expect("outcome");
        match &outcome {
            RotationOutcome::RolledBack { reason, .. } => {
                assert_eq!(
                    reason.code,
                    ErrorKind::KeyLimitReached,
                    "{method:?} {grace:?}"
                )
            }
            other => panic!("expected a rollback, got {other:?}"),
        }
        assert_eq!(ping_status(&svc.url(), old.secret.expose()).await, 200);
        assert!(core.rotation().pending().expect("pending").is_empty());
    }

    // With room for one more, a roll goes through.
    core.keys()
        .revoke(&ann.id, &other.meta.id)
        .await
        .expect("revoke");
    let outcome = core
        .rotation()
        .rotate(
            &ann.id,
            &old.meta.id,
            options(RotationMethod::Roll, Grace::OneHour),
            &|_| {},
        )
        .await
        .expect("rotate");
    let (new, method) = completed(&outcome);
    assert_eq!(method, Method::Roll);
    let new_secret = core.keys().secret(&ann.id, &new.id).await.expect("stored");
    assert_eq!(ping_status(&svc.url(), new_secret.expose()).await, 200);

    // Refused before anything changes.
    let err = core
        .rotation()
        .rotate(
            &ann.id,
            &new.id,
            options(RotationMethod::Roll, Grace::None),
            &|_| {},
        )
        .await
        .expect_err("roll without grace");
    assert!(
        matches!(err, Error::Validation { ref field, .. } if field == "grace"),
        "{err:?}"
    );
    let err = core
        .rotation()
        .rotate(
            &ann.id,
            &old.meta.id,
            options(RotationMethod::Replace, Grace::None),
            &|_| {},
        )
        .await
        .expect_err("an expiring key");
    assert!(
        matches!(err, Error::Validation { ref field, .. } if field == "key"),
        "{err:?}"
    );
    let sue = sign_in(&core, &svc, "sue@example.com").await;
    let err = core
        .rotation()
        .rotate(&sue.id, &new.id, RotateOptions::default(), &|_| {})
        .await
        .expect_err("support");
    assert_eq!(err.code(), ErrorKind::Forbidden);
    assert!(core.rotation().pending().expect("pending").is_empty());
}

#[tokio::test]
async fn one_rotation_per_key_at_a_time_and_a_refusing_keychain_stops_it_first() {
    let svc = Svc::start(|_| {}).await;
    svc.user("ann@example.com", Role::Owner, "Acme").await;
    let data = tempfile::tempdir().expect("tempdir");
    let (vault, faults) = Vault::in_memory_with_faults();
    let core = core_on(data.path(), &vault).await;
    let ann = sign_in(&core, &svc, "ann@example.com").await;
    let old = core
        .keys()
        .create(&ann.id, common::key_request("busy"))
        .await
        .expect("create");
    let token = session(&core, &ann.id).await;
    let keys_before = keys_on_service(&svc.url(), &token).await.len();

    // The keychain refuses: nothing is created on the service.
    faults.refuse_writes(true);
    let err = core
        .rotation()
        .rotate(&ann.id, &old.meta.id, RotateOptions::default(), &|_| {})
        .await
        .expect_err("keychain");
    assert_eq!(err.code(), ErrorKind::KeychainUnavailable);
    assert_eq!(keys_on_service(&svc.url(), &token).await.len(), keys_before);
    assert!(core.rotation().pending().expect("pending").is_empty());
    faults.clear();

    // A second rotation of the same key while one runs is refused.
    let second: Arc<Mutex<Option<Error>>> = Arc::default();
    let (inner, seen, key) = (core.clone(), second.clone(), old.meta.id.clone());
    let account = ann.id.clone();
    let hook: FaultHook = Arc::new(move |ctx: FaultContext| {
        let (inner, seen, key, account) =
            (inner.clone(), seen.clone(), key.clone(), account.clone());
        Box::pin(async move {
            if ctx.point == FaultPoint::Before(RotationStep::Verify) {
                let r = inner
                    .rotation()
                    .rotate(&account, &key, RotateOptions::default(), &|_| {})
                    .await;
                *seen.lock().expect("seen") = r.err();
                // And the pending list shows the one in progress.
                let pending = inner.rotation().pending().expect("pending");
                assert_eq!(pending.len(), 1);
                assert_eq!(pending[0].step, RotationStep::Verify);
            }
            FaultAction::Continue
        })
    });
    core.rotation().set_fault_hook(Some(hook));
    let outcome = core
        .rotation()
        .rotate(&ann.id, &old.meta.id, RotateOptions::default(), &|_| {})
        .await
        .expect("rotate");
    completed(&outcome);
    let err = second.lock().expect("seen").take().expect("refused");
    assert!(matches!(err, Error::RotationInProgress { .. }), "{err:?}");
    assert_eq!(err.code(), ErrorKind::Conflict);
}

#[tokio::test]
async fn a_profile_locked_mid_rotation_pauses_it_and_unlocking_finishes_it() {
    let svc = Svc::start(|_| {}).await;
    svc.user("ann@example.com", Role::Owner, "Acme").await;
    let data = tempfile::tempdir().expect("tempdir");
    let core = common::core(data.path()).await;
    let ann = sign_in(&core, &svc, "ann@example.com").await;
    let passphrase = || Secret::new("a long and careful passphrase".into());
    core.profiles()
        .set_passphrase(passphrase())
        .await
        .expect("passphrase");
    let url = svc.url();
    for (method, grace, at) in [
        (RotationMethod::Roll, Grace::OneHour, RotationStep::Store),
        (RotationMethod::Replace, Grace::None, RotationStep::Retire),
    ] {
        let old = core
            .keys()
            .create(&ann.id, common::key_request("locked"))
            .await
            .expect("create");
        let inner = core.clone();
        let fired = Arc::new(AtomicBool::new(false));
        let once = fired.clone();
        let hook: FaultHook = Arc::new(move |ctx: FaultContext| {
            let (inner, once) = (inner.clone(), once.clone());
            Box::pin(async move {
                if ctx.point == FaultPoint::Before(at) && !once.swap(true, Ordering::SeqCst) {
                    inner.profiles().lock().expect("lock");
                }
                FaultAction::Continue
            })
        });
        core.rotation().set_fault_hook(Some(hook));
        let outcome = core
            .rotation()
            .rotate(&ann.id, &old.meta.id, options(method, grace), &|_| {})
            .await
            .expect("outcome");
        match &outcome {
            RotationOutcome::Pending { reason, .. } => {
                assert_eq!(reason.code, ErrorKind::Locked, "{method:?}: {outcome:?}")
            }
            other => panic!("{method:?}: expected a pause, got {other:?}"),
        }
        assert_eq!(
            ping_status(&url, old.secret.expose()).await,
            200,
            "{method:?}"
        );
        // Still locked: resuming waits.
        let again = core.rotation().resume(&|_| {}).await.expect("resume");
        assert!(
            matches!(again[..], [RotationOutcome::Pending { .. }]),
            "{again:?}"
        );
        core.profiles().unlock(passphrase()).await.expect("unlock");
        let done = core.rotation().resume(&|_| {}).await.expect("resume");
        let (new, _) = completed(&done[0]);
        let secret = core
            .keys()
            .secret(&ann.id, &old.meta.id)
            .await
            .expect("switched");
        assert_eq!(
            core.keys().current_id(&ann.id, &old.meta.id).expect("id"),
            new.id
        );
        assert_eq!(ping_status(&url, secret.expose()).await, 200, "{method:?}");
        assert!(core.rotation().pending().expect("pending").is_empty());
    }
}

// ---------------------------------------------------------------------------------------------
// Fault injection at every step.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    /// The process dies when the step is journaled, before its effect.
    CrashBefore,
    /// The process dies right after the step's effect, before the journal records it.
    CrashAfter,
    /// The service stops answering from this step on (until the test brings it back).
    ServiceDown,
    /// The keychain refuses writes and deletes from this step on.
    KeychainRefusesWrites,
    /// The keychain refuses everything (locked) from this step on.
    KeychainLocked,
    /// The new key is revoked behind Keyhaven's back, so its verification fails.
    VerificationFails,
}

impl Fault {
    const AT_EVERY_STEP: [Fault; 5] = [
        Fault::CrashBefore,
        Fault::CrashAfter,
        Fault::ServiceDown,
        Fault::KeychainRefusesWrites,
        Fault::KeychainLocked,
    ];

    fn point(self, step: RotationStep) -> FaultPoint {
        match self {
            Fault::CrashAfter => FaultPoint::After(step),
            _ => FaultPoint::Before(step),
        }
    }
}

/// How a case ended after recovery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum End {
    /// Refused before anything changed.
    Refused,
    RolledBack,
    Completed,
}

struct Case {
    method: RotationMethod,
    grace: Grace,
    step: RotationStep,
    fault: Fault,
}

struct Shared {
    svc: Arc<tokio::sync::Mutex<Svc>>,
    url: String,
}

/// The promise: the old key works, or the new one is stored and works. Returns which.
async fn a_key_works(
    url: &str,
    vault: &Vault,
    profile: &str,
    account: &str,
    old_id: &str,
    old_secret: &Secret,
    token: &Secret,
) -> (bool, bool) {
    let old_works = ping_status(url, old_secret.expose()).await == 200;
    let mut new_works = false;
    for key in keys_on_service(url, token).await {
        if key.id == old_id {
            continue;
        }
        if let Some(secret) = vault
            .get(profile, &names::key(account, &key.id))
            .await
            .expect("read vault")
        {
            if ping_status(url, secret.expose()).await == 200 {
                new_works = true;
            }
        }
    }
    (old_works, new_works)
}

async fn run_case(shared: &Shared, n: usize, case: &Case) -> End {
    let label = format!(
        "case {n}: {:?} grace {} — {:?} at {:?}",
        case.method,
        case.grace.as_str(),
        case.fault,
        case.fault.point(case.step)
    );
    let email = format!("case{n}@example.com");
    shared
        .svc
        .lock()
        .await
        .user(&email, Role::Owner, &format!("Tenant {n}"))
        .await;
    let data = tempfile::tempdir().expect("tempdir");
    let (vault, faults) = Vault::in_memory_with_faults();
    let core = core_on(data.path(), &vault).await;
    let svc_ref = shared.svc.lock().await.service_ref();
    let account = core
        .accounts()
        .sign_in(svc_ref, &email, Secret::new(common::PASSWORD.into()), true)
        .await
        .expect("sign in");
    let old = core
        .keys()
        .create(
            &account.id,
            keyhaven_api::CreateKeyRequest {
                name: "rotated".into(),
                scopes: vec!["read".into(), "search".into()],
                allowed_origins: Some(vec!["https://app.example.com".into()]),
                rate_limit_per_hour: Some(1000),
                ..Default::default()
            },
        )
        .await
        .expect("create");
    let old_secret = old.secret.clone();
    let token = session(&core, &account.id).await;
    let profile = core.profile();

    let fired = Arc::new(AtomicBool::new(false));
    let point = case.fault.point(case.step);
    let fault = case.fault;
    let (svc, url, faults_in, fired_in, token_in) = (
        shared.svc.clone(),
        shared.url.clone(),
        faults.clone(),
        fired.clone(),
        token.clone(),
    );
    let hook: FaultHook = Arc::new(move |ctx: FaultContext| {
        let (svc, url, faults, fired, token) = (
            svc.clone(),
            url.clone(),
            faults_in.clone(),
            fired_in.clone(),
            token_in.clone(),
        );
        Box::pin(async move {
            if ctx.point != point || fired.swap(true, Ordering::SeqCst) {
                return FaultAction::Continue;
            }
            match fault {
                Fault::CrashBefore | Fault::CrashAfter => return FaultAction::Crash,
                Fault::ServiceDown => svc.lock().await.stop().await,
                Fault::KeychainRefusesWrites => faults.refuse_writes(true),
                Fault::KeychainLocked => faults.lock(true),
                Fault::VerificationFails => {
                    let new = ctx.new_key_id.expect("a new key to verify");
                    NativeConnector::new(&url)
                        .expect("connector")
                        .revoke_key(&token, &new)
                        .await
                        .expect("revoke behind Keyhaven's back");
                }
            }
            FaultAction::Continue
        })
    });
    core.rotation().set_fault_hook(Some(hook));
    let events = Events::default();
    let result = core
        .rotation()
        .rotate(
            &account.id,
            &old.meta.id,
            options(case.method, case.grace),
            &events.sink(),
        )
        .await;
    assert!(
        fired.load(Ordering::SeqCst),
        "{label}: the fault point was never reached"
    );
    let crashed = matches!(case.fault, Fault::CrashBefore | Fault::CrashAfter);
    if crashed {
        let err = result.as_ref().expect_err("a crash ends the call");
        assert!(matches!(err, Error::TaskFailed { .. }), "{label}: {err:?}");
    }
    let first = match &result {
        Ok(RotationOutcome::Completed { .. }) => Some(End::Completed),
        Ok(RotationOutcome::RolledBack { .. }) => Some(End::RolledBack),
        Ok(RotationOutcome::Pending { .. }) => None,
        Err(_) if crashed => None,
        Err(e) => {
            assert!(
                case.step == RotationStep::Prepare,
                "{label}: refused after prepare: {e:?}"
            );
            Some(End::Refused)
        }
    };
    // Events never carry a secret.
    for e in events.0.lock().expect("events").iter() {
        assert!(!e.message.contains(old_secret.expose()), "{label}");
    }

    // The fault passes: the service answers again, the keychain works.
    shared.svc.lock().await.restart().await;
    faults.clear();
    let (old_works, new_works) = a_key_works(
        &shared.url,
        &vault,
        &profile,
        &account.id,
        &old.meta.id,
        &old_secret,
        &token,
    )
    .await;
    assert!(
        old_works || new_works,
        "{label}: right after the fault neither key works ({result:?})"
    );

    // As after a restart: a fresh core on the same folder and keychain resumes.
    drop(core);
    let core = core_on(data.path(), &vault).await;
    let resumed = core
        .rotation()
        .resume(&events.sink())
        .await
        .expect("resume");
    let end = match first {
        Some(end) => {
            assert!(
                resumed.is_empty(),
                "{label}: nothing to resume, got {resumed:?}"
            );
            end
        }
        None => {
            assert_eq!(resumed.len(), 1, "{label}: {resumed:?}");
            match &resumed[0] {
                RotationOutcome::Completed { .. } => End::Completed,
                RotationOutcome::RolledBack { .. } => End::RolledBack,
                RotationOutcome::Pending { .. } => {
                    panic!("{label}: still pending once everything works: {resumed:?}")
                }
            }
        }
    };
    assert!(
        core.rotation().pending().expect("pending").is_empty(),
        "{label}"
    );

    // The end state, checked against the service.
    let url = &shared.url;
    let keys = keys_on_service(url, &token).await;
    let live: Vec<&KeyMeta> = keys
        .iter()
        .filter(|k| matches!(k.status, KeyStatus::Active | KeyStatus::Expiring))
        .collect();
    match end {
        End::Refused | End::RolledBack => {
            assert_eq!(
                ping_status(url, old_secret.expose()).await,
                200,
                "{label}: old key"
            );
            assert_eq!(
                core.keys()
                    .secret(&account.id, &old.meta.id)
                    .await
                    .expect("old stored"),
                old_secret,
                "{label}"
            );
            assert_eq!(
                live.iter().map(|k| k.id.as_str()).collect::<Vec<_>>(),
                vec![old.meta.id.as_str()],
                "{label}: no other key left alive"
            );
        }
        End::Completed => {
            let new_id = core
                .keys()
                .current_id(&account.id, &old.meta.id)
                .expect("link");
            assert_ne!(new_id, old.meta.id, "{label}: consumers switched");
            let new_secret = core
                .keys()
                .secret(&account.id, &old.meta.id)
                .await
                .expect("new stored");
            assert_eq!(
                ping_status(url, new_secret.expose()).await,
                200,
                "{label}: new key"
            );
            let old_status = ping_status(url, old_secret.expose()).await;
            if case.grace == Grace::None {
                assert_eq!(old_status, 401, "{label}: old key revoked");
            } else {
                assert_eq!(
                    old_status, 200,
                    "{label}: old key works in its grace period"
                );
            }
            assert_eq!(
                vault
                    .get(&profile, &names::key(&account.id, &old.meta.id))
                    .await
                    .expect("read"),
                None,
                "{label}: old secret removed"
            );
            let mut alive: Vec<&str> = live.iter().map(|k| k.id.as_str()).collect();
            alive.sort();
            let mut expected = vec![new_id.as_str()];
            if case.grace != Grace::None {
                expected.push(old.meta.id.as_str());
            }
            expected.sort();
            assert_eq!(alive, expected, "{label}: no orphan key left alive");
            let new_meta = keys.iter().find(|k| k.id == new_id).expect("new listed");
            assert_eq!(new_meta.scopes, old.meta.scopes, "{label}: same settings");
            assert_eq!(
                new_meta.allowed_origins, old.meta.allowed_origins,
                "{label}"
            );
        }
    }
    // Nothing on disk holds a secret.
    for secret in [&old_secret, &token] {
        assert!(
            files_containing(data.path(), secret.expose()).is_empty(),
            "{label}"
        );
    }
    for key in &keys {
        if let Some(s) = vault
            .get(&profile, &names::key(&account.id, &key.id))
            .await
            .expect("read")
        {
            assert!(
                files_containing(data.path(), s.expose()).is_empty(),
                "{label}"
            );
        }
    }
    end
}

/// What each case should end as, where the design fixes it: a crash before the new secret is
/// stored undoes a replacement (a roll that happened goes forward with a replacement); from the
/// stored secret on, the rotation completes.
fn expected(case: &Case) -> Option<End> {
    use RotationStep::*;
    let crash = matches!(case.fault, Fault::CrashBefore | Fault::CrashAfter);
    if !crash {
        return None;
    }
    let after_store = matches!(
        (case.fault, case.step),
        (Fault::CrashAfter, Store) | (_, Verify | Switch | Retire | Cleanup)
    );
    let rolled = case.method == RotationMethod::Roll
        && matches!(
            (case.fault, case.step),
            (Fault::CrashAfter, Create) | (Fault::CrashBefore, Store)
        );
    Some(if after_store || rolled {
        End::Completed
    } else {
        End::RolledBack
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_step_survives_every_fault_with_a_working_key() {
    let svc = Svc::start(|_| {}).await;
    let shared = Shared {
        url: svc.url(),
        svc: Arc::new(tokio::sync::Mutex::new(svc)),
    };
    let configs = [
        (RotationMethod::Replace, Grace::None),
        (RotationMethod::Replace, Grace::OneHour),
        (RotationMethod::Roll, Grace::OneHour),
    ];
    let mut cases = Vec::new();
    for (method, grace) in configs {
        for step in RotationStep::ALL {
            for fault in Fault::AT_EVERY_STEP {
                cases.push(Case {
                    method,
                    grace,
                    step,
                    fault,
                });
            }
        }
        cases.push(Case {
            method,
            grace,
            step: RotationStep::Verify,
            fault: Fault::VerificationFails,
        });
    }
    let mut table: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    let mut ends: BTreeMap<End, usize> = BTreeMap::new();
    for (n, case) in cases.iter().enumerate() {
        let end = run_case(&shared, n, case).await;
        if let Some(want) = expected(case) {
            assert_eq!(
                end,
                want,
                "case {n}: {:?} grace {} {:?} at {:?}",
                case.method,
                case.grace.as_str(),
                case.fault,
                case.step
            );
        }
        *ends.entry(end).or_default() += 1;
        table
            .entry((
                format!("{:?}/{}", case.method, case.grace.as_str()),
                format!("{:?}", case.step),
            ))
            .or_default()
            .push(format!("{:?}→{:?}", case.fault, end));
    }
    for ((config, step), row) in &table {
        println!("{config:<14} {step:<8} {}", row.join("  "));
    }
    println!(
        "rotation fault injection: {} step × fault cases ran ({} methods × {} steps × {} faults, + {} verification failures); every one left a working key ({:?})",
        cases.len(),
        configs.len(),
        RotationStep::ALL.len(),
        Fault::AT_EVERY_STEP.len(),
        configs.len(),
        ends
    );
    assert_eq!(cases.len(), 3 * 7 * 5 + 3);
}

/// A roll cut short (the process died right after the service rolled, so the new secret was
/// lost) and resumed only after the old key's grace period ended: the resume makes a
/// replacement, instead of falling back to a key that no longer works (SECURITY 21).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_roll_resumed_after_its_grace_period_ends_with_a_working_replacement() {
    let manual = keyhaven_service::ManualClock::starting_now();
    let clock: Arc<dyn keyhaven_service::Clock> = Arc::new(manual.clone());
    let svc = Svc::start_with_clock(|_| {}, Some(clock)).await;
    svc.user("ann@example.com", Role::Owner, "Acme").await;
    let data = tempfile::tempdir().expect("tempdir");
    let vault = Vault::in_memory();
    let core = core_on(data.path(), &vault).await;
    let ann = sign_in(&core, &svc, "ann@example.com").await;
    let old = core
        .keys()
        .create(&ann.id, common::key_request("deploy"))
        .await
        .expect("create");
    let hook: FaultHook = Arc::new(|ctx: FaultContext| {
        Box::pin(async move {
            if ctx.point == FaultPoint::After(RotationStep::Create) {
                FaultAction::Crash
            } else {
                FaultAction::Continue
            }
        })
    });
    core.rotation().set_fault_hook(Some(hook));
    let crashed = core
        .rotation()
        .rotate(
            &ann.id,
            &old.meta.id,
            options(RotationMethod::Roll, Grace::OneHour),
            &|_| {},
        )
        .await;
    assert!(
        matches!(crashed, Err(Error::TaskFailed { .. })),
        "{crashed:?}"
    );
    drop(core);

    // Two hours later: the old key's grace period is over.
    manual.advance(2 * 3_600);
    assert_eq!(ping_status(&svc.url(), old.secret.expose()).await, 401);
    let core = core_on(data.path(), &vault).await;
    let resumed = core.rotation().resume(&|_| {}).await.expect("resume");
    let (new, method) = completed(&resumed[0]);
    assert_eq!(method, Method::Replace, "a replacement, not a fallback");
    let secret = core
        .keys()
        .secret(&ann.id, &old.meta.id)
        .await
        .expect("the old id leads to the replacement");
    assert_eq!(ping_status(&svc.url(), secret.expose()).await, 200);
    assert_eq!(new.name, "deploy");
    assert!(core.rotation().pending().expect("pending").is_empty());
}
