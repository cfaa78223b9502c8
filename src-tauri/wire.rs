//! The types that cross the IPC boundary in both directions and that the command functions share
//! (requests naming an account or a key, the error the window sees, ...). Apart from the `ipc!`
//! list (`ipc.rs`), so that the command functions (`ops*.rs`) and the list that names them do not
//! import each other.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use keyhaven_api::KeyMeta;
use keyhaven_core::{Account, ConnectorKind, ErrorKind, ServiceRef};

/// What the UI needs to draw its first screen.
#[derive(Debug, Clone, Serialize, TS)]
pub struct AppStatus {
    pub profile: String,
    pub accounts: Vec<Account>,
    pub active_account_id: Option<String>,
    pub local_service: LocalService,
    /// Scopes offered by the New key dialog.
    pub scopes: Vec<String>,
    pub clipboard_clear_seconds: u32,
    /// Set when the core could not start (for example no keychain): the window shows it.
    pub startup_error: Option<IpcError>,
}

/// The key service embedded in the app.
#[derive(Debug, Clone, Serialize, TS)]
pub struct LocalService {
    pub url: Option<String>,
    pub error: Option<String>,
    /// The active profile's own account on the local service is being made (first run): the
    /// window says so instead of offering to sign in.
    pub preparing: bool,
}

#[derive(Debug, Clone, Deserialize, TS)]
pub struct SignInRequest {
    pub service: ServiceRef,
    /// The kind of service; absent: Keyhaven's own.
    #[serde(default)]
    #[ts(optional)]
    pub kind: Option<ConnectorKind>,
    /// The email, or where the service takes one (TokenKit), the user name.
    pub email: String,
    /// Typed by the person; turned into a `Secret` at once and never stored.
    pub password: String,
    /// For a service whose calls also carry an API key of the account's (TokenKit): that key,
    /// pasted by the person; turned into a `Secret` at once and kept only in the keychain.
    #[serde(default)]
    #[ts(optional)]
    pub account_key: Option<String>,
}

#[derive(Debug, Clone, Deserialize, TS)]
pub struct AccountRef {
    pub account_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, TS)]
pub struct KeyRef {
    pub account_id: String,
    pub key_id: String,
}

#[derive(Debug, Clone, Deserialize, TS)]
pub struct NewKeyRequest {
    pub account_id: String,
    pub name: String,
    pub scopes: Vec<String>,
    #[ts(optional)]
    pub expires_at: Option<String>,
    #[ts(optional)]
    pub allowed_origins: Option<Vec<String>>,
    #[ts(optional)]
    pub allowed_ips: Option<Vec<String>>,
    #[ts(optional)]
    pub rate_limit_per_hour: Option<u32>,
}

/// The answer to a create: the secret, for the show-once dialog only. The UI keeps it in that
/// dialog's local state and drops it when the dialog closes; it never enters a query cache.
#[derive(Serialize, TS)]
pub struct CreatedKeyOnce {
    pub meta: KeyMeta,
    pub secret_once: String,
    pub stored_in_keychain: bool,
    /// Why the keychain did not take the secret, when it did not.
    pub keychain_error: Option<IpcError>,
}

impl std::fmt::Debug for CreatedKeyOnce {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreatedKeyOnce")
            .field("meta", &self.meta)
            .finish_non_exhaustive()
    }
}

impl Drop for CreatedKeyOnce {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.secret_once);
    }
}

#[derive(Debug, Clone, Serialize, TS)]
pub struct Copied {
    /// Seconds after which the clipboard is cleared, if it still holds the secret.
    pub clears_in_seconds: u32,
}

/// An error as the UI sees it: a closed code to switch on and a sentence to show.
#[derive(Debug, Clone, Serialize, TS)]
pub struct IpcError {
    pub code: ErrorKind,
    pub message: String,
    /// The field a validation error is about (`name`, `url`, `header`, …), for the UI to show
    /// the message by that field.
    #[ts(optional)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl IpcError {
    pub fn internal(message: impl Into<String>) -> Self {
        IpcError {
            code: ErrorKind::Internal,
            message: message.into(),
            field: None,
        }
    }
}

impl From<keyhaven_core::Error> for IpcError {
    fn from(e: keyhaven_core::Error) -> Self {
        let field = match &e {
            keyhaven_core::Error::Validation { field, .. } => Some(field.clone()),
            _ => None,
        };
        IpcError {
            code: e.code(),
            message: e.to_string(),
            field,
        }
    }
}

/// A call the isolation application refused: the command it named and why. The hook in
/// `ui/isolation/hook.js` puts this in place of the refused message, whose values never reach Rust.
#[derive(Debug, Clone, Deserialize, TS)]
pub struct IsolationRefusal {
    pub command: String,
    pub problem: String,
}
