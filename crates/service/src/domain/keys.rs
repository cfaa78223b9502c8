//! Key management for signed-in users: create, list, read, update, roll, revoke. Always within the caller's
//! tenant, which storage filters by.

use std::net::IpAddr;

use keyhaven_api::{
    keyfmt, CreateKeyRequest, CreatedKey, KeyList, KeyMeta, KeyStatus, RollKeyRequest,
    UpdateKeyRequest, User, WireSecret,
};

use crate::domain::Domain;
use crate::error::ServiceError;
use crate::secrets::{random_id, SecretHash};
use crate::storage::{action, AuditEntry, KeyPage, KeyRow, NewKey};
use keyhaven_api::rules;

fn require_manager(user: &User) -> Result<(), ServiceError> {
    if user.role.can_manage_keys() {
        Ok(())
    } else {
        Err(ServiceError::ReadOnlyRole { role: user.role })
    }
}

fn audit(user: &User, action: &str, target: &str, at: i64, ip: Option<IpAddr>) -> AuditEntry {
    AuditEntry {
        at,
        tenant_id: user.tenant_id.clone(),
        actor: user.id.clone(),
        action: action.to_owned(),
        target: target.to_owned(),
        ip: ip.map(|ip| ip.to_string()),
    }
}

/// The tenant's cap of active keys (its own, or the deployment's), once it is known not to be
/// suspended: a suspended tenant makes no keys (403 `tenant_suspended`).
async fn tenant_cap(svc: &Domain, tenant_id: &str) -> Result<u32, ServiceError> {
    match svc.store().tenant_limits(tenant_id).await? {
        None => Err(ServiceError::TenantNotFound),
        Some((true, _)) => Err(ServiceError::TenantSuspended),
        Some((false, cap)) => Ok(cap.unwrap_or(svc.config().max_active_keys)),
    }
}

/// Changes the fields sent, never the secret. Only an active key can be changed: a revoked,
/// expired or replaced (rolled) one cannot, so that no change (a later `expires_at`) brings a
/// retired secret back.
pub async fn update(
    svc: &Domain,
    user: &User,
    key_id: &str,
    req: &UpdateKeyRequest,
    ip: Option<IpAddr>,
) -> Result<KeyMeta, ServiceError> {
    require_manager(user)?;
    let config = svc.config();
    let now = svc.now();
    let mut row = svc
        .store()
        .get_key(&user.tenant_id, key_id)
        .await?
        .ok_or(ServiceError::KeyNotFound)?;
    if row.status(now) != KeyStatus::Active {
        return Err(ServiceError::KeyNotActive);
    }
    let changes = rules::key_changes(req, &config.scopes, &row.allowed_origins, now)?;
    if let Some(name) = changes.name {
        row.name = name;
    }
    if let Some(scopes) = changes.scopes {
        row.scopes = scopes;
    }
    if let Some(expires_at) = changes.expires_at {
        row.expires_at = expires_at;
    }
    if let Some(origins) = changes.allowed_origins {
        row.allowed_origins = origins;
    }
    if let Some(ips) = changes.allowed_ips {
        row.allowed_ips = ips;
    }
    if let Some(limit) = changes.rate_limit_per_hour {
        row.rate_limit_per_hour = limit;
    }
    let note = changes.note;
    let entry = audit(user, action::KEY_UPDATE, key_id, now, ip);
    let row = svc.store().update_key(&row, &entry).await;
    svc.key_cache().invalidate();
    let row = row?.ok_or(ServiceError::KeyNotActive)?;
    tracing::info!(key_id = %row.id, prefix = %row.prefix, user_id = %user.id, "key updated");
    let mut meta = row.to_meta(now)?;
    meta.note = note;
    Ok(meta)
}

/// Replaces an active key with a new secret and the same settings. The old key keeps working
/// for the grace period (status `expiring`), then expires; a grace of 0 revokes it at once.
pub async fn roll(
    svc: &Domain,
    user: &User,
    key_id: &str,
    req: &RollKeyRequest,
    ip: Option<IpAddr>,
) -> Result<CreatedKey, ServiceError> {
    require_manager(user)?;
    rules::grace_seconds(req.grace_seconds)?;
    let now = svc.now();
    let old = svc
        .store()
        .get_key(&user.tenant_id, key_id)
        .await?
        .ok_or(ServiceError::KeyNotFound)?;
    let secret = WireSecret::new(keyfmt::generate(&svc.config().key_prefix));
    let row = KeyRow {
        id: random_id("key"),
        prefix: keyfmt::display_prefix(secret.expose()).to_owned(),
        created_at: now,
        last_used_at: None,
        revoked_at: None,
        created_by: user.id.clone(),
        replaced_by: None,
        replaces: Some(old.id.clone()),
        ..old
    };
    let grace = i64::try_from(req.grace_seconds).unwrap_or(i64::MAX);
    let entries = [
        audit(user, action::KEY_ROLL, key_id, now, ip),
        audit(user, action::KEY_CREATE, &row.id, now, ip),
    ];
    let key = NewKey {
        secret_hash: SecretHash::of(secret.expose()),
        row,
    };
    let old = svc
        .store()
        .roll_key(
            &user.tenant_id,
            key_id,
            &key,
            now.saturating_add(grace),
            now,
            tenant_cap(svc, &user.tenant_id).await?,
            &entries,
        )
        .await;
    svc.key_cache().invalidate();
    let old = old?.ok_or(ServiceError::KeyNotFound)?;
    tracing::info!(
        old_key_id = %old.id, key_id = %key.row.id, prefix = %key.row.prefix,
        grace_seconds = req.grace_seconds, user_id = %user.id, "key rolled"
    );
    Ok(CreatedKey {
        key: secret,
        meta: key.row.to_meta(now)?,
    })
}

