//! The service's configuration, with the defaults a fresh deployment gets.

use std::time::Duration;

use keyhaven_api::{keyfmt, DEFAULT_SCOPES};

use crate::error::ServiceError;

/// Default prefix of the keys this deployment issues.
pub const DEFAULT_KEY_PREFIX: &str = "kh_live_";
/// Default cap on active keys per tenant.
pub const DEFAULT_MAX_ACTIVE_KEYS: u32 = 10;
/// Default lifetime of a session token.
pub const DEFAULT_SESSION_TTL: Duration = Duration::from_secs(12 * 60 * 60);
/// Requests per day a new tenant may make with its keys (its tier's daily cap).
pub const DEFAULT_DAILY_CAP: u32 = 10_000;
/// Largest request body the service reads.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// Longest session lifetime accepted.
const MAX_SESSION_TTL: Duration = Duration::from_secs(366 * 24 * 60 * 60);
/// Most scopes a deployment may configure.
const MAX_SCOPES: usize = 32;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceConfig {
    /// A SQLite file path or a `sqlite:` URL (`postgres://` comes later).
    pub db: String,
    /// Prefix of issued keys, e.g. `kh_live_` or `kh_test_`.
    pub key_prefix: String,
    /// Active keys a tenant may hold at once.
    pub max_active_keys: u32,
    /// How long a session token stays valid after login.
    pub session_ttl: Duration,
    /// Scopes keys may carry.
    pub scopes: Vec<String>,
}

impl ServiceConfig {
    /// A configuration with the defaults: prefix `kh_live_`, 10 active keys, 12 h sessions,
    /// scopes `read`, `write`, `search`.
    pub fn new(db: impl Into<String>) -> Self {
        ServiceConfig {
            db: db.into(),
            key_prefix: DEFAULT_KEY_PREFIX.to_owned(),
            max_active_keys: DEFAULT_MAX_ACTIVE_KEYS,
            session_ttl: DEFAULT_SESSION_TTL,
            scopes: DEFAULT_SCOPES.iter().map(|s| (*s).to_owned()).collect(),
        }
    }

    /// Refuses a configuration the service cannot run with, naming the setting.
    pub(crate) fn validate(&self) -> Result<(), ServiceError> {
        let bad = |what: String| Err(ServiceError::InvalidConfig(what));
        if self.db.trim().is_empty() {
            return bad("the database path is empty".into());
        }
        if !keyfmt::valid_prefix(&self.key_prefix) {
            return bad(format!(
                "the key prefix `{}` is not 3 to 16 characters of a-z, 0-9 and '_' ending in '_'",
                self.key_prefix
            ));
        }
        if self.session_ttl < Duration::from_secs(1) || self.session_ttl > MAX_SESSION_TTL {
            return bad("the session lifetime must be between 1 second and 366 days".into());
        }
        if self.scopes.is_empty() || self.scopes.len() > MAX_SCOPES {
            return bad(format!(
                "between 1 and {MAX_SCOPES} scopes must be configured"
            ));
        }
        for (i, scope) in self.scopes.iter().enumerate() {
            if !valid_scope_name(scope) {
                return bad(format!(
                    "the scope `{scope}` is not 1 to 32 characters of a-z, 0-9, '_', ':', '.' or '-'"
                ));
            }
            if self.scopes[..i].contains(scope) {
                return bad(format!("the scope `{scope}` is configured twice"));
            }
        }
        Ok(())
    }
}

/// Whether `s` can name a scope: 1 to 32 characters of `[a-z0-9_:.-]`.
pub(crate) fn valid_scope_name(s: &str) -> bool {
    (1..=32).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_:.-".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        let c = ServiceConfig::new("x.db");
        assert_eq!(c.key_prefix, "kh_live_");
        assert_eq!(c.max_active_keys, 10);
        assert_eq!(c.session_ttl, Duration::from_secs(43_200));
        assert_eq!(c.scopes, ["read", "write", "search"]);
        assert!(c.validate().is_ok());
    }

    #[test]
    fn bad_settings_are_refused() {
        let mut c = ServiceConfig::new("x.db");
        c.key_prefix = "KH-".into();
        assert!(c.validate().is_err());
        let mut c = ServiceConfig::new("x.db");
        c.scopes = vec!["read".into(), "read".into()];
        assert!(c.validate().is_err());
        let mut c = ServiceConfig::new("x.db");
        c.scopes.clear();
        assert!(c.validate().is_err());
        assert!(ServiceConfig::new(" ").validate().is_err());
    }
}
