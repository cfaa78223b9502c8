//! The PostgreSQL implementation of [`Storage`], for several service instances on one database.
//!
//! Semantics match the SQLite store: every change is written with its audit row in one
//! transaction; the active-key cap holds under racing creations (the tenant's row is locked
//! first); a roll reads and replaces the old key under a row lock. Besides, what SQLite keeps in
//! one process is shared here: the rate windows live in the database (see
//! [`SharedRates`]), and every change to a key or a tenant's tier is announced with `NOTIFY` in
//! its own transaction, so that each instance's key cache drops what it holds at once (see
//! [`Storage::watch_changes`]). The source-IP lockout is shared the same way: failed attempts
//! are recorded in the database and announced, so that every instance locks an IP out after
//! ten failures wherever they were made.

use std::str::FromStr;
use std::time::Duration;

use keyhaven_api::User;
use sqlx::postgres::{PgConnectOptions, PgListener, PgPool, PgPoolOptions, PgRow};
use sqlx::{PgConnection, Row};
use tokio::task::JoinHandle;

use super::tenants::{self, TenantChange, TenantRow};
use super::{key_page_sql, AllowedCalls, KeyPage};
use super::{
    AuditEntry, ChangeHandlers, Denial, DenialRow, KeyForCheck, KeyRow, NewKey, NewSession,
    NewUser, Pending, SharedRates, Storage, StoreFuture, UsageRow, UserColumns, UserRow, ALLOWED,
};
use crate::config::DEFAULT_DAILY_CAP;
use crate::error::ServiceError;
use crate::secrets::SecretHash;

const KEY_COLUMNS: &str = "k.id, k.tenant_id, k.name, k.prefix, k.scopes, k.created_at, \
    k.last_used_at, k.expires_at, k.revoked_at, k.allowed_origins, k.allowed_ips, \
    k.rate_limit_per_hour, k.created_by, k.replaced_by, \
    (SELECT r.id FROM api_keys r WHERE r.replaced_by = k.id LIMIT 1) AS replaces";

/// The channel on which key and tier changes are announced. The payload is the key id, or
/// `tenant:<id>` for a tier change; listeners drop their whole cache either way.
const CHANGES_CHANNEL: &str = "keyhaven_key_changes";

/// The channel on which a change to an IP's failed attempts is announced; the payload is the IP.
const FAILURES_CHANNEL: &str = "keyhaven_failures";

/// Connections kept per instance.
const MAX_CONNECTIONS: u32 = 16;

#[derive(Debug, Clone)]
pub struct PostgresStore {
    pool: PgPool,
}

/// Whether `db` names a PostgreSQL database.
pub fn is_postgres_url(db: &str) -> bool {
    db.starts_with("postgres://") || db.starts_with("postgresql://")
}

impl PostgresStore {
    /// Connects to the database named by a `postgres://` or `postgresql://` URL and brings its
    /// schema up to date (several instances starting at once take turns: the migrator holds
    /// an advisory lock).
    pub async fn open(url: &str) -> Result<PostgresStore, ServiceError> {
        let options = PgConnectOptions::from_str(url)?.application_name("keyhaven-service");
        let pool = PgPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await?;
        sqlx::migrate!("./migrations/postgres").run(&pool).await?;
        Ok(PostgresStore { pool })
    }
}

fn key_row(row: &PgRow) -> Result<KeyRow, ServiceError> {
    let limit: Option<i64> = row.try_get("rate_limit_per_hour")?;
    let rate_limit_per_hour = limit
        .map(|v| u32::try_from(v).map_err(|_| ServiceError::CorruptData(format!("rate limit {v}"))))
        .transpose()?;
    Ok(KeyRow {
        id: row.try_get("id")?,
        tenant_id: row.try_get("tenant_id")?,
        name: row.try_get("name")?,
        prefix: row.try_get("prefix")?,
        scopes: row.try_get("scopes")?,
        created_at: row.try_get("created_at")?,
        last_used_at: row.try_get("last_used_at")?,
        expires_at: row.try_get("expires_at")?,
        revoked_at: row.try_get("revoked_at")?,
        allowed_origins: row.try_get("allowed_origins")?,
        allowed_ips: row.try_get("allowed_ips")?,
        rate_limit_per_hour,
        created_by: row.try_get("created_by")?,
        replaced_by: row.try_get("replaced_by")?,
        replaces: row.try_get("replaces")?,
    })
}

