//! Every query both databases share, written once. This file is compiled twice, as a module of
//! `sqlite.rs` and of `postgres.rs`; each of them gives it, under the same names, what differs:
//!
//! - `Db`, `Conn`, `Row`: sqlx's database, connection and row types;
//! - `Store` with a `pool` and `begin()`, which starts a transaction that writes;
//! - `SEQ`: the column that orders keys created in the same second;
//! - `FOR_UPDATE`: what locks a row read in a transaction (nothing, where a writing transaction
//!   already holds the whole database);
//! - `EMAIL_MATCHES`: `$1` against `email`, case-insensitive;
//! - `PREFIX_RANGE`: `k.prefix` from `$1` up to, not including, `$2`, through the index;
//! - `list_param` and `read_list`: a list of strings as a column holds it;
//! - `announce`: tells every instance of a change when the transaction commits;
//! - `flush`: writes a usage batch in a transaction;
//! - `shared`: what several instances share, if they can.

use keyhaven_api::{KeyStatus, User};
use sqlx::Row as _;

use super::{
    announce, flush, list_param, read_list, shared, Conn, Row, Store, EMAIL_MATCHES, FOR_UPDATE,
    PREFIX_RANGE, SEQ,
};
use crate::config::DEFAULT_DAILY_CAP;
use crate::error::ServiceError;
use crate::secrets::SecretHash;
use crate::storage::{
    denial_code, AllowedCalls, AuditEntry, Denial, KeyForCheck, KeyPage, KeyRow, NewKey,
    NewSession, NewUser, Shared, Storage, StoreFuture, TenantChange, TenantRow, UsageBatch,
    UsageRow, UserRow,
};

const KEY_COLUMNS: &str = "k.id, k.tenant_id, k.name, k.prefix, k.scopes, k.created_at, \
    k.last_used_at, k.expires_at, k.revoked_at, k.allowed_origins, k.allowed_ips, \
    k.rate_limit_per_hour, k.created_by, k.replaced_by, \
    (SELECT r.id FROM api_keys r WHERE r.replaced_by = k.id LIMIT 1) AS replaces";

/// The columns of a [`TenantRow`], with its active keys at `$1`.
const TENANT_COLUMNS: &str = "t.id, t.name, t.tier, t.suspended, t.key_cap, \
    (SELECT COUNT(*) FROM api_keys k WHERE k.tenant_id = t.id AND k.revoked_at IS NULL \
     AND (k.expires_at IS NULL OR k.expires_at > $1)) AS active_keys";

/// Whether any of `values` holds a NUL character. PostgreSQL text cannot: such a value names
/// nothing stored, and is answered as not found (on both databases) rather than failing.
fn has_nul(values: &[&str]) -> bool {
    values.iter().any(|v| v.contains('\0'))
}

fn number<T: TryFrom<i64>>(v: i64, what: &str) -> Result<T, ServiceError> {
    T::try_from(v).map_err(|_| ServiceError::CorruptData(format!("{what} {v}")))
}

fn key_row(row: &Row) -> Result<KeyRow, ServiceError> {
    let limit: Option<i64> = row.try_get("rate_limit_per_hour")?;
    Ok(KeyRow {
        id: row.try_get("id")?,
        tenant_id: row.try_get("tenant_id")?,
        name: row.try_get("name")?,
        prefix: row.try_get("prefix")?,
        scopes: read_list(row, "scopes")?,
        created_at: row.try_get("created_at")?,
        last_used_at: row.try_get("last_used_at")?,
        expires_at: row.try_get("expires_at")?,
        revoked_at: row.try_get("revoked_at")?,
        allowed_origins: read_list(row, "allowed_origins")?,
        allowed_ips: read_list(row, "allowed_ips")?,
        rate_limit_per_hour: limit.map(|v| number(v, "rate limit")).transpose()?,
        created_by: row.try_get("created_by")?,
        replaced_by: row.try_get("replaced_by")?,
        replaces: row.try_get("replaces")?,
    })
}

