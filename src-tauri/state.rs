//! What the shell holds while it runs: the core, the embedded service and the clipboard.

use std::sync::Mutex;
use std::time::Duration;

use keyhaven_core::{ClipboardGuard, CoreConfig, Keyhaven};

use crate::embedded::LocalService;
use crate::ipc::IpcError;

/// Seconds after which a copied secret is cleared from the clipboard.
pub const CLIPBOARD_CLEAR: Duration = Duration::from_secs(30);

pub struct AppState {
    core: Result<Keyhaven, IpcError>,
    pub local: LocalService,
    pub clipboard: Mutex<Option<ClipboardGuard>>,
    /// Key detail, rotation and usage: the usage watcher and its settings.
    pub keys: crate::ops_keys::KeysRuntime,
}

impl AppState {
    /// Opens the core and starts the embedded key service. Failures are kept and reported to the
    /// window by `app_status`, so the person sees what is wrong and how to fix it.
    pub async fn start() -> AppState {
        let core = match CoreConfig::from_env() {
            Ok(config) => Keyhaven::open(config).await.map_err(IpcError::from),
            Err(e) => Err(IpcError::from(e)),
        };
        let local = match &core {
            Ok(core) => LocalService::start(core).await,
            Err(_) => LocalService::not_started(),
        };
        if let Err(e) = &core {
            tracing::error!(code = ?e.code, "the core did not start: {}", e.message);
        }
        AppState {
            core,
            local,
            clipboard: Mutex::new(None),
            keys: Default::default(),
        }
    }

    pub fn core(&self) -> Result<&Keyhaven, IpcError> {
        self.core.as_ref().map_err(Clone::clone)
    }

    pub fn startup_error(&self) -> Option<IpcError> {
        self.core.as_ref().err().cloned()
    }

    /// Clears the clipboard if it still holds a secret we put there.
    pub fn on_quit(&self) {
        if let Ok(mut guard) = self.clipboard.lock() {
            if let Some(clipboard) = guard.as_mut() {
                clipboard.clear_now_if_ours();
            }
        }
    }
}
