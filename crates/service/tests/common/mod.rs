//! A Keyhaven service on loopback against a real SQLite file, and a client that checks every
//! answer for leaked secrets.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Mutex;

use keyhaven_api::{Role, User};
use keyhaven_service::{random_password, RunningService, Service, ServiceConfig};
use reqwest::header::HeaderMap;
use reqwest::{Method, RequestBuilder};
use serde_json::{json, Value};

pub struct TestService {
    pub service: Service,
    pub url: String,
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
    let dir = tempfile::tempdir().expect("temporary folder");
    let db = dir.path().join("keyhaven.db");
    let mut config = ServiceConfig::new(db.to_string_lossy());
    configure(&mut config);
    let service = Service::open(config).await.expect("the service opens");
    assert!(db.exists(), "the database file is created");
    let running = service
        .bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .expect("the service binds");
    TestService {
        service,
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
}
