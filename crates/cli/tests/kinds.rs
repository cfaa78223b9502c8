//! Account kinds other than Keyhaven's own, from the terminal, against their contract fakes
//! (`tests/fakes/`): a TokenKit account added with a user name and an API key of its own, keys
//! listed, created with TokenKit's settings and deleted; what TokenKit cannot do is refused,
//! saying where it is done.

mod common;

use common::{keyhaven, keyhaven_with_stdin, namespace, record_secret, text};
use keyhaven_testkit::fake::Fake;
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tokenkit_account_from_the_terminal() {
    let fake = Fake::start("tokenkit");
    fake.control(
        "add-user",
        json!({"username": "ann", "password": "tk password"}),
    );
    let dashboard = fake.control("mint", json!({"username": "ann", "name": "dashboard"}))["key"]
        .as_str()
        .expect("key")
        .to_string();
    record_secret(&dashboard);
    let ns = namespace("kinds");
    let data = tempfile::tempdir().expect("tempdir");
    let dir = data.path();

    // The password, then the account's API key, each a line of standard input.
    let add = [
        "account",
        "add",
        "--kind",
        "tokenkit",
        "--url",
        fake.url(),
        "--email",
        "ann",
        "--json",
    ];
    let out = keyhaven_with_stdin(dir, &ns, &add, "tk password\n").await;
    assert_eq!(
        out.status.code(),
        Some(2),
        "no api key: {}",
        text(&out.stderr)
    );
    let out = keyhaven_with_stdin(dir, &ns, &add, &format!("tk password\n{dashboard}\n")).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let account: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(account["connector"], "tokenkit");
    assert!(!text(&out.stdout).contains(&dashboard) && !text(&out.stderr).contains(&dashboard));

    let out = keyhaven(
        dir,
        &ns,
        &[
            "keys",
            "create",
            "--name",
            "cron",
            "--ip",
            "127.0.0.1",
            "--hourly-limit",
            "100",
            "--json",
        ],
    )
    .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let created: Value = serde_json::from_slice(&out.stdout).expect("json");
    let id = created["id"].as_str().expect("id").to_string();
    let held = fake.control("key", json!({"key_id": id}));
    assert_eq!(
        (
            held["allowed_ips"].clone(),
            held["rate_limit_per_hour"].clone()
        ),
        (json!(["127.0.0.1"]), json!(100))
    );

    let out = keyhaven(dir, &ns, &["keys", "list", "--json"]).await;
    let listed: Value = serde_json::from_slice(&out.stdout).expect("json");
    let names: Vec<&str> = listed
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|k| k["meta"]["name"].as_str())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(names.contains(&"cron") && names.contains(&"dashboard"));

    // No update on TokenKit: refused (exit 4), naming where it is done.
    let out = keyhaven(dir, &ns, &["keys", "update", "cron", "--name", "other"]).await;
    assert_eq!(out.status.code(), Some(4), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("TokenKit") || text(&out.stderr).contains("cannot"),
        "{}",
        text(&out.stderr)
    );

    let out = keyhaven(
        dir,
        &ns,
        &["keys", "revoke", "cron", "--confirm", "cron", "--json"],
    )
    .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let revoked: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(revoked["status"], "revoked");
    assert_eq!(
        fake.control("key", json!({"key_id": id}))["found"],
        json!(false)
    );
}

