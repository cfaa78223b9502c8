//! Keyhaven's key service: tenants and users, password sessions, API keys (created with a
//! secret shown once, stored as SHA-256, revoked at once), key verification, and an audit log.
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

mod auth;
mod clock;
mod config;
mod error;
mod http;
mod keys;
mod openapi;
mod ratelimit;
mod secrets;
mod service;
mod storage;
mod validate;
mod verify;

pub use config::{
    ServiceConfig, DEFAULT_KEY_PREFIX, DEFAULT_MAX_ACTIVE_KEYS, DEFAULT_SESSION_TTL, MAX_BODY_BYTES,
};
pub use error::{KeyDenial, ServiceError};
pub use secrets::{random_password, MIN_PASSWORD_CHARS};
pub use service::{RunningService, Service};
pub use storage::AuditEntry;
