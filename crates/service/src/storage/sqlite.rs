//! SQLite: one file, WAL mode, migrations embedded. What differs from PostgreSQL; the queries
//! themselves are in `shared.rs`.

use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Row as _, Sqlite, Transaction};

use super::{Shared, UsageBatch};
use crate::error::ServiceError;

// On purpose: the queries both databases share, compiled once for each.
#[allow(clippy::duplicate_mod)]
#[path = "shared.rs"]
mod shared;

type Conn = sqlx::SqliteConnection;
type Row = sqlx::sqlite::SqliteRow;

/// Keys created in the same second are in the order of their row ids.
const SEQ: &str = "rowid";
/// A writing transaction holds the whole database (`BEGIN IMMEDIATE`): nothing more to lock.
const FOR_UPDATE: &str = "";
/// The column is `COLLATE NOCASE`.
const EMAIL_MATCHES: &str = "email = $1";
const PREFIX_RANGE: &str = "k.prefix >= $1 AND k.prefix < $2";

#[derive(Debug, Clone)]
pub struct Store {
    pool: SqlitePool,
}

impl Store {
    /// Opens (creating it if missing) the database named by a file path or a `sqlite:` URL,
    /// and brings its schema up to date.
    pub async fn open(db: &str) -> Result<Store, ServiceError> {
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
        Ok(Store { pool })
    }

    /// A transaction that takes the write lock at once, so that what it reads stays true
    /// until it commits.
    async fn begin(&self) -> Result<Transaction<'static, Sqlite>, ServiceError> {
        Ok(self.pool.begin_with("BEGIN IMMEDIATE").await?)
    }
}

/// Lists are stored as JSON text.
fn list_param(list: &[String]) -> String {
    // A list of strings always serialises.
    serde_json::to_string(list).unwrap_or_else(|_| "[]".to_owned())
}

fn read_list(row: &Row, column: &str) -> Result<Vec<String>, ServiceError> {
    let text: String = row.try_get(column)?;
    serde_json::from_str(&text)
        .map_err(|e| ServiceError::CorruptData(format!("column {column} is not a JSON list: {e}")))
}

/// One process: nobody else to tell.
async fn announce(_conn: &mut Conn, _what: &str) -> Result<(), ServiceError> {
    Ok(())
}

/// One process: rates, changes and the lockout stay in its memory.
fn shared(_store: &Store) -> Option<&dyn Shared> {
    None
}

/// Row by row: statements are cheap in process, and the batch is one transaction.
async fn flush(conn: &mut Conn, batch: &UsageBatch<'_>) -> Result<(), ServiceError> {
    for c in &batch.calls {
        sqlx::query(
            "INSERT INTO usage_hourly (tenant_id, key_id, hour, outcome, count) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (key_id, hour, outcome) \
             DO UPDATE SET count = count + excluded.count",
        )
        .bind(c.tenant_id)
        .bind(c.key_id)
        .bind(c.hour)
        .bind(c.outcome)
        .bind(c.count)
        .execute(&mut *conn)
        .await?;
    }
    for u in &batch.last_used {
        sqlx::query(
            "UPDATE api_keys SET last_used_at = $1 WHERE id = $2 AND tenant_id = $3 \
             AND (last_used_at IS NULL OR last_used_at < $1)",
        )
        .bind(u.at)
        .bind(u.key_id)
        .bind(u.tenant_id)
        .execute(&mut *conn)
        .await?;
    }
    for d in batch.denials {
        sqlx::query(
            "INSERT INTO denials (tenant_id, key_id, at, code, ip, origin) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&d.tenant_id)
        .bind(&d.key_id)
        .bind(d.at)
        .bind(d.code)
        .bind(&d.ip)
        .bind(&d.origin)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}
