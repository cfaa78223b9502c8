//! The built `keyhaven` binary against the real key service on loopback and the real Secret
//! Service, after signing in through the core (as the app does). Run inside a private D-Bus
//! session with an unlocked gnome-keyring, e.g.
//! `bash scripts/test --exec cargo nextest run -p keyhaven-cli`.

mod common;

use keyhaven_core::vault::names;

use common::{exited, keyhaven, namespace, text, TestService};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_list_and_profile_show_use_the_apps_sign_in() {
    let namespace = namespace("list");
    let svc = TestService::start(|_| {}).await;

    let data = tempfile::tempdir().expect("tempdir");

    // Before any sign-in: a clear error naming the profile.
    let out = keyhaven(data.path(), &namespace, &["keys", "list"]).await;
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(err.contains("No account in profile"), "{err}");
    assert!(err.contains("Open the Keyhaven app"), "{err}");

    // Sign in and create keys through the core, as the app would.
    let (core, account) = svc.signed_in(data.path(), &namespace).await;
    let mut secrets = Vec::new();
    let mut key_ids = Vec::new();
    for name in ["billing-export", "ci deploy"] {
        let created = common::create_key(&core, &account, name, &["read", "write"]).await;
        assert!(created.stored_in_keychain);
        key_ids.push(created.meta.id.clone());
        secrets.push(created.secret);
    }

    // The table lists both keys, with their columns, and no secret.
    let out = keyhaven(data.path(), &namespace, &["keys", "list"]).await;
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    let header = stdout.lines().next().expect("header");
    for col in ["NAME", "PREFIX", "SCOPES", "STATUS", "LAST USED", "EXPIRES"] {
        assert!(header.contains(col), "{header}");
    }
    for name in ["billing-export", "ci deploy"] {
        assert!(stdout.contains(name), "{stdout}");
    }
    assert!(stdout.contains("read,write"), "{stdout}");
    assert!(stdout.contains("active"), "{stdout}");
    for secret in &secrets {
        assert!(
            stdout.contains(&secret.expose()[..12]),
            "the prefix is shown"
        );
        assert!(!stdout.contains(secret.expose()), "a secret was printed");
    }

    // JSON, for scripts; the account can be named and the profile given.
    let profile = core.profile();
    let out = keyhaven(
        data.path(),
        &namespace,
        &[
            "keys",
            "list",
            "--json",
            "--account",
            &account.id,
            "--profile",
            &profile,
        ],
    )
    .await;
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    let listed: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let mut names: Vec<&str> = listed
        .as_array()
        .expect("array")
        .iter()
        .map(|k| k["meta"]["name"].as_str().expect("name"))
        .collect();
    names.sort();
    assert_eq!(names, ["billing-export", "ci deploy"]);
    assert!(listed
        .as_array()
        .expect("array")
        .iter()
        .all(|k| k["stored_locally"] == true));
    for secret in &secrets {
        assert!(!text(&out.stdout).contains(secret.expose()));
    }

    // profile show: the profile and its active account.
    let out = keyhaven(data.path(), &namespace, &["profile", "show"]).await;
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    assert!(stdout.contains(&format!("Profile: {profile}")), "{stdout}");
    assert!(stdout.contains("ann@example.com"), "{stdout}");
    assert!(stdout.contains(&account.id), "{stdout}");
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with('*') && l.contains(&account.id)),
        "{stdout}"
    );
    let out = keyhaven(data.path(), &namespace, &["profile", "show", "--json"]).await;
    let shown: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(shown["profile"], profile.as_str());
    assert_eq!(shown["active_account"], account.id.as_str());

    // Errors: an unknown profile or account, with exit codes scripts can test.
    let out = keyhaven(
        data.path(),
        &namespace,
        &["keys", "list", "--profile", "nobody"],
    )
    .await;
    exited(&out, 3, "profile nobody");
    let out = keyhaven(
        data.path(),
        &namespace,
        &["keys", "list", "--profile", "Bad/Name"],
    )
    .await;
    assert_eq!(out.status.code(), Some(2));
    let out = keyhaven(
        data.path(),
        &namespace,
        &["keys", "list", "--account", "acc_nope"],
    )
    .await;
    assert_eq!(out.status.code(), Some(3));
    let out = keyhaven(data.path(), &namespace, &["keys", "frobnicate"]).await;
    assert_eq!(out.status.code(), Some(2));

    // A signed-out account: told to sign in again.
    core.accounts()
        .sign_out(&account.id)
        .await
        .expect("sign out");
    let out = keyhaven(data.path(), &namespace, &["keys", "list"]).await;
    exited(&out, 4, "sign in again");

    // Leave the keyring clean.
    for id in &key_ids {
        core.vault()
            .delete(&profile, &names::key(&account.id, id))
            .await
            .expect("cleanup");
    }
    svc.running.shutdown().await;
}
