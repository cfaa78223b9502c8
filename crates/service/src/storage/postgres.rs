//! PostgreSQL, for several service instances on one database. What differs from SQLite; the
//! queries both share are in `shared.rs`.
//!
//! Semantics match the SQLite store: every change is written with its audit row in one
//! transaction; the active-key cap holds under racing creations (the tenant's row is locked
//! first); a roll reads and replaces the old key under a row lock. Besides, what SQLite keeps in
//! one process is shared here (see [`Shared`]): the rate windows live in the database, leased
//! to the instances, which spend their leases from memory; every change to a key or a tenant is
//! announced with `NOTIFY` in its own transaction, so that each instance's key cache drops what
//! it holds at once. The source-IP lockout is shared the same
//! way: failed attempts are recorded in the database and announced, so that every instance locks
//! an IP out after ten failures wherever they were made.

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgListener, PgPool, PgPoolOptions};
use sqlx::{Postgres, Row as _, Transaction};
use tokio::task::JoinHandle;

use super::{ChangeHandlers, Shared, StoreFuture, UsageBatch};
use crate::error::ServiceError;

// On purpose: the queries both databases share, compiled once for each.
#[allow(clippy::duplicate_mod)]
#[path = "shared.rs"]
mod shared;

type Conn = sqlx::PgConnection;
type Row = sqlx::postgres::PgRow;

/// Keys created in the same second are in the order of an identity column.
const SEQ: &str = "seq";
const FOR_UPDATE: &str = " FOR UPDATE";
/// Emails are unique by `lower(email)`, through that index.
const EMAIL_MATCHES: &str = "lower(email) = lower($1)";
/// Through the index built with text_pattern_ops, whose `~>=~` and `~<~` compare bytewise.
const PREFIX_RANGE: &str = "k.prefix ~>=~ $1 AND k.prefix ~<~ $2";

/// The channel on which key and tier changes are announced. The payload is the key id, or
/// `tenant:<id>` for a tenant's change; listeners drop their whole cache either way.
const CHANGES_CHANNEL: &str = "keyhaven_key_changes";

/// The channel on which a change to an IP's failed attempts is announced; the payload is the IP.
const FAILURES_CHANNEL: &str = "keyhaven_failures";

/// What the change listener's connection is called in `pg_stat_activity`.
const LISTENER_APPLICATION_NAME: &str = "keyhaven-service listener";

/// Connections kept per instance, besides the change listener's.
const MAX_CONNECTIONS: u32 = 16;

#[derive(Debug, Clone)]
pub struct Store {
    pool: PgPool,
}

/// Whether `db` names a PostgreSQL database.
pub fn is_postgres_url(db: &str) -> bool {
    db.starts_with("postgres://") || db.starts_with("postgresql://")
}

impl Store {
    /// Connects to the database named by a `postgres://` or `postgresql://` URL and brings its
    /// schema up to date (several instances starting at once take turns: the migrator holds
    /// an advisory lock).
    pub async fn open(url: &str) -> Result<Store, ServiceError> {
        let options = PgConnectOptions::from_str(url)?.application_name("keyhaven-service");
        let pool = PgPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await?;
        sqlx::migrate!("./migrations/postgres").run(&pool).await?;
        Ok(Store { pool })
    }

    /// A transaction; what it must hold, it locks row by row (`FOR UPDATE`).
    async fn begin(&self) -> Result<Transaction<'static, Postgres>, ServiceError> {
        Ok(self.pool.begin().await?)
    }
}

/// Lists are `text[]` columns.
fn list_param(list: &[String]) -> &[String] {
    list
}

fn read_list(row: &Row, column: &str) -> Result<Vec<String>, ServiceError> {
    Ok(row.try_get(column)?)
}

/// Announces a change to every instance's key cache; delivered when the transaction commits,
/// and only if it does.
async fn announce(conn: &mut Conn, what: &str) -> Result<(), ServiceError> {
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(CHANGES_CHANNEL)
        .bind(what)
        .execute(conn)
        .await?;
    Ok(())
}

fn shared(store: &Store) -> Option<&dyn Shared> {
    Some(store)
}

