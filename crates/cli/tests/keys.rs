//! `keyhaven keys get`, `keys rotate` and `keys resume`: the built binary against the real key
//! service on loopback and the real Secret Service. Run inside a private D-Bus session with an
//! unlocked gnome-keyring (`bash scripts/test --exec cargo nextest run -p keyhaven-cli`).

use std::path::Path;
use std::process::Output;
use std::sync::Arc;

use keyhaven_api::{CreateKeyRequest, Role};
use keyhaven_core::rotation::faults::{FaultAction, FaultContext, FaultHook, FaultPoint};
use keyhaven_core::vault::names;
use keyhaven_core::{
    CoreConfig, Keyhaven, RotateOptions, RotationStep, Secret, ServiceRef, Vault, VaultChoice,
};
use keyhaven_service::{Service, ServiceConfig};

const PASSWORD: &str = "correct horse battery staple";
const HOW_TO_RUN: &str = "This test needs a real Secret Service: run it as\n  bash scripts/test --exec cargo nextest run -p keyhaven-cli\n(a dbus-run-session with an unlocked gnome-keyring-daemon --components=secrets)";

async fn keyhaven(data: &Path, namespace: &str, args: &[&str]) -> Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_keyhaven"))
        .args(args)
        .env("KEYHAVEN_DATA_DIR", data)
        .env("KEYHAVEN_KEYCHAIN_NAMESPACE", namespace)
        .env_remove("KEYHAVEN_LOG")
        .output()
        .await
        .expect("run keyhaven")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn namespace() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    format!(
        "dev.keyhaven.test-cli-keys-{:012x}",
        h.finish() & 0xffff_ffff_ffff
    )
}

