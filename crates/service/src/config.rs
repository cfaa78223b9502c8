//! The service's configuration, with the defaults a fresh deployment gets.

use std::collections::BTreeMap;
use std::net::IpAddr;
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
/// A tier's request rate per key: at most `calls` in each window of `seconds`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TierRate {
    pub calls: u32,
    pub seconds: u32,
}

impl TierRate {
    /// `1/2s`, `1/s`, `10/min`, `100/h`: calls per span.
    pub fn parse(text: &str) -> Option<TierRate> {
        let (calls, span) = text.trim().split_once('/')?;
        let calls = calls.trim().parse::<u32>().ok().filter(|n| *n > 0)?;
        let span = span.trim();
        let (count, unit) = span
            .find(|c: char| !c.is_ascii_digit())
            .map_or((span, ""), |i| span.split_at(i));
        let count = if count.is_empty() {
            1
        } else {
            count.parse::<u32>().ok()?
        };
        let unit = match unit {
            "s" => 1,
            "min" | "m" => 60,
            "h" => 3600,
            _ => return None,
        };
        let seconds = count
            .checked_mul(unit)
            .filter(|s| (1..=86_400).contains(s))?;
        Some(TierRate { calls, seconds })
    }
}

/// The daily cap of a tier with none (`NAME=unlimited`): more calls than a day can hold.
pub const UNLIMITED_DAILY_CAP: u32 = u32::MAX;
/// The tier a tenant is in unless it was given another.
pub const DEFAULT_TIER: &str = "free";
/// Failed attempts (unknown, revoked or expired key, failed login) from one source IP that lock
/// it out.
pub const DEFAULT_LOCKOUT_THRESHOLD: u32 = 10;
/// The window those failures must fall in; the lockout lasts until the window of the oldest of
/// them ends.
pub const DEFAULT_LOCKOUT_WINDOW: Duration = Duration::from_secs(5 * 60);
/// How often usage counted in memory is written to storage.
pub const DEFAULT_USAGE_FLUSH_INTERVAL: Duration = Duration::from_secs(1);
/// Longest a key read from storage is trusted from the key cache. Changes invalidate the cache at
/// once (across instances too, on PostgreSQL); this only bounds the damage of a lost notice.
pub const DEFAULT_KEY_CACHE_MAX_AGE: Duration = Duration::from_secs(1);
/// Longest a client may take to send a request's headers, on a new connection or between the
/// requests of a kept-alive one; then the connection is closed.
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest one request may take once its headers are in, body included; then it is answered
/// 408 `request_timeout`.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Management calls one session may make a minute (on each instance).
pub const DEFAULT_SESSION_RATE_PER_MINUTE: u32 = 600;
/// Most connections open at once; one more is closed as soon as it is accepted.
pub const DEFAULT_MAX_CONNECTIONS: usize = 4096;
/// Longest a stop waits for requests in flight before it closes what is left.
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest request body the service reads.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// Longest session lifetime accepted.
const MAX_SESSION_TTL: Duration = Duration::from_secs(366 * 24 * 60 * 60);
/// Highest lockout threshold accepted (failures are remembered per IP up to it).
const MAX_LOCKOUT_THRESHOLD: u32 = 10_000;
/// Most scopes a deployment may configure.
const MAX_SCOPES: usize = 32;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceConfig {
    /// A SQLite file path or `sqlite:` URL, or a `postgres://` / `postgresql://` URL for
    /// PostgreSQL (which several instances may share).
    pub db: String,
    /// Prefix of issued keys, e.g. `kh_live_` or `kh_test_`.
    pub key_prefix: String,
    /// Active keys a tenant may hold at once.
    pub max_active_keys: u32,
    /// How long a session token stays valid after login.
    pub session_ttl: Duration,
    /// Scopes keys may carry.
    pub scopes: Vec<String>,
    /// Tiers by name, each with the daily cap on calls made with its tenants' keys (reset at
    /// midnight UTC).
    pub tiers: BTreeMap<String, u32>,
    /// The request rate per key of the tiers that have one (AniKura's free tier: one call every
    /// two seconds), by tier name.
    pub tier_rates: BTreeMap<String, TierRate>,
    /// The tier of tenants not given another; must be one of `tiers`.
    pub default_tier: String,
    /// Failed attempts from one source IP within `lockout_window` that lock it out.
    pub lockout_threshold: u32,
    pub lockout_window: Duration,
    /// How often in-memory usage counts are written to storage (also on shutdown).
    pub usage_flush_interval: Duration,
    /// Longest a key is served from the key cache before storage is asked again: a backstop
    /// behind invalidation, which is immediate.
    pub key_cache_max_age: Duration,
    /// Reverse proxies whose `X-Forwarded-For` names the client: for connections from these
    /// blocks only, the client's address is the last one the header lists that is not itself a
    /// trusted proxy. Empty (the default): the header is never read.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Longest a client may take to send a request's headers (see
    /// [`DEFAULT_HEADER_READ_TIMEOUT`]).
    pub header_read_timeout: Duration,
    /// Longest a request may take once its headers are in, reading its body included.
    pub request_timeout: Duration,
    /// Most connections open at once.
    pub max_connections: usize,
    /// Longest a stop waits for requests in flight.
    pub shutdown_timeout: Duration,
    /// Management calls one session may make a minute, on each instance; then 429
    /// `rate_limited` until the minute ends.
    pub session_rate_per_minute: u32,
}