fn tenant_row(row: &Row) -> Result<TenantRow, ServiceError> {
    let key_cap: Option<i64> = row.try_get("key_cap")?;
    Ok(TenantRow {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        tier: row.try_get("tier")?,
        suspended: row.try_get("suspended")?,
        key_cap: key_cap.map(|n| number(n, "key cap")).transpose()?,
        active_keys: number(row.try_get("active_keys")?, "active keys")?,
    })
}

fn user(row: &Row) -> Result<User, ServiceError> {
    let role: String = row.try_get("role")?;
    Ok(User {
        id: row.try_get("id")?,
        email: row.try_get("email")?,
        role: keyhaven_api::Role::parse(&role)
            .ok_or_else(|| ServiceError::CorruptData(format!("unknown role `{role}`")))?,
        tenant_id: row.try_get("tenant_id")?,
    })
}

fn denial(row: &Row) -> Result<Denial, ServiceError> {
    let code: String = row.try_get("code")?;
    Ok(Denial {
        tenant_id: row.try_get("tenant_id")?,
        key_id: row.try_get("key_id")?,
        at: row.try_get("at")?,
        code: denial_code(&code)
            .ok_or_else(|| ServiceError::CorruptData(format!("denial code `{code}`")))?,
        ip: row.try_get("ip")?,
        origin: row.try_get("origin")?,
    })
}

/// The tenant's keys that still work at `now` (keys in a grace period among them): what the
/// active-key cap counts.
async fn active_keys(conn: &mut Conn, tenant_id: &str, now: i64) -> Result<i64, ServiceError> {
    Ok(sqlx::query_scalar(
        "SELECT COUNT(*) FROM api_keys WHERE tenant_id = $1 AND revoked_at IS NULL \
         AND (expires_at IS NULL OR expires_at > $2)",
    )
    .bind(tenant_id)
    .bind(now)
    .fetch_one(&mut *conn)
    .await?)
}

/// Takes the tenant's row, the lock every creation and roll of its keys takes first, so that
/// two racing ones count the active keys one after the other; whether the tenant exists.
async fn lock_tenant(conn: &mut Conn, tenant_id: &str) -> Result<bool, ServiceError> {
    let sql = format!("SELECT id FROM tenants WHERE id = $1{FOR_UPDATE}");
    let found: Option<String> = sqlx::query_scalar(&sql)
        .bind(tenant_id)
        .fetch_optional(&mut *conn)
        .await?;
    Ok(found.is_some())
}