/// The tenant's keys that still work at `now` (keys in a grace period among them): what the
/// active-key cap counts.
async fn active_keys(
    conn: &mut PgConnection,
    tenant_id: &str,
    now: i64,
) -> Result<i64, ServiceError> {
    Ok(sqlx::query_scalar(
        "SELECT COUNT(*) FROM api_keys WHERE tenant_id = $1 AND revoked_at IS NULL \
         AND (expires_at IS NULL OR expires_at > $2)",
    )
    .bind(tenant_id)
    .bind(now)
    .fetch_one(&mut *conn)
    .await?)
}

async fn insert_audit(conn: &mut PgConnection, e: &AuditEntry) -> Result<(), ServiceError> {
    sqlx::query(
        "INSERT INTO audit_log (at, tenant_id, actor, action, target, ip) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(e.at)
    .bind(&e.tenant_id)
    .bind(&e.actor)
    .bind(&e.action)
    .bind(&e.target)
    .bind(&e.ip)
    .execute(conn)
    .await?;
    Ok(())
}

/// Announces a change to every instance's key cache; delivered when the transaction commits,
/// and only if it does.
async fn announce(conn: &mut PgConnection, what: &str) -> Result<(), ServiceError> {
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(CHANGES_CHANNEL)
        .bind(what)
        .execute(conn)
        .await?;
    Ok(())
}

async fn fetch_key(
    conn: &mut PgConnection,
    tenant_id: &str,
    key_id: &str,
    lock: bool,
) -> Result<Option<KeyRow>, ServiceError> {
    let sql = format!(
        "SELECT {KEY_COLUMNS} FROM api_keys k WHERE k.tenant_id = $1 AND k.id = $2{}",
        if lock { " FOR UPDATE" } else { "" }
    );
    let row = sqlx::query(&sql)
        .bind(tenant_id)
        .bind(key_id)
        .fetch_optional(conn)
        .await?;
    row.as_ref().map(key_row).transpose()
}

async fn insert_key(conn: &mut PgConnection, key: &NewKey) -> Result<(), ServiceError> {
    let k = &key.row;
    sqlx::query(
        "INSERT INTO api_keys (id, tenant_id, name, prefix, secret_hash, scopes, created_at, \
         expires_at, allowed_origins, allowed_ips, rate_limit_per_hour, created_by) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
    )
    .bind(&k.id)
    .bind(&k.tenant_id)
    .bind(&k.name)
    .bind(&k.prefix)
    .bind(&key.secret_hash.0[..])
    .bind(&k.scopes)
    .bind(k.created_at)
    .bind(k.expires_at)
    .bind(&k.allowed_origins)
    .bind(&k.allowed_ips)
    .bind(k.rate_limit_per_hour.map(i64::from))
    .bind(&k.created_by)
    .execute(conn)
    .await?;
    Ok(())
}

/// Whether any of `values` holds a NUL character. PostgreSQL text cannot (SQLite's can): such a
/// value names nothing stored, and is answered as not found rather than failing the query.
fn has_nul(values: &[&str]) -> bool {
    values.iter().any(|v| v.contains('\0'))
}

fn count(v: i64, what: &str) -> Result<u64, ServiceError> {
    u64::try_from(v).map_err(|_| ServiceError::CorruptData(format!("{what} {v}")))
}

impl Storage for PostgresStore {
    fn ensure_tenant<'a>(
        &'a self,
        name: &'a str,
        daily_cap: u32,
        now: i64,
    ) -> StoreFuture<'a, String> {
        Box::pin(async move {
            sqlx::query(
                "INSERT INTO tenants (id, name, daily_cap, created_at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (name) DO NOTHING",
            )
            .bind(crate::secrets::random_id("ten"))
            .bind(name)
            .bind(i64::from(daily_cap))
            .bind(now)
            .execute(&self.pool)
            .await?;
            let id: String = sqlx::query_scalar("SELECT id FROM tenants WHERE name = $1")
                .bind(name)
                .fetch_one(&self.pool)
                .await?;
            Ok(id)
        })
    }

    fn insert_user<'a>(&'a self, new: &'a NewUser, audit: &'a AuditEntry) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let mut tx = self.pool.begin().await?;
            let result = sqlx::query(
                "INSERT INTO users (id, tenant_id, email, role, password_hash, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(&new.user.id)
            .bind(&new.user.tenant_id)
            .bind(&new.user.email)
            .bind(new.user.role.as_str())
            .bind(&new.password_hash)
            .bind(new.created_at)
            .execute(&mut *tx)
            .await;
            match result {
                Ok(_) => {
                    insert_audit(&mut tx, audit).await?;
                    tx.commit().await?;
                    Ok(())
                }
                Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                    Err(ServiceError::DuplicateEmail)
                }
                Err(e) => Err(e.into()),
            }
        })
    }

    fn user_by_email<'a>(&'a self, email: &'a str) -> StoreFuture<'a, Option<UserRow>> {
        Box::pin(async move {
            if has_nul(&[email]) {
                return Ok(None);
            }
            let row = sqlx::query(
                "SELECT id, email, role, tenant_id, password_hash FROM users \
                 WHERE lower(email) = lower($1)",
            )
            .bind(email)
            .fetch_optional(&self.pool)
            .await?;
            row.map(|r| {
                Ok(UserRow {
                    user: UserColumns::read(&r)?,
                    password_hash: r.try_get("password_hash")?,
                })
            })
            .transpose()
        })
    }

    fn start_session<'a>(
        &'a self,
        session: &'a NewSession,
        audit: &'a AuditEntry,
    ) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let mut tx = self.pool.begin().await?;
            sqlx::query("DELETE FROM sessions WHERE expires_at <= $1")
                .bind(session.created_at)
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "INSERT INTO sessions (token_hash, user_id, created_at, expires_at) \
                 VALUES ($1, $2, $3, $4)",
            )
            .bind(&session.token_hash.0[..])
            .bind(&session.user_id)
            .bind(session.created_at)
            .bind(session.expires_at)
            .execute(&mut *tx)
            .await?;
            insert_audit(&mut tx, audit).await?;
            tx.commit().await?;
            Ok(())
        })
    }

    fn session_user<'a>(
        &'a self,
        token_hash: &'a SecretHash,
        now: i64,
    ) -> StoreFuture<'a, Option<User>> {
        Box::pin(async move {
            let row = sqlx::query(
                "SELECT u.id, u.email, u.role, u.tenant_id, s.token_hash FROM sessions s \
                 JOIN users u ON u.id = s.user_id WHERE s.token_hash = $1 AND s.expires_at > $2",
            )
            .bind(&token_hash.0[..])
            .bind(now)
            .fetch_optional(&self.pool)
            .await?;
            let Some(row) = row else { return Ok(None) };
            let stored: Vec<u8> = row.try_get("token_hash")?;
            if !token_hash.matches(&stored) {
                return Ok(None);
            }
            Ok(Some(UserColumns::read(&row)?))
        })
    }

    fn end_session<'a>(&'a self, token_hash: &'a SecretHash) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
                .bind(&token_hash.0[..])
                .execute(&self.pool)
                .await?;
            Ok(())
        })
    }

    fn insert_key_within_cap<'a>(
        &'a self,
        key: &'a NewKey,
        cap: u32,
        now: i64,
        audit: &'a AuditEntry,
    ) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            let mut tx = self.pool.begin().await?;
            // The tenant's row is the lock every creation and roll of its keys takes first, so
            // that two racing creations count the active keys one after the other.
            let tenant: Option<String> =
                sqlx::query_scalar("SELECT id FROM tenants WHERE id = $1 FOR UPDATE")
                    .bind(&key.row.tenant_id)
                    .fetch_optional(&mut *tx)
                    .await?;
            if tenant.is_none() {
                tx.rollback().await?;
                return Err(ServiceError::TenantNotFound);
            }
            if active_keys(&mut tx, &key.row.tenant_id, now).await? >= i64::from(cap) {
                tx.rollback().await?;
                return Ok(false);
            }
            insert_key(&mut tx, key).await?;
            insert_audit(&mut tx, audit).await?;
            tx.commit().await?;
            Ok(true)
        })
    }

    fn list_keys<'a>(&'a self, tenant_id: &'a str) -> StoreFuture<'a, Vec<KeyRow>> {
        Box::pin(async move {
            if has_nul(&[tenant_id]) {
                return Ok(Vec::new());
            }
            let sql = format!(
                "SELECT {KEY_COLUMNS} FROM api_keys k WHERE k.tenant_id = $1 \
                 ORDER BY k.created_at, k.seq"
            );
            let rows = sqlx::query(&sql)
                .bind(tenant_id)
                .fetch_all(&self.pool)
                .await?;
            rows.iter().map(key_row).collect()
        })
    }

    fn list_key_page<'a>(
        &'a self,
        tenant_id: &'a str,
        page: KeyPage,
    ) -> StoreFuture<'a, Vec<(KeyRow, (i64, i64))>> {
        Box::pin(async move {
            if has_nul(&[tenant_id]) {
                return Ok(Vec::new());
            }
            let (after_time, after_seq) = page.after.unwrap_or((i64::MIN, i64::MIN));
            let rows = sqlx::query(&key_page_sql(KEY_COLUMNS, "seq"))
                .bind(tenant_id)
                .bind(page.now)
                .bind(after_time)
                .bind(after_seq)
                .bind(page.status.map(|s| s.as_str()))
                .bind(i64::from(page.limit))
                .fetch_all(&self.pool)
                .await?;
            rows.iter()
                .map(|row| {
                    let key = key_row(row)?;
                    let position = (key.created_at, row.try_get("position")?);
                    Ok((key, position))
                })
                .collect()
        })
    }

    fn get_key<'a>(
        &'a self,
        tenant_id: &'a str,
        key_id: &'a str,
    ) -> StoreFuture<'a, Option<KeyRow>> {
        Box::pin(async move {
            if has_nul(&[tenant_id, key_id]) {
                return Ok(None);
            }
            let mut conn = self.pool.acquire().await?;
            fetch_key(&mut conn, tenant_id, key_id, false).await
        })
    }

    fn revoke_key<'a>(
        &'a self,
        tenant_id: &'a str,
        key_id: &'a str,
        now: i64,
        audit: &'a AuditEntry,
    ) -> StoreFuture<'a, Option<KeyRow>> {
        Box::pin(async move {
            if has_nul(&[tenant_id, key_id]) {
                return Ok(None);
            }
            let mut tx = self.pool.begin().await?;
            let changed = sqlx::query(
                "UPDATE api_keys SET revoked_at = $1 \
                 WHERE tenant_id = $2 AND id = $3 AND revoked_at IS NULL",
            )
            .bind(now)
            .bind(tenant_id)
            .bind(key_id)
            .execute(&mut *tx)
            .await?
            .rows_affected()
                == 1;
            if changed {
                insert_audit(&mut tx, audit).await?;
                announce(&mut tx, key_id).await?;
            }
            let row = fetch_key(&mut tx, tenant_id, key_id, false).await?;
            tx.commit().await?;
            Ok(row)
        })
    }

    fn update_key<'a>(
        &'a self,
        k: &'a KeyRow,
        audit: &'a AuditEntry,
    ) -> StoreFuture<'a, Option<KeyRow>> {
        Box::pin(async move {
            if has_nul(&[&k.tenant_id, &k.id]) {
                return Ok(None);
            }
            let mut tx = self.pool.begin().await?;
            let changed = sqlx::query(
                "UPDATE api_keys SET name = $1, scopes = $2, expires_at = $3, \
                 allowed_origins = $4, allowed_ips = $5, rate_limit_per_hour = $6 \
                 WHERE tenant_id = $7 AND id = $8 AND revoked_at IS NULL AND replaced_by IS NULL \
                 AND (expires_at IS NULL OR expires_at > $9)",
            )
            .bind(&k.name)
            .bind(&k.scopes)
            .bind(k.expires_at)
            .bind(&k.allowed_origins)
            .bind(&k.allowed_ips)
            .bind(k.rate_limit_per_hour.map(i64::from))
            .bind(&k.tenant_id)
            .bind(&k.id)
            .bind(audit.at)
            .execute(&mut *tx)
            .await?
            .rows_affected()
                == 1;
            if !changed {
                tx.rollback().await?;
                return Ok(None);
            }
            insert_audit(&mut tx, audit).await?;
            announce(&mut tx, &k.id).await?;
            let row = fetch_key(&mut tx, &k.tenant_id, &k.id, false).await?;
            tx.commit().await?;
            Ok(row)
        })
    }

    fn roll_key<'a>(
        &'a self,
        tenant_id: &'a str,
        old_id: &'a str,
        new: &'a NewKey,
        retire_at: i64,
        now: i64,
        cap: u32,
        audit: &'a [AuditEntry],
    ) -> StoreFuture<'a, Option<KeyRow>> {
        Box::pin(async move {
            if has_nul(&[tenant_id, old_id]) {
                return Ok(None);
            }
            let mut tx = self.pool.begin().await?;
            // The tenant's row first, as every creation takes it: the active keys are counted
            // one roll or creation after the other.
            sqlx::query("SELECT id FROM tenants WHERE id = $1 FOR UPDATE")
                .bind(tenant_id)
                .fetch_optional(&mut *tx)
                .await?;
            // Locked, so that two racing rolls of one key cannot both find it active.
            let Some(old) = fetch_key(&mut tx, tenant_id, old_id, true).await? else {
                tx.rollback().await?;
                return Ok(None);
            };
            if old.status(now) != keyhaven_api::KeyStatus::Active {
                tx.rollback().await?;
                return Err(ServiceError::KeyNotActive);
            }
            if retire_at > now && active_keys(&mut tx, tenant_id, now).await? >= i64::from(cap) {
                tx.rollback().await?;
                return Err(ServiceError::KeyLimitReached { cap });
            }
            if retire_at <= now {
                sqlx::query(
                    "UPDATE api_keys SET revoked_at = $1, replaced_by = $2 \
                     WHERE tenant_id = $3 AND id = $4",
                )
                .bind(now)
            } else {
                sqlx::query(
                    "UPDATE api_keys SET expires_at = LEAST(COALESCE(expires_at, $1), $1), \
                     replaced_by = $2 WHERE tenant_id = $3 AND id = $4",
                )
                .bind(retire_at)
            }
            .bind(&new.row.id)
            .bind(tenant_id)
            .bind(old_id)
            .execute(&mut *tx)
            .await?;
            insert_key(&mut tx, new).await?;
            for entry in audit {
                insert_audit(&mut tx, entry).await?;
            }
            announce(&mut tx, old_id).await?;
            let old = fetch_key(&mut tx, tenant_id, old_id, false).await?;
            tx.commit().await?;
            Ok(old)
        })
    }

    fn find_keys_by_prefix<'a>(
        &'a self,
        prefix: &'a str,
        limit: u32,
    ) -> StoreFuture<'a, Vec<(KeyRow, String)>> {
        Box::pin(async move {
            if has_nul(&[prefix]) {
                return Ok(Vec::new());
            }
            // Prefixes are ASCII below 0x7f, so this range is "starts with" through the index
            // (built with text_pattern_ops, whose ~>=~ and ~<~ compare bytewise).
            let sql = format!(
                "SELECT {KEY_COLUMNS}, t.name AS tenant_name FROM api_keys k \
                 JOIN tenants t ON t.id = k.tenant_id WHERE k.prefix ~>=~ $1 AND k.prefix ~<~ $2 \
                 ORDER BY k.created_at DESC, k.seq DESC LIMIT $3"
            );
            let rows = sqlx::query(&sql)
                .bind(prefix)
                .bind(format!("{prefix}\u{7f}"))
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await?;
            rows.iter()
                .map(|r| Ok((key_row(r)?, r.try_get("tenant_name")?)))
                .collect()
        })
    }

    fn key_by_hash<'a>(&'a self, hash: &'a SecretHash) -> StoreFuture<'a, Option<KeyForCheck>> {
        Box::pin(async move {
            let sql = format!(
                "SELECT {KEY_COLUMNS}, k.secret_hash, t.tier, t.suspended FROM api_keys k \
                 JOIN tenants t ON t.id = k.tenant_id WHERE k.secret_hash = $1"
            );
            let row = sqlx::query(&sql)
                .bind(&hash.0[..])
                .fetch_optional(&self.pool)
                .await?;
            let Some(row) = row else { return Ok(None) };
            Ok(Some(KeyForCheck {
                row: key_row(&row)?,
                secret_hash: row.try_get("secret_hash")?,
                tenant_tier: row.try_get("tier")?,
                tenant_suspended: row.try_get("suspended")?,
            }))
        })
    }

    fn allowed_since<'a>(&'a self, from: i64) -> StoreFuture<'a, Vec<AllowedCalls>> {
        Box::pin(async move {
            let mut conn = self.pool.acquire().await?;
            super::calls::since::postgres(&mut conn, from).await
        })
    }

    fn list_tenants<'a>(&'a self, now: i64) -> StoreFuture<'a, Vec<TenantRow>> {
        Box::pin(async move {
            let mut conn = self.pool.acquire().await?;
            tenants::list::postgres(&mut conn, now).await
        })
    }

    fn get_tenant<'a>(&'a self, id: &'a str, now: i64) -> StoreFuture<'a, Option<TenantRow>> {
        Box::pin(async move {
            if has_nul(&[id]) {
                return Ok(None);
            }
            let mut conn = self.pool.acquire().await?;
            tenants::get::postgres(&mut conn, id, now).await
        })
    }

    fn create_tenant<'a>(
        &'a self,
        id: &'a str,
        name: &'a str,
        tier: Option<&'a str>,
        now: i64,
        audit: &'a AuditEntry,
    ) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            let mut tx = self.pool.begin().await?;
            let made =
                tenants::insert::postgres(&mut tx, id, name, tier, DEFAULT_DAILY_CAP, now).await?;
            if made {
                insert_audit(&mut tx, audit).await?;
            }
            tx.commit().await?;
            Ok(made)
        })
    }

    fn update_tenant<'a>(
        &'a self,
        id: &'a str,
        change: &'a TenantChange,
        now: i64,
        audit: &'a AuditEntry,
    ) -> StoreFuture<'a, Option<TenantRow>> {
        Box::pin(async move {
            if has_nul(&[id]) {
                return Ok(None);
            }
            let mut tx = self.pool.begin().await?;
            let Some(row) = tenants::update::postgres(&mut tx, id, change, now).await? else {
                tx.rollback().await?;
                return Ok(None);
            };
            insert_audit(&mut tx, audit).await?;
            // Every instance drops its cached keys, which carry the tenant's tier and state.
            announce(&mut tx, &format!("tenant:{id}")).await?;
            tx.commit().await?;
            Ok(Some(row))
        })
    }

    fn tenant_limits<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Option<(bool, Option<u32>)>> {
        Box::pin(async move {
            if has_nul(&[id]) {
                return Ok(None);
            }
            let mut conn = self.pool.acquire().await?;
            tenants::limits::postgres(&mut conn, id).await
        })
    }

    fn flush_usage<'a>(&'a self, pending: &'a Pending) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            // Every instance flushes its own counts; the upserts add them up. Rows go in one
            // order (by key, hour and outcome), so that two instances flushing at once lock
            // them in the same order and cannot deadlock.
            let mut rows: Vec<(&str, i64, &str, &str, i64)> = Vec::new();
            let mut used: Vec<(&str, &str, i64)> = Vec::new();
            for (key_id, p) in &pending.keys {
                for (hour, c) in &p.hours {
                    let all = std::iter::once((ALLOWED, c.allowed))
                        .chain(c.denied.iter().copied())
                        .filter(|(_, n)| *n > 0);
                    for (outcome, n) in all {
                        let n = i64::try_from(n).unwrap_or(i64::MAX);
                        rows.push((key_id.as_str(), *hour, outcome, p.tenant_id.as_str(), n));
                    }
                }
                if let Some(at) = p.last_used {
                    used.push((key_id.as_str(), p.tenant_id.as_str(), at));
                }
            }
            rows.sort_unstable();
            used.sort_unstable();
            let keys: Vec<&str> = rows.iter().map(|r| r.0).collect();
            let hours: Vec<i64> = rows.iter().map(|r| r.1).collect();
            let outcomes: Vec<&str> = rows.iter().map(|r| r.2).collect();
            let tenants: Vec<&str> = rows.iter().map(|r| r.3).collect();
            let counts: Vec<i64> = rows.iter().map(|r| r.4).collect();
            let used_keys: Vec<&str> = used.iter().map(|u| u.0).collect();
            let used_tenants: Vec<&str> = used.iter().map(|u| u.1).collect();
            let used_at: Vec<i64> = used.iter().map(|u| u.2).collect();
            let mut tx = self.pool.begin().await?;
            if !keys.is_empty() {
                sqlx::query(
                    "INSERT INTO usage_hourly (tenant_id, key_id, hour, outcome, count) \
                     SELECT * FROM UNNEST($1::text[], $2::text[], $3::bigint[], $4::text[], \
                                          $5::bigint[]) \
                     ON CONFLICT (key_id, hour, outcome) \
                     DO UPDATE SET count = usage_hourly.count + EXCLUDED.count",
                )
                .bind(&tenants)
                .bind(&keys)
                .bind(&hours)
                .bind(&outcomes)
                .bind(&counts)
                .execute(&mut *tx)
                .await?;
            }
            if !used_keys.is_empty() {
                sqlx::query(
                    "UPDATE api_keys k SET last_used_at = u.at \
                     FROM UNNEST($1::text[], $2::text[], $3::bigint[]) AS u (id, tenant_id, at) \
                     WHERE k.id = u.id AND k.tenant_id = u.tenant_id \
                     AND (k.last_used_at IS NULL OR k.last_used_at < u.at)",
                )
                .bind(&used_keys)
                .bind(&used_tenants)
                .bind(&used_at)
                .execute(&mut *tx)
                .await?;
            }
            if !pending.denials.is_empty() {
                let d = &pending.denials;
                sqlx::query(
                    "INSERT INTO denials (tenant_id, key_id, at, code, ip, origin) \
                     SELECT * FROM UNNEST($1::text[], $2::text[], $3::bigint[], $4::text[], \
                                          $5::text[], $6::text[])",
                )
                .bind(d.iter().map(|d| d.tenant_id.as_str()).collect::<Vec<_>>())
                .bind(d.iter().map(|d| d.key_id.as_str()).collect::<Vec<_>>())
                .bind(d.iter().map(|d| d.at).collect::<Vec<_>>())
                .bind(d.iter().map(|d| d.code).collect::<Vec<_>>())
                .bind(d.iter().map(|d| d.ip.as_deref()).collect::<Vec<_>>())
                .bind(d.iter().map(|d| d.origin.as_deref()).collect::<Vec<_>>())
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            Ok(())
        })
    }

    fn usage<'a>(
        &'a self,
        tenant_id: &'a str,
        key_id: Option<&'a str>,
        from: i64,
        to: i64,
    ) -> StoreFuture<'a, Vec<UsageRow>> {
        Box::pin(async move {
            if has_nul(&[tenant_id, key_id.unwrap_or_default()]) {
                return Ok(Vec::new());
            }
            let mut conn = self.pool.acquire().await?;
            super::calls::usage::postgres(&mut conn, tenant_id, key_id, from, to).await
        })
    }

    fn denials<'a>(
        &'a self,
        tenant_id: &'a str,
        key_id: &'a str,
        limit: u32,
    ) -> StoreFuture<'a, Vec<Denial>> {
        Box::pin(async move {
            if has_nul(&[tenant_id, key_id]) {
                return Ok(Vec::new());
            }
            let rows: Vec<DenialRow> = sqlx::query_as(
                "SELECT tenant_id, key_id, at, code, ip, origin FROM denials \
                 WHERE tenant_id = $1 AND key_id = $2 ORDER BY id DESC LIMIT $3",
            )
            .bind(tenant_id)
            .bind(key_id)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
            rows.into_iter().map(DenialRow::into_denial).collect()
        })
    }

    fn prune_denials<'a>(&'a self, before: i64) -> StoreFuture<'a, u64> {
        Box::pin(async move {
            let gone = sqlx::query("DELETE FROM denials WHERE at < $1")
                .bind(before)
                .execute(&self.pool)
                .await?
                .rows_affected();
            Ok(gone)
        })
    }

    fn audit_log<'a>(&'a self, tenant_id: &'a str, limit: u32) -> StoreFuture<'a, Vec<AuditEntry>> {
        Box::pin(async move {
            if has_nul(&[tenant_id]) {
                return Ok(Vec::new());
            }
            let entries = sqlx::query_as(
                "SELECT at, tenant_id, actor, action, target, ip FROM audit_log \
                 WHERE tenant_id = $1 ORDER BY at DESC, id DESC LIMIT $2",
            )
            .bind(tenant_id)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
            Ok(entries)
        })
    }

    fn shared_rates(&self) -> Option<&dyn SharedRates> {
        Some(self)
    }

    fn watch_changes<'a>(
        &'a self,
        handlers: ChangeHandlers,
    ) -> StoreFuture<'a, Option<JoinHandle<()>>> {
        Box::pin(async move {
            let mut listener = PgListener::connect_with(&self.pool).await?;
            listener
                .listen_all([CHANGES_CHANNEL, FAILURES_CHANNEL])
                .await?;
            let pool = self.pool.clone();
            Ok(Some(tokio::spawn(async move {
                let mut backoff = Duration::from_millis(100);
                loop {
                    match listener.try_recv().await {
                        Ok(Some(notice)) if notice.channel() == FAILURES_CHANNEL => {
                            let ip = notice.payload();
                            match failure_times(&pool, ip).await {
                                Ok(times) => (handlers.failures)(ip, &times),
                                Err(e) => {
                                    tracing::error!(error = %e, "cannot read an IP's failures")
                                }
                            }
                        }
                        Ok(Some(_)) => {
                            (handlers.keys)();
                            backoff = Duration::from_millis(100);
                        }
                        Ok(None) => {
                            // The connection dropped and changes may have gone unheard: forget
                            // every cached key; the next call reconnects and listens again.
                            tracing::warn!("lost the change listener's connection; reconnecting");
                            (handlers.keys)();
                        }
                        Err(e) => {
                            tracing::error!(error = %e, "the change listener failed; retrying");
                            (handlers.keys)();
                            tokio::time::sleep(backoff).await;
                            backoff = (backoff * 2).min(Duration::from_secs(5));
                        }
                    }
                }
            })))
        })
    }

    fn record_failure<'a>(
        &'a self,
        ip: &'a str,
        rule: &'a (dyn Fn(&mut Vec<i64>) + Sync),
    ) -> StoreFuture<'a, Option<Vec<i64>>> {
        Box::pin(async move {
            let mut tx = self.pool.begin().await?;
            sqlx::query(
                "INSERT INTO lockout_failures (ip, times, last_at) VALUES ($1, '{}', 0) \
                 ON CONFLICT (ip) DO NOTHING",
            )
            .bind(ip)
            .execute(&mut *tx)
            .await?;
            let mut times: Vec<i64> =
                sqlx::query_scalar("SELECT times FROM lockout_failures WHERE ip = $1 FOR UPDATE")
                    .bind(ip)
                    .fetch_one(&mut *tx)
                    .await?;
            rule(&mut times);
            sqlx::query("UPDATE lockout_failures SET times = $2, last_at = $3 WHERE ip = $1")
                .bind(ip)
                .bind(&times)
                .bind(times.last().copied().unwrap_or(0))
                .execute(&mut *tx)
                .await?;
            sqlx::query("SELECT pg_notify($1, $2)")
                .bind(FAILURES_CHANNEL)
                .bind(ip)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(Some(times))
        })
    }

    fn prune_failures<'a>(&'a self, before: i64) -> StoreFuture<'a, u64> {
        Box::pin(async move {
            let gone = sqlx::query("DELETE FROM lockout_failures WHERE last_at < $1")
                .bind(before)
                .execute(&self.pool)
                .await?
                .rows_affected();
            Ok(gone)
        })
    }
}

