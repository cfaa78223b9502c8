//! `keyhaven account ...` and `keyhaven keys create|show|revoke`: setting Keyhaven up from a
//! terminal with no app ever started. The built binary against the real key service on loopback
//! and the real Secret Service; passwords go in on standard input only, and no secret comes out
//! unless asked for.

use std::process::Output;

use keyhaven_core::vault::names;
use keyhaven_core::{CoreConfig, Keyhaven, VaultChoice};
use serde_json::Value;

mod common;

use common::{
    exited, files_containing, keyhaven, keyhaven_with_stdin, namespace, ping, record_secret, text,
    TestService, OWNER, PASSWORD,
};

/// Neither stream holds the password.
fn clean(out: Output) -> Output {
    for stream in [&out.stdout, &out.stderr] {
        assert!(!text(stream).contains(PASSWORD), "the password was printed");
    }
    out
}

fn ok(out: &Output) {
    assert!(
        out.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        text(&out.stdout),
        text(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_workstation_is_set_up_from_the_terminal() {
    let namespace = namespace("accounts");
    let svc = TestService::start(|c| c.lockout_threshold = 1000).await;
    let url = svc.url();
    let data = tempfile::tempdir().expect("tempdir");
    let dir = data.path();

    // Nothing yet, and the way to start is said.
    let out = keyhaven(dir, &namespace, &["account", "list"]).await;
    ok(&out);
    assert!(
        text(&out.stdout).contains("keyhaven account add"),
        "{}",
        text(&out.stdout)
    );
    let out = keyhaven(dir, &namespace, &["keys", "list"]).await;
    exited(&out, 3, "account add");

    // Bad input is named; a wrong password is refused.
    let out = clean(
        keyhaven_with_stdin(
            dir,
            &namespace,
            &[
                "account",
                "add",
                "--url",
                "ftp://keys.example",
                "--email",
                OWNER,
            ],
            &format!("{PASSWORD}\n"),
        )
        .await,
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let out = clean(
        keyhaven_with_stdin(
            dir,
            &namespace,
            &["account", "add", "--url", &url, "--email", OWNER],
            "not the password\n",
        )
        .await,
    );
    assert_eq!(out.status.code(), Some(4), "{}", text(&out.stderr));
    let out = keyhaven_with_stdin(
        dir,
        &namespace,
        &["account", "add", "--url", &url, "--email", OWNER],
        "",
    )
    .await;
    exited(&out, 2, "password");

    // Signed in with the password on standard input: the account is listed, and active.
    let out = clean(
        keyhaven_with_stdin(
            dir,
            &namespace,
            &["account", "add", "--url", &url, "--email", OWNER, "--json"],
            &format!("{PASSWORD}\n"),
        )
        .await,
    );
    ok(&out);
    let added: Value = serde_json::from_slice(&out.stdout).expect("json");
    let account = added["id"].as_str().expect("id").to_owned();
    let out = keyhaven(dir, &namespace, &["account", "list", "--json"]).await;
    ok(&out);
    let listed: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(listed[0]["id"], account.as_str());
    assert_eq!(listed[0]["active"], true);

    // A key with every setting; the secret is in the keychain and not on standard output.
    let out = keyhaven(
        dir,
        &namespace,
        &[
            "keys",
            "create",
            "--name",
            "deploy",
            "--scopes",
            "read,write",
            "--expires",
            "30d",
            "--origin",
            "https://app.example.com",
            "--ip",
            "127.0.0.1",
            "--hourly-limit",
            "100",
            "--json",
        ],
    )
    .await;
    ok(&out);
    let meta: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(meta["scopes"], serde_json::json!(["read", "write"]));
    assert_eq!(
        meta["allowed_origins"],
        serde_json::json!(["https://app.example.com"])
    );
    assert_eq!(meta["allowed_ips"], serde_json::json!(["127.0.0.1"]));
    assert_eq!(meta["rate_limit_per_hour"], 100);
    assert!(meta["expires_at"].is_string());
    let key_id = meta["id"].as_str().expect("id").to_owned();
    let core = Keyhaven::open(CoreConfig {
        data_dir: dir.to_path_buf(),
        keychain_namespace: namespace.clone(),
        vault: VaultChoice::SecretService,
    })
    .await
    .expect("core");
    let secret = core
        .vault()
        .get(&core.profile(), &names::key(&account, &key_id))
        .await
        .expect("keychain")
        .expect("the secret is stored");
    record_secret(secret.expose());
    assert!(!text(&out.stdout).contains(secret.expose()));
    assert_eq!(ping(&url, secret.expose()).await, 200);

    // Bad settings are named before anything is created.
    for (args, field) in [
        (vec!["--name", " "], "name"),
        (
            vec!["--name", "x", "--origin", "app.example.com"],
            "allowed_origins",
        ),
        (vec!["--name", "x", "--ip", "10.0.0.0/33"], "allowed_ips"),
        (vec!["--name", "x", "--expires", "soon"], "expires"),
    ] {
        let mut all = vec!["keys", "create"];
        all.extend(args);
        let out = keyhaven(dir, &namespace, &all).await;
        assert_eq!(out.status.code(), Some(2), "{all:?}");
        assert!(
            text(&out.stderr).contains(field),
            "{all:?}: {}",
            text(&out.stderr)
        );
    }

    // The secret only when asked for, and to a pipe only with --allow-pipe.
    let out = keyhaven(
        dir,
        &namespace,
        &["keys", "create", "--name", "ci", "--show-secret"],
    )
    .await;
    exited(&out, 2, "--allow-pipe");
    let out = keyhaven(
        dir,
        &namespace,
        &[
            "keys",
            "create",
            "--name",
            "ci",
            "--show-secret",
            "--allow-pipe",
        ],
    )
    .await;
    ok(&out);
    let shown = text(&out.stdout);
    let ci_secret = shown
        .lines()
        .last()
        .expect("the secret's line")
        .trim()
        .to_owned();
    record_secret(&ci_secret);
    assert!(ci_secret.starts_with("kh_test_"), "{shown}");
    assert_eq!(ping(&url, &ci_secret).await, 200);

    // Changed without a new secret; a bad change is named and changes nothing.
    let out = keyhaven(
        dir,
        &namespace,
        &[
            "keys",
            "update",
            "ci",
            "--scopes",
            "read,search",
            "--hourly-limit",
            "50",
            "--json",
        ],
    )
    .await;
    ok(&out);
    let updated: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(updated["scopes"], serde_json::json!(["read", "search"]));
    assert_eq!(updated["rate_limit_per_hour"], 50);
    assert_eq!(ping(&url, &ci_secret).await, 200, "the same secret");
    let out = keyhaven(
        dir,
        &namespace,
        &["keys", "update", "ci", "--ip", "10.0.0.0/33"],
    )
    .await;
    exited(&out, 2, "allowed_ips");
    let out = keyhaven(
        dir,
        &namespace,
        &[
            "keys",
            "update",
            "ci",
            "--hourly-limit",
            "none",
            "--expires",
            "never",
        ],
    )
    .await;
    ok(&out);
    assert!(text(&out.stdout).contains("did not change"));

    // Its usage: a chart in the terminal, or JSON with the calls made.
    let out = keyhaven(dir, &namespace, &["keys", "usage", "ci"]).await;
    ok(&out);
    assert!(text(&out.stdout).contains('█'), "{}", text(&out.stdout));
    let out = keyhaven(
        dir,
        &namespace,
        &["keys", "usage", "ci", "--by", "day", "--json"],
    )
    .await;
    ok(&out);
    let usage: Value = serde_json::from_slice(&out.stdout).expect("json");
    let calls: u64 = usage["series"]
        .as_array()
        .expect("series")
        .iter()
        .map(|p| p["allowed"].as_u64().expect("allowed"))
        .sum();
    assert_eq!(calls, 2, "the two pings made with it");

    // Shown: metadata, never the secret.
    let out = keyhaven(dir, &namespace, &["keys", "show", "deploy"]).await;
    ok(&out);
    let shown = text(&out.stdout);
    assert!(
        shown.contains("read, write") && shown.contains("https://app.example.com"),
        "{shown}"
    );
    assert!(!shown.contains(secret.expose()));

    // Revoked only with its name typed again.
    let out = keyhaven(
        dir,
        &namespace,
        &["keys", "revoke", "deploy", "--confirm", "deplo"],
    )
    .await;
    exited(&out, 2, "nothing was revoked");
    assert_eq!(ping(&url, secret.expose()).await, 200);
    let out = keyhaven(
        dir,
        &namespace,
        &["keys", "revoke", "deploy", "--confirm", "deploy"],
    )
    .await;
    ok(&out);
    assert_eq!(ping(&url, secret.expose()).await, 401);

    // Signed out: the session is gone, and the way back is said; signed in again, it works.
    let out = keyhaven(dir, &namespace, &["account", "sign-out", &account]).await;
    ok(&out);
    let out = keyhaven(dir, &namespace, &["keys", "list"]).await;
    exited(&out, 4, "account sign-in");
    let out = clean(
        keyhaven_with_stdin(
            dir,
            &namespace,
            &["account", "sign-in", &account],
            &format!("{PASSWORD}\n"),
        )
        .await,
    );
    ok(&out);
    let out = keyhaven(dir, &namespace, &["keys", "list"]).await;
    ok(&out);
    assert!(text(&out.stdout).contains("ci"));

    // Removed (its id typed again): the account and every secret of it leave this computer.
    let out = keyhaven(
        dir,
        &namespace,
        &["account", "remove", &account, "--confirm", "acc_other"],
    )
    .await;
    assert_eq!(out.status.code(), Some(2));
    let out = keyhaven(
        dir,
        &namespace,
        &["account", "remove", &account, "--confirm", &account],
    )
    .await;
    ok(&out);
    let left: Vec<String> = core
        .vault()
        .entry_names_blocking(&core.profile())
        .expect("entries")
        .into_iter()
        .filter(|n| n.contains(&account))
        .collect();
    assert!(left.is_empty(), "{left:?}");
    let out = keyhaven(dir, &namespace, &["account", "list", "--json"]).await;
    let listed: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(listed, serde_json::json!([]));
    // The keys on the service stay: the one made with --show-secret still works.
    assert_eq!(ping(&url, &ci_secret).await, 200);

    // No file the CLI wrote holds a secret.
    for needle in [secret.expose(), ci_secret.as_str(), PASSWORD] {
        let found = files_containing(dir, needle);
        assert!(found.is_empty(), "{found:?}");
    }
}

#[tokio::test]
async fn completions_and_the_manual_come_from_the_command_definitions() {
    let data = tempfile::tempdir().expect("tempdir");
    let namespace = namespace("generated");
    for shell in ["bash", "zsh", "fish"] {
        let out = keyhaven(data.path(), &namespace, &["completions", shell]).await;
        ok(&out);
        let script = text(&out.stdout);
        for word in ["account", "keys", "revoke", "--show-secret"] {
            assert!(script.contains(word), "{shell} completions lack {word}");
        }
    }
    let out = keyhaven(data.path(), &namespace, &["man"]).await;
    ok(&out);
    let page = text(&out.stdout);
    assert!(
        page.starts_with(".ie") || page.contains(".TH keyhaven"),
        "{}",
        &page[..page.len().min(200)]
    );
    assert!(page.contains("Exit codes"));
    // Neither opens a profile: nothing was written.
    assert_eq!(std::fs::read_dir(data.path()).expect("dir").count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn env_files_hold_references_that_follow_the_keys_through_rotations() {
    let namespace = namespace("envfile");
    let svc = TestService::start(|c| c.lockout_threshold = 1000).await;
    let url = svc.url();
    let data = tempfile::tempdir().expect("tempdir");
    let dir = data.path();
    let out = clean(
        keyhaven_with_stdin(
            dir,
            &namespace,
            &["account", "add", "--url", &url, "--email", OWNER, "--json"],
            &format!("{PASSWORD}\n"),
        )
        .await,
    );
    ok(&out);
    let account = serde_json::from_slice::<Value>(&out.stdout).expect("json")["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let mut ids = Vec::new();
    for name in ["billing", "search bot"] {
        let out = keyhaven(
            dir,
            &namespace,
            &["keys", "create", "--name", name, "--json"],
        )
        .await;
        ok(&out);
        let meta: Value = serde_json::from_slice(&out.stdout).expect("json");
        ids.push(meta["id"].as_str().expect("id").to_owned());
    }
    let core = Keyhaven::open(CoreConfig {
        data_dir: dir.to_path_buf(),
        keychain_namespace: namespace.clone(),
        vault: VaultChoice::SecretService,
    })
    .await
    .expect("core");
    let stored = |id: String| {
        let core = core.clone();
        let account = account.clone();
        async move {
            let secret = core
                .vault()
                .get(&core.profile(), &names::key(&account, &id))
                .await
                .expect("keychain")
                .expect("stored");
            record_secret(secret.expose());
            secret.expose().to_owned()
        }
    };
    let billing = stored(ids[0].clone()).await;
    let search = stored(ids[1].clone()).await;

    // References by the account's email and by its id, a plain value, comments.
    let env = dir.join("app.env");
    std::fs::write(
        &env,
        format!(
            "# the app's settings\nexport BILLING_KEY=keyhaven:{OWNER}/billing\n\
             SEARCH_KEY=\"keyhaven:{account}/search bot\"\nGREETING='plain value' \n"
        ),
    )
    .expect("write .env");
    let check =
        "test \"$BILLING_KEY\" = \"$WANT_BILLING\" && test \"$SEARCH_KEY\" = \"$WANT_SEARCH\" \
                 && test \"$GREETING\" = 'plain value'";
    let run = |want_billing: String| {
        let mut cmd = common::command(
            dir,
            &namespace,
            &[
                "run",
                "--env-file",
                env.to_str().expect("path"),
                "--",
                "sh",
                "-c",
                check,
            ],
        );
        cmd.env("WANT_BILLING", want_billing)
            .env("WANT_SEARCH", search.clone());
        async move { cmd.output().await.expect("run") }
    };
    let out = run(billing.clone()).await;
    ok(&out);
    for secret in [&billing, &search] {
        assert!(
            !text(&out.stdout).contains(secret.as_str())
                && !text(&out.stderr).contains(secret.as_str())
        );
    }

    // Rotated: the same file now gives the new secret, with nothing edited.
    let out = keyhaven(dir, &namespace, &["keys", "rotate", "billing", "--json"]).await;
    ok(&out);
    let outcome: Value = serde_json::from_slice(&out.stdout).expect("json");
    let rotated = stored(
        outcome["new_key"]["id"]
            .as_str()
            .expect("new id")
            .to_owned(),
    )
    .await;
    assert_ne!(rotated, billing);
    assert_eq!(
        run(billing.clone()).await.status.code(),
        Some(1),
        "not the old secret"
    );
    ok(&run(rotated).await);

    // "Used by": the file is remembered for the keys it names, the rotated key included.
    let new_id = outcome["new_key"]["id"].as_str().expect("new id");
    for (id, variable, line) in [
        (new_id, "BILLING_KEY", 2),
        (ids[1].as_str(), "SEARCH_KEY", 3),
    ] {
        let meta = core.keys().get(&account, id, None).await.expect("key");
        let used = core
            .keys()
            .env_references(&account, &meta)
            .expect("references");
        let seen: Vec<_> = used.iter().map(|r| (r.variable.as_str(), r.line)).collect();
        assert_eq!(seen, [(variable, line)], "{used:?}");
        assert!(
            used[0].path.ends_with("app.env") && used[0].exists,
            "{used:?}"
        );
    }

    // A reference that does not resolve stops the run before the command, naming where it is.
    let bad = dir.join("bad.env");
    std::fs::write(&bad, "OK=1\nMISSING=keyhaven:nobody@nowhere.test/billing\n").expect("write");
    let out = keyhaven(
        dir,
        &namespace,
        &[
            "run",
            "--env-file",
            bad.to_str().expect("path"),
            "--",
            "sh",
            "-c",
            "echo ran",
        ],
    )
    .await;
    exited(&out, 3, "bad.env:2");
    assert!(!text(&out.stdout).contains("ran"));
    // The files still hold references, never a secret.
    assert!(
        files_containing(dir, &billing).is_empty() && files_containing(dir, &search).is_empty()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn env_import_moves_secrets_into_the_keychain_and_keeps_every_other_byte() {
    let svc = TestService::start(|c| c.lockout_threshold = 1000).await;
    let url = svc.url();
    // This computer, and another one that made a key this one has never held.
    let (here, elsewhere) = (namespace("env-here"), namespace("env-elsewhere"));
    let (data, other) = (
        tempfile::tempdir().expect("tempdir"),
        tempfile::tempdir().expect("tempdir"),
    );
    let dir = data.path();
    let mut account = String::new();
    for (d, ns) in [(other.path(), &elsewhere), (dir, &here)] {
        let out = clean(
            keyhaven_with_stdin(
                d,
                ns,
                &["account", "add", "--url", &url, "--email", OWNER, "--json"],
                &format!("{PASSWORD}\n"),
            )
            .await,
        );
        ok(&out);
        account = serde_json::from_slice::<Value>(&out.stdout).expect("json")["id"]
            .as_str()
            .expect("id")
            .to_owned();
    }
    let secret_of = |out: Output| {
        ok(&out);
        let secret = text(&out.stdout)
            .lines()
            .last()
            .expect("secret")
            .trim()
            .to_owned();
        record_secret(&secret);
        secret
    };
    let held = secret_of(
        keyhaven(
            dir,
            &here,
            &[
                "keys",
                "create",
                "--name",
                "held",
                "--show-secret",
                "--allow-pipe",
            ],
        )
        .await,
    );
    let foreign = secret_of(
        keyhaven(
            other.path(),
            &elsewhere,
            &[
                "keys",
                "create",
                "--name",
                "made elsewhere",
                "--show-secret",
                "--allow-pipe",
            ],
        )
        .await,
    );
    let unknown = format!("kh_test_{}", "Q".repeat(40));

    let env = dir.join(".env");
    let original = format!(
        "# the app's settings\r\nexport HELD={held}\nFOREIGN=\"{foreign}\"\nPLAIN=hello world # a comment\n\nUNKNOWN={unknown}\nLAST='kept'"
    );
    std::fs::write(&env, &original).expect("write");
    let env_path = env.to_str().expect("path");

    // Checked: each secret-looking value is named by line, none is printed.
    let out = keyhaven(dir, &here, &["env", "check", env_path]).await;
    assert_eq!(out.status.code(), Some(1));
    let said = text(&out.stdout);
    assert!(
        said.contains(":2 HELD") && said.contains(":3 FOREIGN") && said.contains(":6 UNKNOWN"),
        "{said}"
    );
    assert!(!said.contains("PLAIN"));
    for secret in [&held, &foreign] {
        assert!(!said.contains(secret.as_str()));
    }

    // Imported: the held one becomes a reference, the foreign one is verified, imported and
    // referenced, the unknown one (the service refuses it) stays and is said.
    let out = keyhaven(dir, &here, &["env", "import", env_path]).await;
    ok(&out);
    let said = text(&out.stdout);
    assert!(
        said.contains("HELD (line 2)") && said.contains("imported \"made elsewhere\""),
        "{said}"
    );
    assert!(said.contains("UNKNOWN (line 6): left as it is"), "{said}");
    for secret in [&held, &foreign] {
        assert!(!said.contains(secret.as_str()) && !text(&out.stderr).contains(secret.as_str()));
    }
    let now = std::fs::read_to_string(&env).expect("read");
    let expected = original
        .replace(
            &format!("HELD={held}"),
            &format!("HELD=keyhaven:{account}/held"),
        )
        .replace(
            &format!("FOREIGN=\"{foreign}\""),
            &format!("FOREIGN=\"keyhaven:{account}/made elsewhere\""),
        );
    assert_eq!(
        now, expected,
        "only the two values changed, every other byte kept"
    );

    // Remembered for "Used by", before anything has run with it.
    let core = Keyhaven::open(CoreConfig {
        data_dir: dir.to_path_buf(),
        keychain_namespace: here.clone(),
        vault: VaultChoice::SecretService,
    })
    .await
    .expect("core");
    for (name, variable, line) in [("held", "HELD", 2), ("made elsewhere", "FOREIGN", 3)] {
        let keys = core.keys().list(&account).await.expect("keys");
        let key = keys.iter().find(|k| k.meta.name == name).expect("the key");
        let used = core
            .keys()
            .env_references(&account, &key.meta)
            .expect("references");
        let seen: Vec<_> = used.iter().map(|r| (r.variable.as_str(), r.line)).collect();
        assert_eq!(seen, [(variable, line)], "{name}: {used:?}");
    }

    // The references work: the command gets both secrets.
    let mut cmd = common::command(
        dir,
        &here,
        &["run", "--env-file", env_path, "--", "sh", "-c", "test \"$HELD\" = \"$W1\" && test \"$FOREIGN\" = \"$W2\" && test \"$PLAIN\" = 'hello world'"],
    );
    cmd.env("W1", &held).env("W2", &foreign);
    ok(&cmd.output().await.expect("run"));
    let out = keyhaven(dir, &here, &["env", "check", env_path]).await;
    assert_eq!(out.status.code(), Some(1), "the unknown key is still there");
    let said = text(&out.stdout);
    assert!(
        said.contains("UNKNOWN") && !said.contains("HELD") && !said.contains("FOREIGN"),
        "{said}"
    );

    // The same as JSON, with a stable shape: what is wrong, and what an import would do.
    let out = keyhaven(dir, &here, &["env", "check", env_path, "--json"]).await;
    assert_eq!(out.status.code(), Some(1));
    let report: Value = serde_json::from_slice(&out.stdout).expect("json");
    let problems: Vec<_> = report["problems"]
        .as_array()
        .expect("problems")
        .iter()
        .map(|p| {
            (
                p["variable"].as_str(),
                p["line"].as_u64(),
                p["kind"].as_str(),
            )
        })
        .collect();
    assert_eq!(
        problems,
        [(Some("UNKNOWN"), Some(6), Some("looks_like_key"))]
    );
    let out = keyhaven(dir, &here, &["env", "import", env_path, "--json"]).await;
    ok(&out);
    let report: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(report["replaced"], 0);
    let change = &report["changes"][0];
    assert_eq!(
        (change["variable"].as_str(), change["action"].as_str()),
        (Some("UNKNOWN"), Some("left"))
    );
    assert!(change["reason"].as_str().is_some_and(|r| !r.is_empty()));
    assert!(!text(&out.stdout).contains(unknown.as_str()));
    assert_eq!(std::fs::read_to_string(&env).expect("read"), expected);

    // keys import: a secret the service refuses is not stored; a good one is, by its service's name.
    let out = keyhaven_with_stdin(
        dir,
        &here,
        &["keys", "import", "--name", "x"],
        &format!("{unknown}\n"),
    )
    .await;
    assert_eq!(out.status.code(), Some(4), "{}", text(&out.stderr));
    let out = keyhaven_with_stdin(
        dir,
        &here,
        &["keys", "import", "--name", "the other one"],
        &format!("{foreign}\n"),
    )
    .await;
    ok(&out);
    let said = text(&out.stdout);
    assert!(
        said.contains("made elsewhere") && said.contains("not \"the other one\""),
        "{said}"
    );
    assert!(!said.contains(foreign.as_str()));
}