async fn ping(url: &str, key: &str) -> u16 {
    reqwest::Client::new()
        .get(format!("{url}/v1/ping"))
        .header("X-API-Key", key)
        .send()
        .await
        .expect("ping")
        .status()
        .as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_rotate_and_resume_from_the_terminal() {
    let namespace = namespace();
    if let Err(e) = Vault::secret_service(&namespace) {
        panic!("No Secret Service ({e}).\n{HOW_TO_RUN}");
    }
    let service_dir = tempfile::tempdir().expect("tempdir");
    let mut config = ServiceConfig::new(service_dir.path().join("svc.db").to_string_lossy());
    config.key_prefix = "kh_test_".into();
    config.lockout_threshold = 1000;
    let service = Service::open(config).await.expect("service");
    service
        .add_user("ann@example.com", Role::Owner, "Acme", PASSWORD)
        .await
        .expect("user");
    let running = service
        .bind("127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("bind");
    let url = running.url();
    let data = tempfile::tempdir().expect("tempdir");
    let core = Keyhaven::open(CoreConfig {
        data_dir: data.path().to_path_buf(),
        keychain_namespace: namespace.clone(),
        vault: VaultChoice::SecretService,
    })
    .await
    .expect("core");
    let account = core
        .sign_in(
            ServiceRef::url(url.clone()),
            "ann@example.com",
            Secret::new(PASSWORD.into()),
            false,
        )
        .await
        .unwrap_or_else(|e| panic!("sign in: {e}\n{HOW_TO_RUN}"));
    let created = core
        .create_key(
            &account.id,
            CreateKeyRequest {
                name: "deploy".into(),
                scopes: vec!["read".into()],
                ..Default::default()
            },
        )
        .await
        .expect("create");
    let old = created.secret.clone();
    let old_id = created.meta.id.clone();
    let run = |args: &'static [&'static str]| keyhaven(data.path(), &namespace, args);

    // Not to a pipe unless asked.
    let out = run(&["keys", "get", "deploy"]).await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(out.stdout.is_empty());
    assert!(
        text(&out.stderr).contains("--allow-pipe"),
        "{}",
        text(&out.stderr)
    );

    // By name, by id, by the start of the prefix.
    let prefix = created.meta.prefix.clone();
    for key in ["deploy", old_id.as_str(), &prefix[..11]] {
        let out = keyhaven(
            data.path(),
            &namespace,
            &["keys", "get", key, "--allow-pipe"],
        )
        .await;
        assert!(out.status.success(), "{key}: {}", text(&out.stderr));
        assert_eq!(text(&out.stdout), format!("{}\n", old.expose()));
    }
    let out = run(&["keys", "get", "nothing-like-it", "--allow-pipe"]).await;
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));

    // Rotate with an hour's grace: progress on stderr, the outcome on stdout, no secret.
    let out = run(&["keys", "rotate", "deploy", "--grace", "1h"]).await;
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{stderr}");
    assert!(
        stdout.starts_with("Rotated \u{201c}deploy\u{201d}"),
        "{stdout}"
    );
    assert!(stdout.contains("keeps working until"), "{stdout}");
    assert!(
        stderr.contains("[4/7] Verify the new key with the service: done"),
        "{stderr}"
    );
    assert!(stderr.contains("[7/7]"), "{stderr}");
    let out = keyhaven(
        data.path(),
        &namespace,
        &["keys", "get", &old_id, "--allow-pipe"],
    )
    .await;
    let new = text(&out.stdout).trim_end().to_string();
    assert_ne!(new, old.expose(), "the old id leads to the new secret");
    assert_eq!(ping(&url, &new).await, 200);
    assert_eq!(
        ping(&url, old.expose()).await,
        200,
        "the old key works in its grace"
    );
    for secret in [old.expose(), new.as_str()] {
        assert!(!stdout.contains(secret) && !stderr.contains(secret));
    }

    // By name again (the live one is the new key), as JSON, replacing with no grace.
    let out = run(&["keys", "rotate", "deploy", "--method", "replace", "--json"]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let outcome: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(outcome["outcome"], "completed");
    assert_eq!(outcome["method"], "replace");
    assert_eq!(ping(&url, &new).await, 401, "the replaced key is revoked");
    assert!(!text(&out.stdout).contains(&new));

    // Refusals, with exit codes for scripts.
    let out = run(&["keys", "rotate", "deploy", "--grace", "2h"]).await;
    assert_eq!(out.status.code(), Some(2));
    let out = run(&["keys", "rotate", "deploy", "--method", "roll"]).await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("grace"), "{}", text(&out.stderr));
    let out = run(&["keys", "resume"]).await;
    assert!(out.status.success());
    assert_eq!(text(&out.stdout), "No unfinished rotations.\n");

    // A rotation killed in another process (the app) after storing its new secret: the CLI
    // finishes it.
    let current = core.current_key_id(&account.id, &old_id).expect("current");
    let hook: FaultHook = Arc::new(|ctx: FaultContext| {
        Box::pin(async move {
            if ctx.point == FaultPoint::After(RotationStep::Store) {
                FaultAction::Crash
            } else {
                FaultAction::Continue
            }
        })
    });
    core.set_rotation_fault_hook(Some(hook));
    let crashed = core
        .rotate_key(&account.id, &current, RotateOptions::default(), &|_| {})
        .await;
    assert!(crashed.is_err());
    assert_eq!(core.pending_rotations().expect("pending").len(), 1);
    let out = run(&["keys", "resume"]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).starts_with("Rotated"),
        "{}",
        text(&out.stdout)
    );
    assert!(core.pending_rotations().expect("pending").is_empty());
    let out = run(&["keys", "get", "deploy", "--allow-pipe"]).await;
    let newest = text(&out.stdout).trim_end().to_string();
    assert_eq!(ping(&url, &newest).await, 200);

    // Leave the keyring clean.
    let profile = core.profile();
    for key in core.list_keys(&account.id).await.expect("list") {
        core.vault()
            .delete(&profile, &names::key(&account.id, &key.meta.id))
            .await
            .expect("cleanup");
    }
    core.sign_out(&account.id).await.expect("sign out");
    running.shutdown().await;
}
