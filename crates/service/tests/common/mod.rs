//! A Keyhaven service on loopback against a real SQLite file, and a client that checks every
//! answer for leaked secrets.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Mutex;

use keyhaven_api::{Role, User};
use keyhaven_service::{
    random_password, Clock, ManualClock, RunningService, Service, ServiceConfig, SystemClock,
};
use reqwest::header::HeaderMap;
use reqwest::{Method, RequestBuilder};
use serde_json::{json, Value};

pub struct TestService {
    pub service: Service,
    pub url: String,
    /// The SQLite file.
    pub db: std::path::PathBuf,
    running: Option<RunningService>,
    client: reqwest::Client,
    /// Every secret created so far: passwords, session tokens, API keys.
    secrets: Mutex<Vec<String>>,
    _dir: tempfile::TempDir,
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

pub async fn start() -> TestService {
    start_with(|_| {}).await
}

pub async fn start_with(configure: impl FnOnce(&mut ServiceConfig)) -> TestService {
    start_full(configure, std::sync::Arc::new(SystemClock)).await
}

/// A service whose time moves only when the test moves `clock`.
pub async fn start_at(
    clock: &ManualClock,
    configure: impl FnOnce(&mut ServiceConfig),
) -> TestService {
    start_full(configure, std::sync::Arc::new(clock.clone())).await
}

pub async fn start_full(
    configure: impl FnOnce(&mut ServiceConfig),
    clock: std::sync::Arc<dyn Clock>,
) -> TestService {
    let dir = tempfile::tempdir().expect("temporary folder");
    let db = dir.path().join("keyhaven.db");
    let mut config = ServiceConfig::new(db.to_string_lossy());
    configure(&mut config);
    let service = Service::open_with_clock(config, clock)
        .await
        .expect("the service opens");
    assert!(db.exists(), "the database file is created");
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
        _dir: dir,
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

    /// Shuts down gracefully and hands back the folder holding the database file.
    pub async fn stop_keeping_data(mut self) -> (std::path::PathBuf, tempfile::TempDir) {
        if let Some(running) = self.running.take() {
            running.shutdown().await;
        }
        let db = self.db.clone();
        let dir = std::mem::replace(&mut self._dir, tempfile::tempdir().expect("tempdir"));
        (db, dir)
    }

    /// A number read straight from the database file, bypassing the service.
    pub async fn count_in_db(db: &std::path::Path, sql: &str) -> i64 {
        let options = sqlx::sqlite::SqliteConnectOptions::new().filename(db);
        let pool = sqlx::SqlitePool::connect_with(options).await.expect("open");
        let n: i64 = sqlx::query_scalar(sql)
            .fetch_one(&pool)
            .await
            .expect("query");
        pool.close().await;
        n
    }
}

/// Runs the futures concurrently (on this task) and returns their outputs in order.
pub async fn join_all<F: std::future::Future>(futs: impl IntoIterator<Item = F>) -> Vec<F::Output> {
    let mut futs: Vec<_> = futs.into_iter().map(Box::pin).collect();
    let mut out: Vec<Option<F::Output>> = futs.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        for (f, slot) in futs.iter_mut().zip(out.iter_mut()) {
            if slot.is_none() {
                if let std::task::Poll::Ready(v) = f.as_mut().poll(cx) {
                    *slot = Some(v);
                }
            }
        }
        if out.iter().all(Option::is_some) {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await;
    out.into_iter().flatten().collect()
}

/// Appends a secret the test created to the leak ledger, when `scripts/test` keeps one
/// (`KEYHAVEN_LEAK_LEDGER`, a file outside every folder the leak scan searches); the scan after
/// the suite fails if any of them turns up in a log, the test output or a data folder.
pub fn record_secret(secret: &str) {
    use std::io::Write;
    let Some(path) = std::env::var_os("KEYHAVEN_LEAK_LEDGER") else {
        return;
    };
    // One write of the whole line, so that lines of parallel tests do not interleave.
    let line = format!("{secret}\n");
    let _ = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .and_then(|mut f| f.write_all(line.as_bytes()));
}
