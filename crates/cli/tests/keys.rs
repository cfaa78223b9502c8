//! `keyhaven keys get`, `keys rotate` and `keys resume`: the built binary against the real key
//! service on loopback and the real Secret Service. Run inside a private D-Bus session with an
//! unlocked gnome-keyring (`bash scripts/test --exec cargo nextest run -p keyhaven-cli`).

use std::sync::Arc;

use keyhaven_core::rotation::faults::{FaultAction, FaultContext, FaultHook, FaultPoint};
use keyhaven_core::vault::names;
use keyhaven_core::{RotateOptions, RotationStep};

mod common;

use common::{exited, keyhaven, namespace, ping, text, TestService};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_rotate_and_resume_from_the_terminal() {
    let namespace = namespace("keys");
    let svc = TestService::start(|c| c.lockout_threshold = 1000).await;
    let url = svc.url();
    let data = tempfile::tempdir().expect("tempdir");
    let (core, account) = svc.signed_in(data.path(), &namespace).await;
    let created = common::create_key(&core, &account, "deploy", &["read"]).await;
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
    exited(&out, 2, "grace");
    let out = run(&["keys", "resume"]).await;
    assert!(out.status.success());
    assert_eq!(text(&out.stdout), "No unfinished rotations.\n");

    // A rotation killed in another process (the app) after storing its new secret: the CLI
    // finishes it.
    let current = core
        .keys()
        .current_id(&account.id, &old_id)
        .expect("current");
    let hook: FaultHook = Arc::new(|ctx: FaultContext| {
        Box::pin(async move {
            if ctx.point == FaultPoint::After(RotationStep::Store) {
                FaultAction::Crash
            } else {
                FaultAction::Continue
            }
        })
    });
    core.rotation().set_fault_hook(Some(hook));
    let crashed = core
        .rotation()
        .rotate(&account.id, &current, RotateOptions::default(), &|_| {})
        .await;
    assert!(crashed.is_err());
    assert_eq!(core.rotation().pending().expect("pending").len(), 1);
    let out = run(&["keys", "resume"]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).starts_with("Rotated"),
        "{}",
        text(&out.stdout)
    );
    assert!(core.rotation().pending().expect("pending").is_empty());
    let out = run(&["keys", "get", "deploy", "--allow-pipe"]).await;
    let newest = text(&out.stdout).trim_end().to_string();
    assert_eq!(ping(&url, &newest).await, 200);

    // Leave the keyring clean.
    let profile = core.profile();
    for key in core.keys().list(&account.id).await.expect("list") {
        core.vault()
            .delete(&profile, &names::key(&account.id, &key.meta.id))
            .await
            .expect("cleanup");
    }
    core.accounts()
        .sign_out(&account.id)
        .await
        .expect("sign out");
    svc.running.shutdown().await;
}
