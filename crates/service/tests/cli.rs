//! The `keyhaven-service` binary: adding a user from a script, and serving (on a SQLite file
//! and on a PostgreSQL URL).

#[macro_use]
mod common;

use std::process::Stdio;

use common::{Db, TestDb};

use keyhaven_api::Role;
use keyhaven_service::{Service, ServiceConfig};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_keyhaven-service");

/// Runs `user add` with `stdin` as its input; returns (success, stdout, stderr).
async fn user_add(db: &str, args: &[&str], stdin: &str) -> (bool, String, String) {
    let mut child = Command::new(BIN)
        .args(["user", "add", "--db", db])
        .args(args)
        .env_remove("KEYHAVEN_DB")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary starts");
    let mut input = child.stdin.take().expect("stdin");
    // The binary may exit before reading (a bad argument), closing the pipe: that is fine.
    let _ = input.write_all(stdin.as_bytes()).await;
    drop(input);
    let out = child.wait_with_output().await.expect("the binary ends");
    let text = |b: Vec<u8>| String::from_utf8(b).expect("utf-8");
    (out.status.success(), text(out.stdout), text(out.stderr))
}

/// Runs `tenant ARGS` on `db` with the tiers `free` and `gold`; returns (success, stdout,
/// stderr).
async fn tenant(db: &str, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(BIN)
        .arg("tenant")
        .args(args)
        .args(["--db", db, "--tier", "free=100,gold=unlimited"])
        .env_remove("KEYHAVEN_DB")
        .env_remove("KEYHAVEN_TIERS")
        .output()
        .await
        .expect("the binary runs");
    let text = |b: Vec<u8>| String::from_utf8(b).expect("utf-8");
    (out.status.success(), text(out.stdout), text(out.stderr))
}

scenario!(
    #[tokio::test]
    the_operator_lists_adds_and_changes_tenants_from_the_command_line
);
async fn the_operator_lists_adds_and_changes_tenants_from_the_command_line(db: Db) {
    let store = TestDb::new(db).await;
    let db = store.url.as_str();
    let (ok, out, err) = tenant(db, &["add", "--name", "acme"]).await;
    assert!(ok, "{err}");
    assert!(out.contains("acme") && out.contains("tier free"), "{out}");
    let (ok, _, err) = tenant(db, &["add", "--name", "acme"]).await;
    assert!(!ok && err.contains("exists already"), "{err}");
    let (ok, _, err) = tenant(db, &["add", "--name", "other", "--in-tier", "platinum"]).await;
    assert!(
        !ok && err.contains("tier") && err.contains("free, gold"),
        "{err}"
    );

    // By name: suspend, move to gold, give it a cap of its own.
    let (ok, out, err) = tenant(
        db,
        &[
            "set",
            "acme",
            "--suspend",
            "--in-tier",
            "gold",
            "--key-cap",
            "3",
        ],
    )
    .await;
    assert!(ok, "{err}");
    assert!(
        out.contains("SUSPENDED") && out.contains("tier gold") && out.contains("keys 0/3"),
        "{out}"
    );
    let (ok, _, err) = tenant(db, &["set", "acme"]).await;
    assert!(!ok && err.contains("nothing to change"), "{err}");
    let (ok, _, err) = tenant(db, &["set", "nobody", "--resume"]).await;
    assert!(!ok && err.to_lowercase().contains("tenant"), "{err}");

    // The list, as JSON: what the admin route shows.
    let (ok, out, err) = tenant(db, &["list", "--json"]).await;
    assert!(ok, "{err}");
    let listed: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object a line"))
        .collect();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["name"], "acme");
    assert_eq!(listed[0]["suspended"], true);
    assert_eq!(listed[0]["tier"], "gold");
    assert_eq!(listed[0]["key_cap"], 3);

    // Back to the deployment's cap, resumed; the change is in the tenant's audit log.
    let (ok, out, err) = tenant(db, &["set", "acme", "--resume", "--key-cap", "default"]).await;
    assert!(ok, "{err}");
    assert!(out.contains("active") && out.contains("keys 0/10"), "{out}");
    let service = Service::open(ServiceConfig::new(db)).await.expect("open");
    let id = listed[0]["id"].as_str().expect("id");
    let audit = service.audit_log(id, 10).await.expect("audit");
    assert_eq!(
        audit
            .iter()
            .filter(|e| e.action == "tenant.update" && e.actor.starts_with("operator"))
            .count(),
        2
    );
}

