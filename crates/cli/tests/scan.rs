//! `keyhaven scan`: the profile's secrets found in files, in a git repository's history and in
//! staged changes, by comparing hashes; the built binary against the real key service and the
//! real Secret Service. Findings name the place and the key, never the secret.

use std::path::Path;
use std::process::Output;

mod common;

use common::{create_key, exited, git, namespace, text, TestService};

async fn scan(data: &Path, namespace: &str, cwd: &Path, args: &[&str]) -> Output {
    let mut all = vec!["scan"];
    all.extend_from_slice(args);
    common::command(data, namespace, &all)
        .current_dir(cwd)
        .output()
        .await
        .expect("run keyhaven")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_are_found_in_files_history_and_staged_changes_and_never_printed() {
    let namespace = namespace("scan");
    let svc = TestService::start(|_| {}).await;
    let data = tempfile::tempdir().expect("tempdir");
    let (core, account) = svc.signed_in(data.path(), &namespace).await;
    let key = create_key(&core, &account, "deploy bot", &["read"]).await;
    let secret = key.secret.expose().to_owned();
    let work = tempfile::tempdir().expect("work");
    let repo = work.path();

    // Clean files: nothing found, exit 0.
    std::fs::write(repo.join("README.md"), "# an app\nno secret here\n").expect("write");
    let out = scan(data.path(), &namespace, repo, &["."]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("No secret"));

    // In a file: its line, the key's name and how to rotate it; exit 1; never the secret.
    std::fs::write(
        repo.join("config.yaml"),
        format!("service:\n  url: x\n  key: \"{secret}\"\n"),
    )
    .expect("write");
    let out = scan(data.path(), &namespace, repo, &["."]).await;
    assert_eq!(out.status.code(), Some(1));
    let found = text(&out.stdout);
    assert!(
        found.contains("config.yaml:3") && found.contains("deploy bot"),
        "{found}"
    );
    assert!(found.contains("keyhaven keys rotate"), "{found}");
    assert!(!found.contains(&secret) && !text(&out.stderr).contains(&secret));
    std::fs::remove_file(repo.join("config.yaml")).expect("rm");

    // --git outside a repository: git's own reason, as bad input.
    let out = scan(data.path(), &namespace, repo, &["--git"]).await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stdout));
    assert!(
        text(&out.stderr).contains("not a git repository"),
        "{}",
        text(&out.stderr)
    );

    // Three commits back in git's history: found by --git, not by a scan of today's files.
    git(repo, &["init", "-q"]);
    std::fs::write(
        repo.join("app.env"),
        format!("# settings\nMODE=test\nAPI_KEY={secret}\n"),
    )
    .expect("write");
    git(repo, &["add", "."]);
    git(repo, &["commit", "-q", "-m", "settings"]);
    std::fs::write(
        repo.join("app.env"),
        "# settings\nMODE=test\nAPI_KEY=keyhaven:acc/deploy bot\n",
    )
    .expect("write");
    git(repo, &["commit", "-q", "-am", "a reference instead"]);
    std::fs::write(repo.join("notes.txt"), "later\n").expect("write");
    git(repo, &["add", "."]);
    git(repo, &["commit", "-q", "-m", "notes"]);
    let out = scan(data.path(), &namespace, repo, &["."]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    let out = scan(data.path(), &namespace, repo, &["--git"]).await;
    exited(&out, 1, "in 3 commit(s)");
    let found = text(&out.stdout);
    assert!(
        found.contains("commit ") && found.contains("app.env:3"),
        "{found}"
    );
    assert!(!found.contains(&secret));

    // The same as JSON: the place, the key and how to rotate it, never the secret.
    let out = scan(data.path(), &namespace, repo, &["--git", "--json"]).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(!text(&out.stdout).contains(&secret));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(report["commits_read"], 3);
    assert!(report["secrets_compared"].as_u64() >= Some(1));
    let findings = report["findings"].as_array().expect("findings");
    assert_eq!(findings.len(), 1, "{report}");
    let f = &findings[0];
    assert_eq!(
        (
            f["file"].as_str(),
            f["line"].as_u64(),
            f["staged"].as_bool()
        ),
        (Some("app.env"), Some(3), Some(false))
    );
    assert_eq!(f["commit"].as_str().map(str::len), Some(12));
    assert_eq!(f["key_name"], "deploy bot");
    assert_eq!(f["key_id"], key.meta.id.as_str());
    assert!(f["rotate"]
        .as_str()
        .is_some_and(|c| c.starts_with("keyhaven keys rotate ")));

    // Staged for the next commit: found by --staged (a pre-commit hook), an unstaged copy not.
    std::fs::write(repo.join("staged.txt"), format!("token {secret}\n")).expect("write");
    git(repo, &["add", "staged.txt"]);
    std::fs::write(repo.join("staged.txt"), "edited after staging\n").expect("write");
    let out = scan(data.path(), &namespace, repo, &["--staged"]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stdout).contains("staged.txt:1 (staged)"),
        "{}",
        text(&out.stdout)
    );
    git(repo, &["reset", "-q", "staged.txt"]);
    let out = scan(data.path(), &namespace, repo, &["--staged"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
}
