//! A Keyhaven service on loopback against a real database — a SQLite file, or a fresh PostgreSQL
//! database — and a client that checks every answer for leaked secrets.
//!
//! Each scenario is written once and runs on both storages (see [`scenario!`]). The PostgreSQL
//! runs need a server: `KEYHAVEN_TEST_POSTGRES_URL` names one on which the tests may create
//! databases. `bash scripts/test` starts a private, throwaway one and sets it; without it the
//! PostgreSQL runs FAIL and say so, they do not skip.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use keyhaven_api::{Role, User};
use keyhaven_service::{
    random_password, Clock, ManualClock, RunningService, Service, ServiceConfig, SystemClock,
};
pub use keyhaven_testkit::record_secret;
use reqwest::header::HeaderMap;
use reqwest::{Method, RequestBuilder};
use serde_json::{json, Value};

/// Runs the scenario `async fn NAME(db: Db)` as one test per storage: `NAME::sqlite` and
/// `NAME::postgres`, each with the test attribute given.
///
/// ```ignore
/// scenario!(#[tokio::test] a_story);
/// async fn a_story(db: Db) {
///     let t = common::start(db).await;
/// }
/// ```
#[allow(unused_macros)]
macro_rules! scenario {
    ($(#[$attr:meta])* $name:ident) => {
        mod $name {
            $(#[$attr])*
            async fn sqlite() {
                super::$name($crate::common::Db::Sqlite).await
            }

            $(#[$attr])*
            async fn postgres() {
                super::$name($crate::common::Db::Postgres).await
            }
        }
    };
}

/// The environment variable naming the PostgreSQL server of the tests.
pub const POSTGRES_URL_VAR: &str = "KEYHAVEN_TEST_POSTGRES_URL";

const HOW_TO_RUN_POSTGRES: &str = "The PostgreSQL variants of the key service tests need a PostgreSQL server. Run them through the project's test command, which starts a private one and sets KEYHAVEN_TEST_POSTGRES_URL:\n  bash scripts/test --exec cargo nextest run -p keyhaven-service\n(or set KEYHAVEN_TEST_POSTGRES_URL to a postgres:// URL of a server where this user may CREATE DATABASE)";

/// Which storage a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Db {
    Sqlite,
    Postgres,
}

/// A fresh database for one test: a SQLite file in a temporary folder, or a new database on
/// the test PostgreSQL server, dropped again when this is.
pub struct TestDb {
    pub kind: Db,
    /// What the service's `--db` gets.
    pub url: String,
    /// The PostgreSQL server's URL and this test's database on it.
    postgres: Option<(String, String)>,
    _dir: Option<tempfile::TempDir>,
}

impl TestDb {
    pub async fn new(kind: Db) -> TestDb {
        match kind {
            Db::Sqlite => {
                let dir = tempfile::tempdir().expect("temporary folder");
                let url = dir
                    .path()
                    .join("keyhaven.db")
                    .to_string_lossy()
                    .into_owned();
                TestDb {
                    kind,
                    url,
                    postgres: None,
                    _dir: Some(dir),
                }
            }
            Db::Postgres => {
                let server = match std::env::var(POSTGRES_URL_VAR) {
                    Ok(url) if !url.trim().is_empty() => url,
                    _ => panic!("{POSTGRES_URL_VAR} is not set.\n{HOW_TO_RUN_POSTGRES}"),
                };
                let name = format!(
                    "kh_test_{}",
                    random_password()
                        .to_ascii_lowercase()
                        .replace(|c: char| !c.is_ascii_alphanumeric(), "")
                );
                let admin = sqlx::PgPool::connect(&server).await.unwrap_or_else(|e| {
                    panic!("cannot reach the PostgreSQL server in {POSTGRES_URL_VAR}: {e}\n{HOW_TO_RUN_POSTGRES}")
                });
                sqlx::query(&format!("CREATE DATABASE {name}"))
                    .execute(&admin)
                    .await
                    .expect("a fresh database for this test");
                admin.close().await;
                let mut url = reqwest::Url::parse(&server).expect("a postgres:// URL");
                url.set_path(&format!("/{name}"));
                TestDb {
                    kind,
                    url: url.to_string(),
                    postgres: Some((server, name)),
                    _dir: None,
                }
            }
        }
    }

    /// A number read straight from the database, bypassing the service.
    pub async fn count(&self, sql: &str) -> i64 {
        match self.kind {
            Db::Sqlite => {
                let options = sqlx::sqlite::SqliteConnectOptions::new().filename(&self.url);
                let pool = sqlx::SqlitePool::connect_with(options).await.expect("open");
                let n: Option<i64> = sqlx::query_scalar(sql)
                    .fetch_one(&pool)
                    .await
                    .expect("query");
                pool.close().await;
                n.unwrap_or(0)
            }
            Db::Postgres => {
                let pool = sqlx::PgPool::connect(&self.url).await.expect("connect");
                // SUM() of a bigint is a numeric in PostgreSQL.
                let n: Option<i64> = sqlx::query_scalar(&format!("SELECT ({sql})::bigint"))
                    .fetch_one(&pool)
                    .await
                    .expect("query");
                pool.close().await;
                n.unwrap_or(0)
            }
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some((server, name)) = self.postgres.take() else {
            return;
        };
        // Dropped from a plain thread: this may run inside the test's runtime.
        let dropped = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async {
                let admin = sqlx::PgPool::connect(&server).await?;
                sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&admin)
                    .await?;
                admin.close().await;
                Ok::<_, sqlx::Error>(())
            })
        })
        .join();
        if let Ok(Err(e)) = dropped {
            eprintln!("could not drop a test database: {e}");
        }
    }
}