scenario!(
    #[tokio::test]
    user_add_reads_the_password_from_stdin
);
async fn user_add_reads_the_password_from_stdin(db: Db) {
    let store = TestDb::new(db).await;
    let db = store.url.as_str();
    let password = "correct horse battery";

    let (ok, out, err) = user_add(
        db,
        &[
            "--email",
            "ops@acme.test",
            "--role",
            "owner",
            "--tenant",
            "acme",
        ],
        &format!("{password}\n"),
    )
    .await;
    assert!(ok, "stderr: {err}");
    assert!(
        out.contains("ops@acme.test") && out.contains("usr_"),
        "{out}"
    );
    assert!(
        !out.contains(password) && !err.contains(password),
        "the password is never printed"
    );

    // The user signs in with exactly that password, trailing newline stripped.
    let service = Service::open(ServiceConfig::new(db)).await.expect("open");
    let running = service
        .bind(([127, 0, 0, 1], 0).into())
        .await
        .expect("bind");
    let client = reqwest::Client::new();
    let login = |password: &str| {
        client
            .post(format!("{}/v1/auth/login", running.url()))
            .json(&serde_json::json!({"email": "ops@acme.test", "password": password}))
            .send()
    };
    assert_eq!(login(password).await.expect("answer").status(), 200);
    assert_eq!(
        login(&format!("{password}\n"))
            .await
            .expect("answer")
            .status(),
        401
    );
    running.shutdown().await;

    // A second user joins the same tenant; the default tenant is "default".
    let (ok, _, err) = user_add(
        db,
        &[
            "--email",
            "two@acme.test",
            "--role",
            "support",
            "--tenant",
            "acme",
        ],
        "another password\r\n",
    )
    .await;
    assert!(ok, "{err}");
    let (ok, _, err) = user_add(
        db,
        &["--email", "three@x.test", "--role", "member"],
        "third password\n",
    )
    .await;
    assert!(ok, "{err}");
    let two = service
        .add_user("check@acme.test", Role::Member, "acme", "whatever12")
        .await
        .expect("user");
    let audit_tenant_users = service.audit_log(&two.tenant_id, 5).await.expect("audit");
    assert!(audit_tenant_users
        .iter()
        .all(|e| e.tenant_id == two.tenant_id));
}

#[tokio::test]
async fn user_add_refuses_bad_input_clearly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("k.db");
    let db = db.to_str().expect("path");

    let (ok, _, err) = user_add(
        db,
        &["--email", "a@b.test", "--role", "boss"],
        "long enough\n",
    )
    .await;
    assert!(!ok);
    for role in ["owner", "member", "support", "admin"] {
        assert!(err.contains(role), "the valid roles are listed: {err}");
    }
    let (ok, _, err) = user_add(db, &["--email", "a@b.test", "--role", "owner"], "\n").await;
    assert!(!ok && err.contains("empty"), "{err}");
    let (ok, _, err) = user_add(db, &["--email", "a@b.test", "--role", "owner"], "short\n").await;
    assert!(!ok && err.contains("at least 8"), "{err}");
    assert!(!err.contains("short\n"));
    let (ok, _, _) = user_add(
        db,
        &["--email", "a@b.test", "--role", "owner"],
        "long enough\n",
    )
    .await;
    assert!(ok);
    let (ok, _, err) = user_add(
        db,
        &["--email", "A@b.test", "--role", "owner"],
        "long enough\n",
    )
    .await;
    assert!(!ok && err.contains("already exists"), "{err}");
}

