//! Two cores on one profile, as the app and the CLI are (the OS locks that guard the profile's
//! files belong to open files, so two cores in one process exclude each other as two processes
//! do; `crates/cli/tests/processes.rs` runs real processes): a rotation in progress is left to
//! its holder, and read-modify-writes of the catalog and the key records lose nothing.

mod common;

use std::sync::Arc;

use keyhaven_api::{KeyStatus, Role};
use keyhaven_core::rotation::faults::{FaultAction, FaultContext, FaultHook, FaultPoint};
use keyhaven_core::{
    ConnectorKind, ErrorKind, Keyhaven, NewAccount, RotateOptions, RotationOutcome, RotationStep,
    Vault,
};

use common::{core_on, ping_status, sign_in, Svc};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotation_one_core_holds_is_left_to_it_by_another() {
    let svc = Svc::start(|_| {}).await;
    svc.user("ann@example.com", Role::Owner, "Acme").await;
    let data = tempfile::tempdir().expect("tempdir");
    let vault = Vault::in_memory();
    let app = core_on(data.path(), &vault).await;
    let ann = sign_in(&app, &svc, "ann@example.com").await;
    let old = app
        .keys()
        .create(&ann.id, common::key_request("deploy"))
        .await
        .expect("create");

    // The app's rotation stops before verifying, until the test lets it go on.
    let (reached_tx, reached) = tokio::sync::oneshot::channel::<()>();
    let (go, go_rx) = tokio::sync::oneshot::channel::<()>();
    let once = Arc::new(std::sync::Mutex::new(Some((reached_tx, go_rx))));
    let hook: FaultHook = Arc::new(move |ctx: FaultContext| {
        let once = once.clone();
        Box::pin(async move {
            if ctx.point == FaultPoint::Before(RotationStep::Verify) {
                let taken = once.lock().expect("hook").take();
                if let Some((reached, go)) = taken {
                    let _ = reached.send(());
                    let _ = go.await;
                }
            }
            FaultAction::Continue
        })
    });
    app.rotation().set_fault_hook(Some(hook));
    let rotating = {
        let (app, account, key) = (app.clone(), ann.id.clone(), old.meta.id.clone());
        tokio::spawn(async move {
            app.rotation()
                .rotate(&account, &key, RotateOptions::default(), &|_| {})
                .await
        })
    };
    reached.await.expect("the rotation reached verify");
    // A command started in a terminal now, on the same profile.
    let cli = core_on(data.path(), &vault).await;

    // The other core finds the journal but leaves it to its holder, and cannot start its own.
    assert_eq!(cli.rotation().pending().expect("pending").len(), 1);
    let resumed = cli.rotation().resume(&|_| {}).await.expect("resume");
    assert!(resumed.is_empty(), "left alone: {resumed:?}");
    let err = cli
        .rotation()
        .rotate(&ann.id, &old.meta.id, RotateOptions::default(), &|_| {})
        .await
        .expect_err("in progress");
    assert_eq!(err.code(), ErrorKind::Conflict, "{err}");

    go.send(()).expect("go on");
    let outcome = rotating.await.expect("task").expect("rotate");
    let RotationOutcome::Completed { new_key, .. } = outcome else {
        panic!("{outcome:?}");
    };
    // One new key, made by the holder, working; nothing for the other core to finish.
    assert!(cli
        .rotation()
        .resume(&|_| {})
        .await
        .expect("resume")
        .is_empty());
    let secret = cli
        .keys()
        .secret(&ann.id, &old.meta.id)
        .await
        .expect("secret");
    assert_eq!(ping_status(&svc.url(), secret.expose()).await, 200);
    let live: Vec<_> = cli
        .keys()
        .list(&ann.id)
        .await
        .expect("list")
        .into_iter()
        .filter(|k| k.meta.status == KeyStatus::Active)
        .map(|k| k.meta.id)
        .collect();
    assert_eq!(live, [new_key.id]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catalog_and_key_record_writes_from_two_cores_lose_nothing() {
    let data = tempfile::tempdir().expect("tempdir");
    let vault = Vault::in_memory();
    let a = core_on(data.path(), &vault).await;
    let b = core_on(data.path(), &vault).await;
    let add = |core: Keyhaven, n: usize| async move {
        core.accounts()
            .add(NewAccount {
                kind: ConnectorKind::Generic,
                name: format!("service {n}"),
                url: Some("https://api.example.com".into()),
                allow_http: false,
                tier: None,
            })
            .await
            .expect("added")
    };
    let mut tasks = Vec::new();
    for n in 0..40 {
        let core = if n % 2 == 0 { a.clone() } else { b.clone() };
        tasks.push(tokio::spawn(add(core, n)));
    }
    for task in tasks {
        task.await.expect("task");
    }
    let reopened = core_on(data.path(), &vault).await;
    assert_eq!(reopened.accounts().list().len(), 40, "every account kept");
}