pub struct TestService {
    pub service: Service,
    pub url: String,
    /// The database, which outlives the service when it is stopped with
    /// [`TestService::stop_keeping_data`], and may be shared by a second instance.
    pub db: Arc<TestDb>,
    running: Option<RunningService>,
    client: reqwest::Client,
    /// Every secret created so far: passwords, session tokens, API keys.
    secrets: Mutex<Vec<String>>,
}

/// What came back, with the body already searched for every secret known before the call.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: String,
    pub json: Value,
}

impl Answer {
    pub fn code(&self) -> &str {
        self.json["error"]["code"].as_str().unwrap_or("")
    }

    pub fn message(&self) -> &str {
        self.json["error"]["message"].as_str().unwrap_or("")
    }

    /// Asserts the status and the service's error shape with `code`.
    pub fn assert_error(&self, status: u16, code: &str) -> &Self {
        assert_eq!(self.status, status, "status of {}", self.body);
        assert_eq!(self.code(), code, "code of {}", self.body);
        assert!(!self.message().is_empty(), "a message in {}", self.body);
        let keys: Vec<&String> = self.json.as_object().expect("object").keys().collect();
        assert_eq!(keys, ["error"], "only `error` in {}", self.body);
        self
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

pub async fn start(db: Db) -> TestService {
    start_with(db, |_| {}).await
}

pub async fn start_with(db: Db, configure: impl FnOnce(&mut ServiceConfig)) -> TestService {
    start_full(db, configure, Arc::new(SystemClock)).await
}

/// A service whose time moves only when the test moves `clock`.
pub async fn start_at(
    db: Db,
    clock: &ManualClock,
    configure: impl FnOnce(&mut ServiceConfig),
) -> TestService {
    start_full(db, configure, Arc::new(clock.clone())).await
}

pub async fn start_full(
    db: Db,
    configure: impl FnOnce(&mut ServiceConfig),
    clock: Arc<dyn Clock>,
) -> TestService {
    start_on(Arc::new(TestDb::new(db).await), configure, clock).await
}

/// A service on an existing database: a second instance beside another, or a restart.
pub async fn start_on(
    db: Arc<TestDb>,
    configure: impl FnOnce(&mut ServiceConfig),
    clock: Arc<dyn Clock>,
) -> TestService {
    let mut config = ServiceConfig::new(db.url.clone());
    configure(&mut config);
    let service = Service::open_with_clock(config, clock)
        .await
        .expect("the service opens");
    if db.kind == Db::Sqlite {
        assert!(
            std::path::Path::new(&db.url).exists(),
            "the database file is created"
        );
    }
    let running = service
        .bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .expect("the service binds");
    TestService {
        service,
        db,
        url: running.url(),
        running: Some(running),
        client: reqwest::Client::new(),
        secrets: Mutex::new(Vec::new()),
    }
}

impl TestService {
    /// A new user with a random password, which is remembered as a secret.
    pub async fn user(&self, email: &str, role: Role, tenant: &str) -> (User, String) {
        let password = random_password();
        self.remember(&password);
        let user = self
            .service
            .add_user(email, role, tenant, &password)
            .await
            .expect("user added");
        (user, password)
    }

    /// A signed-in user: its session token (remembered as a secret).
    pub async fn signed_in(&self, email: &str, role: Role, tenant: &str) -> (User, String) {
        let (user, password) = self.user(email, role, tenant).await;
        (user, self.login(email, &password).await)
    }

    pub async fn login(&self, email: &str, password: &str) -> String {
        let a = self
            .call(
                Method::POST,
                "/v1/auth/login",
                None,
                Some(json!({"email": email, "password": password})),
            )
            .await;
        assert_eq!(a.status, 200, "login: {}", a.body);
        let token = a.json["token"].as_str().expect("token").to_owned();
        self.remember(&token);
        token
    }

    /// Creates a key and remembers its secret.
    pub async fn create_key(&self, token: &str, body: Value) -> (String, Value) {
        let a = self
            .call(Method::POST, "/v1/keys", Some(token), Some(body))
            .await;
        assert_eq!(a.status, 201, "create: {}", a.body);
        let key = a.json["key"].as_str().expect("key").to_owned();
        self.remember(&key);
        (key, a.json["meta"].clone())
    }

    /// Rolls a key with `grace_seconds` and remembers the new secret: the new secret and the
    /// whole answer.
    pub async fn roll_key(&self, token: &str, id: &str, grace_seconds: u64) -> (String, Value) {
        let a = self
            .call(
                Method::POST,
                &format!("/v1/keys/{id}/roll"),
                Some(token),
                Some(json!({ "grace_seconds": grace_seconds })),
            )
            .await;
        assert_eq!(a.status, 201, "{}", a.body);
        let key = a.json["key"].as_str().expect("key").to_owned();
        self.remember(&key);
        (key, a.json)
    }

    /// Revokes a key (`DELETE /v1/keys/{id}`); the answer, for the caller to check.
    pub async fn revoke_key(&self, token: &str, id: &str) -> Answer {
        self.call(Method::DELETE, &format!("/v1/keys/{id}"), Some(token), None)
            .await
    }

    pub fn remember(&self, secret: &str) {
        record_secret(secret);
        self.secrets.lock().expect("lock").push(secret.to_owned());
    }

    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.client.request(method, format!("{}{}", self.url, path))
    }

    /// A JSON call with an optional session token.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Answer {
        let mut req = self.request(method, path);
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        self.send(req).await
    }

