//! "Used by": the env files `run` and `env import` recorded as referencing a key, matched as the
//! reference resolves (name, id, prefix), per profile, forgotten when a file drops its references.

use keyhaven_api::KeyMeta;
use keyhaven_core::RecordedReference;

mod common;

fn key(id: &str, name: &str, prefix: &str) -> KeyMeta {
    serde_json::from_value(serde_json::json!({
        "id": id, "tenant_id": "t1", "name": name, "prefix": prefix, "scopes": [],
        "status": "active", "created_at": "2026-12-01T00:00:00Z", "last_used_at": null,
        "expires_at": null, "revoked_at": null, "allowed_origins": [], "allowed_ips": [],
        "rate_limit_per_hour": null, "created_by": "u1"
    }))
    .expect("a key's metadata")
}

fn reference(variable: &str, line: usize, account: &str, key: &str) -> RecordedReference {
    RecordedReference {
        variable: variable.into(),
        line,
        account_id: account.into(),
        key: key.into(),
    }
}

#[tokio::test]
async fn files_are_found_by_name_id_or_prefix_and_forgotten_when_they_drop_a_reference() {
    let data = tempfile::tempdir().expect("tempdir");
    let work = tempfile::tempdir().expect("tempdir");
    let core = common::core(data.path()).await;
    let deploy = key("k1", "deploy", "kh_live_abcd");
    let other = key("k2", "billing", "kh_live_wxyz");

    let app_env = work.path().join("app.env");
    let ci_env = work.path().join("ci.env");
    std::fs::write(&app_env, "A=1\n").expect("write");
    core.keys()
        .record_env_file(
            &app_env,
            vec![
                reference("API_KEY", 2, "acc1", "deploy"),
                reference("OTHER", 3, "acc2", "deploy"),
            ],
        )
        .expect("recorded");
    core.keys()
        .record_env_file(&ci_env, vec![reference("CI_KEY", 1, "acc1", "kh_live_ab")])
        .expect("recorded");

    let found = core.keys().env_references("acc1", &deploy).expect("read");
    let seen: Vec<_> = found
        .iter()
        .map(|r| (r.variable.as_str(), r.line, r.exists))
        .collect();
    assert_eq!(
        seen,
        [("API_KEY", 2, true), ("CI_KEY", 1, false)],
        "{found:?}"
    );
    assert!(
        found[0].path.ends_with("app.env") && std::path::Path::new(&found[0].path).is_absolute()
    );
    assert!(core
        .keys()
        .env_references("acc1", &other)
        .expect("read")
        .is_empty());
    assert_eq!(
        core.keys()
            .env_references("acc2", &deploy)
            .expect("read")
            .len(),
        1
    );
    // The key a rotation replaced keeps its name, but a reference by name resolves to the new one.
    let replaced = KeyMeta {
        replaced_by: Some("k9".into()),
        ..deploy.clone()
    };
    let still: Vec<_> = core
        .keys()
        .env_references("acc1", &replaced)
        .expect("read")
        .into_iter()
        .map(|r| r.variable)
        .collect();
    assert_eq!(still, ["CI_KEY"], "only the reference by its prefix");

    // Read again from another folder: the same file, its references replaced.
    let relative = std::path::Path::new(&found[0].path).to_path_buf();
    core.keys()
        .record_env_file(&relative, vec![reference("API_KEY", 5, "acc1", "k1")])
        .expect("recorded");
    let found = core.keys().env_references("acc1", &deploy).expect("read");
    assert_eq!(
        found.iter().filter(|r| r.path.ends_with("app.env")).count(),
        1
    );
    assert!(found.iter().any(|r| r.line == 5), "{found:?}");

    core.keys()
        .record_env_file(&app_env, Vec::new())
        .expect("forgotten");
    core.keys()
        .record_env_file(&ci_env, Vec::new())
        .expect("forgotten");
    assert!(core
        .keys()
        .env_references("acc1", &deploy)
        .expect("read")
        .is_empty());
}

/// Commands that record at the same moment (several `keyhaven run` in parallel jobs) each keep
/// their note: eight cores on the same profile, each recording ten files at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn notes_recorded_at_once_are_all_kept() {
    let data = tempfile::tempdir().expect("tempdir");
    let work = tempfile::tempdir().expect("tempdir");
    let mut cores = Vec::new();
    for _ in 0..8 {
        cores.push(common::core(data.path()).await);
    }
    let mut threads = Vec::new();
    for (n, core) in cores.into_iter().enumerate() {
        let dir = work.path().to_path_buf();
        threads.push(std::thread::spawn(move || {
            for i in 0..10 {
                let file = dir.join(format!("job{n}-{i}.env"));
                core.keys()
                    .record_env_file(&file, vec![reference("KEY", 1, "acc1", "deploy")])
                    .expect("recorded");
            }
        }));
    }
    for t in threads {
        t.join().expect("thread");
    }
    let core = common::core(data.path()).await;
    let found = core
        .keys()
        .env_references("acc1", &key("k1", "deploy", "kh_live_abcd"))
        .expect("read");
    assert_eq!(found.len(), 80, "every note kept");
}
