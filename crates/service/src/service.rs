//! The service as a library: open it, add users, get its router, or bind it to an address.
//! This file puts the layers together (storage under the domain, the domain under HTTP) and
//! runs what lives as long as the service: the upkeep loop and, on a shared database, the task
//! that hears other instances' changes. Nothing else in the crate imports it.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use keyhaven_api::{CreateTenantRequest, Role, Tenant, UpdateTenantRequest, User};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::clock::{Clock, SystemClock};
use crate::config::ServiceConfig;
use crate::demo::{self, Demo};
use crate::domain::{auth, limits, tenants, Domain};
use crate::error::ServiceError;
use crate::storage::{self, AuditEntry, ChangeHandlers};

/// A running key service's shared state. Cheap to clone.
#[derive(Clone)]
pub struct Service {
    domain: Domain,
    /// The task hearing other instances' changes, on a shared storage; stopped with the last
    /// clone.
    _change_watch: Arc<AbortOnDrop>,
}

struct AbortOnDrop(Option<JoinHandle<()>>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        if let Some(task) = self.0.take() {
            task.abort();
        }
    }
}

impl Service {
    /// Opens the database (creating the file if missing), runs the migrations, and checks the
    /// configuration.
    pub async fn open(config: ServiceConfig) -> Result<Service, ServiceError> {
        Service::open_with_clock(config, Arc::new(SystemClock)).await
    }

    /// [`Service::open`] reading the time from `clock` (a [`crate::ManualClock`] in tests).
    pub async fn open_with_clock(
        config: ServiceConfig,
        clock: Arc<dyn Clock>,
    ) -> Result<Service, ServiceError> {
        config.validate()?;
        let store = storage::open(&config.db).await?;
        let domain = Domain::new(config, clock, store);
        // Listening before the first call is served, so that no change goes unheard.
        let change_watch = match domain.store().shared() {
            Some(shared) => Some(shared.watch_changes(change_handlers(&domain)).await?),
            None => None,
        };
        domain.seed_rate_windows().await?;
        spawn_upkeep(&domain);
        Ok(Service {
            domain,
            _change_watch: Arc::new(AbortOnDrop(change_watch)),
        })
    }

    /// Writes the usage counted in memory to storage. Runs on its own about once a second and
    /// on [`RunningService::shutdown`]; on failure the counts are kept for the next attempt.
    pub async fn flush_usage(&self) -> Result<(), ServiceError> {
        self.domain.flush_usage().await
    }

    /// Gives back to shared storage the calls this instance leased of rate windows and has not
    /// spent, so that other instances can spend them. Runs on its own about once a second and
    /// on [`RunningService::shutdown`]; nothing to do on SQLite.
    pub async fn release_leases(&self) {
        limits::release_leases(&self.domain).await;
    }

    /// Puts a tenant in a configured tier (`None`: the default tier), which sets its daily cap.
    pub async fn set_tenant_tier(
        &self,
        tenant_id: &str,
        tier: Option<&str>,
    ) -> Result<(), ServiceError> {
        let request = UpdateTenantRequest {
            tier: Some(tier.unwrap_or(&self.config().default_tier).to_owned()),
            ..UpdateTenantRequest::default()
        };
        tenants::update(&self.domain, tenants::Actor::Operator, tenant_id, &request).await?;
        Ok(())
    }

    /// Every tenant, for the deployment's operator (`keyhaven-service tenant list`).
    pub async fn list_tenants(&self) -> Result<Vec<Tenant>, ServiceError> {
        tenants::list(&self.domain, tenants::Actor::Operator).await
    }

    /// Adds a tenant, for the operator; its name must be free.
    pub async fn create_tenant(
        &self,
        request: &CreateTenantRequest,
    ) -> Result<Tenant, ServiceError> {
        tenants::create(&self.domain, tenants::Actor::Operator, request).await
    }

    /// Changes the tenant with that id or name, for the operator, with the admin route's rules.
    pub async fn update_tenant(
        &self,
        name_or_id: &str,
        request: &UpdateTenantRequest,
    ) -> Result<Tenant, ServiceError> {
        let tenant = tenants::find(&self.domain, name_or_id).await?;
        tenants::update(&self.domain, tenants::Actor::Operator, &tenant.id, request).await
    }

    /// The whole HTTP application, for `oneshot` tests or for serving elsewhere.
    pub fn router(&self) -> axum::Router {
        crate::http::router(self.domain.clone())
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
        auth::add_user(&self.domain, email, role, tenant, password).await
    }

