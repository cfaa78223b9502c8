//! What the shell holds while it runs: the core, the embedded service and the clipboard.

use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use keyhaven_core::{ClipboardGuard, CoreConfig, Keyhaven};

use crate::embedded::LocalService;
use crate::wire::IpcError;

/// Seconds after which a copied secret is cleared from the clipboard.
pub const CLIPBOARD_CLEAR: Duration = Duration::from_secs(30);

/// What the app manages from its first moment: the state, once it has started. Opening the core
/// and starting the embedded service run beside the window's own start-up, not before it; a
/// command that arrives earlier waits for them (the window shows "Starting Keyhaven…").
pub type Shell = Started<AppState>;

/// A value that is set once, some time after start, and awaited until then.
pub struct Started<T> {
    state: OnceLock<T>,
    ready: tokio::sync::Notify,
}

impl<T> Default for Started<T> {
    fn default() -> Self {
        Started {
            state: OnceLock::new(),
            ready: tokio::sync::Notify::new(),
        }
    }
}

impl<T> Started<T> {
    /// Hands over the started value and wakes every command waiting for it.
    pub fn set(&self, state: T) {
        if self.state.set(state).is_err() {
            tracing::error!("the app state was started twice; the second is dropped");
        }
        self.ready.notify_waiters();
    }

    /// The value, if it has started.
    pub fn get(&self) -> Option<&T> {
        self.state.get()
    }

    /// The value, once it has started.
    pub async fn wait(&self) -> &T {
        loop {
            // Made before the check, so that a `set` between the two still wakes it.
            let ready = self.ready.notified();
            if let Some(state) = self.state.get() {
                return state;
            }
            ready.await;
        }
    }
}

/// The app's state, if it has started.
pub fn started<R: tauri::Runtime>(app: &tauri::AppHandle<R>) -> Option<&AppState> {
    use tauri::Manager;
    app.try_state::<Shell>()?.inner().get()
}

pub struct AppState {
    core: Result<Keyhaven, IpcError>,
    pub local: LocalService,
    pub clipboard: Mutex<Option<ClipboardGuard>>,
    /// Key detail, rotation and usage: the usage watcher and its settings.
    pub keys: crate::keys_runtime::KeysRuntime,
    /// Keys copied lately, offered again by the tray's menu.
    pub recent: crate::recent::RecentKeys,
}

impl AppState {
    /// Opens the core and starts the embedded key service. Failures are kept and reported to the
    /// window by `app_status`, so the person sees what is wrong and how to fix it.
    pub async fn start() -> AppState {
        let started = Instant::now();
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
        tracing::info!(
            elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            "core and local service started"
        );
        AppState {
            core,
            local,
            clipboard: Mutex::new(None),
            keys: Default::default(),
            recent: Default::default(),
        }
    }

    pub fn core(&self) -> Result<&Keyhaven, IpcError> {
        self.core.as_ref().map_err(Clone::clone)
    }

    pub fn startup_error(&self) -> Option<IpcError> {
        self.core.as_ref().err().cloned()
    }

    /// Clears the clipboard if it still holds a secret we put there, and stops the local
    /// service gracefully, so that its last second of usage is kept. Runs when the window is
    /// destroyed and again as the app exits: the second time finds nothing left to do.
    pub fn on_quit(&self) {
        self.clear_clipboard_if_ours();
        self.local.stop();
    }

    /// Clears the clipboard now if it still holds a secret the app copied; whether it did.
    pub fn clear_clipboard_if_ours(&self) -> bool {
        let guard = self.clipboard.lock().unwrap_or_else(|p| p.into_inner());
        let cleared = guard
            .as_ref()
            .is_some_and(|clipboard| clipboard.clear_now_if_ours());
        if cleared {
            tracing::info!("cleared a copied secret from the clipboard");
        }
        cleared
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[tokio::test]
    async fn a_command_before_the_start_waits_for_it_and_one_after_does_not() {
        let shell = Arc::new(Started::<u32>::default());
        let early: Vec<_> = (0..3)
            .map(|_| {
                let shell = shell.clone();
                tokio::spawn(async move { *shell.wait().await })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(
            early.iter().all(|w| !w.is_finished()),
            "nothing to answer yet"
        );
        assert_eq!(shell.get(), None);
        shell.set(7);
        for waiter in early {
            let got = tokio::time::timeout(Duration::from_secs(5), waiter)
                .await
                .expect("woken")
                .expect("joined");
            assert_eq!(got, 7);
        }
        assert_eq!(*shell.wait().await, 7);
        shell.set(8);
        assert_eq!(shell.get(), Some(&7), "the first start stays");
    }
}