/// Starts `serve` on a free loopback port with `env`; returns the process, a task that collects
/// its log (standard error) until it ends, and the first line it printed.
async fn serve(
    env: &[(&str, &str)],
) -> (
    tokio::process::Child,
    tokio::task::JoinHandle<std::io::Result<String>>,
    String,
) {
    let mut child = Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env_remove("KEYHAVEN_DB")
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("the binary starts");
    let mut stderr = child.stderr.take().expect("stderr");
    let log = tokio::spawn(async move {
        let mut text = String::new();
        tokio::io::AsyncReadExt::read_to_string(&mut stderr, &mut text)
            .await
            .map(|_| text)
    });
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let first = stdout
        .next_line()
        .await
        .expect("read")
        .expect("a first line");
    // Whatever it prints later is read too, so that its standard output never meets a closed pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = stdout.next_line().await {} });
    (child, log, first)
}

scenario!(
    #[tokio::test]
    serve_prints_where_it_listens_first_answers_and_logs_no_secret
);
/// The first line on stdout, once it accepts connections, is `listening on http://HOST:PORT`;
/// then a whole session runs against it; SIGTERM stops it gracefully; and its log, which shows
/// key prefixes, never shows a password, a session token or a key.
async fn serve_prints_where_it_listens_first_answers_and_logs_no_secret(db: Db) {
    let store = TestDb::new(db).await;
    let db = store.url.as_str();
    let password = "pw-for-the-log-test";
    let (ok, _, err) = user_add(
        db,
        &["--email", "ops@acme.test", "--role", "owner"],
        &format!("{password}\n"),
    )
    .await;
    assert!(ok, "{err}");

    let (mut child, log, first) = serve(&[("KEYHAVEN_DB", db), ("KEYHAVEN_LOG", "debug")]).await;
    let url = first
        .strip_prefix("listening on ")
        .expect("the listening line comes first");
    let port: u16 = url
        .strip_prefix("http://127.0.0.1:")
        .expect("host")
        .parse()
        .expect("port");
    assert_ne!(port, 0);

    let client = reqwest::Client::new();
    let json =
        |r: reqwest::Response| async move { r.json::<serde_json::Value>().await.expect("json") };
    let login = client
        .post(format!("{url}/v1/auth/login"))
        .json(&serde_json::json!({"email": "ops@acme.test", "password": password}))
        .send()
        .await
        .expect("answer");
    assert_eq!(login.status(), 200);
    let token = json(login).await["token"]
        .as_str()
        .expect("token")
        .to_owned();
    let created = client
        .post(format!("{url}/v1/keys"))
        .bearer_auth(&token)
        .json(&serde_json::json!({"name": "logged", "scopes": ["read"]}))
        .send()
        .await
        .expect("answer");
    assert_eq!(created.status(), 201);
    let key = json(created).await["key"].as_str().expect("key").to_owned();
    let ping = |path: String, key: String| client.get(path).header("X-API-Key", key).send();
    assert_eq!(
        ping(format!("{url}/v1/ping"), key.clone())
            .await
            .expect("answer")
            .status(),
        200
    );
    let typo = format!(
        "{}{}",
        &key[..key.len() - 1],
        if key.ends_with('a') { 'b' } else { 'a' }
    );
    assert_eq!(
        ping(format!("{url}/v1/ping"), typo.clone())
            .await
            .expect("answer")
            .status(),
        401
    );
    let in_url = client
        .get(format!("{url}/v1/ping?key={key}"))
        .send()
        .await
        .expect("answer");
    assert_eq!(in_url.status(), 401);
    let wrong = client
        .post(format!("{url}/v1/auth/login"))
        .json(&serde_json::json!({"email": "ops@acme.test", "password": "not-the-password"}))
        .send()
        .await
        .expect("answer");
    assert_eq!(wrong.status(), 401);

    // Eight more failures make ten from this IP: it is locked out, even with the good key.
    let mut unknown = Vec::new();
    for _ in 0..8 {
        let stranger = keyhaven_api::keyfmt::generate("kh_live_");
        let a = ping(format!("{url}/v1/ping"), stranger.clone())
            .await
            .expect("answer");
        assert_eq!(a.status(), 401);
        unknown.push(stranger);
    }
    let locked = ping(format!("{url}/v1/ping"), key.clone())
        .await
        .expect("answer");
    assert_eq!(locked.status(), 429);
    assert!(locked.headers().contains_key("retry-after"));

    #[cfg(unix)]
    {
        let pid = child.id().expect("pid").to_string();
        let killed = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .await
            .expect("kill");
        assert!(killed.success());
        let status = child.wait().await.expect("exits");
        assert!(status.success(), "a graceful stop on SIGTERM: {status}");
        let log = log.await.expect("task").expect("log text");
        assert!(log.contains("shutting down"), "{log}");
        for logged in [
            "API key refused",
            "reason=\"malformed\"",
            "reason=\"unknown\"",
            "login refused",
            "source IP locked out after repeated failures",
            "attempt refused: the source IP is locked out",
        ] {
            assert!(log.contains(logged), "the log shows `{logged}`");
        }
        assert!(
            log.contains(&key[..12]),
            "the request log shows the key prefix"
        );
        for secret in [
            password,
            "not-the-password",
            token.as_str(),
            key.as_str(),
            typo.as_str(),
        ]
        .into_iter()
        .chain(unknown.iter().map(String::as_str))
        {
            assert!(!log.contains(secret), "the log holds a secret");
        }
    }
}

