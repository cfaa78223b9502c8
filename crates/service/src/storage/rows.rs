//! What storage holds and hands back, the same for both databases.

use keyhaven_api::{KeyMeta, KeyStatus, User};

use crate::clock::to_utc;
use crate::error::ServiceError;
use crate::secrets::SecretHash;

/// Calls of one key in one hour with one outcome (`allowed` or a denial code).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageRow {
    pub key_id: String,
    pub hour: i64,
    pub outcome: String,
    pub count: u64,
}

/// The outcome recorded for accepted calls.
pub const ALLOWED: &str = "allowed";

#[derive(Debug, Clone)]
pub struct NewUser {
    pub user: User,
    pub password_hash: String,
    pub created_at: i64,
}

#[derive(Debug, Clone)]
pub struct UserRow {
    pub user: User,
    pub password_hash: String,
}

#[derive(Debug, Clone)]
pub struct NewSession {
    pub token_hash: SecretHash,
    pub user_id: String,
    pub created_at: i64,
    pub expires_at: i64,
}

/// A key as stored, without its secret. Times in seconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRow {
    pub id: String,
    pub tenant_id: String,
    pub name: String,
    pub prefix: String,
    pub scopes: Vec<String>,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub expires_at: Option<i64>,
    pub revoked_at: Option<i64>,
    pub allowed_origins: Vec<String>,
    pub allowed_ips: Vec<String>,
    pub rate_limit_per_hour: Option<u32>,
    pub created_by: String,
    /// Set when the key was rolled: the id of its replacement.
    pub replaced_by: Option<String>,
    /// Set when the key came from a roll: the id of the key it replaced.
    pub replaces: Option<String>,
}

impl KeyRow {
    /// A plain active key of tenant `ten_a` with no scope or limit, for unit tests.
    #[cfg(test)]
    pub(crate) fn for_test(id: &str) -> KeyRow {
        KeyRow {
            id: id.into(),
            tenant_id: "ten_a".into(),
            name: "n".into(),
            prefix: "kh_live_abcd".into(),
            scopes: vec![],
            created_at: 0,
            last_used_at: None,
            expires_at: None,
            revoked_at: None,
            allowed_origins: vec![],
            allowed_ips: vec![],
            rate_limit_per_hour: None,
            created_by: "usr_a".into(),
            replaced_by: None,
            replaces: None,
        }
    }

    pub fn status(&self, now: i64) -> KeyStatus {
        if self.revoked_at.is_some() {
            KeyStatus::Revoked
        } else if self.expires_at.is_some_and(|t| t <= now) {
            KeyStatus::Expired
        } else if self.replaced_by.is_some() {
            KeyStatus::Expiring
        } else {
            KeyStatus::Active
        }
    }

    pub fn to_meta(&self, now: i64) -> Result<KeyMeta, ServiceError> {
        let opt = |t: Option<i64>| t.map(to_utc).transpose();
        Ok(KeyMeta {
            id: self.id.clone(),
            tenant_id: self.tenant_id.clone(),
            name: self.name.clone(),
            prefix: self.prefix.clone(),
            scopes: self.scopes.clone(),
            status: self.status(now),
            created_at: to_utc(self.created_at)?,
            last_used_at: opt(self.last_used_at)?,
            expires_at: opt(self.expires_at)?,
            revoked_at: opt(self.revoked_at)?,
            allowed_origins: self.allowed_origins.clone(),
            allowed_ips: self.allowed_ips.clone(),
            rate_limit_per_hour: self.rate_limit_per_hour,
            created_by: self.created_by.clone(),
            replaced_by: self.replaced_by.clone(),
            replaces: self.replaces.clone(),
            note: None,
        })
    }
}

#[derive(Debug, Clone)]
pub struct NewKey {
    pub row: KeyRow,
    pub secret_hash: SecretHash,
}

/// What verification needs about a key.
#[derive(Debug, Clone)]
pub struct KeyForCheck {
    pub row: KeyRow,
    pub secret_hash: Vec<u8>,
    /// The tenant's tier; `None` is the deployment's default tier.
    pub tenant_tier: Option<String>,
    /// Whether the tenant is suspended: its keys are refused.
    pub tenant_suspended: bool,
}

/// Which page of a tenant's keys to read: those after `after` (creation time, then the row's
/// sequence number) in that order, of one status or all, at most `limit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyPage {
    pub after: Option<(i64, i64)>,
    pub status: Option<KeyStatus>,
    pub limit: u32,
    pub now: i64,
}

/// Read by both backends with `sqlx::query_as`: its columns decode alike on SQLite and PostgreSQL.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct AuditEntry {
    pub at: i64,
    pub tenant_id: String,
    /// The acting user's id (`system` for changes made from the command line).
    pub actor: String,
    pub action: String,
    /// What the action was done to: a key id, a user id.
    pub target: String,
    pub ip: Option<String>,
}

/// Audit actions recorded so far.
pub mod action {
    pub const LOGIN: &str = "login";
    pub const USER_ADD: &str = "user.add";
    pub const TENANT_CREATE: &str = "tenant.create";
    pub const TENANT_UPDATE: &str = "tenant.update";
    pub const KEY_CREATE: &str = "key.create";
    pub const KEY_REVOKE: &str = "key.revoke";
    pub const KEY_UPDATE: &str = "key.update";
    pub const KEY_ROLL: &str = "key.roll";
}

/// A tenant as stored: `tier` and `key_cap` are `None` for the deployment's defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantRow {
    pub id: String,
    pub name: String,
    pub tier: Option<String>,
    pub suspended: bool,
    pub key_cap: Option<u32>,
    /// Keys that still work at the time of the read (keys in a grace period among them).
    pub active_keys: u32,
}

/// What a change of a tenant sets; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TenantChange {
    pub tier: Option<Option<String>>,
    pub suspended: Option<bool>,
    pub key_cap: Option<Option<u32>>,
}

/// Calls of one key accepted in one hour.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct AllowedCalls {
    pub key_id: String,
    pub tenant_id: String,
    /// The start of the hour, seconds since the epoch.
    pub hour: i64,
    pub count: i64,
}

/// One refused call of an identified key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denial {
    pub tenant_id: String,
    pub key_id: String,
    pub at: i64,
    pub code: &'static str,
    pub ip: Option<String>,
    pub origin: Option<String>,
}

/// The codes a denial may carry: the reasons a known key is refused.
pub const DENIAL_CODES: [&str; 7] = [
    "revoked",
    "expired",
    "origin_not_allowed",
    "ip_not_allowed",
    "scope_missing",
    "rate_limited",
    "daily_cap_reached",
];

/// The static form of a stored denial code.
pub fn denial_code(code: &str) -> Option<&'static str> {
    DENIAL_CODES.iter().copied().find(|c| *c == code)
}

/// Usage counted in memory, as one flush writes it. Calls and last uses are sorted (by key,
/// hour and outcome), so that two instances flushing at once lock rows in the same order.
#[derive(Debug, Default)]
pub struct UsageBatch<'a> {
    pub calls: Vec<CallCount<'a>>,
    pub last_used: Vec<LastUse<'a>>,
    pub denials: &'a [Denial],
}

/// Calls of one key in one hour with one outcome, to add to the stored count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct CallCount<'a> {
    pub key_id: &'a str,
    pub hour: i64,
    pub outcome: &'a str,
    pub tenant_id: &'a str,
    pub count: i64,
}

/// A key's latest accepted call, to move its `last_used_at` forward.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct LastUse<'a> {
    pub key_id: &'a str,
    pub tenant_id: &'a str,
    pub at: i64,
}