/// Every instance flushes its own counts; the upserts add them up. A statement per table, each
/// over arrays (`UNNEST`), in the batch's order, so that two instances flushing at once lock
/// rows in the same order and cannot deadlock.
async fn flush(conn: &mut Conn, batch: &UsageBatch<'_>) -> Result<(), ServiceError> {
    let calls = &batch.calls;
    if !calls.is_empty() {
        sqlx::query(
            "INSERT INTO usage_hourly (tenant_id, key_id, hour, outcome, count) \
             SELECT * FROM UNNEST($1::text[], $2::text[], $3::bigint[], $4::text[], $5::bigint[]) \
             ON CONFLICT (key_id, hour, outcome) \
             DO UPDATE SET count = usage_hourly.count + EXCLUDED.count",
        )
        .bind(calls.iter().map(|c| c.tenant_id).collect::<Vec<_>>())
        .bind(calls.iter().map(|c| c.key_id).collect::<Vec<_>>())
        .bind(calls.iter().map(|c| c.hour).collect::<Vec<_>>())
        .bind(calls.iter().map(|c| c.outcome).collect::<Vec<_>>())
        .bind(calls.iter().map(|c| c.count).collect::<Vec<_>>())
        .execute(&mut *conn)
        .await?;
    }
    let used = &batch.last_used;
    if !used.is_empty() {
        sqlx::query(
            "UPDATE api_keys k SET last_used_at = u.at \
             FROM UNNEST($1::text[], $2::text[], $3::bigint[]) AS u (id, tenant_id, at) \
             WHERE k.id = u.id AND k.tenant_id = u.tenant_id \
             AND (k.last_used_at IS NULL OR k.last_used_at < u.at)",
        )
        .bind(used.iter().map(|u| u.key_id).collect::<Vec<_>>())
        .bind(used.iter().map(|u| u.tenant_id).collect::<Vec<_>>())
        .bind(used.iter().map(|u| u.at).collect::<Vec<_>>())
        .execute(&mut *conn)
        .await?;
    }
    let d = batch.denials;
    if !d.is_empty() {
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
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

fn count(v: i64, what: &str) -> Result<u64, ServiceError> {
    u64::try_from(v).map_err(|_| ServiceError::CorruptData(format!("{what} {v}")))
}

impl Shared for Store {
    fn watch_changes<'a>(&'a self, handlers: ChangeHandlers) -> StoreFuture<'a, JoinHandle<()>> {
        Box::pin(async move {
            // A connection of its own, named so that it can be told apart in pg_stat_activity;
            // it takes no place from the calls' pool, nor waits for one when it reconnects.
            let options = (*self.pool.connect_options())
                .clone()
                .application_name(LISTENER_APPLICATION_NAME);
            let listener_pool = PgPoolOptions::new()
                .max_connections(1)
                .max_lifetime(None)
                .idle_timeout(None)
                .acquire_timeout(Duration::from_secs(2))
                .connect_with(options)
                .await?;
            let listener = listen(&listener_pool).await?;
            Ok(tokio::spawn(watch(
                listener_pool,
                listener,
                self.pool.clone(),
                handlers,
            )))
        })
    }

    fn record_failure<'a>(
        &'a self,
        ip: &'a str,
        rule: &'a (dyn Fn(&mut Vec<i64>) + Sync),
    ) -> StoreFuture<'a, Vec<i64>> {
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
            Ok(times)
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

    fn lease_hourly<'a>(
        &'a self,
        key_id: &'a str,
        hour: i64,
        limit: u32,
        want: u64,
    ) -> StoreFuture<'a, (u64, u64)> {
        Box::pin(async move {
            let row =
                sqlx::query("SELECT granted, total FROM keyhaven_lease_hourly($1, $2, $3, $4)")
                    .bind(key_id)
                    .bind(hour)
                    .bind(i64::from(limit))
                    .bind(i64::try_from(want).unwrap_or(i64::MAX))
                    .fetch_one(&self.pool)
                    .await?;
            Ok((
                count(row.try_get("granted")?, "hourly grant")?,
                count(row.try_get("total")?, "hourly count")?,
            ))
        })
    }

    fn release_hourly<'a>(
        &'a self,
        key_id: &'a str,
        hour: i64,
        unused: u64,
    ) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            sqlx::query(
                "UPDATE rate_hourly SET used = GREATEST(used - $3, 0) \
                 WHERE key_id = $1 AND hour = $2",
            )
            .bind(key_id)
            .bind(hour)
            .bind(i64::try_from(unused).unwrap_or(i64::MAX))
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
        want: u64,
    ) -> StoreFuture<'a, (u64, u64)> {
        Box::pin(async move {
            let row =
                sqlx::query("SELECT granted, total FROM keyhaven_reserve_daily($1, $2, $3, $4)")
                    .bind(tenant_id)
                    .bind(day)
                    .bind(i64::from(cap))
                    .bind(i64::try_from(want).unwrap_or(i64::MAX))
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

/// A listener on the listener's own pool, listening to both channels.
async fn listen(pool: &PgPool) -> Result<PgListener, sqlx::Error> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener
        .listen_all([CHANGES_CHANNEL, FAILURES_CHANNEL])
        .await?;
    Ok(listener)
}

/// Hears the changes of every instance for as long as the service lives, and tells `handlers`.
///
/// Notices sent while the listener has no connection are lost. So whenever it listens again —
/// on a new connection made by sqlx as soon as the old one was found dead, or by this loop
/// after that failed, with a backoff of 0.1 s doubling to 5 s — it drops every cached key, once
/// the new connection listens: nothing changed before then is served from the cache. While it
/// cannot listen, the cache is dropped at every attempt too.
async fn watch(
    listener_pool: PgPool,
    mut listener: PgListener,
    pool: PgPool,
    handlers: ChangeHandlers,
) {
    const FIRST_BACKOFF: Duration = Duration::from_millis(100);
    const MAX_BACKOFF: Duration = Duration::from_secs(5);
    loop {
        let error = loop {
            match listener.try_recv().await {
                Ok(Some(notice)) if notice.channel() == FAILURES_CHANNEL => {
                    let ip = notice.payload();
                    match failure_times(&pool, ip).await {
                        Ok(times) => (handlers.failures)(ip, &times),
                        Err(e) => tracing::error!(error = %e, "cannot read an IP's failures"),
                    }
                }
                Ok(Some(_)) => (handlers.keys)(),
                // sqlx found the connection dead and listens again on a new one.
                Ok(None) => {
                    (handlers.keys)();
                    tracing::warn!(
                        "the change listener lost its connection and listens again on a new one; \
                         cached keys dropped, as changes may have gone unheard"
                    );
                }
                Err(e) => break e,
            }
        };
        tracing::warn!(error = %error, "the change listener failed; reconnecting");
        drop(listener);
        let mut backoff = FIRST_BACKOFF;
        listener = loop {
            (handlers.keys)();
            tokio::time::sleep(backoff).await;
            match listen(&listener_pool).await {
                Ok(listener) => break listener,
                Err(e) => {
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    tracing::warn!(error = %e, retry_in = ?backoff, "the change listener cannot reconnect");
                }
            }
        };
        (handlers.keys)();
        tracing::warn!("the change listener listens again; cached keys dropped");
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
