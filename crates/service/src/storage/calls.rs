//! Calls as the usage flush stores them (by key, hour and outcome), read back for usage reports
//! and for the rate windows: each query written once for both databases.

use super::UsageRow;
use crate::error::ServiceError;

/// Calls of one key accepted in one hour.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct AllowedCalls {
    pub key_id: String,
    pub tenant_id: String,
    /// The start of the hour, seconds since the epoch.
    pub hour: i64,
    pub count: i64,
}

written_once! {
    /// Calls accepted in the hours from `from` on.
    async fn since(conn, from: i64) -> Result<Vec<AllowedCalls>, ServiceError> {
        Ok(sqlx::query_as(
            "SELECT key_id, tenant_id, hour, count FROM usage_hourly \
             WHERE outcome = 'allowed' AND hour >= $1",
        )
        .bind(from)
        .fetch_all(&mut *conn)
        .await?)
    }
}

written_once! {
    /// Hourly counts of the tenant's keys, or of one key, with `from <= hour < to`, by key and
    /// hour. One key's read goes through the (key, hour) key of the table, never through every
    /// row of its tenant.
    async fn usage(
        conn,
        tenant_id: &str,
        key_id: Option<&str>,
        from: i64,
        to: i64
    ) -> Result<Vec<UsageRow>, ServiceError> {
        let rows: Vec<(String, i64, String, i64)> = match key_id {
            Some(key_id) => {
                sqlx::query_as(
                    "SELECT key_id, hour, outcome, count FROM usage_hourly \
                     WHERE key_id = $1 AND hour >= $2 AND hour < $3 AND tenant_id = $4 \
                     ORDER BY hour",
                )
                .bind(key_id)
                .bind(from)
                .bind(to)
                .bind(tenant_id)
                .fetch_all(&mut *conn)
                .await?
            }
            None => {
                sqlx::query_as(
                    "SELECT key_id, hour, outcome, count FROM usage_hourly \
                     WHERE tenant_id = $1 AND hour >= $2 AND hour < $3 ORDER BY key_id, hour",
                )
                .bind(tenant_id)
                .bind(from)
                .bind(to)
                .fetch_all(&mut *conn)
                .await?
            }
        };
        rows.into_iter()
            .map(|(key_id, hour, outcome, count)| {
                Ok(UsageRow {
                    key_id,
                    hour,
                    outcome,
                    count: u64::try_from(count)
                        .map_err(|_| ServiceError::CorruptData(format!("usage count {count}")))?,
                })
            })
            .collect()
    }
}