#[tokio::test]
async fn serve_demo_prints_a_login_that_works() {
    let mut child = Command::new(BIN)
        .args(["serve", "--demo", "--listen", "127.0.0.1:0"])
        .env_remove("KEYHAVEN_DB")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("the binary starts");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let first = stdout.next_line().await.expect("read").expect("line");
    let url = first
        .strip_prefix("listening on ")
        .expect("listening line first")
        .to_owned();
    let demo = stdout.next_line().await.expect("read").expect("demo line");
    let password = demo.rsplit(' ').next().expect("password");
    assert!(
        demo.starts_with("demo login: demo@keyhaven.local password "),
        "{demo}"
    );
    let login = reqwest::Client::new()
        .post(format!("{url}/v1/auth/login"))
        .json(&serde_json::json!({"email": "demo@keyhaven.local", "password": password}))
        .send()
        .await
        .expect("answer");
    assert_eq!(login.status(), 200);
    child.kill().await.expect("stopped");
}

/// KEYHAVEN_LOG sets the log filter, as in the app and the CLI (over RUST_LOG): at `warn`, a
/// refused key is logged and a served request is not.
#[tokio::test]
async fn serve_takes_its_log_filter_from_keyhaven_log() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("service.db");
    let db = db.to_str().expect("a UTF-8 path");
    let env = [
        ("KEYHAVEN_DB", db),
        ("KEYHAVEN_LOG", "warn"),
        ("RUST_LOG", "debug"),
    ];
    let (mut child, log, first) = serve(&env).await;
    let url = first
        .strip_prefix("listening on ")
        .expect("listening line first");
    let client = reqwest::Client::new();
    let health = client
        .get(format!("{url}/v1/health"))
        .send()
        .await
        .expect("answer");
    assert_eq!(health.status(), 200);
    let refused = client
        .get(format!("{url}/v1/ping"))
        .send()
        .await
        .expect("answer");
    assert_eq!(refused.status(), 401);
    child.kill().await.expect("stopped");
    let log = log.await.expect("task").expect("log text");
    assert!(
        log.contains("API key refused"),
        "a warning is logged: {log}"
    );
    assert!(
        !log.contains("/v1/health"),
        "no request line at warn: {log}"
    );
}
