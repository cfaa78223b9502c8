//! `keyhaven profile ...` and `--passphrase-stdin`, the built binary against the real Secret
//! Service and the key service on loopback. Passphrases go in on standard input only; the test
//! checks that they never come back out.

use std::process::Output;

use keyhaven_core::Vault;

mod common;

use common::{exited, keyhaven_with_stdin as keyhaven, namespace, text, TestService};

const PASSPHRASE: &str = "cli passphrase for the test";

/// Neither stream holds the passphrase.
fn clean(out: Output) -> Output {
    for stream in [&out.stdout, &out.stderr] {
        assert!(
            !text(stream).contains(PASSPHRASE),
            "the passphrase was printed"
        );
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn profiles_from_the_command_line() {
    let namespace = namespace("profiles");
    let data = tempfile::tempdir().expect("tempdir");
    let dir = data.path();
    let run = |args: &'static [&'static str], stdin: &'static str| {
        let namespace = namespace.clone();
        async move { keyhaven(dir, &namespace, args, stdin).await }
    };

    // Create, list, rename, delete.
    let out = run(&["profile", "create", "bob"], "").await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = run(&["profile", "create", "bob"], "").await;
    exited(&out, 2, "already exists");
    let out = run(&["profile", "create", "Not Valid"], "").await;
    assert_eq!(out.status.code(), Some(2));
    let out = run(&["profile", "rename", "bob", "robert"], "").await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = run(&["profile", "list", "--json"], "").await;
    let listed: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let names: Vec<&str> = listed
        .as_array()
        .expect("array")
        .iter()
        .map(|p| p["name"].as_str().expect("name"))
        .collect();
    assert!(
        names.contains(&"robert") && !names.contains(&"bob"),
        "{names:?}"
    );
    assert_eq!(names.len(), 2);
    let out = run(&["profile", "delete", "robert", "--confirm", "bob"], "").await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let out = run(&["profile", "delete", "robert", "--confirm", "robert"], "").await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = run(&["profile", "list"], "").await;
    assert!(!text(&out.stdout).contains("robert"));
    assert!(text(&out.stdout).contains("PROFILE"));

    // An account in the active profile, signed in through the core as the app does.
    let svc = TestService::start(|_| {}).await;
    let (core, _account) = svc.signed_in(dir, &namespace).await;

    // Lock it with a passphrase from standard input (never an argument).
    let out = run(&["profile", "lock"], "short\n").await;
    assert_eq!(out.status.code(), Some(2), "too short");
    let out = clean(run(&["profile", "lock"], "cli passphrase for the test\n").await);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = run(&["profile", "list"], "").await;
    assert!(
        text(&out.stdout).contains("yes (locked)"),
        "{}",
        text(&out.stdout)
    );

    // Locked: listing keys needs the passphrase.
    let out = clean(run(&["keys", "list"], "").await);
    exited(&out, 7, "locked");
    assert!(text(&out.stderr).contains("--passphrase-stdin"));
    let out = clean(
        run(
            &["--passphrase-stdin", "keys", "list"],
            "wrong passphrase\n",
        )
        .await,
    );
    exited(&out, 7, "Wrong passphrase");
    let out = clean(
        run(
            &["--passphrase-stdin", "keys", "list"],
            "cli passphrase for the test\n",
        )
        .await,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "No keys.\n");

    // Check, change and remove it.
    let out = clean(run(&["profile", "unlock"], "cli passphrase for the test\n").await);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = clean(
        run(
            &["profile", "lock", "--change"],
            "cli passphrase for the test\nthe second cli passphrase\n",
        )
        .await,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = run(&["profile", "unlock"], "cli passphrase for the test\n").await;
    assert_eq!(out.status.code(), Some(7), "the old one no longer works");
    let out = run(
        &["profile", "unlock", "--remove"],
        "the second cli passphrase\n",
    )
    .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = run(&["keys", "list"], "").await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = run(&["profile", "unlock"], "").await;
    assert_eq!(out.status.code(), Some(2), "no passphrase left to check");

    // Clean up the keychain.
    let profile = core.profile();
    let vault = Vault::secret_service(&namespace).expect("keychain");
    for account in core.accounts().list() {
        let _ = vault
            .delete(&profile, &keyhaven_core::vault::names::session(&account.id))
            .await;
    }
}

#[tokio::test]
async fn the_first_profile_takes_the_os_account_name_when_user_is_unset() {
    let namespace = namespace("first-profile");
    let data = tempfile::tempdir().expect("tempdir");
    let out = common::command(data.path(), &namespace, &["profile", "list", "--json"])
        .env_remove("USER")
        .env_remove("USERNAME")
        .output()
        .await
        .expect("run keyhaven");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let listed: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let names: Vec<&str> = listed
        .as_array()
        .expect("array")
        .iter()
        .map(|p| p["name"].as_str().expect("name"))
        .collect();
    let account = whoami::fallible::username().expect("the OS names this process's user");
    let expected = keyhaven_core::catalog::sanitize_profile_name(&account).expect("usable");
    assert_eq!(
        names,
        vec![expected.as_str()],
        "not named after the OS account"
    );
    assert_ne!(names, vec!["default"]);
}
