//! Reading what happened: usage series, denials, the audit log, and support's search by
//! prefix. Each read is for the caller's tenant unless `support` or `admin` names another with
//! `tenant_id`; for anyone else another tenant's id finds nothing.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use keyhaven_api::{
    keyfmt, AuditRecord, DenialRecord, KeyStatus, KeyUsage, Role, SupportKey, SupportKeyList,
    TenantUsage, UsagePoint, User,
};

use crate::clock::{to_utc, DAY, HOUR};
use crate::domain::Domain;
use crate::error::ServiceError;
use crate::storage::{UsageRow, ALLOWED};

/// Largest page of denials or audit rows.
pub const MAX_PAGE: u32 = 1000;
/// Buckets one usage answer may hold per key.
pub const MAX_BUCKETS: i64 = 31 * 24;

/// The tenant a read is about: the caller's own, or for `support` and `admin` the one named.
pub fn tenant_for(user: &User, tenant_id: Option<&str>) -> Result<String, ServiceError> {
    match tenant_id {
        None => Ok(user.tenant_id.clone()),
        Some(t) if t == user.tenant_id => Ok(t.to_owned()),
        Some(t) if matches!(user.role, Role::Support | Role::Admin) => Ok(t.to_owned()),
        Some(_) => Err(ServiceError::TenantNotFound),
    }
}

/// A page size from the query: 1 to [`MAX_PAGE`], `default` when absent.
pub fn page_size(limit: Option<&str>, default: u32) -> Result<u32, ServiceError> {
    match limit {
        None => Ok(default),
        Some(s) => s
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=MAX_PAGE).contains(n))
            .ok_or_else(|| {
                ServiceError::validation(
                    "limit",
                    format!("must be a whole number from 1 to {MAX_PAGE}"),
                )
            }),
    }
}

/// The span and bucket size a usage read covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    pub from: i64,
    pub to: i64,
    pub bucket: i64,
}

impl Span {
    /// From the query's `from`, `to` (RFC 3339) and `granularity` (`hour`, the default, or
    /// `day`). Defaults: up to now, the last 24 hours or the last 30 days. Bounds are widened to
    /// whole buckets.
    pub fn parse(
        from: Option<&str>,
        to: Option<&str>,
        granularity: Option<&str>,
        now: i64,
    ) -> Result<Span, ServiceError> {
        let bucket = match granularity {
            None | Some("hour") => HOUR,
            Some("day") => DAY,
            Some(_) => {
                return Err(ServiceError::validation(
                    "granularity",
                    "must be `hour` or `day`",
                ))
            }
        };
        let time = |field: &str, v: Option<&str>| -> Result<Option<i64>, ServiceError> {
            v.map(|s| {
                DateTime::parse_from_rfc3339(s)
                    .map(|t| t.timestamp())
                    .map_err(|_| {
                        ServiceError::validation(
                            field,
                            "must be an RFC 3339 time like 2026-01-31T00:00:00Z",
                        )
                    })
            })
            .transpose()
        };
        let to = time("to", to)?.unwrap_or(now);
        let to = (to.div_euclid(bucket) + 1) * bucket;
        let default_buckets = if bucket == HOUR { 24 } else { 30 };
        let from = time("from", from)?.unwrap_or(to - default_buckets * bucket);
        let from = from.div_euclid(bucket) * bucket;
        if from >= to {
            return Err(ServiceError::validation("from", "must be before `to`"));
        }
        if (to - from) / bucket > MAX_BUCKETS {
            return Err(ServiceError::validation(
                "from",
                format!("is too far before `to`: at most {MAX_BUCKETS} buckets per answer"),
            ));
        }
        Ok(Span { from, to, bucket })
    }
}

/// One key's usage over `span`.
pub async fn key_usage(
    svc: &Domain,
    user: &User,
    tenant_id: Option<&str>,
    key_id: &str,
    span: Span,
) -> Result<KeyUsage, ServiceError> {
    let tenant = tenant_for(user, tenant_id)?;
    svc.flush_usage().await?;
    let row = svc
        .store()
        .get_key(&tenant, key_id)
        .await?
        .ok_or(ServiceError::KeyNotFound)?;
    let rows = svc
        .store()
        .usage(&tenant, Some(key_id), span.from, span.to)
        .await?;
    Ok(KeyUsage {
        key_id: row.id,
        last_used_at: row.last_used_at.map(to_utc).transpose()?,
        series: series(&rows, span, &bucket_times(span)?),
    })
}

/// Every key's usage over `span`: the keys that are active or were used in it.
pub async fn tenant_usage(
    svc: &Domain,
    user: &User,
    tenant_id: Option<&str>,
    span: Span,
) -> Result<TenantUsage, ServiceError> {
    let tenant = tenant_for(user, tenant_id)?;
    svc.flush_usage().await?;
    let keys = svc.store().list_keys(&tenant).await?;
    let rows = svc.store().usage(&tenant, None, span.from, span.to).await?;
    let now = svc.now();
    // The rows come by key: each key's are found by one lookup, not by a pass over every row
    // for every key (with 10,000 keys, a hundred million comparisons).
    let mut by_key: HashMap<&str, Vec<&UsageRow>> = HashMap::new();
    for row in &rows {
        by_key.entry(row.key_id.as_str()).or_default().push(row);
    }
    let times = bucket_times(span)?;
    let mut out = Vec::new();
    for key in keys {
        let mine = by_key.remove(key.id.as_str()).unwrap_or_default();
        let live = matches!(key.status(now), KeyStatus::Active | KeyStatus::Expiring);
        if mine.is_empty() && !live {
            continue;
        }
        out.push(KeyUsage {
            key_id: key.id,
            last_used_at: key.last_used_at.map(to_utc).transpose()?,
            series: series(mine, span, &times),
        });
    }
    Ok(TenantUsage {
        tenant_id: tenant,
        keys: out,
    })
}