/// Creates a key; the answer holds its secret, the only time it is ever shown.
pub async fn create(
    svc: &Domain,
    user: &User,
    req: &CreateKeyRequest,
    ip: Option<IpAddr>,
) -> Result<CreatedKey, ServiceError> {
    require_manager(user)?;
    let config = svc.config();
    let now = svc.now();
    let rules::KeyFields {
        name,
        scopes,
        expires_at,
        allowed_origins,
        allowed_ips,
        rate_limit_per_hour,
        note,
    } = rules::new_key(req, &config.scopes, now)?;

    let secret = WireSecret::new(keyfmt::generate(&config.key_prefix));
    let row = KeyRow {
        id: random_id("key"),
        tenant_id: user.tenant_id.clone(),
        name,
        prefix: keyfmt::display_prefix(secret.expose()).to_owned(),
        scopes,
        created_at: now,
        last_used_at: None,
        expires_at,
        revoked_at: None,
        allowed_origins,
        allowed_ips,
        rate_limit_per_hour,
        created_by: user.id.clone(),
        replaced_by: None,
        replaces: None,
    };
    let entry = audit(user, action::KEY_CREATE, &row.id, now, ip);
    let key = NewKey {
        secret_hash: SecretHash::of(secret.expose()),
        row,
    };
    let cap = tenant_cap(svc, &user.tenant_id).await?;
    if !svc
        .store()
        .insert_key_within_cap(&key, cap, now, &entry)
        .await?
    {
        return Err(ServiceError::KeyLimitReached { cap });
    }
    tracing::info!(key_id = %key.row.id, prefix = %key.row.prefix, user_id = %user.id, "key created");
    let mut meta = key.row.to_meta(now)?;
    meta.note = note;
    Ok(CreatedKey { key: secret, meta })
}

/// A page of the tenant's keys (the caller's, or another one support may read), oldest first:
/// at most `limit` (1 to 1,000), of one `status` or all, from after `cursor` (what the last page
/// answered as its `next_cursor`).
pub async fn list(
    svc: &Domain,
    tenant_id: &str,
    limit: u32,
    cursor: Option<&str>,
    status: Option<&str>,
) -> Result<KeyList, ServiceError> {
    let now = svc.now();
    let page = KeyPage {
        after: cursor.map(parse_cursor).transpose()?,
        status: status.map(parse_status).transpose()?,
        // One more than asked, to know whether another page follows.
        limit: limit + 1,
        now,
    };
    let mut rows = svc.store().list_key_page(tenant_id, page).await?;
    let more = rows.len() > limit as usize;
    rows.truncate(limit as usize);
    let next_cursor = match rows.last() {
        Some((_, (time, seq))) if more => Some(format!("{time:x}.{seq:x}")),
        _ => None,
    };
    Ok(KeyList {
        keys: rows
            .iter()
            .map(|(row, _)| row.to_meta(now))
            .collect::<Result<_, _>>()?,
        next_cursor,
    })
}

/// A `next_cursor` this service wrote: the position of a page's last key.
fn parse_cursor(cursor: &str) -> Result<(i64, i64), ServiceError> {
    let bad = || {
        ServiceError::validation(
            "cursor",
            "is not a cursor this service gave out; send the next_cursor of the previous page",
        )
    };
    let (time, seq) = cursor.split_once('.').ok_or_else(bad)?;
    let number = |s: &str| {
        (!s.is_empty() && s.len() <= 16)
            .then(|| i64::from_str_radix(s, 16).ok())
            .flatten()
            .ok_or_else(bad)
    };
    Ok((number(time)?, number(seq)?))
}

fn parse_status(status: &str) -> Result<KeyStatus, ServiceError> {
    [
        KeyStatus::Active,
        KeyStatus::Expiring,
        KeyStatus::Revoked,
        KeyStatus::Expired,
    ]
    .into_iter()
    .find(|s| s.as_str() == status)
    .ok_or_else(|| {
        ServiceError::validation(
            "status",
            "must be one of active, expiring, revoked, expired",
        )
    })
}

pub async fn get(svc: &Domain, tenant_id: &str, key_id: &str) -> Result<KeyMeta, ServiceError> {
    match svc.store().get_key(tenant_id, key_id).await? {
        Some(row) => row.to_meta(svc.now()),
        None => Err(ServiceError::KeyNotFound),
    }
}

/// Revokes a key at once: when this returns, verification refuses it.
pub async fn revoke(
    svc: &Domain,
    user: &User,
    key_id: &str,
    ip: Option<IpAddr>,
) -> Result<KeyMeta, ServiceError> {
    require_manager(user)?;
    let now = svc.now();
    let entry = audit(user, action::KEY_REVOKE, key_id, now, ip);
    let row = svc
        .store()
        .revoke_key(&user.tenant_id, key_id, now, &entry)
        .await;
    // Before the answer: from here on no cached copy of the key is used.
    svc.key_cache().invalidate();
    let row = row?.ok_or(ServiceError::KeyNotFound)?;
    tracing::info!(key_id = %row.id, prefix = %row.prefix, user_id = %user.id, "key revoked");
    row.to_meta(now)
}
