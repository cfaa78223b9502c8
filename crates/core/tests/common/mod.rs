//! Helpers shared by the core's tests against the real key service (in-process, SQLite in a
//! temporary folder, bound to a loopback port) and the real or in-memory vault.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use keyhaven_api::{CreateKeyRequest, Role};
use keyhaven_core::{Account, CoreConfig, Keyhaven, Secret, ServiceRef, Vault, VaultChoice};
use keyhaven_service::{Clock, RunningService, Service, ServiceConfig};
pub use keyhaven_testkit::record_secret;

pub const PASSWORD: &str = "correct horse battery staple";

pub const HOW_TO_RUN: &str = "This test needs a real Secret Service. Run it as:\n  bash scripts/test --exec cargo nextest run -p keyhaven-core\n(or crates/core/with-secret-service.sh cargo test -p keyhaven-core)";

/// The real key service on a loopback port, which can be stopped and started again on the
/// same port and database.
pub struct Svc {
    _dir: tempfile::TempDir,
    pub service: Service,
    running: Option<RunningService>,
    addr: SocketAddr,
}

impl Svc {
    /// A service with test keys (`kh_test_`) and a lockout threshold high enough for tests that
    /// use revoked keys on purpose.
    pub async fn start(configure: impl FnOnce(&mut ServiceConfig)) -> Svc {
        Svc::start_with_clock(configure, None).await
    }

    pub async fn start_with_clock(
        configure: impl FnOnce(&mut ServiceConfig),
        clock: Option<Arc<dyn Clock>>,
    ) -> Svc {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut config = ServiceConfig::new(dir.path().join("service.db").to_string_lossy());
        config.key_prefix = "kh_test_".into();
        config.lockout_threshold = 10_000;
        configure(&mut config);
        let service = match clock {
            Some(clock) => Service::open_with_clock(config, clock).await,
            None => Service::open(config).await,
        }
        .expect("service opens");
        let running = service
            .bind("127.0.0.1:0".parse().expect("addr"))
            .await
            .expect("bind");
        let addr = running.addr;
        Svc {
            _dir: dir,
            service,
            running: Some(running),
            addr,
        }
    }

    pub async fn user(&self, email: &str, role: Role, tenant: &str) -> keyhaven_api::User {
        record_secret(PASSWORD);
        self.service
            .add_user(email, role, tenant, PASSWORD)
            .await
            .expect("add user")
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn service_ref(&self) -> ServiceRef {
        ServiceRef::url(self.url())
    }

    /// Stops listening: calls get "connection refused".
    pub async fn stop(&mut self) {
        if let Some(running) = self.running.take() {
            running.shutdown().await;
        }
    }

    /// Listens again on the same port, with the same database.
    pub async fn restart(&mut self) {
        if self.running.is_none() {
            let mut tries = 0;
            loop {
                match self.service.bind(self.addr).await {
                    Ok(running) => {
                        self.running = Some(running);
                        break;
                    }
                    Err(e) if tries < 50 => {
                        tries += 1;
                        let _ = e;
                        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                    }
                    Err(e) => panic!("could not listen again on {}: {e}", self.addr),
                }
            }
        }
    }

    pub fn is_running(&self) -> bool {
        self.running.is_some()
    }
}

pub fn unique(tag: &str) -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    format!("{tag}-{:012x}", h.finish() & 0xffff_ffff_ffff)
}

pub fn config(data: &Path, vault: VaultChoice, namespace: &str) -> CoreConfig {
    CoreConfig {
        data_dir: data.to_path_buf(),
        keychain_namespace: namespace.to_string(),
        vault,
    }
}

pub async fn core(data: &Path) -> Keyhaven {
    Keyhaven::open(config(data, VaultChoice::InMemory, "dev.keyhaven.test"))
        .await
        .expect("core opens")
}

/// A core on `vault` (shared with other cores opened on the same vault: a process restart
/// keeps the keychain).
pub async fn core_on(data: &Path, vault: &Vault) -> Keyhaven {
    Keyhaven::open_with_vault(
        config(data, VaultChoice::InMemory, vault.namespace()),
        vault.clone(),
    )
    .await
    .expect("core opens")
}