/// An IP's failure times as storage holds them, oldest first.
async fn failure_times(pool: &PgPool, ip: &str) -> Result<Vec<i64>, ServiceError> {
    let times: Option<Vec<i64>> =
        sqlx::query_scalar("SELECT times FROM lockout_failures WHERE ip = $1")
            .bind(ip)
            .fetch_optional(pool)
            .await?;
    Ok(times.unwrap_or_default())
}

impl SharedRates for PostgresStore {
    fn take_hourly<'a>(
        &'a self,
        key_id: &'a str,
        hour: i64,
        limit: u32,
    ) -> StoreFuture<'a, Result<u64, u64>> {
        Box::pin(async move {
            let row = sqlx::query("SELECT ok, n FROM keyhaven_take_hourly($1, $2, $3)")
                .bind(key_id)
                .bind(hour)
                .bind(i64::from(limit))
                .fetch_one(&self.pool)
                .await?;
            let ok: bool = row.try_get("ok")?;
            let n = count(row.try_get("n")?, "hourly count")?;
            Ok(if ok { Ok(n) } else { Err(n) })
        })
    }

    fn untake_hourly<'a>(&'a self, key_id: &'a str, hour: i64) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            sqlx::query(
                "UPDATE rate_hourly SET used = GREATEST(used - 1, 0) \
                 WHERE key_id = $1 AND hour = $2",
            )
            .bind(key_id)
            .bind(hour)
            .execute(&self.pool)
            .await?;
            Ok(())
        })
    }

    fn reserve_daily<'a>(
        &'a self,
        tenant_id: &'a str,
        day: i64,
        cap: u32,
        max_batch: u32,
    ) -> StoreFuture<'a, (u64, u64)> {
        Box::pin(async move {
            let row =
                sqlx::query("SELECT granted, total FROM keyhaven_reserve_daily($1, $2, $3, $4)")
                    .bind(tenant_id)
                    .bind(day)
                    .bind(i64::from(cap))
                    .bind(i64::from(max_batch))
                    .fetch_one(&self.pool)
                    .await?;
            Ok((
                count(row.try_get("granted")?, "daily grant")?,
                count(row.try_get("total")?, "daily count")?,
            ))
        })
    }

    fn release_daily<'a>(
        &'a self,
        tenant_id: &'a str,
        day: i64,
        unused: u64,
    ) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            sqlx::query(
                "UPDATE rate_daily SET used = GREATEST(used - $3, 0) \
                 WHERE tenant_id = $1 AND day = $2",
            )
            .bind(tenant_id)
            .bind(day)
            .bind(i64::try_from(unused).unwrap_or(i64::MAX))
            .execute(&self.pool)
            .await?;
            Ok(())
        })
    }

    fn peek<'a>(
        &'a self,
        key_id: &'a str,
        hour: i64,
        tenant_id: &'a str,
        day: i64,
    ) -> StoreFuture<'a, (u64, u64)> {
        Box::pin(async move {
            let row = sqlx::query(
                "SELECT \
                   COALESCE((SELECT used FROM rate_hourly WHERE key_id = $1 AND hour = $2), 0) \
                     AS hourly_used, \
                   COALESCE((SELECT used FROM rate_daily WHERE tenant_id = $3 AND day = $4), 0) \
                     AS daily_used",
            )
            .bind(key_id)
            .bind(hour)
            .bind(tenant_id)
            .bind(day)
            .fetch_one(&self.pool)
            .await?;
            Ok((
                count(row.try_get("hourly_used")?, "hourly count")?,
                count(row.try_get("daily_used")?, "daily count")?,
            ))
        })
    }
}
