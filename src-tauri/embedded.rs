//! The key service embedded in the app, so that Keyhaven works out of the box: it runs
//! in-process on loopback with its database in the data folder, and on first run the profile
//! gets an account on it.

use keyhaven_core::{Keyhaven, Secret, ServiceRef};
use keyhaven_service::{RunningService, Service, ServiceConfig};
use rand::distributions::{Alphanumeric, DistString};

pub struct LocalService {
    pub running: Option<RunningService>,
    pub error: Option<String>,
}

impl LocalService {
    pub fn not_started() -> LocalService {
        LocalService {
            running: None,
            error: Some("The local key service was not started.".into()),
        }
    }

    /// Starts the service unless `KEYHAVEN_NO_EMBEDDED_SERVICE` is set, and gives a profile
    /// with no account one on it.
    pub async fn start(core: &Keyhaven) -> LocalService {
        if std::env::var_os("KEYHAVEN_NO_EMBEDDED_SERVICE").is_some() {
            return LocalService {
                running: None,
                error: None,
            };
        }
        let db = core.data_dir().join("local-service").join("keyhaven.db");
        let started = async {
            if let Some(dir) = db.parent() {
                std::fs::create_dir_all(dir)
                    .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
            }
            let service = Service::open(ServiceConfig::new(db.to_string_lossy()))
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
                let error = first_run_account(core, &service).await.err();
                LocalService {
                    running: Some(running),
                    error,
                }
            }
            Err(message) => {
                tracing::error!("{message}");
                LocalService {
                    running: None,
                    error: Some(message),
                }
            }
        }
    }

    pub fn url(&self) -> Option<String> {
        self.running.as_ref().map(RunningService::url)
    }
}

/// A profile with no account gets an owner account on the local service, with a random password
/// that only the keychain knows.
async fn first_run_account(core: &Keyhaven, service: &Service) -> Result<(), String> {
    if !core.accounts().is_empty() {
        return Ok(());
    }
    let profile = core.profile();
    let tag = Alphanumeric
        .sample_string(&mut rand::thread_rng(), 6)
        .to_lowercase();
    let email = format!("{profile}+{tag}@keyhaven.local");
    let password = Secret::new(Alphanumeric.sample_string(&mut rand::thread_rng(), 32));
    service
        .add_user(
            &email,
            keyhaven_api::Role::Owner,
            &format!("{profile} (local)"),
            password.expose(),
        )
        .await
        .map_err(|e| format!("cannot create the local account: {e}"))?;
    core.sign_in(ServiceRef::Embedded, &email, password, true)
        .await
        .map_err(|e| format!("cannot sign in to the local service: {e}"))?;
    tracing::info!("first run: signed in to the local key service");
    Ok(())
}
