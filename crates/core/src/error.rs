//! The core's one error type. Each variant is a domain fact the UI and the CLI can act on
//! through [`Error::code`]; `Display` is a user-facing sentence that never contains a secret
//! (no variant holds one).

use std::fmt;
use std::path::PathBuf;

use keyhaven_api::ErrorCode;
use serde::{Deserialize, Serialize};
use ts_rs::TS;

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why a credential was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthFailure {
    /// The stored session is missing, expired or was revoked: sign in again.
    SessionExpired,
    /// Login refused: the email or password is wrong (or the source address is locked out).
    WrongCredentials,
    /// An API key was refused: unknown, revoked or expired.
    KeyRejected,
    /// A session token pasted from the service's own app (Animus) is refused: wrong, expired
    /// or signed out. Keyhaven cannot renew it; only a new one helps.
    SessionTokenRefused,
}

/// What the keychain was asked to do when it failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeychainOp {
    Read,
    Write,
    Delete,
}

impl fmt::Display for AuthFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AuthFailure::SessionExpired => {
                "Your session has expired or is no longer valid: sign in again."
            }
            AuthFailure::WrongCredentials => "Sign-in refused: the email or password is wrong.",
            AuthFailure::KeyRejected => {
                "The service refused the API key: it is unknown, revoked or expired."
            }
            AuthFailure::SessionTokenRefused => {
                "The service does not accept the session token (it is wrong, expired or signed \
                 out): copy a new one from a signed-in session and sign in again with it."
            }
        })
    }
}

impl fmt::Display for KeychainOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            KeychainOp::Read => "read",
            KeychainOp::Write => "store",
            KeychainOp::Delete => "delete",
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("Not found: {what}.")]
    NotFound { what: String },

    #[error("{reason}")]
    Unauthorized { reason: AuthFailure },

    #[error("Not allowed: {message}")]
    Forbidden { message: String },

    #[error("Invalid {field}: {message}")]
    Validation { field: String, message: String },

    #[error("Key limit reached: {message}")]
    KeyLimitReached { message: String },

    #[error("The system keychain is not available. {fix}")]
    KeychainUnavailable { fix: String },

    #[error("The system keychain could not {op} the secret: {reason}")]
    Keychain { op: KeychainOp, reason: String },

    #[error(
        "The keychain did not return the secret that was just stored in it; nothing was changed. Try again, and check the keychain application if it happens again."
    )]
    KeychainWrite,

    #[error("The secret is {len} bytes long; the keychain accepts at most {max} bytes.")]
    SecretTooLong { len: usize, max: usize },

    #[error("Could not reach the key service at {url}: {reason}")]
    Network { url: String, reason: String },

    #[error("The key service answered {}: {message}", code.as_str())]
    Service { code: ErrorCode, message: String },

    #[error("The key service is limiting requests ({}): {message}{}", code.as_str(), retry_after.map(|s| format!(" Try again in {s} seconds.")).unwrap_or_default())]
    RateLimited {
        code: ErrorCode,
        /// Seconds to wait, from the answer's `Retry-After`.
        retry_after: Option<u64>,
        message: String,
    },

    #[error(
        "Key {key_id} is already being rotated; wait for that rotation to finish (or resume it)."
    )]
    RotationInProgress { key_id: String },

    #[error("The key service at {url} gave an unexpected answer (HTTP {status}): {problem}")]
    UnexpectedResponse {
        url: String,
        status: u16,
        problem: String,
    },

    #[error("Refused to use {url}: {reason}")]
    InsecureUrl { url: String, reason: String },

    #[error("No account in profile {profile}. Open the Keyhaven app to add one.")]
    NoAccount { profile: String },

    #[error("The app's local key service is not running, so this account cannot be reached now.")]
    EmbeddedServiceNotRunning,

    #[error("Could not {action} {}: {source}", path.display())]
    Catalog {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },

    #[error("The file {} is damaged and was left as it is: {problem}", path.display())]
    CatalogCorrupt { path: PathBuf, problem: String },

    #[error("No data folder for Keyhaven: {problem}. Set KEYHAVEN_DATA_DIR to a folder.")]
    NoDataDir { problem: String },

    #[error("The clipboard is not available: {reason}")]
    Clipboard { reason: String },

    #[error("A background task stopped unexpectedly while it {during}.")]
    TaskFailed { during: &'static str },

    #[error("Profile {profile} is locked: enter its passphrase to unlock it.")]
    Locked { profile: String },

    #[error("Wrong passphrase for profile {profile}. Nothing was changed.")]
    WrongPassphrase { profile: String },

    #[error("{message}")]
    NoPassphrase { message: String },

    #[error("A profile named {name} already exists: choose another name.")]
    ProfileExists { name: String },

    #[error("Profile {name} is the active profile: switch to another profile before deleting it.")]
    ProfileInUse { name: String },

    #[error("Profile {name} is the only profile on this computer and cannot be deleted.")]
    LastProfile { name: String },

    #[error("The encrypted secrets of profile {profile} are damaged or were changed outside Keyhaven ({problem}); they were left as they are.")]
    VaultCorrupt { profile: String, problem: String },
}

