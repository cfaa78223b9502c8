//! The service's one error type; `http/error.rs` makes it an HTTP answer.

use keyhaven_api::{ErrorCode, Role};

/// Why a presented API key was refused. Callers always see the same `unauthorized` message;
/// the reason goes to the log, for support staff.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyDenial {
    /// No key in any of the accepted headers.
    Missing,
    /// The key failed the offline format and checksum check; storage was not consulted.
    Malformed,
    /// No key with that hash.
    Unknown,
    Revoked,
    Expired,
}

impl KeyDenial {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyDenial::Missing => "missing",
            KeyDenial::Malformed => "malformed",
            KeyDenial::Unknown => "unknown",
            KeyDenial::Revoked => "revoked",
            KeyDenial::Expired => "expired",
        }
    }
}

/// Every failure of the service. Messages are sentences for people and never hold a secret.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("The email or password is wrong.")]
    InvalidCredentials,
    #[error("A valid session token is required: sign in with POST /v1/auth/login and send `Authorization: Bearer <token>`.")]
    SessionRequired,
    #[error("A valid API key is required: the key is missing, unknown, revoked or expired.")]
    KeyRejected(KeyDenial),
    #[error("API keys are not accepted in URLs; send the key in the X-API-Key header.")]
    KeyInUrl,
    #[error("An API key cannot manage keys; sign in and send the session token instead.")]
    ApiKeyForManagement,
    #[error("The {} role can read but not change anything.", role.as_str())]
    ReadOnlyRole { role: Role },
    #[error("No key with that id in your tenant.")]
    KeyNotFound,
    #[error("Only an active key can be changed or rolled; this one is revoked, expired or already rolled.")]
    KeyNotActive,
    #[error("Only owners and admins may do this.")]
    OwnerOnly,
    #[error("Only support staff and admins may do this.")]
    SupportOnly,
    #[error("Only admins may do this.")]
    AdminOnly,
    #[error("A tenant with that name exists already.")]
    TenantNameTaken,
    #[error("This tenant is suspended: its keys are refused and it cannot make keys.")]
    TenantSuspended,
    #[error("No such tenant.")]
    TenantNotFound,
    #[error("No such endpoint; GET /v1/openapi.json lists them all.")]
    RouteNotFound,
    #[error("Invalid `{field}`: {problem}.")]
    Validation { field: String, problem: String },
    #[error("{0}")]
    InvalidBody(String),
    #[error("A user with that email already exists.")]
    DuplicateEmail,
    #[error(
        "The tenant already has {cap} active keys, its limit; revoke one before creating another."
    )]
    KeyLimitReached { cap: u32 },
    #[error("The key does not have the `{scope}` scope this call needs.")]
    ScopeMissing { scope: String },
    #[error("The key may not be used from this origin.")]
    OriginNotAllowed,
    #[error("The key may not be used from this IP address.")]
    IpNotAllowed,
    #[error("The key's hourly limit is reached; try again in {retry_after} seconds.")]
    RateLimited { retry_after: i64 },
    #[error(
        "The tenant's daily cap is reached; it resets at midnight UTC, in {retry_after} seconds."
    )]
    DailyCapReached { retry_after: i64 },
    #[error("Too many failed attempts from this IP address; try again in {retry_after} seconds.")]
    IpLockedOut { retry_after: i64 },
    #[error("The request body is larger than the 64 KiB limit.")]
    PayloadTooLarge,
    #[error("The request took too long to arrive and be answered; send it again, whole.")]
    RequestTimeout,
    #[error("Invalid configuration: {0}.")]
    InvalidConfig(String),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("database migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    #[error("stored data is corrupt: {0}")]
    CorruptData(String),
    #[error("password hashing failed: {0}")]
    PasswordHash(argon2::password_hash::Error),
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    #[error("a background task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

impl ServiceError {
    pub fn validation(field: impl Into<String>, problem: impl Into<String>) -> Self {
        ServiceError::Validation {
            field: field.into(),
            problem: problem.into(),
        }
    }

    /// Seconds the caller should wait, for the answers that carry `Retry-After`.
    pub fn retry_after(&self) -> Option<i64> {
        match self {
            ServiceError::RateLimited { retry_after }
            | ServiceError::DailyCapReached { retry_after }
            | ServiceError::IpLockedOut { retry_after } => Some(*retry_after),
            _ => None,
        }
    }

    /// The wire code this error is answered with.
    pub fn code(&self) -> ErrorCode {
        use ServiceError::*;
        match self {
            InvalidCredentials | SessionRequired | KeyRejected(_) | KeyInUrl => {
                ErrorCode::Unauthorized
            }
            ApiKeyForManagement | ReadOnlyRole { .. } | SupportOnly | OwnerOnly | AdminOnly => {
                ErrorCode::Forbidden
            }
            KeyNotFound | TenantNotFound | RouteNotFound => ErrorCode::NotFound,
            Validation { .. } | InvalidBody(_) => ErrorCode::ValidationFailed,
            DuplicateEmail | KeyNotActive | TenantNameTaken => ErrorCode::Conflict,
            TenantSuspended => ErrorCode::TenantSuspended,
            KeyLimitReached { .. } => ErrorCode::KeyLimitReached,
            ScopeMissing { .. } => ErrorCode::ScopeMissing,
            OriginNotAllowed => ErrorCode::OriginNotAllowed,
            IpNotAllowed => ErrorCode::IpNotAllowed,
            RateLimited { .. } => ErrorCode::RateLimited,
            DailyCapReached { .. } => ErrorCode::DailyCapReached,
            IpLockedOut { .. } => ErrorCode::IpLockedOut,
            PayloadTooLarge => ErrorCode::PayloadTooLarge,
            RequestTimeout => ErrorCode::RequestTimeout,
            InvalidConfig(_) | Database(_) | Migration(_) | CorruptData(_) | PasswordHash(_)
            | Io(_) | Task(_) => ErrorCode::Internal,
        }
    }
}

impl From<keyhaven_api::rules::RuleError> for ServiceError {
    fn from(e: keyhaven_api::rules::RuleError) -> Self {
        ServiceError::Validation {
            field: e.field,
            problem: e.problem,
        }
    }
}

impl From<keyhaven_api::body::BodyError> for ServiceError {
    fn from(e: keyhaven_api::body::BodyError) -> Self {
        match e {
            keyhaven_api::body::BodyError::Body(message) => ServiceError::InvalidBody(message),
            keyhaven_api::body::BodyError::Field(e) => e.into(),
        }
    }
}

impl From<argon2::password_hash::Error> for ServiceError {
    fn from(e: argon2::password_hash::Error) -> Self {
        ServiceError::PasswordHash(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_match_the_api() {
        assert_eq!(ServiceError::KeyInUrl.code(), ErrorCode::Unauthorized);
        assert_eq!(
            ServiceError::KeyLimitReached { cap: 3 }.code(),
            ErrorCode::KeyLimitReached
        );
        assert_eq!(
            ServiceError::validation("name", "x").code(),
            ErrorCode::ValidationFailed
        );
        assert_eq!(
            ServiceError::validation("name", "must not be empty").to_string(),
            "Invalid `name`: must not be empty."
        );
    }
}
