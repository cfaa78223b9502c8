//! `serve --demo`: a demo tenant with a user of each role and a few keys, and a bounded trickle
//! of traffic (accepted and refused calls) to the service itself on 127.0.0.1, so that usage
//! has something to show. The traffic never presents an unknown key, so it cannot lock the
//! loopback address out.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use keyhaven_api::{CreateKeyRequest, Role, WireSecret};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::task::JoinHandle;

use crate::domain::Domain;
use crate::domain::{auth, keys};
use crate::error::ServiceError;
use crate::secrets::random_password;

/// The tenant the demo creates.
pub const DEMO_TENANT: &str = "demo";
/// Calls the demo traffic makes before it stops by itself.
pub const DEMO_CALLS: u32 = 120;
/// Time between two demo calls.
pub const DEMO_PACE: Duration = Duration::from_millis(500);

const USERS: [(&str, Role); 4] = [
    ("demo@keyhaven.local", Role::Owner),
    ("demo-member@keyhaven.local", Role::Member),
    ("demo-support@keyhaven.local", Role::Support),
    ("demo-admin@keyhaven.local", Role::Admin),
];

/// One demo login: the password is `None` when the user already existed.
#[derive(Debug, Clone)]
pub struct DemoLogin {
    pub email: &'static str,
    pub role: Role,
    pub password: Option<String>,
}

/// What [`crate::Service::seed_demo`] set up. Holds the demo keys' secrets for the traffic; never prints them.
#[derive(Debug)]
pub struct Demo {
    pub logins: Vec<DemoLogin>,
    keys: Vec<WireSecret>,
}

/// Creates the demo users (those that do not exist yet) and, on a fresh demo tenant, three
/// keys: a web app limited to one origin, a batch job with an hourly limit of 20, and a search
/// widget.
pub(crate) async fn seed(svc: &Domain) -> Result<Demo, ServiceError> {
    let mut logins = Vec::new();
    let mut owner = None;
    for (email, role) in USERS {
        let password = random_password();
        match auth::add_user(svc, email, role, DEMO_TENANT, &password).await {
            Ok(user) => {
                if role == Role::Owner {
                    owner = Some(user);
                }
                logins.push(DemoLogin {
                    email,
                    role,
                    password: Some(password),
                });
            }
            Err(ServiceError::DuplicateEmail) => logins.push(DemoLogin {
                email,
                role,
                password: None,
            }),
            Err(e) => return Err(e),
        }
    }
    let mut secrets = Vec::new();
    if let Some(owner) = owner {
        let list = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        let requests = [
            CreateKeyRequest {
                name: "demo web app".into(),
                scopes: list(&["read", "search"]),
                allowed_origins: Some(list(&["https://app.demo.test"])),
                ..CreateKeyRequest::default()
            },
            CreateKeyRequest {
                name: "demo batch job".into(),
                scopes: list(&["read", "write"]),
                rate_limit_per_hour: Some(20),
                ..CreateKeyRequest::default()
            },
            CreateKeyRequest {
                name: "demo search widget".into(),
                scopes: list(&["search"]),
                ..CreateKeyRequest::default()
            },
        ];
        for req in &requests {
            match keys::create(svc, &owner, req, None).await {
                Ok(created) => secrets.push(created.key),
                // A deployment with other scopes or a tiny cap gets fewer demo keys.
                Err(e) => tracing::warn!(error = %e, "demo key not created"),
            }
        }
    }
    Ok(Demo {
        logins,
        keys: secrets,
    })
}

impl Demo {
    /// Starts `calls` calls, one every `pace`, to the service listening at `addr`, always on
    /// 127.0.0.1. Returns `None` (and sends nothing) when there are no demo keys or the service
    /// is not reachable on 127.0.0.1. The task ends by itself and yields the calls answered.
    pub fn spawn_traffic(
        self,
        addr: SocketAddr,
        calls: u32,
        pace: Duration,
    ) -> Option<JoinHandle<u32>> {
        let reachable = addr.ip().is_unspecified() || addr.ip() == IpAddr::V4(Ipv4Addr::LOCALHOST);
        if self.keys.is_empty() || !reachable {
            tracing::info!(%addr, "no demo traffic: no demo keys, or not listening on 127.0.0.1");
            return None;
        }
        let target = SocketAddr::from((Ipv4Addr::LOCALHOST, addr.port()));
        let keys = self.keys;
        Some(tokio::spawn(async move {
            let mut answered = 0;
            let mut tick = tokio::time::interval(pace);
            for i in 0..calls {
                tick.tick().await;
                let (key, path, origin) = plan(&keys, i);
                match call(target, key.expose(), path, origin).await {
                    Ok(status) => {
                        answered += 1;
                        tracing::debug!(status, path, "demo call");
                    }
                    Err(e) => tracing::warn!(error = %e, "demo call failed"),
                }
            }
            tracing::info!(answered, "demo traffic finished");
            answered
        }))
    }
}

/// The `i`th call of the demo: mostly accepted, some refused for origin, scope and limit.
fn plan(keys: &[WireSecret], i: u32) -> (&WireSecret, &'static str, Option<&'static str>) {
    let pick = |n: usize| &keys[n % keys.len()];
    match i % 6 {
        0 | 1 => (
            pick(0),
            "/v1/ping?scope=read",
            Some("https://app.demo.test"),
        ),
        2 => (pick(0), "/v1/ping", Some("https://elsewhere.example")),
        3 => (pick(1), "/v1/ping?scope=write", None),
        4 => (pick(1), "/v1/ping", None),
        _ => (pick(2), "/v1/ping?scope=write", None),
    }
}

/// One HTTP/1.1 GET with the key in `X-API-Key`; the answer's status.
async fn call(
    target: SocketAddr,
    key: &str,
    path: &str,
    origin: Option<&str>,
) -> std::io::Result<u16> {
    let mut stream = tokio::net::TcpStream::connect(target).await?;
    let origin = origin
        .map(|o| format!("Origin: {o}\r\n"))
        .unwrap_or_default();
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {target}\r\nX-API-Key: {key}\r\n{origin}Connection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await?;
    let head = String::from_utf8_lossy(&answer[..answer.len().min(32)]).into_owned();
    head.split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other("not an HTTP answer"))
}