    /// `serve --demo`: the demo tenant, its users and keys (see [`crate::demo`]).
    pub async fn seed_demo(&self) -> Result<Demo, ServiceError> {
        demo::seed(&self.domain).await
    }

    /// Binds `addr` (port 0 picks a free port) and serves on a spawned task until
    /// [`RunningService::shutdown`] is called or the handle is dropped. Returns once the
    /// listener accepts connections.
    pub async fn bind(&self, addr: SocketAddr) -> Result<RunningService, ServiceError> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = oneshot::channel::<()>();
        let config = self.config();
        let limits = crate::http::serve::Limits {
            header_read_timeout: config.header_read_timeout,
            request_timeout: config.request_timeout,
            max_connections: config.max_connections,
            shutdown_timeout: config.shutdown_timeout,
        };
        // A send or a dropped handle both mean stop.
        let task = tokio::spawn(crate::http::serve::run(
            listener,
            self.router(),
            limits,
            stopped,
        ));
        Ok(RunningService {
            addr,
            stop,
            task,
            service: self.clone(),
        })
    }

    /// The tenant's newest audit rows (user added, login, key create, update, roll, revoke),
    /// newest first.
    pub async fn audit_log(
        &self,
        tenant_id: &str,
        limit: u32,
    ) -> Result<Vec<AuditEntry>, ServiceError> {
        self.domain.store().audit_log(tenant_id, limit).await
    }

    pub fn config(&self) -> &ServiceConfig {
        self.domain.config()
    }

    /// Now, by the service's clock, in seconds since the Unix epoch.
    pub fn now(&self) -> i64 {
        self.domain.now()
    }

    /// Round trips to shared storage for rate windows since the start: leases, give-backs and
    /// reads (0 on SQLite, which keeps the windows in memory).
    pub fn rate_round_trips(&self) -> u64 {
        self.domain.rate_round_trips()
    }
}

impl std::fmt::Debug for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Service")
            .field("config", self.config())
            .finish_non_exhaustive()
    }
}

/// What another instance's change does here: a key or tenant change empties the key cache; a
/// failed attempt updates the IP's lockout.
fn change_handlers(domain: &Domain) -> ChangeHandlers {
    let weak = domain.downgrade();
    let weak_too = weak.clone();
    ChangeHandlers {
        keys: Arc::new(move || {
            if let Some(domain) = weak.upgrade() {
                domain.key_cache().invalidate();
            }
        }),
        failures: Arc::new(move |ip: &str, times: &[i64]| {
            let (Some(domain), Ok(ip)) = (weak_too.upgrade(), ip.parse::<IpAddr>()) else {
                return;
            };
            domain.lockout().set(ip, times);
        }),
    }
}

/// Runs [`Domain::upkeep`] every `usage_flush_interval`, for as long as the service lives.
fn spawn_upkeep(domain: &Domain) {
    let weak = domain.downgrade();
    let every = domain.config().usage_flush_interval;
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        let mut last_prune = i64::MIN;
        loop {
            tick.tick().await;
            let Some(domain) = weak.upgrade() else { break };
            domain.upkeep(&mut last_prune).await;
        }
    });
}

/// A service listening on a socket. Dropping it stops the server too.
#[derive(Debug)]
pub struct RunningService {
    /// The address actually bound.
    pub addr: SocketAddr,
    stop: oneshot::Sender<()>,
    task: JoinHandle<std::io::Result<()>>,
    service: Service,
}

impl RunningService {
    /// `http://HOST:PORT` of the bound address.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting, lets requests in flight finish (for at most the configured shutdown
    /// timeout, then closes what is left), waits for the server task, and writes the usage
    /// still in memory.
    pub async fn shutdown(self) {
        let _ = self.stop.send(());
        match self.task.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::error!(error = %e, "the server stopped with an error"),
            Err(e) => tracing::error!(error = %e, "the server task failed"),
        }
        if let Err(e) = self.service.flush_usage().await {
            tracing::error!(error = %e, "the last usage flush failed");
        }
        let domain = &self.service.domain;
        limits::release_leases(domain).await;
        if domain.store().shared().is_some() {
            tracing::info!(
                rate_round_trips = domain.rate_round_trips(),
                "stopped; round trips to storage for rate limits since the start"
            );
        }
    }
}