/// An Animus account from the terminal: signed in with a session token from standard input,
/// a key made in the Animus app imported by its name, renamed and rescoped, checked and revoked;
/// a create is refused, saying where keys are made.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_animus_account_from_the_terminal() {
    let fake = Fake::start("animus");
    let jwt = fake.control("session", json!({"account": "ann"}))["jwt"]
        .as_str()
        .expect("jwt")
        .to_string();
    record_secret(&jwt);
    let made = fake.control(
        "mint",
        json!({"account": "ann", "name": "deploy", "scopes": ["read"]}),
    );
    let secret = made["secret"].as_str().expect("secret").to_string();
    record_secret(&secret);
    let key_id = made["id"].as_str().expect("id").to_string();
    let ns = namespace("kinds-animus");
    let data = tempfile::tempdir().expect("tempdir");
    let dir = data.path();

    let add = [
        "account",
        "add",
        "--kind",
        "animus",
        "--url",
        fake.url(),
        "--email",
        "personal",
        "--json",
    ];
    let out = keyhaven_with_stdin(dir, &ns, &add, "eyJnot-a-session\n").await;
    assert_eq!(out.status.code(), Some(4), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("new one"),
        "{}",
        text(&out.stderr)
    );
    let out = keyhaven_with_stdin(dir, &ns, &add, &format!("{jwt}\n")).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let account: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(account["connector"], "animus");
    assert_eq!(account["remember_password"], false);
    assert!(!text(&out.stdout).contains(&jwt) && !text(&out.stderr).contains(&jwt));

    let out = keyhaven(dir, &ns, &["keys", "create", "--name", "new"]).await;
    assert_eq!(out.status.code(), Some(4), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("the Animus app (Integrations → API Keys)"),
        "{}",
        text(&out.stderr)
    );

    // The key's prefix names the account; its name says which listed key it is.
    let out = keyhaven_with_stdin(
        dir,
        &ns,
        &["keys", "import", "--name", "nope"],
        &format!("{secret}\n"),
    )
    .await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("\"deploy\""),
        "{}",
        text(&out.stderr)
    );
    let out = keyhaven_with_stdin(
        dir,
        &ns,
        &["keys", "import", "--name", "deploy", "--json"],
        &format!("{secret}\n"),
    )
    .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let imported: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(imported["id"], key_id.as_str());
    assert!(!text(&out.stdout).contains(&secret) && !text(&out.stderr).contains(&secret));

    let out = keyhaven(
        dir,
        &ns,
        &[
            "keys",
            "update",
            "deploy",
            "--name",
            "deploy-2",
            "--scopes",
            "read,search",
            "--json",
        ],
    )
    .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let updated: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(
        (updated["name"].clone(), updated["scopes"].clone()),
        (json!("deploy-2"), json!(["read", "search"]))
    );
    let out = keyhaven(
        dir,
        &ns,
        &["keys", "update", "deploy-2", "--scopes", "admin"],
    )
    .await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let out = keyhaven(dir, &ns, &["keys", "check", "deploy-2", "--json"]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let check: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(check["verdict"], "works", "{check}");
    let out = keyhaven(dir, &ns, &["keys", "show", "deploy-2", "--json"]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));

    let out = keyhaven(
        dir,
        &ns,
        &[
            "keys",
            "revoke",
            "deploy-2",
            "--confirm",
            "deploy-2",
            "--json",
        ],
    )
    .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let revoked: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(revoked["status"], "revoked");
    let out = keyhaven(dir, &ns, &["keys", "list", "--json"]).await;
    assert_eq!(
        serde_json::from_slice::<Value>(&out.stdout).expect("json"),
        json!([])
    );
}

fn minted(fake: &Fake, args: Value) -> String {
    let secret = fake.control("mint", args)["secret"]
        .as_str()
        .expect("secret")
        .to_string();
    record_secret(&secret);
    secret
}

