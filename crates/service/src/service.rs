//! The service as a library: open it, add users, get its router, or bind it to an address.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use keyhaven_api::{CreateTenantRequest, Role, Tenant, UpdateTenantRequest, User, WireSecret};
use tokio::sync::{oneshot, OnceCell};
use tokio::task::JoinHandle;

use crate::clock::{Clock, SystemClock, DAY, HOUR};
use crate::config::{ServiceConfig, DEFAULT_DAILY_CAP};
use crate::error::ServiceError;
use crate::keycache::KeyCache;
use crate::lockout::{Attempt, Lockout};
use crate::ratelimit::{self, DailyLeases, RateCounters, SessionRates, TierRates};
use crate::secrets::{self, MAX_PASSWORD_CHARS, MIN_PASSWORD_CHARS};
use crate::storage::{self, action, AuditEntry, ChangeHandlers, NewUser, Storage};
use crate::tenants;
use crate::usage::Pending;
use crate::usage::UsageCounter;

/// How long denials are kept: 30 days.
const DENIAL_RETENTION: i64 = 30 * DAY;
/// Longest email accepted (RFC 5321's path limit).
const MAX_EMAIL_CHARS: usize = 254;

/// A running key service's shared state. Cheap to clone.
#[derive(Clone)]
pub struct Service {
    inner: Arc<Inner>,
}

struct Inner {
    config: ServiceConfig,
    clock: Arc<dyn Clock>,
    store: Box<dyn Storage>,
    rates: RateCounters,
    /// This instance's batches of daily windows, on a shared storage.
    daily_leases: DailyLeases,
    lockout: Lockout,
    usage: UsageCounter,
    key_cache: KeyCache,
    key_lookups: AtomicU64,
    /// A hash to verify against when the email is unknown, so that both failures cost the same.
    dummy_hash: OnceCell<String>,
    /// Turns for password hashing, one per core (see [`Service::password_work`]).
    password_work: tokio::sync::Semaphore,
    /// Management calls per session and minute.
    session_rates: SessionRates,
    /// Calls per key in the windows of the tiers' request rates.
    tier_rates: TierRates,
    /// One usage flush at a time, so that counts reach storage in order.
    flush_lock: tokio::sync::Mutex<()>,
    /// The task hearing other instances' key changes, on a shared storage.
    change_watch: std::sync::Mutex<Option<JoinHandle<()>>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        let watch = self
            .change_watch
            .get_mut()
            .unwrap_or_else(|p| p.into_inner());
        if let Some(task) = watch.take() {
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
        let service = Service {
            inner: Arc::new(Inner {
                clock,
                store,
                rates: RateCounters::default(),
                daily_leases: DailyLeases::default(),
                lockout: Lockout::new(
                    config.lockout_threshold,
                    i64::try_from(config.lockout_window.as_secs()).unwrap_or(i64::MAX),
                ),
                usage: UsageCounter::default(),
                key_cache: KeyCache::with_max_age(config.key_cache_max_age),
                config,
                key_lookups: AtomicU64::new(0),
                dummy_hash: OnceCell::new(),
                session_rates: SessionRates::default(),
                tier_rates: TierRates::default(),
                password_work: tokio::sync::Semaphore::new(
                    std::thread::available_parallelism().map_or(2, |n| n.get()),
                ),
                flush_lock: tokio::sync::Mutex::new(()),
                change_watch: std::sync::Mutex::new(None),
            }),
        };
        // Listening before the first call is served, so that no change goes unheard.
        let weak = Arc::downgrade(&service.inner);
        let weak_too = weak.clone();
        let handlers = ChangeHandlers {
            keys: Arc::new(move || {
                if let Some(inner) = weak.upgrade() {
                    inner.key_cache.invalidate();
                }
            }),
            failures: Arc::new(move |ip: &str, times: &[i64]| {
                let (Some(inner), Ok(ip)) = (weak_too.upgrade(), ip.parse::<IpAddr>()) else {
                    return;
                };
                inner.lockout.set(ip, times);
            }),
        };
        if let Some(shared) = service.store().shared() {
            let task = shared.watch_changes(handlers).await?;
            *service
                .inner
                .change_watch
                .lock()
                .unwrap_or_else(|p| p.into_inner()) = Some(task);
        }
        service.seed_rate_windows().await?;
        service.spawn_maintenance();
        Ok(service)
    }

