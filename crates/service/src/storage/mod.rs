//! Storage behind one small trait, with a SQLite implementation (one process, the default) and
//! a PostgreSQL one (several instances on one database).
//!
//! Every tenant-scoped method takes the tenant id and filters by it in the query itself. Methods
//! that change something take the audit entry that records the change and write both in one
//! transaction, so that a change is never stored without its audit row.

/// One storage function written once for both databases: `written_once! { async fn name(conn,
/// args..) -> Ret { body } }` defines `mod name { pub async fn sqlite(..); pub async fn
/// postgres(..) }`, the body compiled once with a SQLite and once with a PostgreSQL connection
/// as `conn` (sqlx's SQLite driver reads `$N` placeholders as PostgreSQL does).
macro_rules! written_once {
    ($(#[$doc:meta])* async fn $name:ident($conn:ident $(, $arg:ident : $ty:ty)*) -> $ret:ty $body:block) => {
        $(#[$doc])*
        pub mod $name {
            #[allow(unused_imports)]
            use super::*;
            pub async fn sqlite($conn: &mut sqlx::SqliteConnection $(, $arg: $ty)*) -> $ret $body
            pub async fn postgres($conn: &mut sqlx::PgConnection $(, $arg: $ty)*) -> $ret $body
        }
    };
}

mod calls;
mod postgres;
mod sqlite;
pub mod tenants;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use tokio::task::JoinHandle;

use keyhaven_api::{KeyMeta, KeyStatus, Role, User};

use crate::clock::to_utc;
use crate::error::ServiceError;
use crate::secrets::SecretHash;
pub use crate::usage::{Denial, Pending};
pub use calls::AllowedCalls;
pub use tenants::{TenantChange, TenantRow};

pub use postgres::{is_postgres_url, PostgresStore};
pub use sqlite::SqliteStore;

/// Opens the storage `db` names: a `postgres://` or `postgresql://` URL selects PostgreSQL,
/// anything else is a SQLite file path or `sqlite:` URL.
pub async fn open(db: &str) -> Result<Box<dyn Storage>, ServiceError> {
    Ok(if is_postgres_url(db) {
        Box::new(PostgresStore::open(db).await?)
    } else {
        Box::new(SqliteStore::open(db).await?)
    })
}

/// What every storage method returns: a boxed future, so that the trait can be used as `dyn`.
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, ServiceError>> + Send + 'a>>;

pub trait Storage: Send + Sync + 'static {
    /// The id of the tenant with this name, created with `daily_cap` if it does not exist.
    fn ensure_tenant<'a>(
        &'a self,
        name: &'a str,
        daily_cap: u32,
        now: i64,
    ) -> StoreFuture<'a, String>;
    /// Fails with [`ServiceError::DuplicateEmail`] when the email (case-insensitive) is taken.
    /// Stores the user with the audit row recording it.
    fn insert_user<'a>(&'a self, user: &'a NewUser, audit: &'a AuditEntry) -> StoreFuture<'a, ()>;
    fn user_by_email<'a>(&'a self, email: &'a str) -> StoreFuture<'a, Option<UserRow>>;

    /// Stores a session (and drops expired ones) together with the login's audit row.
    fn start_session<'a>(
        &'a self,
        session: &'a NewSession,
        audit: &'a AuditEntry,
    ) -> StoreFuture<'a, ()>;
    /// The user of an unexpired session.
    fn session_user<'a>(
        &'a self,
        token_hash: &'a SecretHash,
        now: i64,
    ) -> StoreFuture<'a, Option<User>>;
    fn end_session<'a>(&'a self, token_hash: &'a SecretHash) -> StoreFuture<'a, ()>;

    /// Inserts the key unless its tenant already has `cap` active keys; `false` when over the cap.
    fn insert_key_within_cap<'a>(
        &'a self,
        key: &'a NewKey,
        cap: u32,
        now: i64,
        audit: &'a AuditEntry,
    ) -> StoreFuture<'a, bool>;
    fn list_keys<'a>(&'a self, tenant_id: &'a str) -> StoreFuture<'a, Vec<KeyRow>>;
    /// A page of the tenant's keys (see [`KeyPage`]), each with its position for the next
    /// page's start.
    fn list_key_page<'a>(
        &'a self,
        tenant_id: &'a str,
        page: KeyPage,
    ) -> StoreFuture<'a, Vec<(KeyRow, (i64, i64))>>;
    fn get_key<'a>(
        &'a self,
        tenant_id: &'a str,
        key_id: &'a str,
    ) -> StoreFuture<'a, Option<KeyRow>>;
    /// Revokes the key (keeping the first revocation time) and returns it; `None` when the
    /// tenant has no key with that id.
    fn revoke_key<'a>(
        &'a self,
        tenant_id: &'a str,
        key_id: &'a str,
        now: i64,
        audit: &'a AuditEntry,
    ) -> StoreFuture<'a, Option<KeyRow>>;
    /// Writes the key's changeable fields (name, scopes, expiry, origins, IPs, hourly limit)
    /// from `key` unless it is revoked; `None` when the tenant has no such unrevoked key.
    /// Writes the key's changed fields while it is active at `audit.at` (not revoked, expired
    /// or replaced: nothing brings a retired secret back); `Ok(None)` when it is not.
    fn update_key<'a>(
        &'a self,
        key: &'a KeyRow,
        audit: &'a AuditEntry,
    ) -> StoreFuture<'a, Option<KeyRow>>;
    /// Replaces the active key `old_id` with `new`: the old key is revoked at `retire_at` when
    /// that is `now`, otherwise it expires then (or earlier, if it already would). Returns the
    /// old key as it is afterwards; `Ok(None)` when the tenant has no such key,
    /// [`ServiceError::KeyNotActive`] when it is not active, and
    /// [`ServiceError::KeyLimitReached`] when the old key lives on in a grace period and the
    /// tenant already has `cap` active keys (a key in its grace period counts).
    #[allow(clippy::too_many_arguments)]
    fn roll_key<'a>(
        &'a self,
        tenant_id: &'a str,
        old_id: &'a str,
        new: &'a NewKey,
        retire_at: i64,
        now: i64,
        cap: u32,
        audit: &'a [AuditEntry],
    ) -> StoreFuture<'a, Option<KeyRow>>;
    /// Keys of every tenant whose prefix starts with `prefix`, with their tenant's name; at
    /// most `limit`, newest first. For support staff only.
    fn find_keys_by_prefix<'a>(
        &'a self,
        prefix: &'a str,
        limit: u32,
    ) -> StoreFuture<'a, Vec<(KeyRow, String)>>;
    /// The hot path: a key by the hash of its secret, through an index, with its tenant's cap.
    fn key_by_hash<'a>(&'a self, hash: &'a SecretHash) -> StoreFuture<'a, Option<KeyForCheck>>;
    /// Calls accepted since `from` (the start of an hour), by key and hour: what the rate
    /// windows of a service that keeps them in memory start from after a restart.
    fn allowed_since<'a>(&'a self, from: i64) -> StoreFuture<'a, Vec<AllowedCalls>>;

    /// Every tenant, by name, with its keys that still work at `now`.
    fn list_tenants<'a>(&'a self, now: i64) -> StoreFuture<'a, Vec<TenantRow>>;
    /// One tenant, with its keys that still work at `now`.
    fn get_tenant<'a>(&'a self, id: &'a str, now: i64) -> StoreFuture<'a, Option<TenantRow>>;
    /// Makes a tenant named `name` (with id `id`) and audits it; `Ok(false)` when the name is
    /// taken.
    fn create_tenant<'a>(
        &'a self,
        id: &'a str,
        name: &'a str,
        tier: Option<&'a str>,
        now: i64,
        audit: &'a AuditEntry,
    ) -> StoreFuture<'a, bool>;
    /// Changes a tenant and audits it; every instance sees the change on its next call (on
    /// PostgreSQL the change is announced). `Ok(None)` when there is no such tenant.
    fn update_tenant<'a>(
        &'a self,
        id: &'a str,
        change: &'a TenantChange,
        now: i64,
        audit: &'a AuditEntry,
    ) -> StoreFuture<'a, Option<TenantRow>>;
    /// Whether the tenant is suspended, and its own key cap (`None`: the deployment's); `None`
    /// when there is no such tenant.
    fn tenant_limits<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Option<(bool, Option<u32>)>>;

    /// Writes usage counted in memory: adds the counts, moves `last_used_at` forward, and
    /// stores the denials, all in one transaction.
    fn flush_usage<'a>(&'a self, pending: &'a Pending) -> StoreFuture<'a, ()>;
    /// Hourly counts of the tenant's keys (or of one key) with `from <= hour < to`.
    fn usage<'a>(
        &'a self,
        tenant_id: &'a str,
        key_id: Option<&'a str>,
        from: i64,
        to: i64,
    ) -> StoreFuture<'a, Vec<UsageRow>>;
    /// The key's newest denials, newest first.
    fn denials<'a>(
        &'a self,
        tenant_id: &'a str,
        key_id: &'a str,
        limit: u32,
    ) -> StoreFuture<'a, Vec<Denial>>;

    /// Forgets denials older than `before`; returns how many.
    fn prune_denials<'a>(&'a self, before: i64) -> StoreFuture<'a, u64>;

    /// The tenant's newest audit rows, newest first.
    fn audit_log<'a>(&'a self, tenant_id: &'a str, limit: u32) -> StoreFuture<'a, Vec<AuditEntry>>;

    /// Rate windows kept in storage, for a storage several service instances share, so that
    /// hourly limits and daily caps hold across all of them. `None` (the default): this
    /// process is the only one, and counts in memory.
    fn shared_rates(&self) -> Option<&dyn SharedRates> {
        None
    }

    /// For a storage several instances share: starts a task that tells `handlers` whenever any
    /// instance commits a change to a key or a tenant's tier (and whenever changes may have gone
    /// unheard), or to an IP's failed attempts, and returns it once it listens. `None` (the
    /// default): every change is made by this process, which keeps its own cache and lockout.
    fn watch_changes<'a>(
        &'a self,
        handlers: ChangeHandlers,
    ) -> StoreFuture<'a, Option<JoinHandle<()>>> {
        drop(handlers);
        Box::pin(async { Ok(None) })
    }

    /// For a storage several instances share: records a failed attempt from `ip` by applying
    /// `rule` (the lockout's) to the IP's failure times under a lock, tells every instance, and
    /// returns the times as they are now. `None` (the default): the lockout is this process's.
    fn record_failure<'a>(
        &'a self,
        ip: &'a str,
        rule: &'a (dyn Fn(&mut Vec<i64>) + Sync),
    ) -> StoreFuture<'a, Option<Vec<i64>>> {
        let _ = (ip, rule);
        Box::pin(async { Ok(None) })
    }

    /// Forgets the failure times of IPs whose last failure is before `before`.
    fn prune_failures<'a>(&'a self, before: i64) -> StoreFuture<'a, u64> {
        let _ = before;
        Box::pin(async { Ok(0) })
    }
}