pub fn real_keychain(namespace: &str) -> Vault {
    let vault = Vault::secret_service(namespace)
        .unwrap_or_else(|e| panic!("No Secret Service ({e}).\n{HOW_TO_RUN}"));
    let probe = Secret::new("probe".into());
    if let Err(e) = vault.put_blocking("probe", "probe", &probe) {
        panic!("The Secret Service refused a write ({e}).\n{HOW_TO_RUN}");
    }
    let _ = vault.delete_blocking("probe", "probe");
    vault
}

/// Removes every entry a test left in a real keychain's namespace, in each profile it used.
pub fn empty_keychain(vault: &Vault) {
    for profile in [
        "root",
        "ann",
        "anne",
        &keyhaven_core::catalog::default_profile_name(),
    ] {
        if let Ok(names) = vault.entry_names_blocking(profile) {
            for name in names {
                let _ = vault.delete_blocking(profile, &name);
            }
        }
    }
}

/// Signs in with the test password, remembered in the keychain (an expired session is renewed).
pub async fn sign_in(core: &Keyhaven, svc: &Svc, email: &str) -> Account {
    core.accounts()
        .sign_in(svc.service_ref(), email, Secret::new(PASSWORD.into()), true)
        .await
        .expect("sign in")
}

/// Signs in with the test password, not remembered: an expired session asks for it again.
pub async fn sign_in_session_only(core: &Keyhaven, svc: &Svc, email: &str) -> Account {
    core.accounts()
        .sign_in(
            svc.service_ref(),
            email,
            Secret::new(PASSWORD.into()),
            false,
        )
        .await
        .expect("sign in")
}

pub fn key_request(name: &str) -> CreateKeyRequest {
    CreateKeyRequest {
        name: name.into(),
        scopes: vec!["read".into()],
        ..Default::default()
    }
}

pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

/// Files under `dir` that contain `needle`.
pub fn files_containing(dir: &Path, needle: &str) -> Vec<PathBuf> {
    files_under(dir)
        .into_iter()
        .filter(|f| contains(&std::fs::read(f).expect("read"), needle.as_bytes()))
        .collect()
}

/// `GET /v1/ping` with the key, straight through reqwest: the service's own judgement.
pub async fn ping_status(url: &str, key: &str) -> u16 {
    ping_with(url, key, &[], None).await
}

pub async fn ping_with(url: &str, key: &str, query: &[(&str, &str)], origin: Option<&str>) -> u16 {
    let mut request = reqwest::Client::new()
        .get(format!("{url}/v1/ping"))
        .query(query)
        .header("X-API-Key", key);
    if let Some(origin) = origin {
        request = request.header("Origin", origin);
    }
    request.send().await.expect("ping").status().as_u16()
}

/// What a gateway in front of the real service does to the next requests.
#[derive(Debug)]
pub struct GatewayControl {
    /// Answer this many of the next requests with 429 and `Retry-After`.
    pub throttle_next: AtomicU32,
    pub retry_after: AtomicU32,
    /// Add `X-RateLimit-*` headers with this many calls remaining (u32::MAX: none) and this
    /// many seconds to the window's reset.
    pub remaining: AtomicU32,
    pub reset: AtomicU32,
    /// Hold each `/v1/usage` request this many milliseconds before forwarding it (a slow link).
    pub usage_delay_ms: AtomicU32,
    /// Paths of the requests seen, throttled ones included.
    pub seen: Mutex<Vec<String>>,
}

impl GatewayControl {
    pub fn requests_to(&self, path: &str) -> usize {
        self.seen
            .lock()
            .expect("seen")
            .iter()
            .filter(|p| p.as_str() == path)
            .count()
    }
}

/// An HTTP gateway in front of the real service, as a deployment's API gateway would be:
/// forwards every request, and on command throttles with 429 and `Retry-After`, adds
/// `X-RateLimit-*` headers, or stops listening altogether (offline).
pub struct Gateway {
    pub addr: SocketAddr,
    pub control: Arc<GatewayControl>,
    app: axum::Router,
    task: Option<(
        tokio::sync::oneshot::Sender<()>,
        tokio::task::JoinHandle<()>,
    )>,
}