    /// Where rates are counted in this process's memory (SQLite), starts the windows of the
    /// current hour and day from the calls stored by earlier runs, so that a restart never lets a
    /// key have its hourly limit, or a tenant its daily cap, twice. (Shared storage keeps the
    /// windows itself.)
    async fn seed_rate_windows(&self) -> Result<(), ServiceError> {
        if self.store().shared().is_some() {
            return Ok(());
        }
        let now = self.now();
        let today = now - now.rem_euclid(DAY);
        let stored = self.store().allowed_since(today).await?;
        let rates = self.rates();
        for calls in &stored {
            let count = u32::try_from(calls.count).unwrap_or(u32::MAX);
            rates.seed(&calls.key_id, &calls.tenant_id, calls.hour, count, now);
        }
        if !stored.is_empty() {
            tracing::info!(
                rows = stored.len(),
                "rate windows continued from the stored usage"
            );
        }
        Ok(())
    }

    /// Flushes usage every `usage_flush_interval` and forgets ended rate windows and aged
    /// lockout records, for as long as the service lives.
    fn spawn_maintenance(&self) {
        let weak = Arc::downgrade(&self.inner);
        let every = self.inner.config.usage_flush_interval;
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await;
            let mut last_prune = i64::MIN;
            loop {
                tick.tick().await;
                let Some(inner) = weak.upgrade() else { break };
                let svc = Service { inner };
                if let Err(e) = svc.flush_usage().await {
                    tracing::error!(error = %e, "usage flush failed; will retry");
                }
                ratelimit::release_daily_leases(&svc).await;
                let now = svc.now();
                svc.inner.rates.prune(now);
                svc.inner.lockout.prune(now);
                svc.inner.session_rates.prune(now);
                svc.inner.tier_rates.prune(now);
                if now.saturating_sub(last_prune) >= HOUR {
                    last_prune = now;
                    match svc.store().prune_denials(now - DENIAL_RETENTION).await {
                        Ok(0) => {}
                        Ok(n) => tracing::info!(removed = n, "old denials forgotten"),
                        Err(e) => tracing::error!(error = %e, "pruning denials failed"),
                    }
                    let window =
                        i64::try_from(svc.config().lockout_window.as_secs()).unwrap_or(i64::MAX);
                    if let Some(shared) = svc.store().shared() {
                        if let Err(e) = shared.prune_failures(now.saturating_sub(window)).await {
                            tracing::error!(error = %e, "forgetting old failed attempts failed");
                        }
                    }
                }
            }
        });
    }

    /// Writes the usage counted in memory to storage. Runs on its own about once a second and
    /// on [`RunningService::shutdown`]; on failure the counts are kept for the next attempt.
    pub async fn flush_usage(&self) -> Result<(), ServiceError> {
        let _one_at_a_time = self.inner.flush_lock.lock().await;
        let pending = self.inner.usage.take();
        if pending.dropped_denials > 0 {
            tracing::warn!(
                dropped = pending.dropped_denials,
                "denials beyond the per-flush buffer were counted but not itemised"
            );
        }
        if pending.is_empty() {
            return Ok(());
        }
        match self.store().flush_usage(&pending.batch()).await {
            Ok(()) => Ok(()),
            Err(e) => {
                self.inner.usage.restore(Pending {
                    dropped_denials: 0,
                    ..pending
                });
                Err(e)
            }
        }
    }

    /// Puts a tenant in a configured tier (`None`: the default tier), which sets its daily cap.
    pub async fn set_tenant_tier(
        &self,
        tenant_id: &str,
        tier: Option<&str>,
    ) -> Result<(), ServiceError> {
        let request = UpdateTenantRequest {
            tier: Some(tier.unwrap_or(&self.inner.config.default_tier).to_owned()),
            ..UpdateTenantRequest::default()
        };
        tenants::update(self, tenants::Actor::Operator, tenant_id, &request).await?;
        Ok(())
    }

    /// Every tenant, for the deployment's operator (`keyhaven-service tenant list`).
    pub async fn list_tenants(&self) -> Result<Vec<Tenant>, ServiceError> {
        tenants::list(self, tenants::Actor::Operator).await
    }

    /// Adds a tenant, for the operator; its name must be free.
    pub async fn create_tenant(
        &self,
        request: &CreateTenantRequest,
    ) -> Result<Tenant, ServiceError> {
        tenants::create(self, tenants::Actor::Operator, request).await
    }

    /// Changes the tenant with that id or name, for the operator, with the admin route's rules.
    pub async fn update_tenant(
        &self,
        name_or_id: &str,
        request: &UpdateTenantRequest,
    ) -> Result<Tenant, ServiceError> {
        let tenant = tenants::find(self, name_or_id).await?;
        tenants::update(self, tenants::Actor::Operator, &tenant.id, request).await
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
        let tenant = tenants::checked_name(tenant).map_err(|_| {
            ServiceError::validation(
                "tenant",
                format!(
                    "must be 1 to {} printable characters",
                    tenants::MAX_TENANT_CHARS
                ),
            )
        })?;
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
        let password_hash = self
            .password_work(move || secrets::hash_password(password.expose()))
            .await??;
        let now = self.now();
        let tenant_id = store.ensure_tenant(tenant, DEFAULT_DAILY_CAP, now).await?;
        let user = User {
            id: secrets::random_id("usr"),
            email,
            role,
            tenant_id,
        };
        let audit = AuditEntry {
            at: now,
            tenant_id: user.tenant_id.clone(),
            actor: "system".to_owned(),
            action: action::USER_ADD.to_owned(),
            target: user.id.clone(),
            ip: None,
        };
        store
            .insert_user(
                &NewUser {
                    user: user.clone(),
                    password_hash,
                    created_at: now,
                },
                &audit,
            )
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
        self.store().audit_log(tenant_id, limit).await
    }

    pub fn config(&self) -> &ServiceConfig {
        &self.inner.config
    }

    /// Now, by the service's clock, in seconds since the Unix epoch.
    pub fn now(&self) -> i64 {
        self.inner.clock.now()
    }

    pub(crate) fn store(&self) -> &dyn Storage {
        self.inner.store.as_ref()
    }

    pub(crate) fn rates(&self) -> &RateCounters {
        &self.inner.rates
    }

    /// Counts a failure decided at once (a malformed key, a cached key refused) from `ip`
    /// toward its source's lockout: `Err(seconds)` when the source is locked out already and
    /// the attempt is to be answered as a lockout.
    pub(crate) async fn fail_now(&self, ip: IpAddr, now: i64) -> Result<Option<i64>, i64> {
        let attempt = self.lockout().reserve(ip, now)?;
        Ok(self.attempt_failed(attempt, now).await)
    }

    /// Counts a failed attempt that held its place (see [`crate::lockout`]) toward its source's
    /// lockout, across every instance when the storage is shared; the seconds the source is
    /// locked out for, when this failure locked it.
    pub(crate) async fn attempt_failed(&self, attempt: Attempt<'_>, now: i64) -> Option<i64> {
        let lockout = self.lockout();
        let rule = |times: &mut Vec<i64>| lockout.record_in(times, now);
        let source = attempt.source();
        let recorded = match self.store().shared() {
            Some(shared) => shared
                .record_failure(&source.to_string(), &rule)
                .await
                .map(Some),
            None => Ok(None),
        };
        let started = match recorded {
            Ok(None) => attempt.failed(now),
            Ok(Some(times)) => attempt.failed_shared(&times, now),
            Err(e) => {
                // Still counted here: storage being away must not lift the lockout.
                tracing::error!(error = %e, "cannot record a failed attempt in storage");
                attempt.failed(now)
            }
        };
        if let Some(secs) = started {
            tracing::warn!(source = %source, lockout_secs = secs, "source IP locked out after repeated failures");
        }
        started
    }

    /// Runs a password hash or check on the blocking pool, at most as many at once as the
    /// machine has cores: a burst of logins waits its turn instead of taking a hash's memory
    /// (Argon2id, 19 MiB) each at once.
    pub(crate) async fn password_work<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, ServiceError> {
        // The semaphore is never closed, so a turn always comes.
        let _turn = self.inner.password_work.acquire().await.ok();
        Ok(tokio::task::spawn_blocking(work).await?)
    }

    pub(crate) fn tier_rates(&self) -> &TierRates {
        &self.inner.tier_rates
    }

    pub(crate) fn session_rates(&self) -> &SessionRates {
        &self.inner.session_rates
    }

    pub(crate) fn daily_leases(&self) -> &DailyLeases {
        &self.inner.daily_leases
    }

    pub(crate) fn lockout(&self) -> &Lockout {
        &self.inner.lockout
    }

    pub(crate) fn usage(&self) -> &UsageCounter {
        &self.inner.usage
    }

    pub(crate) fn key_cache(&self) -> &KeyCache {
        &self.inner.key_cache
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
                self.password_work(move || secrets::hash_password(&dummy))
                    .await?
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
        ratelimit::release_daily_leases(&self.service).await;
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
