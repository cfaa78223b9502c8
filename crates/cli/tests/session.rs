//! A whole workstation session, as one person would type it, from a fresh profile with no app
//! ever started: add an account, create two keys, `env import` a `.env` holding one of them in
//! plain text, `run --env-file` with two references, rotate one, `run` again (it gets the new
//! secret), revoke the other, and `scan --git` a repository with a secret committed three commits
//! back. The built binary against the real key service on loopback and the real Secret Service.
//! No secret is ever an argument; none is printed unless asked for (`--show-secret`,
//! `keys get`); none is left in the `.env` or in any file the CLI writes.

use std::process::Output;

mod common;

use common::{
    command, files_containing, git, keyhaven, keyhaven_with_stdin, namespace, ping, record_secret,
    text, TestService, OWNER, PASSWORD,
};

fn ok(what: &str, out: &Output) {
    assert!(
        out.status.success(),
        "{what}: exit {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        text(&out.stdout),
        text(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_whole_workstation_session_from_the_terminal() {
    let ns = namespace("session");
    let svc = TestService::start(|c| c.lockout_threshold = 1000).await;
    let url = svc.url();
    let data = tempfile::tempdir().expect("tempdir");
    let work = tempfile::tempdir().expect("work");
    let (dir, repo) = (data.path(), work.path());
    let mut outputs: Vec<Output> = Vec::new();

    // An account: the password on standard input.
    let out = keyhaven_with_stdin(
        dir,
        &ns,
        &["account", "add", "--url", &url, "--email", OWNER],
        &format!("{PASSWORD}\n"),
    )
    .await;
    ok("account add", &out);
    outputs.push(out);

    // Two keys; the first one's secret shown once, as asked, to be pasted into a .env.
    let out = keyhaven(
        dir,
        &ns,
        &[
            "keys",
            "create",
            "--name",
            "api",
            "--show-secret",
            "--allow-pipe",
        ],
    )
    .await;
    ok("keys create api", &out);
    let api = text(&out.stdout)
        .lines()
        .last()
        .expect("secret")
        .trim()
        .to_owned();
    record_secret(&api);
    let out = keyhaven(dir, &ns, &["keys", "create", "--name", "worker"]).await;
    ok("keys create worker", &out);
    outputs.push(out);
    let get = |key: &'static str| {
        let ns = ns.clone();
        async move {
            let out = keyhaven(dir, &ns, &["keys", "get", key, "--allow-pipe"]).await;
            ok("keys get", &out);
            let secret = text(&out.stdout).trim().to_owned();
            record_secret(&secret);
            secret
        }
    };
    let worker = get("worker").await;
    assert_eq!(get("api").await, api);

    // A .env with the api key in plain text and a reference to the worker key.
    let env = repo.join(".env");
    std::fs::write(
        &env,
        format!("# app\nAPI_KEY={api}\nWORKER_KEY=keyhaven:{OWNER}/worker\nMODE=production\n"),
    )
    .expect("write .env");
    let env_path = env.to_str().expect("path");
    let out = keyhaven(dir, &ns, &["env", "import", env_path]).await;
    ok("env import", &out);
    assert!(
        text(&out.stdout).contains("API_KEY (line 2)"),
        "{}",
        text(&out.stdout)
    );
    outputs.push(out);
    let now = std::fs::read_to_string(&env).expect("read .env");
    assert!(!now.contains(&api), "the .env no longer holds the secret");
    assert!(
        now.contains("/api\n") && now.contains("MODE=production\n"),
        "{now}"
    );

    // run --env-file: both references resolved, the plain value passed through.
    let run = |want_api: String, want_worker: String| {
        let mut cmd = command(
            dir,
            &ns,
            &[
                "run",
                "--env-file",
                env_path,
                "--",
                "sh",
                "-c",
                "test \"$API_KEY\" = \"$WANT_API\" && test \"$WORKER_KEY\" = \"$WANT_WORKER\" \
                 && test \"$MODE\" = production",
            ],
        );
        cmd.env("WANT_API", want_api)
            .env("WANT_WORKER", want_worker);
        async move { cmd.output().await.expect("run") }
    };
    let out = run(api.clone(), worker.clone()).await;
    ok("run before the rotation", &out);
    outputs.push(out);

    // Rotated: the same .env gives the new secret, with nothing edited.
    let out = keyhaven(dir, &ns, &["keys", "rotate", "api", "--grace", "none"]).await;
    ok("keys rotate", &out);
    outputs.push(out);
    let rotated = get("api").await;
    assert_ne!(rotated, api);
    assert_eq!(ping(&url, &api).await, 401, "the old secret is refused");
    assert_eq!(
        run(api.clone(), worker.clone()).await.status.code(),
        Some(1),
        "not the old secret any more"
    );
    let out = run(rotated.clone(), worker.clone()).await;
    ok("run after the rotation", &out);
    outputs.push(out);

    // Revoked: the service refuses the worker key, and a run that needs it stops before CMD.
    let out = keyhaven(
        dir,
        &ns,
        &["keys", "revoke", "worker", "--confirm", "worker"],
    )
    .await;
    ok("keys revoke", &out);
    outputs.push(out);
    assert_eq!(ping(&url, &worker).await, 401);
    let out = run(rotated.clone(), worker.clone()).await;
    assert_ne!(out.status.code(), Some(0), "{}", text(&out.stderr));
    outputs.push(out);

    // scan --git: the new api secret, committed three commits back, is found and named.
    git(repo, &["init", "-q"]);
    std::fs::write(
        repo.join("deploy.sh"),
        format!("curl -H 'X-API-Key: {rotated}' ...\n"),
    )
    .expect("write");
    git(repo, &["add", "deploy.sh"]);
    git(repo, &["commit", "-q", "-m", "deploy script"]);
    for (i, file) in ["a.txt", "b.txt", "c.txt"].iter().enumerate() {
        if i == 0 {
            std::fs::write(
                repo.join("deploy.sh"),
                "keyhaven run --key api -- ./deploy\n",
            )
            .expect("write");
        }
        std::fs::write(repo.join(file), "more\n").expect("write");
        git(repo, &["add", "-A", "deploy.sh", file]);
        git(repo, &["commit", "-q", "-m", file]);
    }
    let out = command(dir, &ns, &["scan", "--git"])
        .current_dir(repo)
        .output()
        .await
        .expect("scan");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let found = text(&out.stdout);
    assert!(
        found.contains("deploy.sh") && found.contains("api") && found.contains("keys rotate"),
        "{found}"
    );
    outputs.push(out);

    // Nothing printed a secret it was not asked for; no file holds one.
    for out in &outputs {
        for secret in [&api, &worker, &rotated] {
            assert!(
                !text(&out.stdout).contains(secret.as_str())
                    && !text(&out.stderr).contains(secret.as_str()),
                "a secret was printed"
            );
        }
    }
    for secret in [&api, &worker, &rotated] {
        assert!(
            files_containing(dir, secret).is_empty(),
            "a CLI file holds a secret"
        );
    }
    assert!(files_containing(&env, &api).is_empty() && files_containing(&env, &rotated).is_empty());
}
