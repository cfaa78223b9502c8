//! The SQLite implementation of [`Storage`]: one file, WAL mode, migrations embedded.

use std::str::FromStr;
use std::time::Duration;

use keyhaven_api::User;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{Row, SqliteConnection};

use super::tenants::{self, TenantChange, TenantRow};
use super::{key_page_sql, AllowedCalls, KeyPage};
use super::{
    AuditEntry, Denial, DenialRow, KeyForCheck, KeyRow, NewKey, NewSession, NewUser, Pending,
    Storage, StoreFuture, UsageRow, UserColumns, UserRow, ALLOWED,
};
use crate::config::DEFAULT_DAILY_CAP;
use crate::error::ServiceError;
use crate::secrets::SecretHash;

const KEY_COLUMNS: &str = "k.id, k.tenant_id, k.name, k.prefix, k.scopes, k.created_at, \
    k.last_used_at, k.expires_at, k.revoked_at, k.allowed_origins, k.allowed_ips, \
    k.rate_limit_per_hour, k.created_by, k.replaced_by, \
    (SELECT r.id FROM api_keys r WHERE r.replaced_by = k.id LIMIT 1) AS replaces";

#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating it if missing) the database named by a file path or a `sqlite:` URL,
    /// and brings its schema up to date.
    pub async fn open(db: &str) -> Result<SqliteStore, ServiceError> {
        let options = if db.starts_with("sqlite:") {
            SqliteConnectOptions::from_str(db)?
        } else {
            SqliteConnectOptions::new().filename(db)
        };
        let options = options
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5));
        // An in-memory database lives as long as its one connection: keep exactly one open.
        let in_memory = db.contains(":memory:") || db.contains("mode=memory");
        let pool = if in_memory {
            SqlitePoolOptions::new()
                .max_connections(1)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None)
        } else {
            SqlitePoolOptions::new().max_connections(4)
        }
        .connect_with(options)
        .await?;
        sqlx::migrate!("./migrations").run(&pool).await?;
        Ok(SqliteStore { pool })
    }
}

fn json_list(row: &SqliteRow, column: &str) -> Result<Vec<String>, ServiceError> {
    let text: String = row.try_get(column)?;
    serde_json::from_str(&text)
        .map_err(|e| ServiceError::CorruptData(format!("column {column} is not a JSON list: {e}")))
}

fn to_json(list: &[String]) -> String {
    // A list of strings always serialises.
    serde_json::to_string(list).unwrap_or_else(|_| "[]".to_owned())
}

fn key_row(row: &SqliteRow) -> Result<KeyRow, ServiceError> {
    let limit: Option<i64> = row.try_get("rate_limit_per_hour")?;
    let rate_limit_per_hour = limit
        .map(|v| u32::try_from(v).map_err(|_| ServiceError::CorruptData(format!("rate limit {v}"))))
        .transpose()?;
    Ok(KeyRow {
        id: row.try_get("id")?,
        tenant_id: row.try_get("tenant_id")?,
        name: row.try_get("name")?,
        prefix: row.try_get("prefix")?,
        scopes: json_list(row, "scopes")?,
        created_at: row.try_get("created_at")?,
        last_used_at: row.try_get("last_used_at")?,
        expires_at: row.try_get("expires_at")?,
        revoked_at: row.try_get("revoked_at")?,
        allowed_origins: json_list(row, "allowed_origins")?,
        allowed_ips: json_list(row, "allowed_ips")?,
        rate_limit_per_hour,
        created_by: row.try_get("created_by")?,
        replaced_by: row.try_get("replaced_by")?,
        replaces: row.try_get("replaces")?,
    })
}

/// The tenant's keys that still work at `now` (keys in a grace period among them): what the
/// active-key cap counts.
async fn active_keys(
    conn: &mut SqliteConnection,
    tenant_id: &str,
    now: i64,
) -> Result<i64, ServiceError> {
    Ok(sqlx::query_scalar(
        "SELECT COUNT(*) FROM api_keys WHERE tenant_id = ? AND revoked_at IS NULL \
         AND (expires_at IS NULL OR expires_at > ?)",
    )
    .bind(tenant_id)
    .bind(now)
    .fetch_one(&mut *conn)
    .await?)
}

