//! What the shell keeps for key detail and usage between calls, held in the app's state: the
//! window to send events to, the core's usage-watcher runtime, and what the start-up resume of
//! rotations found. Apart from the command functions (`ops_keys.rs`), which use the state that
//! holds it.

use std::sync::{Mutex, OnceLock};

use serde::Serialize;
use tauri::AppHandle;

use keyhaven_core::{RotationOutcome, WatchRuntime, WatchSettings};

use crate::events::Event;

/// The shell's side of key detail and usage: the window to send events to, the usage watcher's
/// runtime (the core's), and what the start-up resume of rotations found.
#[derive(Default)]
pub struct KeysRuntime {
    pub(crate) app: OnceLock<AppHandle>,
    pub(crate) watch: OnceLock<WatchRuntime>,
    pub(crate) resumed: Mutex<Vec<RotationOutcome>>,
}

impl KeysRuntime {
    pub(crate) fn emit<P: Serialize + Clone>(&self, event: Event<P>, payload: P) {
        if let Some(app) = self.app.get() {
            crate::events::emit(app, event, payload);
        }
    }

    /// The watcher's settings: the running one's, or the defaults before it starts.
    pub(crate) fn settings(&self) -> WatchSettings {
        self.watch
            .get()
            .map(WatchRuntime::settings)
            .unwrap_or_default()
    }
}