impl ServiceConfig {
    /// A configuration with the defaults: prefix `kh_live_`, 10 active keys, 12 h sessions,
    /// scopes `read`, `write`, `search`, one tier `free` of 10,000 calls a day, a lockout after
    /// 10 failures in 5 minutes, usage flushed every second, cached keys re-read after a second.
    pub fn new(db: impl Into<String>) -> Self {
        ServiceConfig {
            db: db.into(),
            key_prefix: DEFAULT_KEY_PREFIX.to_owned(),
            max_active_keys: DEFAULT_MAX_ACTIVE_KEYS,
            session_ttl: DEFAULT_SESSION_TTL,
            scopes: DEFAULT_SCOPES.iter().map(|s| (*s).to_owned()).collect(),
            tiers: BTreeMap::from([(DEFAULT_TIER.to_owned(), DEFAULT_DAILY_CAP)]),
            tier_rates: BTreeMap::new(),
            default_tier: DEFAULT_TIER.to_owned(),
            lockout_threshold: DEFAULT_LOCKOUT_THRESHOLD,
            lockout_window: DEFAULT_LOCKOUT_WINDOW,
            usage_flush_interval: DEFAULT_USAGE_FLUSH_INTERVAL,
            key_cache_max_age: DEFAULT_KEY_CACHE_MAX_AGE,
            trusted_proxies: Vec::new(),
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            shutdown_timeout: DEFAULT_SHUTDOWN_TIMEOUT,
            session_rate_per_minute: DEFAULT_SESSION_RATE_PER_MINUTE,
        }
    }

    /// The address a request comes from: the connection's peer, or, when the peer is a trusted
    /// proxy, the last address `X-Forwarded-For` lists that is not a trusted proxy (the one the
    /// nearest untrusted hop added: anything before it could be forged by the client).
    pub fn client_ip(&self, peer: IpAddr, forwarded_for: &[&str]) -> IpAddr {
        let trusted = |ip: &IpAddr| self.trusted_proxies.iter().any(|net| net.contains(ip));
        if !trusted(&peer) {
            return peer;
        }
        let hops = forwarded_for
            .iter()
            .flat_map(|value| value.split(','))
            .map(str::trim)
            .collect::<Vec<_>>();
        let mut client = peer;
        for hop in hops.iter().rev() {
            match hop.parse::<IpAddr>() {
                Ok(ip) if trusted(&ip) => client = ip,
                Ok(ip) => return ip,
                // An unreadable hop: what lies before it cannot be vouched for.
                Err(_) => return client,
            }
        }
        client
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
        for (name, value) in [
            ("header read timeout", self.header_read_timeout),
            ("request timeout", self.request_timeout),
            ("shutdown timeout", self.shutdown_timeout),
        ] {
            if value < Duration::from_millis(100) || value > Duration::from_secs(3600) {
                return bad(format!(
                    "the {name} must be between 0.1 seconds and an hour"
                ));
            }
        }
        if self.session_rate_per_minute == 0 {
            return bad("a session must be allowed at least one call a minute".into());
        }
        if self.max_connections == 0 {
            return bad("at least one connection must be allowed".into());
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
            if !keyhaven_api::rules::valid_scope_name(scope) {
                return bad(format!(
                    "the scope `{scope}` is not 1 to 32 characters of a-z, 0-9, '_', ':', '.' or '-'"
                ));
            }
            if self.scopes[..i].contains(scope) {
                return bad(format!("the scope `{scope}` is configured twice"));
            }
        }
        for name in self.tier_rates.keys() {
            if !self.tiers.contains_key(name) {
                return bad(format!(
                    "the rate of tier `{name}` names no configured tier"
                ));
            }
        }
        for name in self.tiers.keys() {
            if !keyhaven_api::rules::valid_scope_name(name) {
                return bad(format!(
                    "the tier `{name}` is not 1 to 32 characters of a-z, 0-9, '_', ':', '.' or '-'"
                ));
            }
        }
        if !self.tiers.contains_key(&self.default_tier) {
            return bad(format!(
                "the default tier `{}` is not one of the configured tiers",
                self.default_tier
            ));
        }
        if !(1..=MAX_LOCKOUT_THRESHOLD).contains(&self.lockout_threshold)
            || self.lockout_window < Duration::from_secs(1)
            || self.lockout_window > MAX_SESSION_TTL
        {
            return bad(format!(
                "the lockout needs a threshold of 1 to {MAX_LOCKOUT_THRESHOLD} and a window of 1 s to 366 days"
            ));
        }
        if self.usage_flush_interval < Duration::from_millis(10)
            || self.usage_flush_interval > Duration::from_secs(3600)
        {
            return bad("the usage flush interval must be between 10 ms and 1 hour".into());
        }
        if self.key_cache_max_age > Duration::from_secs(3600) {
            return bad("the key cache's maximum age must be at most 1 hour".into());
        }
        Ok(())
    }

