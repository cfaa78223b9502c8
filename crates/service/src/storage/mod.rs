//! Storage behind one small trait, implemented for SQLite (one process, the default) and
//! PostgreSQL (several instances on one database).
//!
//! Every tenant-scoped method takes the tenant id and filters by it in the query itself. Methods
//! that change something take the audit entry that records the change and write both in one
//! transaction, so that a change is never stored without its audit row.
//!
//! The queries are written once, in `shared.rs`, which is compiled twice: as a module of
//! `sqlite.rs` and as one of `postgres.rs` (sqlx's SQLite driver reads `$N` placeholders as
//! PostgreSQL does). Each of those two files holds only what really differs: how a connection
//! opens and a transaction starts, how a list is stored, a few words of SQL, the usage flush,
//! and, on PostgreSQL, what several instances share (see [`Shared`]).

mod postgres;
mod rows;
mod sqlite;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use tokio::task::JoinHandle;

use keyhaven_api::User;

use crate::error::ServiceError;
use crate::secrets::SecretHash;

pub use postgres::is_postgres_url;
pub use rows::*;

/// Opens the storage `db` names: a `postgres://` or `postgresql://` URL selects PostgreSQL,
/// anything else is a SQLite file path or `sqlite:` URL.
pub async fn open(db: &str) -> Result<Box<dyn Storage>, ServiceError> {
    Ok(if is_postgres_url(db) {
        Box::new(postgres::Store::open(db).await?)
    } else {
        Box::new(sqlite::Store::open(db).await?)
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
    /// from `key` while it is active at `audit.at` (not revoked, expired or replaced: nothing
    /// brings a retired secret back); `Ok(None)` when it is not, or there is no such key.
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
    fn flush_usage<'a>(&'a self, batch: &'a UsageBatch<'a>) -> StoreFuture<'a, ()>;
    /// Hourly counts of the tenant's keys (or of one key, then by hour) with
    /// `from <= hour < to`; a tenant's come in no particular order.
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

    /// What several service instances on one database share through it (rate windows, key
    /// changes, the lockout). `None`: this process is the only one, and keeps all that in
    /// memory.
    fn shared(&self) -> Option<&dyn Shared>;
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

/// What a storage several instances share holds for all of them. Rate windows: a key's hourly
/// window and a tenant's daily window count the calls that instances have reserved; each
/// instance spends its leases from memory and gives back what it has not spent (the domain's
/// `limits`). Changes: every instance hears of a change to a key or a tenant, and of a failed
/// attempt.
pub trait Shared: Send + Sync {
    /// Starts a task that tells `handlers` whenever any instance commits a change to a key or
    /// a tenant (and whenever changes may have gone unheard), or to an IP's failed attempts,
    /// and returns it once it listens.
    fn watch_changes<'a>(&'a self, handlers: ChangeHandlers) -> StoreFuture<'a, JoinHandle<()>>;

    /// Records a failed attempt from `ip` by applying `rule` (the lockout's) to the IP's
    /// failure times under a lock, tells every instance, and returns the times as they are now.
    fn record_failure<'a>(
        &'a self,
        ip: &'a str,
        rule: &'a (dyn Fn(&mut Vec<i64>) + Sync),
    ) -> StoreFuture<'a, Vec<i64>>;

    /// Forgets the failure times of IPs whose last failure is before `before`.
    fn prune_failures<'a>(&'a self, before: i64) -> StoreFuture<'a, u64>;

    /// Reserves up to `want` calls of the key's hourly window `hour` (fewer as the limit nears:
    /// at most a sixteenth of the room left, at least one call while there is room; none once it
    /// is reached): `(granted, reserved in total after it)`.
    fn lease_hourly<'a>(
        &'a self,
        key_id: &'a str,
        hour: i64,
        limit: u32,
        want: u64,
    ) -> StoreFuture<'a, (u64, u64)>;
    /// Gives back `unused` reserved calls of the key's hourly window `hour` (nothing when the
    /// window has moved on).
    fn release_hourly<'a>(&'a self, key_id: &'a str, hour: i64, unused: u64)
        -> StoreFuture<'a, ()>;
    /// Reserves up to `want` calls of the tenant's daily window `day`, as
    /// [`Shared::lease_hourly`] does for a key's hour: `(granted, reserved in total after it)`.
    fn reserve_daily<'a>(
        &'a self,
        tenant_id: &'a str,
        day: i64,
        cap: u32,
        want: u64,
    ) -> StoreFuture<'a, (u64, u64)>;
    /// Gives back `unused` reserved calls of the tenant's daily window `day` (nothing when the
    /// window has moved on).
    fn release_daily<'a>(
        &'a self,
        tenant_id: &'a str,
        day: i64,
        unused: u64,
    ) -> StoreFuture<'a, ()>;
    /// The calls reserved in the key's hourly window `hour` and in its tenant's daily window
    /// `day`.
    fn peek<'a>(
        &'a self,
        key_id: &'a str,
        hour: i64,
        tenant_id: &'a str,
        day: i64,
    ) -> StoreFuture<'a, (u64, u64)>;
}
