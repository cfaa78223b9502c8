//! Accepted calls as the usage flush stores them, read back for the rate windows (written once
//! for both databases).

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