impl Gateway {
    pub async fn start(upstream: String) -> Gateway {
        use axum::body::{Body, Bytes};
        use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
        use axum::response::{IntoResponse, Response};

        let control = Arc::new(GatewayControl {
            throttle_next: AtomicU32::new(0),
            retry_after: AtomicU32::new(1),
            remaining: AtomicU32::new(u32::MAX),
            reset: AtomicU32::new(0),
            usage_delay_ms: AtomicU32::new(0),
            seen: Mutex::new(Vec::new()),
        });
        let client = reqwest::Client::new();
        let ctl = control.clone();
        let handler = move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
            let ctl = ctl.clone();
            let client = client.clone();
            let upstream = upstream.clone();
            async move {
                ctl.seen.lock().expect("seen").push(uri.path().to_string());
                let throttled = ctl
                    .throttle_next
                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                    .is_ok();
                if throttled {
                    let mut r = (
                        StatusCode::TOO_MANY_REQUESTS,
                        [("content-type", "application/json")],
                        r#"{"error":{"code":"rate_limited","message":"The gateway is throttling requests."}}"#,
                    )
                        .into_response();
                    r.headers_mut().insert(
                        "retry-after",
                        HeaderValue::from(ctl.retry_after.load(Ordering::SeqCst)),
                    );
                    return r;
                }
                let delay = ctl.usage_delay_ms.load(Ordering::SeqCst);
                if delay > 0 && uri.path() == "/v1/usage" {
                    tokio::time::sleep(std::time::Duration::from_millis(delay.into())).await;
                }
                let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
                let mut request = client.request(
                    reqwest::Method::from_bytes(method.as_str().as_bytes()).expect("method"),
                    format!("{upstream}{path}"),
                );
                for (name, value) in &headers {
                    if name != "host" && name != "content-length" {
                        request = request.header(name.as_str(), value.as_bytes());
                    }
                }
                let answer = match request.body(body).send().await {
                    Ok(a) => a,
                    Err(_) => return StatusCode::BAD_GATEWAY.into_response(),
                };
                let status = StatusCode::from_u16(answer.status().as_u16()).expect("status");
                let mut out = Response::builder().status(status);
                let remaining = ctl.remaining.load(Ordering::SeqCst);
                for (name, value) in answer.headers() {
                    // Its own rate-limit headers, when it sets them, replace the service's (a
                    // session's window, on management calls).
                    let replaced =
                        remaining != u32::MAX && name.as_str().starts_with("x-ratelimit-");
                    if name != "content-length" && name != "transfer-encoding" && !replaced {
                        out = out.header(name.as_str(), value.as_bytes());
                    }
                }
                if remaining != u32::MAX {
                    out = out
                        .header("x-ratelimit-limit", "100")
                        .header("x-ratelimit-remaining", remaining.to_string())
                        .header(
                            "x-ratelimit-reset",
                            ctl.reset.load(Ordering::SeqCst).to_string(),
                        );
                }
                let bytes = answer.bytes().await.unwrap_or_default();
                out.body(Body::from(bytes)).expect("response")
            }
        };
        let app = axum::Router::new().fallback(handler);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind gateway");
        let addr = listener.local_addr().expect("addr");
        let mut gateway = Gateway {
            addr,
            control,
            app,
            task: None,
        };
        gateway.serve(listener);
        gateway
    }

    fn serve(&mut self, listener: tokio::net::TcpListener) {
        let app = self.app.clone();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = stopped.await;
                })
                .await;
        });
        self.task = Some((stop, task));
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn service_ref(&self) -> ServiceRef {
        ServiceRef::url(self.url())
    }

    /// Stops listening: calls get "connection refused", as when the network is down.
    pub async fn go_offline(&mut self) {
        if let Some((stop, task)) = self.task.take() {
            let _ = stop.send(());
            let _ = task.await;
        }
    }

    /// Listens again on the same port.
    pub async fn go_online(&mut self) {
        if self.task.is_some() {
            return;
        }
        for _ in 0..100 {
            if let Ok(listener) = tokio::net::TcpListener::bind(self.addr).await {
                self.serve(listener);
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        panic!("the gateway could not listen again on {}", self.addr);
    }
}
