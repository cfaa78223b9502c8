//! Keyhaven's key service: tenants and users, password sessions, API keys (created with a
//! secret shown once, stored as SHA-256, updated, rolled with a grace period, revoked at once),
//! enforcement on key use (origins, IPs, scopes, hourly limits, daily caps by tier, the
//! source-IP lockout), usage counted in memory and flushed in batches, denials, an audit log,
//! and support's cross-tenant reads.
//!
//! ```no_run
//! # async fn run() -> Result<(), keyhaven_service::ServiceError> {
//! use keyhaven_service::{Service, ServiceConfig};
//! let service = Service::open(ServiceConfig::new("keyhaven.db")).await?;
//! let running = service.bind("127.0.0.1:0".parse().expect("address")).await?;
//! println!("listening on {}", running.url());
//! running.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! The crate is built in layers that depend one way: `http` (the only part that knows axum)
//! → `domain` (what the service does, over a store and a clock) → `storage` (one interface,
//! SQLite and PostgreSQL) → `keyhaven-api`. `service` puts them together; `config`, `clock`,
//! `error` and `secrets` are used by every layer and use none.

mod clock;
mod config;
pub mod demo;
mod domain;
mod error;
mod http;
mod secrets;
mod service;
mod storage;

pub use clock::{Clock, ManualClock, SystemClock};
pub use config::{
    ServiceConfig, TierRate, DEFAULT_DAILY_CAP, DEFAULT_KEY_CACHE_MAX_AGE, DEFAULT_KEY_PREFIX,
    DEFAULT_LOCKOUT_THRESHOLD, DEFAULT_LOCKOUT_WINDOW, DEFAULT_MAX_ACTIVE_KEYS,
    DEFAULT_MAX_CONNECTIONS, DEFAULT_SESSION_RATE_PER_MINUTE, DEFAULT_SESSION_TTL, DEFAULT_TIER,
    DEFAULT_USAGE_FLUSH_INTERVAL, MAX_BODY_BYTES, UNLIMITED_DAILY_CAP,
};
pub use error::{KeyDenial, ServiceError};
pub use http::openapi_document;
pub use secrets::{random_password, MIN_PASSWORD_CHARS};
pub use service::{RunningService, Service};
pub use storage::AuditEntry;