/// Told an IP (as text) and its failure times, oldest first.
pub type FailuresHandler = Arc<dyn Fn(&str, &[i64]) + Send + Sync>;

/// Who hears the changes other instances make, on a shared storage.
#[derive(Clone)]
pub struct ChangeHandlers {
    /// A key or a tenant's tier changed, or changes may have gone unheard: drop cached keys.
    pub keys: Arc<dyn Fn() + Send + Sync>,
    /// An IP's failed attempts changed.
    pub failures: FailuresHandler,
}

/// Rate windows in storage, shared by every instance. A key's hourly window is counted call by
/// call (exact across instances); a tenant's daily window is handed out in reserved batches,
/// which each instance spends from memory (see [`crate::ratelimit`]).
pub trait SharedRates: Send + Sync {
    /// Counts one call in the key's hourly window `hour` if fewer than `limit` are counted:
    /// `Ok(calls after it)`, or `Err(calls)` when the window is full.
    fn take_hourly<'a>(
        &'a self,
        key_id: &'a str,
        hour: i64,
        limit: u32,
    ) -> StoreFuture<'a, Result<u64, u64>>;
    /// Uncounts a call that [`SharedRates::take_hourly`] counted and the daily cap then refused.
    fn untake_hourly<'a>(&'a self, key_id: &'a str, hour: i64) -> StoreFuture<'a, ()>;
    /// Reserves up to `max_batch` calls of the tenant's daily window `day` (fewer as the cap
    /// nears; none once it is reached): `(granted, reserved in total after it)`.
    fn reserve_daily<'a>(
        &'a self,
        tenant_id: &'a str,
        day: i64,
        cap: u32,
        max_batch: u32,
    ) -> StoreFuture<'a, (u64, u64)>;
    /// Gives back `unused` reserved calls of the tenant's daily window `day`.
    fn release_daily<'a>(
        &'a self,
        tenant_id: &'a str,
        day: i64,
        unused: u64,
    ) -> StoreFuture<'a, ()>;
    /// The calls counted in the key's hourly window `hour` and reserved in its tenant's daily
    /// window `day`.
    fn peek<'a>(
        &'a self,
        key_id: &'a str,
        hour: i64,
        tenant_id: &'a str,
        day: i64,
    ) -> StoreFuture<'a, (u64, u64)>;
}

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