/// AniKura and Ananke Labs share the `ak_live_` prefix: with accounts of both, an import asks
/// which; keys are checked before they are stored, listed, checked again and forgotten.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_of_services_without_a_key_api_are_imported_checked_and_forgotten() {
    let anikura = Fake::start("anikura");
    let ananke = Fake::start("ananke");
    let ns = namespace("kinds-import");
    let data = tempfile::tempdir().expect("tempdir");
    let dir = data.path();

    // No sign-in for these kinds: a name, and nothing read from standard input.
    let out = keyhaven(
        dir,
        &ns,
        &["account", "add", "--kind", "anikura", "--email", "a@b.c"],
    )
    .await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("--name"),
        "{}",
        text(&out.stderr)
    );
    for (kind, url) in [("anikura", anikura.url()), ("ananke", ananke.url())] {
        let out = keyhaven(
            dir,
            &ns,
            &[
                "account", "add", "--kind", kind, "--name", "work", "--url", url,
            ],
        )
        .await;
        assert!(out.status.success(), "{}", text(&out.stderr));
        assert!(
            text(&out.stdout).contains("keys import"),
            "{}",
            text(&out.stdout)
        );
    }

    let secret = minted(&anikura, json!({"account": "ann"}));
    let import = |extra: &'static [&'static str]| {
        let mut args = vec!["keys", "import", "--name", "scraper"];
        args.extend_from_slice(extra);
        args
    };
    let out = keyhaven_with_stdin(dir, &ns, &import(&[]), &format!("{secret}\n")).await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let asked = text(&out.stderr);
    assert!(
        asked.contains("AniKura (--kind anikura) or Ananke Labs (--kind ananke)"),
        "{asked}"
    );
    // The wrong one: Ananke refuses the key, and nothing is stored.
    let out = keyhaven_with_stdin(
        dir,
        &ns,
        &import(&["--kind", "ananke"]),
        &format!("{secret}\n"),
    )
    .await;
    assert_eq!(out.status.code(), Some(4), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("refused the API key"),
        "{}",
        text(&out.stderr)
    );
    let out = keyhaven_with_stdin(
        dir,
        &ns,
        &import(&["--kind", "anikura", "--json"]),
        &format!("{secret}\n"),
    )
    .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let imported: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(imported["check"]["verdict"], "works");
    assert_eq!(imported["check"]["quota"]["remaining"], 1_999);
    let account = imported["meta"]["tenant_id"]
        .as_str()
        .expect("tenant")
        .trim_start_matches("anikura:")
        .to_string();
    for stream in [&out.stdout, &out.stderr] {
        assert!(
            !text(stream).contains(&secret),
            "the secret is never printed"
        );
    }

    // Deleted in AniKura's dashboard: the check says it is broken and where to make a new one.
    anikura.control("delete", json!({"secret": secret}));
    anikura.control("advance", json!({"seconds": 3}));
    let out = keyhaven(
        dir,
        &ns,
        &["keys", "check", "scraper", "--account", &account],
    )
    .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).starts_with("refused: AniKura refused the key (401)"),
        "{}",
        text(&out.stdout)
    );
    // No revoke there; forgetting needs the name typed again.
    let out = keyhaven(
        dir,
        &ns,
        &[
            "keys",
            "revoke",
            "scraper",
            "--confirm",
            "scraper",
            "--account",
            &account,
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(4), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("AniKura's dashboard"),
        "{}",
        text(&out.stderr)
    );
    let out = keyhaven(
        dir,
        &ns,
        &[
            "keys",
            "forget",
            "scraper",
            "--confirm",
            "nope",
            "--account",
            &account,
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let out = keyhaven(
        dir,
        &ns,
        &[
            "keys",
            "forget",
            "scraper",
            "--confirm",
            "scraper",
            "--account",
            &account,
        ],
    )
    .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = keyhaven(dir, &ns, &["keys", "list", "--account", &account, "--json"]).await;
    assert_eq!(
        serde_json::from_slice::<Value>(&out.stdout).expect("json"),
        json!([])
    );

    // A suspended Ananke tenant: limited, not broken.
    let ak = minted(&ananke, json!({"tenant": "acme"}));
    let out = keyhaven_with_stdin(
        dir,
        &ns,
        &["keys", "import", "--name", "templates", "--kind", "ananke"],
        &format!("{ak}\n"),
    )
    .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    ananke.control("set_tenant", json!({"tenant": "acme", "suspended": true}));
    let out = keyhaven(dir, &ns, &["keys", "check", "templates", "--json"]).await;
    let check: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(check["verdict"], "limited", "{check}");

    // Found across the profile's accounts, by part of the name or the start of the prefix.
    let second = minted(&anikura, json!({"account": "ann"}));
    let out = keyhaven_with_stdin(
        dir,
        &ns,
        &[
            "keys",
            "import",
            "--name",
            "Nightly TEMPLATES sync",
            "--kind",
            "anikura",
        ],
        &format!("{second}\n"),
    )
    .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let find = |query: &'static str| {
        let ns = ns.clone();
        async move {
            let out = keyhaven(dir, &ns, &["keys", "find", query, "--json"]).await;
            assert!(out.status.success(), "{}", text(&out.stderr));
            let found: Value = serde_json::from_slice(&out.stdout).expect("json");
            let mut names: Vec<String> = found["found"]
                .as_array()
                .expect("found")
                .iter()
                .map(|f| f["key"]["meta"]["name"].as_str().expect("name").to_string())
                .collect();
            names.sort();
            names
        }
    };
    assert_eq!(
        find("templates").await,
        ["Nightly TEMPLATES sync", "templates"]
    );
    assert_eq!(
        find("ak_live_").await.len(),
        2,
        "by prefix, in both accounts"
    );
    assert!(find("nothing-like-it").await.is_empty());
}

/// A guided rotation from the terminal: the new WaniKani token pasted, checked, in use; the old
/// one still accepted, so the rotation waits; deleted, and `keys resume` completes it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guided_rotation_from_the_terminal() {
    let wanikani = Fake::start("wanikani");
    let ns = namespace("kinds-guided");
    let data = tempfile::tempdir().expect("tempdir");
    let dir = data.path();
    let out = keyhaven(
        dir,
        &ns,
        &[
            "account",
            "add",
            "--kind",
            "wanikani",
            "--name",
            "me",
            "--url",
            wanikani.url(),
        ],
    )
    .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let old = minted(&wanikani, json!({"user": "koichi", "name": "sync"}));
    let out = keyhaven_with_stdin(
        dir,
        &ns,
        &[
            "keys",
            "import",
            "--name",
            "sync",
            "--scope",
            "reviews:create",
        ],
        &format!("{old}\n"),
    )
    .await;
    assert!(out.status.success(), "{}", text(&out.stderr));

    // The new token, then Enter: WaniKani still takes the old one, so it waits (exit 1).
    let new = minted(&wanikani, json!({"user": "koichi", "name": "sync 2"}));
    let out = keyhaven_with_stdin(
        dir,
        &ns,
        &["keys", "rotate", "sync", "--json"],
        &format!("{new}\n\n"),
    )
    .await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let shown: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(shown["state"], "delete_old", "{shown}");
    assert!(
        shown["message"]
            .as_str()
            .expect("message")
            .contains("still accepts the old key"),
        "{shown}"
    );
    assert!(
        text(&out.stderr).contains("WaniKani's settings"),
        "{}",
        text(&out.stderr)
    );
    for stream in [&out.stdout, &out.stderr] {
        assert!(!text(stream).contains(&new) && !text(stream).contains(&old));
    }
    // Already in use: `keys get` gives the new token by the old name.
    let out = keyhaven(dir, &ns, &["keys", "get", "sync", "--allow-pipe"]).await;
    assert_eq!(text(&out.stdout).trim(), new, "the new token is in use");

    // Resumed while WaniKani still takes the old token: still waiting, said as JSON too.
    let out = keyhaven(dir, &ns, &["keys", "resume", "--json"]).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let resumed: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(resumed[0]["state"], "delete_old", "{resumed}");

    wanikani.control("delete", json!({"secret": old}));
    let out = keyhaven(dir, &ns, &["keys", "resume"]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("refuses the old one"),
        "{}",
        text(&out.stdout)
    );
    let out = keyhaven(dir, &ns, &["keys", "list", "--json"]).await;
    let listed: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(listed.as_array().expect("list").len(), 1, "{listed}");
    assert_eq!(listed[0]["meta"]["scopes"], json!(["reviews:create"]));
}

