//! What a core holds of rotations between calls: which keys this process is rotating (each
//! with the OS lock that keeps other processes off it), and the test hook. The facade
//! ([`crate::Keyhaven`]) holds one; nothing here needs the facade.

use std::collections::HashSet;
use std::sync::{Mutex, RwLock};

use super::steps::RotationStep;
use crate::error::Result;

/// Fault injection for tests: a hook called before and after every step's effect, which may
/// stop the rotation as if the process had died there (nothing more runs: no rollback, no
/// journal update). Public only with the `test-support` feature, which the app and the CLI do not
/// turn on.
#[cfg(feature = "test-support")]
pub mod faults {
    pub use super::fault_hook::*;
}

// Without the feature nothing sets a hook: the engine's calls to it find none.
#[cfg_attr(not(feature = "test-support"), allow(dead_code))]
pub(crate) mod fault_hook {
    use std::future::Future;
    use std::pin::Pin;
    use std::sync::Arc;

    use super::RotationStep;

    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub enum FaultPoint {
        /// The step is journaled as started; its effect has not happened.
        Before(RotationStep),
        /// The step's effect happened; the journal does not know yet.
        After(RotationStep),
    }

    #[derive(Debug, Clone)]
    pub struct FaultContext {
        pub point: FaultPoint,
        pub rotation_id: String,
        pub account_id: String,
        pub old_key_id: String,
        pub new_key_id: Option<String>,
    }

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum FaultAction {
        Continue,
        /// Stop here as a killed process would.
        Crash,
    }

    pub type FaultHook = Arc<
        dyn Fn(FaultContext) -> Pin<Box<dyn Future<Output = FaultAction> + Send>> + Send + Sync,
    >;
}

use fault_hook::FaultHook;

/// Per-core rotation state: which keys are being rotated in this process, and the test hook.
#[derive(Default)]
pub(crate) struct RotationRuntime {
    active: Mutex<HashSet<String>>,
    hook: RwLock<Option<FaultHook>>,
}

/// Removes a key from the in-process set when its rotation ends (or its future is dropped),
/// and lets other processes have it (the OS lock goes with the guard).
pub(super) struct ActiveGuard<'a> {
    runtime: &'a RotationRuntime,
    key: String,
    _other_processes: crate::file_lock::FileLock,
}

impl Drop for ActiveGuard<'_> {
    fn drop(&mut self) {
        self.runtime
            .active
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.key);
    }
}

impl RotationRuntime {
    /// The key for this rotation alone, in this process and among the processes sharing the
    /// profile (`locks/` in its folder); `None` while another holds it.
    pub(super) fn claim(
        &self,
        profile_dir: &std::path::Path,
        account_id: &str,
        key_id: &str,
    ) -> Result<Option<ActiveGuard<'_>>> {
        use sha2::Digest;
        let key = format!("{account_id}\u{1f}{key_id}");
        if !self
            .active
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key.clone())
        {
            return Ok(None);
        }
        let digest = sha2::Sha256::digest(key.as_bytes());
        let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
        let path = profile_dir
            .join("locks")
            .join(format!("rotation-{hex}.lock"));
        let release = || {
            self.active
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&key);
        };
        match crate::file_lock::FileLock::try_exclusive(&path) {
            Ok(Some(lock)) => Ok(Some(ActiveGuard {
                runtime: self,
                key: key.clone(),
                _other_processes: lock,
            })),
            Ok(None) => {
                release();
                Ok(None)
            }
            Err(e) => {
                release();
                Err(e)
            }
        }
    }

    #[cfg(feature = "test-support")]
    pub(super) fn set_hook(&self, hook: Option<FaultHook>) {
        *self.hook.write().unwrap_or_else(|p| p.into_inner()) = hook;
    }

    pub(super) fn hook(&self) -> Option<FaultHook> {
        self.hook.read().unwrap_or_else(|p| p.into_inner()).clone()
    }
}
