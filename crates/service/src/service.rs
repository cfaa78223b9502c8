//! The service as a library: open it, add users, get its router, or bind it to an address.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use keyhaven_api::{Role, User, WireSecret};
use tokio::sync::{oneshot, OnceCell};
use tokio::task::JoinHandle;

use crate::clock;
use crate::config::{ServiceConfig, DEFAULT_DAILY_CAP};
use crate::error::ServiceError;
use crate::ratelimit::RateCounters;
use crate::secrets::{self, MAX_PASSWORD_CHARS, MIN_PASSWORD_CHARS};
use crate::storage::{AuditEntry, NewUser, SqliteStore, Storage};

/// Longest tenant name accepted.
const MAX_TENANT_CHARS: usize = 64;
/// Longest email accepted (RFC 5321's path limit).
const MAX_EMAIL_CHARS: usize = 254;

/// A running key service's shared state. Cheap to clone.
#[derive(Clone)]
pub struct Service {
    inner: Arc<Inner>,
}

struct Inner {
    config: ServiceConfig,
    store: Box<dyn Storage>,
    rates: RateCounters,
    key_lookups: AtomicU64,
    /// A hash to verify against when the email is unknown, so that both failures cost the same.
    dummy_hash: OnceCell<String>,
}

impl Service {
    /// Opens the database (creating the file if missing), runs the migrations, and checks the
    /// configuration.
    pub async fn open(config: ServiceConfig) -> Result<Service, ServiceError> {
        config.validate()?;
        if config.db.starts_with("postgres://") || config.db.starts_with("postgresql://") {
            return Err(ServiceError::UnsupportedDatabase);
        }
        let store: Box<dyn Storage> = Box::new(SqliteStore::open(&config.db).await?);
        Ok(Service {
            inner: Arc::new(Inner {
                config,
                store,
                rates: RateCounters::default(),
                key_lookups: AtomicU64::new(0),
                dummy_hash: OnceCell::new(),
            }),
        })
    }

    /// The whole HTTP application, for `oneshot` tests or for serving elsewhere.
    pub fn router(&self) -> axum::Router {
        crate::http::router(self.clone())
    }

    /// Adds a user, creating the tenant named `tenant` when it does not exist.
    /// A taken email is [`ServiceError::DuplicateEmail`] (`conflict`).
    pub async fn add_user(
        &self,
        email: &str,
        role: Role,
        tenant: &str,
        password: &str,
    ) -> Result<User, ServiceError> {
        let email = normalise_email(email)?;
        let tenant = tenant.trim();
        if tenant.is_empty()
            || tenant.chars().count() > MAX_TENANT_CHARS
            || tenant.chars().any(char::is_control)
        {
            return Err(ServiceError::validation(
                "tenant",
                format!("must be 1 to {MAX_TENANT_CHARS} printable characters"),
            ));
        }
        let chars = password.chars().count();
        if !(MIN_PASSWORD_CHARS..=MAX_PASSWORD_CHARS).contains(&chars) {
            return Err(ServiceError::validation(
                "password",
                format!("must be {MIN_PASSWORD_CHARS} to {MAX_PASSWORD_CHARS} characters long"),
            ));
        }
        let store = self.store();
        if store.user_by_email(&email).await?.is_some() {
            return Err(ServiceError::DuplicateEmail);
        }
        let password = WireSecret::new(password.to_owned());
        let password_hash =
            tokio::task::spawn_blocking(move || secrets::hash_password(password.expose()))
                .await??;
        let now = clock::now();
        let tenant_id = store.ensure_tenant(tenant, DEFAULT_DAILY_CAP, now).await?;
        let user = User {
            id: secrets::random_id("usr"),
            email,
            role,
            tenant_id,
        };
        store
            .insert_user(&NewUser {
                user: user.clone(),
                password_hash,
                created_at: now,
            })
            .await?;
        tracing::info!(user_id = %user.id, role = role.as_str(), "user added");
        Ok(user)
    }

    /// Binds `addr` (port 0 picks a free port) and serves on a spawned task until
    /// [`RunningService::shutdown`] is called or the handle is dropped. Returns once the
    /// listener accepts connections.
    pub async fn bind(&self, addr: SocketAddr) -> Result<RunningService, ServiceError> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = oneshot::channel::<()>();
        let app = self
            .router()
            .into_make_service_with_connect_info::<SocketAddr>();
        let task = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    // A send or a dropped handle both mean stop.
                    let _ = stopped.await;
                })
                .await
        });
        Ok(RunningService { addr, stop, task })
    }

    /// The tenant's newest audit rows (login, key create, key revoke), newest first.
    pub async fn audit_log(
        &self,
        tenant_id: &str,
        limit: u32,
    ) -> Result<Vec<AuditEntry>, ServiceError> {
        self.store().audit_log(tenant_id, limit).await
    }

    pub fn config(&self) -> &ServiceConfig {
        &self.inner.config
    }

    pub(crate) fn store(&self) -> &dyn Storage {
        self.inner.store.as_ref()
    }

    pub(crate) fn rates(&self) -> &RateCounters {
        &self.inner.rates
    }

    /// Counts storage lookups of presented keys, so that tests can prove which inputs never
    /// reach storage.
    pub(crate) fn note_key_lookup(&self) {
        self.inner.key_lookups.fetch_add(1, Ordering::Relaxed);
    }

    #[cfg(test)]
    pub(crate) fn key_lookups(&self) -> u64 {
        self.inner.key_lookups.load(Ordering::Relaxed)
    }

    pub(crate) async fn dummy_password_hash(&self) -> Result<&str, ServiceError> {
        let hash = self
            .inner
            .dummy_hash
            .get_or_try_init(|| async {
                let dummy = secrets::random_password();
                tokio::task::spawn_blocking(move || secrets::hash_password(&dummy)).await?
            })
            .await?;
        Ok(hash)
    }
}

impl std::fmt::Debug for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Service")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

fn normalise_email(email: &str) -> Result<String, ServiceError> {
    let email = email.trim();
    let ok = email.chars().count() <= MAX_EMAIL_CHARS
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        && matches!(email.split_once('@'), Some((local, domain))
            if !local.is_empty() && !domain.is_empty() && !domain.contains('@'));
    if ok {
        Ok(email.to_owned())
    } else {
        Err(ServiceError::validation(
            "email",
            "must be an address like name@example.com",
        ))
    }
}

/// A service listening on a socket. Dropping it stops the server too.
#[derive(Debug)]
pub struct RunningService {
    /// The address actually bound.
    pub addr: SocketAddr,
    stop: oneshot::Sender<()>,
    task: JoinHandle<std::io::Result<()>>,
}

impl RunningService {
    /// `http://HOST:PORT` of the bound address.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting, lets requests in flight finish, and waits for the server task.
    pub async fn shutdown(self) {
        let _ = self.stop.send(());
        match self.task.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::error!(error = %e, "the server stopped with an error"),
            Err(e) => tracing::error!(error = %e, "the server task failed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_checked_and_trimmed() {
        assert_eq!(normalise_email(" a+b@x.io ").expect("ok"), "a+b@x.io");
        for bad in ["", "a", "@x.io", "a@", "a b@x.io", "a@b@c"] {
            assert!(normalise_email(bad).is_err(), "{bad}");
        }
    }
}
