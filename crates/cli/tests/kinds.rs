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
