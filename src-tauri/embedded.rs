//! The key service embedded in the app, so that Keyhaven works out of the box: it runs
//! in-process on loopback with its database in the data folder, and every profile with no
//! account gets one on it: the first at start-up, a new one when it becomes the active profile.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use keyhaven_core::{Keyhaven, LocalAccounts, Secret};
use keyhaven_service::{RunningService, Service, ServiceConfig};

/// How long quitting waits for the local service to finish its requests and write its usage.
const STOP_WITHIN: std::time::Duration = std::time::Duration::from_secs(3);

pub struct LocalService {
    /// Until the app quits; then taken and stopped.
    running: Mutex<Option<RunningService>>,
    url: Option<String>,
    /// The service itself, to add the account of a profile that has none.
    service: Option<Service>,
    /// Why the service, or the active profile's account on it, is not there.
    error: Mutex<Option<String>>,
    /// The active profile's account on it is being made.
    preparing: AtomicBool,
}

impl LocalService {
    pub fn not_started() -> LocalService {
        LocalService::failed("The local key service was not started.".into())
    }

    fn failed(message: String) -> LocalService {
        LocalService {
            running: Mutex::new(None),
            url: None,
            service: None,
            error: Mutex::new(Some(message)),
            preparing: AtomicBool::new(false),
        }
    }

    /// Whether the active profile's own account is being made.
    pub fn preparing(&self) -> bool {
        self.preparing.load(Ordering::SeqCst)
    }

    /// What went wrong with the local service or the active profile's account on it, if anything.
    pub fn error(&self) -> Option<String> {
        self.error.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn set_error(&self, error: Option<String>) {
        *self.error.lock().unwrap_or_else(|p| p.into_inner()) = error;
    }

    /// Gives the active profile an owner account on the local service if it has no account at
    /// all (the core's [`Accounts::ensure_first`](keyhaven_core::Accounts::ensure_first)), as the first profile gets at
    /// start-up: called when a profile becomes active (switched to, or unlocked). A failure is
    /// kept for the window to show, not returned: the profile itself is in place.
    pub async fn ensure_account(&self, core: &Keyhaven) {
        let Some(service) = &self.service else {
            return;
        };
        self.preparing.store(true, Ordering::SeqCst);
        let made = core.accounts().ensure_first(&Embedded(service)).await;
        self.preparing.store(false, Ordering::SeqCst);
        let error = made
            .err()
            .map(|e| format!("cannot give the profile an account on the local service: {e}"));
        if let Some(message) = &error {
            tracing::warn!("{message}");
        }
        self.set_error(error);
    }

    /// Starts the service unless `KEYHAVEN_NO_EMBEDDED_SERVICE` is set. A profile with no
    /// account gets one on it afterwards ([`LocalService::ensure_account`], called in the
    /// background once the window is up): its slow parts (two password hashes, the keychain)
    /// do not hold the window; until then [`LocalService::preparing`] says so.
    pub async fn start(core: &Keyhaven) -> LocalService {
        if std::env::var_os("KEYHAVEN_NO_EMBEDDED_SERVICE").is_some() {
            return LocalService {
                running: Mutex::new(None),
                url: None,
                service: None,
                error: Mutex::new(None),
                preparing: AtomicBool::new(false),
            };
        }
        let db = core.data_dir().join("local-service").join("keyhaven.db");
        let started = async {
            if let Some(dir) = db.parent() {
                std::fs::create_dir_all(dir)
                    .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
            }
            let mut config = ServiceConfig::new(db.to_string_lossy());
            // Quitting the app waits for the service's stop: keep it short.
            config.shutdown_timeout = std::time::Duration::from_secs(1);
            let service = Service::open(config)
                .await
                .map_err(|e| format!("cannot open the local service's database: {e}"))?;
            let addr = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
            let running = service
                .bind(addr)
                .await
                .map_err(|e| format!("cannot listen on loopback: {e}"))?;
            Ok::<_, String>((service, running))
        }
        .await;
        match started {
            Ok((service, running)) => {
                core.set_embedded_url(Some(running.url()));
                tracing::info!(url = %running.url(), "local key service started");
                // Said at once, so that the window's first status does not offer to sign in.
                let needs_account =
                    core.accounts().list().is_empty() && !core.profiles().is_locked();
                LocalService {
                    url: Some(running.url()),
                    running: Mutex::new(Some(running)),
                    service: Some(service),
                    error: Mutex::new(None),
                    preparing: AtomicBool::new(needs_account),
                }
            }
            Err(message) => {
                tracing::error!("{message}");
                LocalService::failed(message)
            }
        }
    }

    pub fn url(&self) -> Option<String> {
        self.url.clone()
    }

    /// Stops the local service as a server stops: requests in flight are answered, and the
    /// usage it counted in memory (up to the last second) is written before the app exits.
    /// Blocks, for at most a few seconds; call it once, as the app quits.
    pub fn stop(&self) {
        let running = self
            .running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(running) = running {
            // The timer is made inside the runtime, as the future first runs.
            let stopped = tauri::async_runtime::block_on(async move {
                tokio::time::timeout(STOP_WITHIN, running.shutdown()).await
            });
            match stopped {
                Ok(()) => tracing::info!("local key service stopped; its usage is written"),
                Err(_) => tracing::warn!("the local key service did not stop in time"),
            }
        }
    }
}

/// The embedded service, where the core makes a profile's first account.
struct Embedded<'a>(&'a Service);

impl LocalAccounts for Embedded<'_> {
    async fn add_owner(
        &self,
        email: &str,
        tenant: &str,
        password: &Secret,
    ) -> keyhaven_core::Result<()> {
        self.0
            .add_user(email, keyhaven_api::Role::Owner, tenant, password.expose())
            .await
            .map(|_| ())
            .map_err(|e| keyhaven_core::Error::Service {
                code: e.code(),
                message: e.to_string(),
            })
    }
}