async fn insert_audit(conn: &mut SqliteConnection, e: &AuditEntry) -> Result<(), ServiceError> {
    sqlx::query(
        "INSERT INTO audit_log (at, tenant_id, actor, action, target, ip) VALUES (?, ?, ?, ?, ?, ?)",
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

async fn fetch_key(
    conn: &mut SqliteConnection,
    tenant_id: &str,
    key_id: &str,
) -> Result<Option<KeyRow>, ServiceError> {
    let sql = format!("SELECT {KEY_COLUMNS} FROM api_keys k WHERE k.tenant_id = ? AND k.id = ?");
    let row = sqlx::query(&sql)
        .bind(tenant_id)
        .bind(key_id)
        .fetch_optional(conn)
        .await?;
    row.as_ref().map(key_row).transpose()
}

impl Storage for SqliteStore {
    fn ensure_tenant<'a>(
        &'a self,
        name: &'a str,
        daily_cap: u32,
        now: i64,
    ) -> StoreFuture<'a, String> {
        Box::pin(async move {
            sqlx::query(
                "INSERT INTO tenants (id, name, daily_cap, created_at) VALUES (?, ?, ?, ?) \
                 ON CONFLICT (name) DO NOTHING",
            )
            .bind(crate::secrets::random_id("ten"))
            .bind(name)
            .bind(i64::from(daily_cap))
            .bind(now)
            .execute(&self.pool)
            .await?;
            let id: String = sqlx::query_scalar("SELECT id FROM tenants WHERE name = ?")
                .bind(name)
                .fetch_one(&self.pool)
                .await?;
            Ok(id)
        })
    }

    fn insert_user<'a>(&'a self, new: &'a NewUser, audit: &'a AuditEntry) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
            let result = sqlx::query(
                "INSERT INTO users (id, tenant_id, email, role, password_hash, created_at) \
                 VALUES (?, ?, ?, ?, ?, ?)",
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
            let row = sqlx::query(
                "SELECT id, email, role, tenant_id, password_hash FROM users WHERE email = ?",
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
            let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
            sqlx::query("DELETE FROM sessions WHERE expires_at <= ?")
                .bind(session.created_at)
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "INSERT INTO sessions (token_hash, user_id, created_at, expires_at) \
                 VALUES (?, ?, ?, ?)",
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
                 JOIN users u ON u.id = s.user_id WHERE s.token_hash = ? AND s.expires_at > ?",
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
            sqlx::query("DELETE FROM sessions WHERE token_hash = ?")
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
            let k = &key.row;
            let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
            let inserted = sqlx::query(
                "INSERT INTO api_keys (id, tenant_id, name, prefix, secret_hash, scopes, created_at, \
                 expires_at, allowed_origins, allowed_ips, rate_limit_per_hour, created_by) \
                 SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ? \
                 WHERE (SELECT COUNT(*) FROM api_keys WHERE tenant_id = ? AND revoked_at IS NULL \
                        AND (expires_at IS NULL OR expires_at > ?)) < ?",
            )
            .bind(&k.id)
            .bind(&k.tenant_id)
            .bind(&k.name)
            .bind(&k.prefix)
            .bind(&key.secret_hash.0[..])
            .bind(to_json(&k.scopes))
            .bind(k.created_at)
            .bind(k.expires_at)
            .bind(to_json(&k.allowed_origins))
            .bind(to_json(&k.allowed_ips))
            .bind(k.rate_limit_per_hour.map(i64::from))
            .bind(&k.created_by)
            .bind(&k.tenant_id)
            .bind(now)
            .bind(i64::from(cap))
            .execute(&mut *tx)
            .await?
            .rows_affected()
                == 1;
            if !inserted {
                tx.rollback().await?;
                return Ok(false);
            }
            insert_audit(&mut tx, audit).await?;
            tx.commit().await?;
            Ok(true)
        })
    }

    fn list_keys<'a>(&'a self, tenant_id: &'a str) -> StoreFuture<'a, Vec<KeyRow>> {
        Box::pin(async move {
            let sql = format!(
                "SELECT {KEY_COLUMNS} FROM api_keys k WHERE k.tenant_id = ? \
                 ORDER BY k.created_at, k.rowid"
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
            let (after_time, after_seq) = page.after.unwrap_or((i64::MIN, i64::MIN));
            let rows = sqlx::query(&key_page_sql(KEY_COLUMNS, "rowid"))
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
            let mut conn = self.pool.acquire().await?;
            fetch_key(&mut conn, tenant_id, key_id).await
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
            let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
            let changed = sqlx::query(
                "UPDATE api_keys SET revoked_at = ? \
                 WHERE tenant_id = ? AND id = ? AND revoked_at IS NULL",
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
            }
            let row = fetch_key(&mut tx, tenant_id, key_id).await?;
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
            let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
            let changed = sqlx::query(
                "UPDATE api_keys SET name = ?, scopes = ?, expires_at = ?, allowed_origins = ?, \
                 allowed_ips = ?, rate_limit_per_hour = ? \
                 WHERE tenant_id = ? AND id = ? AND revoked_at IS NULL AND replaced_by IS NULL \
                 AND (expires_at IS NULL OR expires_at > ?)",
            )
            .bind(&k.name)
            .bind(to_json(&k.scopes))
            .bind(k.expires_at)
            .bind(to_json(&k.allowed_origins))
            .bind(to_json(&k.allowed_ips))
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
            let row = fetch_key(&mut tx, &k.tenant_id, &k.id).await?;
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
            let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
            let Some(old) = fetch_key(&mut tx, tenant_id, old_id).await? else {
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
                    "UPDATE api_keys SET revoked_at = ?, replaced_by = ? WHERE tenant_id = ? AND id = ?",
                )
                .bind(now)
            } else {
                sqlx::query(
                    "UPDATE api_keys SET expires_at = MIN(COALESCE(expires_at, ?), ?), replaced_by = ? \
                     WHERE tenant_id = ? AND id = ?",
                )
                .bind(retire_at)
                .bind(retire_at)
            }
            .bind(&new.row.id)
            .bind(tenant_id)
            .bind(old_id)
            .execute(&mut *tx)
            .await?;
            let k = &new.row;
            sqlx::query(
                "INSERT INTO api_keys (id, tenant_id, name, prefix, secret_hash, scopes, created_at, \
                 expires_at, allowed_origins, allowed_ips, rate_limit_per_hour, created_by) \
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(&k.id)
            .bind(&k.tenant_id)
            .bind(&k.name)
            .bind(&k.prefix)
            .bind(&new.secret_hash.0[..])
            .bind(to_json(&k.scopes))
            .bind(k.created_at)
            .bind(k.expires_at)
            .bind(to_json(&k.allowed_origins))
            .bind(to_json(&k.allowed_ips))
            .bind(k.rate_limit_per_hour.map(i64::from))
            .bind(&k.created_by)
            .execute(&mut *tx)
            .await?;
            for entry in audit {
                insert_audit(&mut tx, entry).await?;
            }
            let old = fetch_key(&mut tx, tenant_id, old_id).await?;
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
            // Prefixes are ASCII below 0x7f, so this range is "starts with" through the index.
            let sql = format!(
                "SELECT {KEY_COLUMNS}, t.name AS tenant_name FROM api_keys k \
                 JOIN tenants t ON t.id = k.tenant_id WHERE k.prefix >= ? AND k.prefix < ? \
                 ORDER BY k.created_at DESC, k.rowid DESC LIMIT ?"
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
                 JOIN tenants t ON t.id = k.tenant_id WHERE k.secret_hash = ?"
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
            super::calls::since::sqlite(&mut conn, from).await
        })
    }

    fn list_tenants<'a>(&'a self, now: i64) -> StoreFuture<'a, Vec<TenantRow>> {
        Box::pin(async move {
            let mut conn = self.pool.acquire().await?;
            tenants::list::sqlite(&mut conn, now).await
        })
    }

    fn get_tenant<'a>(&'a self, id: &'a str, now: i64) -> StoreFuture<'a, Option<TenantRow>> {
        Box::pin(async move {
            let mut conn = self.pool.acquire().await?;
            tenants::get::sqlite(&mut conn, id, now).await
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
            let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
            let made =
                tenants::insert::sqlite(&mut tx, id, name, tier, DEFAULT_DAILY_CAP, now).await?;
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
            let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
            let Some(row) = tenants::update::sqlite(&mut tx, id, change, now).await? else {
                tx.rollback().await?;
                return Ok(None);
            };
            insert_audit(&mut tx, audit).await?;
            tx.commit().await?;
            Ok(Some(row))
        })
    }

    fn tenant_limits<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Option<(bool, Option<u32>)>> {
        Box::pin(async move {
            let mut conn = self.pool.acquire().await?;
            tenants::limits::sqlite(&mut conn, id).await
        })
    }

    fn flush_usage<'a>(&'a self, pending: &'a Pending) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
            for (key_id, p) in &pending.keys {
                for (hour, counts) in &p.hours {
                    let outcomes = std::iter::once((ALLOWED, counts.allowed))
                        .chain(counts.denied.iter().copied())
                        .filter(|(_, n)| *n > 0);
                    for (outcome, n) in outcomes {
                        sqlx::query(
                            "INSERT INTO usage_hourly (tenant_id, key_id, hour, outcome, count) \
                             VALUES (?, ?, ?, ?, ?) ON CONFLICT (key_id, hour, outcome) \
                             DO UPDATE SET count = count + excluded.count",
                        )
                        .bind(&p.tenant_id)
                        .bind(key_id)
                        .bind(hour)
                        .bind(outcome)
                        .bind(i64::try_from(n).unwrap_or(i64::MAX))
                        .execute(&mut *tx)
                        .await?;
                    }
                }
                if let Some(at) = p.last_used {
                    sqlx::query(
                        "UPDATE api_keys SET last_used_at = ? WHERE id = ? AND tenant_id = ? \
                         AND (last_used_at IS NULL OR last_used_at < ?)",
                    )
                    .bind(at)
                    .bind(key_id)
                    .bind(&p.tenant_id)
                    .bind(at)
                    .execute(&mut *tx)
                    .await?;
                }
            }
            for d in &pending.denials {
                sqlx::query(
                    "INSERT INTO denials (tenant_id, key_id, at, code, ip, origin) \
                     VALUES (?, ?, ?, ?, ?, ?)",
                )
                .bind(&d.tenant_id)
                .bind(&d.key_id)
                .bind(d.at)
                .bind(d.code)
                .bind(&d.ip)
                .bind(&d.origin)
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
            let mut conn = self.pool.acquire().await?;
            super::calls::usage::sqlite(&mut conn, tenant_id, key_id, from, to).await
        })
    }

    fn denials<'a>(
        &'a self,
        tenant_id: &'a str,
        key_id: &'a str,
        limit: u32,
    ) -> StoreFuture<'a, Vec<Denial>> {
        Box::pin(async move {
            let rows: Vec<DenialRow> = sqlx::query_as(
                "SELECT tenant_id, key_id, at, code, ip, origin FROM denials \
                 WHERE tenant_id = ? AND key_id = ? ORDER BY id DESC LIMIT ?",
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
            let gone = sqlx::query("DELETE FROM denials WHERE at < ?")
                .bind(before)
                .execute(&self.pool)
                .await?
                .rows_affected();
            Ok(gone)
        })
    }

    fn audit_log<'a>(&'a self, tenant_id: &'a str, limit: u32) -> StoreFuture<'a, Vec<AuditEntry>> {
        Box::pin(async move {
            let entries = sqlx::query_as(
                "SELECT at, tenant_id, actor, action, target, ip FROM audit_log \
                 WHERE tenant_id = ? ORDER BY at DESC, id DESC LIMIT ?",
            )
            .bind(tenant_id)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
            Ok(entries)
        })
    }
}