async fn insert_audit(conn: &mut Conn, e: &AuditEntry) -> Result<(), ServiceError> {
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

/// The key, locked for the rest of the transaction when `lock` is set.
async fn fetch_key(
    conn: &mut Conn,
    tenant_id: &str,
    key_id: &str,
    lock: bool,
) -> Result<Option<KeyRow>, ServiceError> {
    let sql = format!(
        "SELECT {KEY_COLUMNS} FROM api_keys k WHERE k.tenant_id = $1 AND k.id = $2{}",
        if lock { FOR_UPDATE } else { "" }
    );
    let row = sqlx::query(&sql)
        .bind(tenant_id)
        .bind(key_id)
        .fetch_optional(conn)
        .await?;
    row.as_ref().map(key_row).transpose()
}

async fn insert_key(conn: &mut Conn, key: &NewKey) -> Result<(), ServiceError> {
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
    .bind(list_param(&k.scopes))
    .bind(k.created_at)
    .bind(k.expires_at)
    .bind(list_param(&k.allowed_origins))
    .bind(list_param(&k.allowed_ips))
    .bind(k.rate_limit_per_hour.map(i64::from))
    .bind(&k.created_by)
    .execute(conn)
    .await?;
    Ok(())
}

async fn fetch_tenant(
    conn: &mut Conn,
    id: &str,
    now: i64,
) -> Result<Option<TenantRow>, ServiceError> {
    let sql = format!("SELECT {TENANT_COLUMNS} FROM tenants t WHERE t.id = $2");
    let row = sqlx::query(&sql)
        .bind(now)
        .bind(id)
        .fetch_optional(conn)
        .await?;
    row.as_ref().map(tenant_row).transpose()
}

impl Storage for Store {
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
            let mut tx = self.begin().await?;
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
            let sql = format!(
                "SELECT id, email, role, tenant_id, password_hash FROM users WHERE {EMAIL_MATCHES}"
            );
            let row = sqlx::query(&sql)
                .bind(email)
                .fetch_optional(&self.pool)
                .await?;
            row.map(|r| {
                Ok(UserRow {
                    user: user(&r)?,
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
            let mut tx = self.begin().await?;
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
            Ok(Some(user(&row)?))
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
            let mut tx = self.begin().await?;
            if !lock_tenant(&mut tx, &key.row.tenant_id).await? {
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
                 ORDER BY k.created_at, k.{SEQ}"
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
            // A key's status is worked out as `KeyRow::status` does.
            let sql = format!(
                "SELECT {KEY_COLUMNS}, k.{SEQ} AS position FROM api_keys k \
                 WHERE k.tenant_id = $1 \
                 AND (k.created_at > $3 OR (k.created_at = $3 AND k.{SEQ} > $4)) \
                 AND (CAST($5 AS TEXT) IS NULL OR CAST($5 AS TEXT) = CASE \
                      WHEN k.revoked_at IS NOT NULL THEN 'revoked' \
                      WHEN k.expires_at IS NOT NULL AND k.expires_at <= $2 THEN 'expired' \
                      WHEN k.replaced_by IS NOT NULL THEN 'expiring' \
                      ELSE 'active' END) \
                 ORDER BY k.created_at, k.{SEQ} LIMIT $6"
            );
            let (after_time, after_seq) = page.after.unwrap_or((i64::MIN, i64::MIN));
            let rows = sqlx::query(&sql)
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
            let mut tx = self.begin().await?;
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
            let mut tx = self.begin().await?;
            let changed = sqlx::query(
                "UPDATE api_keys SET name = $1, scopes = $2, expires_at = $3, \
                 allowed_origins = $4, allowed_ips = $5, rate_limit_per_hour = $6 \
                 WHERE tenant_id = $7 AND id = $8 AND revoked_at IS NULL AND replaced_by IS NULL \
                 AND (expires_at IS NULL OR expires_at > $9)",
            )
            .bind(&k.name)
            .bind(list_param(&k.scopes))
            .bind(k.expires_at)
            .bind(list_param(&k.allowed_origins))
            .bind(list_param(&k.allowed_ips))
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
            let mut tx = self.begin().await?;
            lock_tenant(&mut tx, tenant_id).await?;
            // Locked, so that two racing rolls of one key cannot both find it active.
            let Some(old) = fetch_key(&mut tx, tenant_id, old_id, true).await? else {
                tx.rollback().await?;
                return Ok(None);
            };
            if old.status(now) != KeyStatus::Active {
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
                // The earlier of its own expiry and the end of the grace period.
                sqlx::query(
                    "UPDATE api_keys SET expires_at = CASE \
                       WHEN expires_at IS NOT NULL AND expires_at < $1 THEN expires_at ELSE $1 END, \
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
            // Prefixes are ASCII below 0x7f, so this range is "starts with".
            let sql = format!(
                "SELECT {KEY_COLUMNS}, t.name AS tenant_name FROM api_keys k \
                 JOIN tenants t ON t.id = k.tenant_id WHERE {PREFIX_RANGE} \
                 ORDER BY k.created_at DESC, k.{SEQ} DESC LIMIT $3"
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
            Ok(sqlx::query_as(
                "SELECT key_id, tenant_id, hour, count FROM usage_hourly \
                 WHERE outcome = 'allowed' AND hour >= $1",
            )
            .bind(from)
            .fetch_all(&self.pool)
            .await?)
        })
    }

    fn list_tenants<'a>(&'a self, now: i64) -> StoreFuture<'a, Vec<TenantRow>> {
        Box::pin(async move {
            let sql = format!("SELECT {TENANT_COLUMNS} FROM tenants t ORDER BY t.name");
            let rows = sqlx::query(&sql).bind(now).fetch_all(&self.pool).await?;
            rows.iter().map(tenant_row).collect()
        })
    }

    fn get_tenant<'a>(&'a self, id: &'a str, now: i64) -> StoreFuture<'a, Option<TenantRow>> {
        Box::pin(async move {
            if has_nul(&[id]) {
                return Ok(None);
            }
            let mut conn = self.pool.acquire().await?;
            fetch_tenant(&mut conn, id, now).await
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
            let mut tx = self.begin().await?;
            let made = sqlx::query(
                "INSERT INTO tenants (id, name, daily_cap, created_at, tier) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (name) DO NOTHING",
            )
            .bind(id)
            .bind(name)
            .bind(i64::from(DEFAULT_DAILY_CAP))
            .bind(now)
            .bind(tier)
            .execute(&mut *tx)
            .await?
            .rows_affected()
                == 1;
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
            let mut tx = self.begin().await?;
            let Some(mut t) = fetch_tenant(&mut tx, id, now).await? else {
                tx.rollback().await?;
                return Ok(None);
            };
            if let Some(tier) = &change.tier {
                t.tier = tier.clone();
            }
            if let Some(suspended) = change.suspended {
                t.suspended = suspended;
            }
            if let Some(cap) = change.key_cap {
                t.key_cap = cap;
            }
            sqlx::query("UPDATE tenants SET tier = $1, suspended = $2, key_cap = $3 WHERE id = $4")
                .bind(&t.tier)
                .bind(t.suspended)
                .bind(t.key_cap.map(i64::from))
                .bind(id)
                .execute(&mut *tx)
                .await?;
            insert_audit(&mut tx, audit).await?;
            // Every instance drops its cached keys, which carry the tenant's tier and state.
            announce(&mut tx, &format!("tenant:{id}")).await?;
            tx.commit().await?;
            Ok(Some(t))
        })
    }

    fn tenant_limits<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Option<(bool, Option<u32>)>> {
        Box::pin(async move {
            if has_nul(&[id]) {
                return Ok(None);
            }
            let row: Option<(bool, Option<i64>)> =
                sqlx::query_as("SELECT suspended, key_cap FROM tenants WHERE id = $1")
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?;
            row.map(|(suspended, cap)| {
                Ok((suspended, cap.map(|n| number(n, "key cap")).transpose()?))
            })
            .transpose()
        })
    }

    fn flush_usage<'a>(&'a self, batch: &'a UsageBatch<'a>) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let mut tx = self.begin().await?;
            flush(&mut tx, batch).await?;
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
            // One key's read goes through the (key, hour) key of the table, never through every
            // row of its tenant: the tenant is checked on the key's row, so that no index by
            // tenant looks like the better way in.
            let query = match key_id {
                Some(key_id) => sqlx::query_as(
                    "SELECT key_id, hour, outcome, count FROM usage_hourly \
                     WHERE key_id = $1 AND hour >= $2 AND hour < $3 \
                     AND EXISTS (SELECT 1 FROM api_keys WHERE id = $1 AND tenant_id = $4) \
                     ORDER BY hour",
                )
                .bind(key_id),
                None => sqlx::query_as(
                    "SELECT key_id, hour, outcome, count FROM usage_hourly \
                     WHERE tenant_id = $4 AND hour >= $2 AND hour < $3 AND $1 IS NULL",
                )
                .bind(None::<&str>),
            };
            let rows: Vec<(String, i64, String, i64)> = query
                .bind(from)
                .bind(to)
                .bind(tenant_id)
                .fetch_all(&self.pool)
                .await?;
            rows.into_iter()
                .map(|(key_id, hour, outcome, count)| {
                    Ok(UsageRow {
                        key_id,
                        hour,
                        outcome,
                        count: number(count, "usage count")?,
                    })
                })
                .collect()
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
            let rows = sqlx::query(
                "SELECT tenant_id, key_id, at, code, ip, origin FROM denials \
                 WHERE tenant_id = $1 AND key_id = $2 ORDER BY id DESC LIMIT $3",
            )
            .bind(tenant_id)
            .bind(key_id)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
            rows.iter().map(denial).collect()
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

    fn shared(&self) -> Option<&dyn Shared> {
        shared(self)
    }
}
