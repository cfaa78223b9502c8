//! `keyhaven run --key KEY [--env NAME] -- COMMAND…`: the built binary against the real key
//! service on loopback and the real Secret Service (`bash scripts/test --exec cargo nextest run
//! -p keyhaven-cli`). The secret reaches the command through its environment only.

use std::path::Path;
use std::process::Output;

use keyhaven_api::{CreateKeyRequest, Role};
use keyhaven_core::vault::names;
use keyhaven_core::{CoreConfig, Keyhaven, Secret, ServiceRef, Vault, VaultChoice};
use keyhaven_service::{Service, ServiceConfig};

const PASSWORD: &str = "correct horse battery staple";
const HOW_TO_RUN: &str = "This test needs a real Secret Service: run it as\n  bash scripts/test --exec cargo nextest run -p keyhaven-cli\n(a dbus-run-session with an unlocked gnome-keyring-daemon --components=secrets)";

async fn keyhaven(data: &Path, namespace: &str, args: &[&str]) -> Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_keyhaven"))
        .args(args)
        .env("KEYHAVEN_DATA_DIR", data)
        .env("KEYHAVEN_KEYCHAIN_NAMESPACE", namespace)
        .env("KEYHAVEN_LOG", "debug")
        .env_remove("KEYHAVEN_API_KEY")
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
        "dev.keyhaven.test-cli-run-{:012x}",
        h.finish() & 0xffff_ffff_ffff
    )
}

/// For the leak scan after the suite (see tests/leak/scan.py).
fn record_secret(secret: &str) {
    use std::io::Write;
    if let Some(path) = std::env::var_os("KEYHAVEN_LEAK_LEDGER") {
        let line = format!("{secret}\n");
        let _ = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .and_then(|mut f| f.write_all(line.as_bytes()));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_passes_the_secret_through_the_environment_only() {
    let namespace = namespace();
    if let Err(e) = Vault::secret_service(&namespace) {
        panic!("No Secret Service ({e}).\n{HOW_TO_RUN}");
    }
    let service_dir = tempfile::tempdir().expect("tempdir");
    let mut config = ServiceConfig::new(service_dir.path().join("svc.db").to_string_lossy());
    config.key_prefix = "kh_test_".into();
    let service = Service::open(config).await.expect("service");
    record_secret(PASSWORD);
    service
        .add_user("ann@example.com", Role::Owner, "Acme", PASSWORD)
        .await
        .expect("user");
    let running = service
        .bind("127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("bind");
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
            ServiceRef::url(running.url()),
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
    let secret = created.secret.expose().to_owned();
    record_secret(&secret);
    let run = |args: &'static [&'static str]| keyhaven(data.path(), &namespace, args);

    // The child sees the secret in the variable named, and only there: keyhaven's own command
    // line and environment (its parent's, /proc/$PPID) do not hold it, nor do the child's
    // arguments.
    let script = r#"printf '%s\n' "$0" "$@"; tr '\0' '\n' </proc/$PPID/cmdline; tr '\0' '\n' </proc/$PPID/environ; echo ---; printf '%s' "$DEPLOY_KEY""#;
    let out = keyhaven(
        data.path(),
        &namespace,
        &[
            "run",
            "--key",
            "deploy",
            "--env",
            "DEPLOY_KEY",
            "--",
            "sh",
            "-c",
            script,
            "child",
            "arg",
        ],
    )
    .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let (before, after) = stdout.split_once("---\n").expect("the marker");
    assert!(
        before.contains("child\narg\n"),
        "the arguments are passed on"
    );
    assert!(
        before.contains("KEYHAVEN_DATA_DIR="),
        "keyhaven's own environment was read"
    );
    assert!(
        !before.contains(&secret),
        "the secret is in an argument or in keyhaven's own environment"
    );
    assert_eq!(after, secret, "the child's DEPLOY_KEY is the key's secret");
    assert!(
        !text(&out.stderr).contains(&secret),
        "a secret on standard error (debug log)"
    );

    // The default variable; the child's exit status is keyhaven's, and nothing is printed.
    let out = run(&[
        "run",
        "--key",
        "deploy",
        "--",
        "sh",
        "-c",
        r#"[ -n "$KEYHAVEN_API_KEY" ] && exit 7"#,
    ])
    .await;
    assert_eq!(out.status.code(), Some(7), "{}", text(&out.stderr));
    assert!(out.stdout.is_empty());
    assert!(!text(&out.stderr).contains(&secret));

    // Refusals: a bad variable name, no command, no such command, no such key.
    let out = run(&["run", "--key", "deploy", "--env", "A=B", "--", "true"]).await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let out = run(&["run", "--key", "deploy"]).await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let out = run(&["run", "--key", "deploy", "--", "/nonexistent/program"]).await;
    assert_eq!(out.status.code(), Some(127), "{}", text(&out.stderr));
    let out = run(&["run", "--key", "nothing-like-it", "--", "true"]).await;
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert!(!text(&out.stdout).contains(&secret) && !text(&out.stderr).contains(&secret));

    // Leave the keyring clean.
    core.vault()
        .delete(&core.profile(), &names::key(&account.id, &created.meta.id))
        .await
        .expect("cleanup");
    core.sign_out(&account.id).await.expect("sign out");
    running.shutdown().await;
}
