//! The leak scan (SECURITY 12, 22): a representative workload — sign-in, create, update, use,
//! verify, usage watch, rotations (one interrupted by a crash and resumed), support's search —
//! with every tracing event of the core, the HTTP stack and the in-process service captured at
//! TRACE level; then the bytes of every secret the workload handled (API keys, session tokens,
//! the password) are searched for in the captured log, in every file under the data folder, in
//! snapshots of that folder taken at every rotation step, and in every progress and watch event
//! (JSON and Debug). Zero hits. A control (each key's public prefix, which the service logs)
//! proves the scan sees what is there.
//!
//! Its own test binary, because it installs the process's global tracing subscriber.

mod common;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use keyhaven_api::{CreateKeyRequest, Role, UpdateKeyRequest};
use keyhaven_core::rotation::faults::{FaultAction, FaultContext, FaultHook, FaultPoint};
use keyhaven_core::vault::names;
use keyhaven_core::watch::WatchConfig;
use keyhaven_core::{
    Connector, Grace, NativeConnector, RotateOptions, RotationMethod, RotationOutcome,
    RotationProgress, RotationStep, Secret, Vault, VerifyOptions, WatchEvent,
};

use common::{contains, core_on, files_under, ping_status, Svc, PASSWORD};

/// Everything written through tracing, in memory.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

struct CapturedWriter(Arc<Mutex<Vec<u8>>>);

impl Write for CapturedWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("log").extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = CapturedWriter;

    fn make_writer(&'a self) -> Self::Writer {
        CapturedWriter(self.0.clone())
    }
}

/// Places that must never hold a secret, with their bytes.
#[derive(Default)]
struct Places(Mutex<Vec<(String, Vec<u8>)>>);

impl Places {
    fn add(&self, name: impl Into<String>, bytes: Vec<u8>) {
        self.0.lock().expect("places").push((name.into(), bytes));
    }

    fn snapshot_dir(&self, tag: &str, dir: &std::path::Path) {
        for file in files_under(dir) {
            if let Ok(bytes) = std::fs::read(&file) {
                self.add(format!("{tag}: {}", relative(dir, &file)), bytes);
            }
        }
    }
}