    /// `GET /v1/ping` with the key in `X-API-Key` and any extra headers.
    pub async fn ping_with(&self, key: &str, query: &str, extra: &[(&str, &str)]) -> Answer {
        let mut req = self
            .request(Method::GET, &format!("/v1/ping{query}"))
            .header("X-API-Key", key);
        for (name, value) in extra {
            req = req.header(*name, *value);
        }
        self.send(req).await
    }

    /// The `X-RateLimit-*` headers of an answer as numbers: (limit, remaining, reset).
    pub fn window(a: &Answer) -> (u64, u64, i64) {
        let n = |h: &str| {
            a.header(h)
                .unwrap_or_else(|| panic!("{h} in {:?}", a.headers))
                .to_owned()
        };
        (
            n("x-ratelimit-limit").parse().expect("limit"),
            n("x-ratelimit-remaining").parse().expect("remaining"),
            n("x-ratelimit-reset").parse().expect("reset"),
        )
    }

    /// `GET /v1/ping` with the key in `header`, and an optional query string.
    pub async fn ping(&self, header: &str, value: &str, query: &str) -> Answer {
        self.send(
            self.request(Method::GET, &format!("/v1/ping{query}"))
                .header(header, value),
        )
        .await
    }

    /// Sends, reads, and checks that neither the body nor a header holds a known secret.
    pub async fn send(&self, req: RequestBuilder) -> Answer {
        let resp = req.send().await.expect("the request is answered");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp.text().await.expect("a readable body");
        for secret in self.secrets.lock().expect("lock").iter() {
            assert!(
                !body.contains(secret.as_str()),
                "an answer leaked a secret: status {status}"
            );
            for v in headers.values() {
                assert!(
                    !v.as_bytes()
                        .windows(secret.len())
                        .any(|w| w == secret.as_bytes()),
                    "a header leaked a secret"
                );
            }
        }
        let json = if body.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&body).unwrap_or(Value::Null)
        };
        Answer {
            status,
            headers,
            body,
            json,
        }
    }

    pub async fn stop(mut self) {
        if let Some(running) = self.running.take() {
            running.shutdown().await;
        }
    }

    /// Shuts down gracefully and hands back the database, to read what was written.
    pub async fn stop_keeping_data(mut self) -> Arc<TestDb> {
        if let Some(running) = self.running.take() {
            running.shutdown().await;
        }
        self.db.clone()
    }

    /// A number read straight from this service's database, bypassing the service.
    pub async fn count_in_db(&self, sql: &str) -> i64 {
        self.db.count(sql).await
    }
}

// Not every test binary uses it.
#[allow(unused_imports)]
pub use keyhaven_testkit::join_all;
