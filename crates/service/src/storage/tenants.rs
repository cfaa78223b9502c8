//! Tenants in storage, each query written once for both databases (see `written_once!` in the
//! parent module). The backends call these from their [`Storage`](super::Storage) methods and
//! add only what is their own (a transaction's start, PostgreSQL's change notices).

use sqlx::Row;

use crate::error::ServiceError;

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

/// The columns of a [`TenantRow`], with its active keys at `$1`.
const TENANT_COLUMNS: &str = "t.id, t.name, t.tier, t.suspended, t.key_cap, \
    (SELECT COUNT(*) FROM api_keys k WHERE k.tenant_id = t.id AND k.revoked_at IS NULL \
     AND (k.expires_at IS NULL OR k.expires_at > $1)) AS active_keys";

fn tenant_row<R: Row>(row: &R) -> Result<TenantRow, ServiceError>
where
    for<'c> &'c str: sqlx::ColumnIndex<R>,
    String: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    bool: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    i64: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    let count = |n: i64, what: &str| {
        u32::try_from(n).map_err(|_| ServiceError::CorruptData(format!("{what} {n}")))
    };
    let key_cap: Option<i64> = row.try_get("key_cap")?;
    Ok(TenantRow {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        tier: row.try_get("tier")?,
        suspended: row.try_get("suspended")?,
        key_cap: key_cap.map(|n| count(n, "key cap")).transpose()?,
        active_keys: count(row.try_get("active_keys")?, "active keys")?,
    })
}

written_once! {
    /// Every tenant, by name.
    async fn list(conn, now: i64) -> Result<Vec<TenantRow>, ServiceError> {
        let sql = format!("SELECT {TENANT_COLUMNS} FROM tenants t ORDER BY t.name");
        let rows = sqlx::query(&sql).bind(now).fetch_all(&mut *conn).await?;
        rows.iter().map(tenant_row).collect()
    }
}

written_once! {
    /// One tenant, if there is one with that id.
    async fn get(conn, id: &str, now: i64) -> Result<Option<TenantRow>, ServiceError> {
        let sql = format!("SELECT {TENANT_COLUMNS} FROM tenants t WHERE t.id = $2");
        let row = sqlx::query(&sql)
            .bind(now)
            .bind(id)
            .fetch_optional(&mut *conn)
            .await?;
        row.as_ref().map(tenant_row).transpose()
    }
}

written_once! {
    /// A new tenant; `Ok(false)` when the name is taken.
    async fn insert(
        conn,
        id: &str,
        name: &str,
        tier: Option<&str>,
        daily_cap: u32,
        now: i64
    ) -> Result<bool, ServiceError> {
        let inserted = sqlx::query(
            "INSERT INTO tenants (id, name, daily_cap, created_at, tier) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (name) DO NOTHING",
        )
        .bind(id)
        .bind(name)
        .bind(i64::from(daily_cap))
        .bind(now)
        .bind(tier)
        .execute(&mut *conn)
        .await?
        .rows_affected();
        Ok(inserted == 1)
    }
}

written_once! {
    /// Applies `change` to the tenant; its row afterwards, or `None` when there is no such tenant.
    async fn update(
        conn,
        id: &str,
        change: &TenantChange,
        now: i64
    ) -> Result<Option<TenantRow>, ServiceError> {
        let sql = format!("SELECT {TENANT_COLUMNS} FROM tenants t WHERE t.id = $2");
        let Some(row) = sqlx::query(&sql)
            .bind(now)
            .bind(id)
            .fetch_optional(&mut *conn)
            .await?
        else {
            return Ok(None);
        };
        let mut t = tenant_row(&row)?;
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
            .execute(&mut *conn)
            .await?;
        Ok(Some(t))
    }
}

written_once! {
    /// Whether the tenant is suspended, and its key cap (`None`: the deployment's); `None` when
    /// there is no such tenant.
    async fn limits(conn, id: &str) -> Result<Option<(bool, Option<u32>)>, ServiceError> {
        let row: Option<(bool, Option<i64>)> =
            sqlx::query_as("SELECT suspended, key_cap FROM tenants WHERE id = $1")
                .bind(id)
                .fetch_optional(&mut *conn)
                .await?;
        row.map(|(suspended, cap)| {
            let cap = cap
                .map(|n| u32::try_from(n).map_err(|_| ServiceError::CorruptData(format!("key cap {n}"))))
                .transpose()?;
            Ok((suspended, cap))
        })
        .transpose()
    }
}