fn relative(dir: &std::path::Path, file: &std::path::Path) -> String {
    file.strip_prefix(dir)
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| "(file)".into())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_reaches_a_log_a_file_or_an_event() {
    let log = Captured::default();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(log.clone())
        .init();

    let svc = Svc::start(|_| {}).await;
    svc.user("ann@example.com", Role::Owner, "Acme").await;
    svc.user("sue@example.com", Role::Support, "Keyhaven Support")
        .await;
    let data = tempfile::tempdir().expect("tempdir");
    let (vault, _faults) = Vault::in_memory_with_faults();
    let core = core_on(data.path(), &vault).await;
    let places = Arc::new(Places::default());
    let progress_log: Arc<Mutex<Vec<RotationProgress>>> = Arc::default();
    let progress = {
        let progress_log = progress_log.clone();
        move |p: &RotationProgress| progress_log.lock().expect("progress").push(p.clone())
    };

    // Sign in (the password is remembered in the keychain).
    let ann = common::sign_in(&core, &svc, "ann@example.com").await;

    // Create, use, verify, update.
    let mut created = Vec::new();
    for (name, origins, limit) in [
        ("deploy", None, None),
        (
            "web",
            Some(vec!["https://app.example.com".to_string()]),
            None,
        ),
        ("limited", None, Some(100)),
    ] {
        let key = core
            .keys()
            .create(
                &ann.id,
                CreateKeyRequest {
                    name: name.into(),
                    scopes: vec!["read".into()],
                    allowed_origins: origins,
                    rate_limit_per_hour: limit,
                    ..Default::default()
                },
            )
            .await
            .expect("create");
        assert!(key.stored_in_keychain);
        places.add(
            format!("created {name} (Debug)"),
            format!("{key:?}").into_bytes(),
        );
        created.push((
            key.meta.id.clone(),
            key.meta.prefix.clone(),
            key.secret.clone(),
        ));
    }
    let (deploy, _, deploy_secret) = created[0].clone();
    let (web, _, _) = created[1].clone();
    let (limited, _, _) = created[2].clone();
    core.keys().ping(&ann.id, &deploy).await.expect("ping");
    assert_eq!(ping_status(&svc.url(), deploy_secret.expose()).await, 200);
    let verdict = core
        .keys()
        .verify(&ann.id, &limited, VerifyOptions::default())
        .await
        .expect("verify");
    places.add("verify answer (Debug)", format!("{verdict:?}").into_bytes());
    core.keys()
        .update(
            &ann.id,
            &limited,
            UpdateKeyRequest {
                name: Some("limited (renamed)".into()),
                ..Default::default()
            },
        )
        .await
        .expect("update");
    let _ = core.keys().secret(&ann.id, &deploy).await.expect("secret");
    // A refused key and a bad request: error paths log too.
    let _ = NativeConnector::new(&svc.url())
        .expect("connector")
        .ping(
            &Secret::new(format!("{}x", deploy_secret.expose())),
            &Default::default(),
        )
        .await
        .expect_err("mistyped key");
    let _ = core
        .keys()
        .update(
            &ann.id,
            &limited,
            UpdateKeyRequest {
                scopes: Some(vec!["admin".into()]),
                ..Default::default()
            },
        )
        .await
        .expect_err("unknown scope");

    // The usage watcher, a few polls.
    let events: Arc<Mutex<Vec<WatchEvent>>> = Arc::default();
    let watch = {
        let events = events.clone();
        core.watch()
            .start(
                WatchConfig {
                    interval: Duration::from_millis(100),
                    ..Default::default()
                },
                move |e| events.lock().expect("events").push(e),
            )
            .expect("watch")
    };
    for _ in 0..200 {
        let polls = events
            .lock()
            .expect("events")
            .iter()
            .filter(|e| matches!(e, WatchEvent::Usage { .. }))
            .count();
        if polls >= 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    watch.pause();
    watch.stop().await;

    // A rotation, with the data folder photographed at every step.
    let snapshot_hook = |places: Arc<Places>, dir: PathBuf, crash_at: Option<FaultPoint>| {
        let crashed = Arc::new(AtomicBool::new(false));
        let hook: FaultHook = Arc::new(move |ctx: FaultContext| {
            let (places, dir, crashed) = (places.clone(), dir.clone(), crashed.clone());
            Box::pin(async move {
                places.snapshot_dir(&format!("{:?} {:?}", ctx.rotation_id, ctx.point), &dir);
                if Some(ctx.point) == crash_at && !crashed.swap(true, Ordering::SeqCst) {
                    return FaultAction::Crash;
                }
                FaultAction::Continue
            })
        });
        hook
    };
    core.rotation().set_fault_hook(Some(snapshot_hook(
        places.clone(),
        data.path().to_path_buf(),
        None,
    )));
    let outcome = core
        .rotation()
        .rotate(&ann.id, &deploy, RotateOptions::default(), &progress)
        .await
        .expect("rotate");
    assert!(
        matches!(outcome, RotationOutcome::Completed { .. }),
        "{outcome:?}"
    );
    places.add(
        "outcome (JSON)",
        serde_json::to_vec(&outcome).expect("json"),
    );
    places.add("outcome (Debug)", format!("{outcome:?}").into_bytes());

    // Another, killed after the new secret is stored, resumed by a fresh core.
    core.rotation().set_fault_hook(Some(snapshot_hook(
        places.clone(),
        data.path().to_path_buf(),
        Some(FaultPoint::After(RotationStep::Store)),
    )));
    let crashed = core
        .rotation()
        .rotate(
            &ann.id,
            &web,
            RotateOptions {
                grace: Grace::OneHour,
                method: RotationMethod::Roll,
            },
            &progress,
        )
        .await;
    assert!(crashed.is_err());
    places.snapshot_dir("after the crash", data.path());
    drop(core);
    let core = core_on(data.path(), &vault).await;
    let resumed = core.rotation().resume(&progress).await.expect("resume");
    assert!(
        matches!(resumed[..], [RotationOutcome::Completed { .. }]),
        "{resumed:?}"
    );
    places.add(
        "resumed (JSON)",
        serde_json::to_vec(&resumed).expect("json"),
    );
    places.add("resumed (Debug)", format!("{resumed:?}").into_bytes());

    // Support searches by prefix.
    let sue = common::sign_in_session_only(&core, &svc, "sue@example.com").await;
    let found = core
        .accounts()
        .support_find_keys(&sue.id, &created[2].1)
        .await
        .expect("search");
    assert_eq!(found.len(), 1);
    core.watch()
        .refresh(&ann.id, &Default::default())
        .await
        .expect("refresh");
    core.watch()
        .cached(&ann.id)
        .expect("cache")
        .expect("cached");

    // Every secret the workload handled: the keys created and rotated in (from the keychain),
    // the sessions, the password.
    let profile = core.profile();
    let token = vault
        .get(&profile, &names::session(&ann.id))
        .await
        .expect("read")
        .expect("session");
    let mut secrets: BTreeMap<String, Secret> = BTreeMap::new();
    for (id, _, secret) in &created {
        secrets.insert(format!("key {id}"), secret.clone());
    }
    for key in NativeConnector::new(&svc.url())
        .expect("connector")
        .list_keys(&token, None)
        .await
        .expect("list")
    {
        if let Some(s) = vault
            .get(&profile, &names::key(&ann.id, &key.id))
            .await
            .expect("read")
        {
            secrets.insert(format!("key {}", key.id), s);
        }
    }
    for account in [&ann.id, &sue.id] {
        if let Some(s) = vault
            .get(&profile, &names::session(account))
            .await
            .expect("read")
        {
            secrets.insert(format!("session of {account}"), s);
        }
    }
    secrets.insert("password".into(), Secret::new(PASSWORD.into()));
    // Three keys created, two rotated in, two sessions, the password.
    assert_eq!(secrets.len(), 8, "{:?}", secrets.keys());
    core.accounts().sign_out(&sue.id).await.expect("sign out");

    // Where to look.
    places.snapshot_dir("at the end", data.path());
    for p in progress_log.lock().expect("progress").iter() {
        places.add("progress (JSON)", serde_json::to_vec(p).expect("json"));
        places.add("progress (Debug)", format!("{p:?}").into_bytes());
    }
    for e in events.lock().expect("events").iter() {
        places.add("watch event (JSON)", serde_json::to_vec(e).expect("json"));
        places.add("watch event (Debug)", format!("{e:?}").into_bytes());
    }
    let captured = log.0.lock().expect("log").clone();
    places.add("tracing output", captured.clone());

    // The control: the log and the cache do name keys by their public prefix.
    let prefix = created[2].1.as_bytes();
    assert!(
        contains(&captured, prefix),
        "the captured log is not what the service wrote"
    );
    assert!(
        captured.len() > 10_000,
        "too little was captured: {} bytes",
        captured.len()
    );
    assert!(contains(&captured, b"rotation started"));

    let places = places.0.lock().expect("places");
    let mut hits = Vec::new();
    for (what, secret) in &secrets {
        for (place, bytes) in places.iter() {
            if contains(bytes, secret.expose().as_bytes()) {
                hits.push(format!("{what} in {place}"));
            }
        }
    }
    let files = places.iter().filter(|(p, _)| p.contains(": ")).count();
    let text = String::from_utf8_lossy(&captured);
    let sources: BTreeMap<&str, usize> = [
        "keyhaven_core",
        "keyhaven_service",
        "reqwest",
        "hyper",
        "sqlx",
    ]
    .into_iter()
    .map(|target| (target, text.lines().filter(|l| l.contains(target)).count()))
    .collect();
    assert!(
        sources["keyhaven_core"] > 0 && sources["keyhaven_service"] > 0,
        "{sources:?}"
    );
    println!(
        "leak scan: {} secrets searched in {} places ({} bytes of tracing output, lines by source {sources:?}; {} file snapshots): {} hits",
        secrets.len(),
        places.len(),
        captured.len(),
        files,
        hits.len()
    );
    assert!(hits.is_empty(), "secrets leaked: {hits:#?}");
}