/// The start of each of the span's buckets, as the answer writes it: worked out once for a
/// report, however many keys it has.
fn bucket_times(span: Span) -> Result<Vec<DateTime<Utc>>, ServiceError> {
    (span.from..span.to)
        .step_by(usize::try_from(span.bucket).unwrap_or(usize::MAX))
        .map(to_utc)
        .collect()
}

/// Hourly rows summed into the span's buckets (starting at `times`), every bucket present.
fn series<'a>(
    rows: impl IntoIterator<Item = &'a UsageRow>,
    span: Span,
    times: &[DateTime<Utc>],
) -> Vec<UsagePoint> {
    let mut points: Vec<UsagePoint> = times
        .iter()
        .map(|&t| UsagePoint {
            t,
            allowed: 0,
            denied: BTreeMap::new(),
        })
        .collect();
    for r in rows {
        let index = (r.hour - span.from).div_euclid(span.bucket);
        let Some(point) = usize::try_from(index).ok().and_then(|i| points.get_mut(i)) else {
            continue;
        };
        if r.outcome == ALLOWED {
            point.allowed += r.count;
        } else {
            *point.denied.entry(r.outcome.clone()).or_default() += r.count;
        }
    }
    points
}

/// Most keys one prefix search answers with.
pub const MAX_SEARCH_RESULTS: u32 = 100;

/// Support's search: keys of every tenant whose prefix starts with `prefix`.
pub async fn find_keys(
    svc: &Domain,
    user: &User,
    prefix: Option<&str>,
) -> Result<SupportKeyList, ServiceError> {
    if !matches!(user.role, Role::Support | Role::Admin) {
        return Err(ServiceError::SupportOnly);
    }
    let prefix = prefix.map(str::trim).unwrap_or("");
    let ok = (1..=keyfmt::DISPLAY_PREFIX_CHARS).contains(&prefix.len())
        && prefix
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if !ok {
        return Err(ServiceError::validation(
            "prefix",
            format!(
                "must be 1 to {} characters of a key's start (letters, digits, '_')",
                keyfmt::DISPLAY_PREFIX_CHARS
            ),
        ));
    }
    let now = svc.now();
    let rows = svc
        .store()
        .find_keys_by_prefix(prefix, MAX_SEARCH_RESULTS)
        .await?;
    let keys = rows
        .into_iter()
        .map(|(row, tenant_name)| {
            Ok(SupportKey {
                meta: row.to_meta(now)?,
                tenant_name,
            })
        })
        .collect::<Result<_, ServiceError>>()?;
    tracing::info!(user_id = %user.id, prefix, "support key search");
    Ok(SupportKeyList { keys })
}

/// A key's newest denials, newest first.
pub async fn denials(
    svc: &Domain,
    user: &User,
    tenant_id: Option<&str>,
    key_id: &str,
    limit: u32,
) -> Result<Vec<DenialRecord>, ServiceError> {
    let tenant = tenant_for(user, tenant_id)?;
    svc.flush_usage().await?;
    if svc.store().get_key(&tenant, key_id).await?.is_none() {
        return Err(ServiceError::KeyNotFound);
    }
    let rows = svc.store().denials(&tenant, key_id, limit).await?;
    rows.into_iter()
        .map(|d| {
            Ok(DenialRecord {
                at: to_utc(d.at)?,
                code: d.code.to_owned(),
                ip: d.ip,
                origin: d.origin,
            })
        })
        .collect()
}

/// The tenant's newest audit rows, newest first.
pub async fn audit(
    svc: &Domain,
    user: &User,
    tenant_id: Option<&str>,
    limit: u32,
) -> Result<Vec<AuditRecord>, ServiceError> {
    let tenant = tenant_for(user, tenant_id)?;
    let rows = svc.store().audit_log(&tenant, limit).await?;
    rows.into_iter()
        .map(|e| {
            Ok(AuditRecord {
                at: to_utc(e.at)?,
                actor: e.actor,
                action: e.action,
                target: e.target,
                ip: e.ip,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_default_align_and_are_bounded() {
        let now = 1_773_138_000; // 10:20 UTC
        let s = Span::parse(None, None, None, now).expect("default");
        assert_eq!(s.bucket, HOUR);
        assert_eq!(s.to, now - 20 * 60 + HOUR);
        assert_eq!(s.to - s.from, 24 * HOUR);
        let d = Span::parse(None, None, Some("day"), now).expect("day");
        assert_eq!((d.to - d.from) / DAY, 30);
        let field = |e: ServiceError| match e {
            ServiceError::Validation { field, .. } => field,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            field(Span::parse(None, None, Some("week"), now).expect_err("g")),
            "granularity"
        );
        assert_eq!(
            field(Span::parse(Some("yesterday"), None, None, now).expect_err("f")),
            "from"
        );
        assert_eq!(
            field(Span::parse(Some("2020-01-01T00:00:00Z"), None, None, now).expect_err("far")),
            "from"
        );
        assert_eq!(
            field(
                Span::parse(
                    Some("2026-03-10T12:00:00Z"),
                    Some("2026-03-10T09:00:00Z"),
                    None,
                    now
                )
                .expect_err("reversed")
            ),
            "from"
        );
        assert_eq!(field(page_size(Some("0"), 50).expect_err("0")), "limit");
        assert_eq!(
            field(page_size(Some("1001"), 50).expect_err("big")),
            "limit"
        );
        assert_eq!(page_size(None, 50).expect("default"), 50);
        assert_eq!(page_size(Some("1000"), 50).expect("max"), 1000);
    }
}