/// The closed list of error codes the UI switches on. Serialised as snake_case strings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    NotFound,
    Unauthorized,
    Forbidden,
    Validation,
    KeyLimitReached,
    RateLimited,
    Conflict,
    KeychainUnavailable,
    Keychain,
    SecretTooLong,
    Network,
    Service,
    UnexpectedResponse,
    InsecureUrl,
    NoAccount,
    EmbeddedServiceNotRunning,
    Catalog,
    NoDataDir,
    Clipboard,
    Internal,
    Locked,
    WrongPassphrase,
    NoPassphrase,
    ProfileExists,
    ProfileInUse,
    LastProfile,
    VaultCorrupt,
}

impl ErrorKind {
    pub const ALL: [ErrorKind; 27] = [
        ErrorKind::NotFound,
        ErrorKind::Unauthorized,
        ErrorKind::Forbidden,
        ErrorKind::Validation,
        ErrorKind::KeyLimitReached,
        ErrorKind::RateLimited,
        ErrorKind::Conflict,
        ErrorKind::KeychainUnavailable,
        ErrorKind::Keychain,
        ErrorKind::SecretTooLong,
        ErrorKind::Network,
        ErrorKind::Service,
        ErrorKind::UnexpectedResponse,
        ErrorKind::InsecureUrl,
        ErrorKind::NoAccount,
        ErrorKind::EmbeddedServiceNotRunning,
        ErrorKind::Catalog,
        ErrorKind::NoDataDir,
        ErrorKind::Clipboard,
        ErrorKind::Internal,
        ErrorKind::Locked,
        ErrorKind::WrongPassphrase,
        ErrorKind::NoPassphrase,
        ErrorKind::ProfileExists,
        ErrorKind::ProfileInUse,
        ErrorKind::LastProfile,
        ErrorKind::VaultCorrupt,
    ];
}

/// An error as it crosses to the UI: a closed code and a sentence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct ErrorPayload {
    pub code: ErrorKind,
    pub message: String,
}

impl Error {
    /// The code the UI and the CLI switch on.
    pub fn code(&self) -> ErrorKind {
        match self {
            Error::NotFound { .. } => ErrorKind::NotFound,
            Error::Unauthorized { .. } => ErrorKind::Unauthorized,
            Error::Forbidden { .. } => ErrorKind::Forbidden,
            Error::Validation { .. } => ErrorKind::Validation,
            Error::KeyLimitReached { .. } => ErrorKind::KeyLimitReached,
            Error::KeychainUnavailable { .. } => ErrorKind::KeychainUnavailable,
            Error::Keychain { .. } | Error::KeychainWrite => ErrorKind::Keychain,
            Error::SecretTooLong { .. } => ErrorKind::SecretTooLong,
            Error::Network { .. } => ErrorKind::Network,
            Error::RateLimited { .. } => ErrorKind::RateLimited,
            Error::RotationInProgress { .. } => ErrorKind::Conflict,
            Error::Service { code, .. } => match code {
                ErrorCode::Unauthorized => ErrorKind::Unauthorized,
                ErrorCode::Forbidden
                | ErrorCode::ScopeMissing
                | ErrorCode::OriginNotAllowed
                | ErrorCode::IpNotAllowed
                | ErrorCode::TenantSuspended => ErrorKind::Forbidden,
                ErrorCode::NotFound => ErrorKind::NotFound,
                ErrorCode::ValidationFailed | ErrorCode::PayloadTooLarge => ErrorKind::Validation,
                ErrorCode::Conflict => ErrorKind::Conflict,
                ErrorCode::KeyLimitReached => ErrorKind::KeyLimitReached,
                ErrorCode::RateLimited | ErrorCode::DailyCapReached | ErrorCode::IpLockedOut => {
                    ErrorKind::RateLimited
                }
                ErrorCode::RequestTimeout => ErrorKind::Network,
                ErrorCode::Internal => ErrorKind::Service,
            },
            Error::UnexpectedResponse { .. } => ErrorKind::UnexpectedResponse,
            Error::InsecureUrl { .. } => ErrorKind::InsecureUrl,
            Error::NoAccount { .. } => ErrorKind::NoAccount,
            Error::EmbeddedServiceNotRunning => ErrorKind::EmbeddedServiceNotRunning,
            Error::Catalog { .. } | Error::CatalogCorrupt { .. } => ErrorKind::Catalog,
            Error::NoDataDir { .. } => ErrorKind::NoDataDir,
            Error::Clipboard { .. } => ErrorKind::Clipboard,
            Error::TaskFailed { .. } => ErrorKind::Internal,
            Error::Locked { .. } => ErrorKind::Locked,
            Error::WrongPassphrase { .. } => ErrorKind::WrongPassphrase,
            Error::NoPassphrase { .. } => ErrorKind::NoPassphrase,
            Error::ProfileExists { .. } => ErrorKind::ProfileExists,
            Error::ProfileInUse { .. } => ErrorKind::ProfileInUse,
            Error::LastProfile { .. } => ErrorKind::LastProfile,
            Error::VaultCorrupt { .. } => ErrorKind::VaultCorrupt,
        }
    }

