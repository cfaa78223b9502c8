//! `keyhaven run --key KEY [--env NAME] -- COMMAND…`: the built binary against the real key
//! service on loopback and the real Secret Service (`bash scripts/test --exec cargo nextest run
//! -p keyhaven-cli`). The secret reaches the command through its environment only.

use std::path::Path;
use std::process::Output;

use keyhaven_core::vault::names;

mod common;

use common::{namespace, text, TestService};

/// The built binary, logging at debug level: the secret must stay out of the log too.
async fn keyhaven(data: &Path, namespace: &str, args: &[&str]) -> Output {
    common::command(data, namespace, args)
        .env("KEYHAVEN_LOG", "debug")
        .output()
        .await
        .expect("run keyhaven")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_passes_the_secret_through_the_environment_only() {
    let namespace = namespace("run");
    let svc = TestService::start(|_| {}).await;
    let data = tempfile::tempdir().expect("tempdir");
    let (core, account) = svc.signed_in(data.path(), &namespace).await;
    let created = common::create_key(&core, &account, "deploy", &["read"]).await;
    let secret = created.secret.expose().to_owned();
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
    core.accounts()
        .sign_out(&account.id)
        .await
        .expect("sign out");
    svc.running.shutdown().await;
}