/// The query of a [`KeyPage`], written once for both databases: `seq` names the column that
/// orders keys created in the same second (`rowid` on SQLite, `seq` on PostgreSQL). A key's
/// status is worked out as [`KeyRow::status`] does. Binds: `$1` tenant, `$2` now, `$3` and `$4`
/// the position after which the page starts, `$5` the status or null, `$6` the row limit.
pub(crate) fn key_page_sql(key_columns: &str, seq: &str) -> String {
    format!(
        "SELECT {key_columns}, k.{seq} AS position FROM api_keys k \
         WHERE k.tenant_id = $1 \
         AND (k.created_at > $3 OR (k.created_at = $3 AND k.{seq} > $4)) \
         AND (CAST($5 AS TEXT) IS NULL OR CAST($5 AS TEXT) = CASE \
              WHEN k.revoked_at IS NOT NULL THEN 'revoked' \
              WHEN k.expires_at IS NOT NULL AND k.expires_at <= $2 THEN 'expired' \
              WHEN k.replaced_by IS NOT NULL THEN 'expiring' \
              ELSE 'active' END) \
         ORDER BY k.created_at, k.{seq} LIMIT $6"
    )
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

/// A row of `denials` as both backends read it; [`DenialRow::into_denial`] checks its code.
#[derive(sqlx::FromRow)]
pub(crate) struct DenialRow {
    tenant_id: String,
    key_id: String,
    at: i64,
    code: String,
    ip: Option<String>,
    origin: Option<String>,
}

impl DenialRow {
    pub(crate) fn into_denial(self) -> Result<crate::usage::Denial, ServiceError> {
        let code = crate::usage::denial_code(&self.code)
            .ok_or_else(|| ServiceError::CorruptData(format!("denial code `{}`", self.code)))?;
        Ok(crate::usage::Denial {
            tenant_id: self.tenant_id,
            key_id: self.key_id,
            at: self.at,
            code,
            ip: self.ip,
            origin: self.origin,
        })
    }
}

/// A user's columns in any row that holds them (extra columns are ignored), for both backends.
#[derive(sqlx::FromRow)]
pub(crate) struct UserColumns {
    id: String,
    email: String,
    role: String,
    tenant_id: String,
}

impl UserColumns {
    /// Reads the user's columns of `row` and checks the role.
    pub(crate) fn read<'r, R>(row: &'r R) -> Result<User, ServiceError>
    where
        R: sqlx::Row,
        UserColumns: sqlx::FromRow<'r, R>,
    {
        let r = <UserColumns as sqlx::FromRow<'r, R>>::from_row(row)?;
        Ok(User {
            id: r.id,
            email: r.email,
            role: role_from_db(&r.role)?,
            tenant_id: r.tenant_id,
        })
    }
}

pub(crate) fn role_from_db(s: &str) -> Result<Role, ServiceError> {
    Role::parse(s).ok_or_else(|| ServiceError::CorruptData(format!("unknown role `{s}`")))
}
