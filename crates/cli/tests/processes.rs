//! Real processes on one profile at once: each read-modify-write of the catalog and of the key
//! records holds an OS lock, so none of twelve concurrent commands loses another's change.

mod common;

use common::{keyhaven, keyhaven_with_stdin, namespace, record_secret, text};
use keyhaven_testkit::join_all;
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_commands_lose_no_account_and_no_key() {
    let ns = namespace("processes");
    let data = tempfile::tempdir().expect("tempdir");
    let dir = data.path();
    let names: Vec<String> = (0..12).map(|n| format!("service-{n}")).collect();
    let outputs = join_all(names.iter().map(|name| {
        let ns = ns.clone();
        async move {
            keyhaven(
                dir,
                &ns,
                &[
                    "account",
                    "add",
                    "--kind",
                    "generic",
                    "--name",
                    name,
                    "--url",
                    "https://api.example.com",
                ],
            )
            .await
        }
    }))
    .await;
    for out in &outputs {
        assert!(out.status.success(), "{}", text(&out.stderr));
    }
    let out = keyhaven(dir, &ns, &["account", "list", "--json"]).await;
    let listed: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(listed.as_array().expect("accounts").len(), 12, "{listed}");

    // Twelve keys imported into one account at once, unverified (no check URL): all recorded.
    let account = listed[0]["id"].as_str().expect("id").to_string();
    let secrets: Vec<String> = (0..12)
        .map(|n| format!("generic-secret-{n:02}-{:016x}", rand_suffix(n)))
        .collect();
    for secret in &secrets {
        record_secret(secret);
    }
    let outputs = join_all(secrets.iter().enumerate().map(|(n, secret)| {
        let (ns, account) = (ns.clone(), account.clone());
        async move {
            let name = format!("key {n}");
            keyhaven_with_stdin(
                dir,
                &ns,
                &[
                    "keys",
                    "import",
                    "--account",
                    &account,
                    "--name",
                    &name,
                    "--header",
                    "X-Token",
                    "--unverified",
                ],
                &format!("{secret}\n"),
            )
            .await
        }
    }))
    .await;
    for out in &outputs {
        assert!(out.status.success(), "{}", text(&out.stderr));
    }
    let out = keyhaven(dir, &ns, &["keys", "list", "--account", &account, "--json"]).await;
    let keys: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(keys.as_array().expect("keys").len(), 12, "{keys}");
}

/// A per-run suffix, so that the leak scan looks for these exact values.
fn rand_suffix(n: u64) -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    nanos.rotate_left(n as u32) ^ n.wrapping_mul(0x9e37_79b9_7f4a_7c15)
}