/// A script that fails after its key was regenerated elsewhere: `keyhaven run` checks the keys it
/// gave the command and names the one its service refuses, and what to do.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_run_names_the_key_its_service_refuses() {
    let ananke = Fake::start("ananke");
    let ns = namespace("kinds-run");
    let data = tempfile::tempdir().expect("tempdir");
    let dir = data.path();
    let out = keyhaven(
        dir,
        &ns,
        &[
            "account",
            "add",
            "--kind",
            "ananke",
            "--name",
            "acme",
            "--url",
            ananke.url(),
        ],
    )
    .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let secret = minted(&ananke, json!({"tenant": "acme"}));
    let out = keyhaven_with_stdin(
        dir,
        &ns,
        &["keys", "import", "--name", "templates"],
        &format!("{secret}\n"),
    )
    .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let run = ["run", "--key", "templates", "--", "sh", "-c", "exit 3"];

    // The key works: the command's own failure, nothing said about the key.
    let out = keyhaven(dir, &ns, &run).await;
    assert_eq!(out.status.code(), Some(3));
    assert!(
        !text(&out.stderr).contains("refuses"),
        "{}",
        text(&out.stderr)
    );

    // Stopped by a signal (as by Ctrl+C): not a failure of the key's making, nothing is checked.
    ananke.control("revoke", json!({"secret": secret}));
    let killed = keyhaven(
        dir,
        &ns,
        &[
            "run",
            "--key",
            "templates",
            "--",
            "sh",
            "-c",
            "kill -TERM $$",
        ],
    )
    .await;
    assert_eq!(killed.status.code(), Some(143), "128 + SIGTERM");
    assert!(
        !text(&killed.stderr).contains("refuses"),
        "{}",
        text(&killed.stderr)
    );

    // Revoked in the Console: the failure is explained.
    let out = keyhaven(dir, &ns, &run).await;
    assert_eq!(out.status.code(), Some(3), "the command's exit status");
    assert!(
        text(&out.stderr).contains("Ananke Labs refuses the key \"templates\"")
            && text(&out.stderr).contains("Ananke Console"),
        "{}",
        text(&out.stderr)
    );
}