    /// The service's own error code, when the error came from the service.
    pub fn service_code(&self) -> Option<ErrorCode> {
        match self {
            Error::Service { code, .. } => Some(*code),
            Error::KeyLimitReached { .. } => Some(ErrorCode::KeyLimitReached),
            Error::RateLimited { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// Seconds the service asked the caller to wait before trying again, if it said.
    pub fn retry_after(&self) -> Option<u64> {
        match self {
            Error::RateLimited { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// Whether the failure is the network or the service being unreachable (worth retrying
    /// later), as opposed to a refusal.
    pub fn is_network(&self) -> bool {
        matches!(
            self,
            Error::Network { .. } | Error::EmbeddedServiceNotRunning
        )
    }

    pub fn payload(&self) -> ErrorPayload {
        ErrorPayload {
            code: self.code(),
            message: self.to_string(),
        }
    }

    pub fn validation(field: &str, message: impl Into<String>) -> Error {
        Error::Validation {
            field: field.to_string(),
            message: message.into(),
        }
    }

    pub(crate) fn not_found(what: impl Into<String>) -> Error {
        Error::NotFound { what: what.into() }
    }

    pub(crate) fn session_expired() -> Error {
        Error::Unauthorized {
            reason: AuthFailure::SessionExpired,
        }
    }

    pub fn is_unauthorized(&self) -> bool {
        matches!(self, Error::Unauthorized { .. })
    }
}

impl From<tokio::task::JoinError> for Error {
    fn from(_: tokio::task::JoinError) -> Error {
        Error::TaskFailed {
            during: "used the keychain",
        }
    }
}

/// A key field that breaks the rules the service holds it to ([`keyhaven_api::rules`]).
impl From<keyhaven_api::rules::RuleError> for Error {
    fn from(e: keyhaven_api::rules::RuleError) -> Self {
        Error::Validation {
            field: e.field,
            message: e.problem,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_kinds_serialise_as_snake_case() {
        let json = serde_json::to_string(&ErrorKind::KeychainUnavailable).expect("json");
        assert_eq!(json, "\"keychain_unavailable\"");
        let json = serde_json::to_string(&ErrorKind::EmbeddedServiceNotRunning).expect("json");
        assert_eq!(json, "\"embedded_service_not_running\"");
        let mut names: Vec<String> = ErrorKind::ALL
            .iter()
            .map(|k| serde_json::to_string(k).expect("json"))
            .collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), ErrorKind::ALL.len(), "codes are distinct");
    }

    #[test]
    fn codes_follow_the_variant() {
        let fix = "Start gnome-keyring-daemon.".to_string();
        assert_eq!(
            Error::KeychainUnavailable { fix: fix.clone() }.code(),
            ErrorKind::KeychainUnavailable
        );
        assert!(Error::KeychainUnavailable { fix: fix.clone() }
            .to_string()
            .contains(&fix));
        assert_eq!(Error::session_expired().code(), ErrorKind::Unauthorized);
        assert!(Error::session_expired()
            .to_string()
            .contains("sign in again"));
        assert_eq!(
            Error::Service {
                code: ErrorCode::RateLimited,
                message: "slow down".into()
            }
            .code(),
            ErrorKind::RateLimited
        );
        assert_eq!(
            Error::Service {
                code: ErrorCode::ScopeMissing,
                message: "needs write".into()
            }
            .code(),
            ErrorKind::Forbidden
        );
        assert_eq!(
            Error::Service {
                code: ErrorCode::Internal,
                message: "oops".into()
            }
            .code(),
            ErrorKind::Service
        );
        assert_eq!(
            Error::validation("name", "is empty").code(),
            ErrorKind::Validation
        );
        assert_eq!(
            Error::validation("name", "is empty").to_string(),
            "Invalid name: is empty"
        );
        assert_eq!(
            Error::NoAccount {
                profile: "ann".into()
            }
            .code(),
            ErrorKind::NoAccount
        );
        let payload = Error::KeyLimitReached {
            message: "10 active keys".into(),
        }
        .payload();
        assert_eq!(payload.code, ErrorKind::KeyLimitReached);
        let v = serde_json::to_value(&payload).expect("json");
        assert_eq!(v["code"], "key_limit_reached");
        assert_eq!(v["message"], "Key limit reached: 10 active keys");
    }

    #[test]
    fn every_service_code_has_a_kind() {
        for code in ErrorCode::ALL {
            let e = Error::Service {
                code,
                message: "m".into(),
            };
            assert!(ErrorKind::ALL.contains(&e.code()));
            assert_eq!(e.service_code(), Some(code));
        }
    }
}