    /// The request rate per key of the tier named `tier` (the default tier's when `None` or
    /// unknown), if it has one.
    pub fn tier_rate(&self, tier: Option<&str>) -> Option<TierRate> {
        let tier = tier
            .filter(|t| self.tiers.contains_key(*t))
            .unwrap_or(&self.default_tier);
        self.tier_rates.get(tier).copied()
    }

    /// The daily cap of the tier named `tier` (the default tier's when `None` or unknown).
    pub fn daily_cap(&self, tier: Option<&str>) -> u32 {
        tier.and_then(|t| self.tiers.get(t))
            .or_else(|| self.tiers.get(&self.default_tier))
            .copied()
            .unwrap_or(DEFAULT_DAILY_CAP)
    }
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
        let mut c = ServiceConfig::new("x.db");
        c.default_tier = "gold".into();
        assert!(c.validate().is_err());
        c.tiers.insert("gold".into(), 5);
        assert!(c.validate().is_ok());
        assert_eq!(c.daily_cap(None), 5);
        assert_eq!(c.daily_cap(Some("free")), DEFAULT_DAILY_CAP);
        assert_eq!(c.daily_cap(Some("unknown")), 5);
    }

    #[test]
    fn tier_rates_are_read_as_calls_per_span() {
        let r = |calls, seconds| Some(TierRate { calls, seconds });
        assert_eq!(TierRate::parse("1/2s"), r(1, 2));
        assert_eq!(TierRate::parse("1/s"), r(1, 1));
        assert_eq!(TierRate::parse("10/min"), r(10, 60));
        assert_eq!(TierRate::parse("100/h"), r(100, 3600));
        for bad in [
            "", "1", "0/s", "1/0s", "1/2", "1/2d", "x/s", "1/2 s s", "1/25h",
        ] {
            assert_eq!(TierRate::parse(bad), None, "{bad}");
        }
        let mut c = ServiceConfig::new("x.db");
        c.tiers.insert("pro".into(), 5);
        c.tier_rates.insert(
            "free".into(),
            TierRate {
                calls: 1,
                seconds: 2,
            },
        );
        assert_eq!(c.tier_rate(None), r(1, 2));
        assert_eq!(c.tier_rate(Some("pro")), None);
        assert_eq!(c.tier_rate(Some("unknown")), r(1, 2));
    }

    #[test]
    fn the_client_is_the_peer_unless_a_trusted_proxy_forwarded_for_it() {
        let mut c = ServiceConfig::new("x.db");
        let ip = |s: &str| s.parse::<IpAddr>().expect("ip");
        // No trusted proxy: the header is never read.
        assert_eq!(
            c.client_ip(ip("10.0.0.5"), &["203.0.113.7"]),
            ip("10.0.0.5")
        );
        c.trusted_proxies = vec![
            "10.0.0.0/24".parse().expect("net"),
            "::1/128".parse().expect("net"),
        ];
        assert_eq!(
            c.client_ip(ip("10.0.0.5"), &["203.0.113.7"]),
            ip("203.0.113.7")
        );
        // The last hop not a proxy: what the client put before it is not believed.
        assert_eq!(
            c.client_ip(ip("10.0.0.5"), &["198.51.100.1, 203.0.113.7", "10.0.0.9"]),
            ip("203.0.113.7")
        );
        // From an untrusted peer, the header changes nothing.
        assert_eq!(
            c.client_ip(ip("192.0.2.1"), &["203.0.113.7"]),
            ip("192.0.2.1")
        );
        // No header, or one that cannot be read: the nearest proxy.
        assert_eq!(c.client_ip(ip("::1"), &[]), ip("::1"));
        assert_eq!(c.client_ip(ip("10.0.0.5"), &["junk"]), ip("10.0.0.5"));
        assert_eq!(
            c.client_ip(ip("10.0.0.5"), &["2001:db8::1, 10.0.0.7"]),
            ip("2001:db8::1")
        );
    }
}
