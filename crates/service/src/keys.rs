//! Key management for signed-in users: create, list, read, revoke. Always within the caller's
//! tenant, which storage filters by.

use std::net::IpAddr;

use keyhaven_api::{keyfmt, CreateKeyRequest, CreatedKey, KeyMeta, User, WireSecret};

use crate::clock;
use crate::error::ServiceError;
use crate::secrets::{random_id, SecretHash};
use crate::service::Service;
use crate::storage::{action, AuditEntry, KeyRow, NewKey};
use crate::validate;

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

/// Creates a key; the answer holds its secret, the only time it is ever shown.
pub async fn create(
    svc: &Service,
    user: &User,
    req: &CreateKeyRequest,
    ip: Option<IpAddr>,
) -> Result<CreatedKey, ServiceError> {
    require_manager(user)?;
    let config = svc.config();
    let now = clock::now();
    let name = validate::name(&req.name)?;
    let scopes = validate::scopes(&req.scopes, &config.scopes)?;
    let expires_at = validate::expires_at(req.expires_at, now)?;
    let allowed_origins = validate::origins(req.allowed_origins.as_deref())?;
    let allowed_ips = validate::ips(req.allowed_ips.as_deref())?;
    let rate_limit_per_hour = validate::rate_limit(req.rate_limit_per_hour)?;

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
    };
    let entry = audit(user, action::KEY_CREATE, &row.id, now, ip);
    let key = NewKey {
        secret_hash: SecretHash::of(secret.expose()),
        row,
    };
    let cap = config.max_active_keys;
    if !svc
        .store()
        .insert_key_within_cap(&key, cap, now, &entry)
        .await?
    {
        return Err(ServiceError::KeyLimitReached { cap });
    }
    tracing::info!(key_id = %key.row.id, prefix = %key.row.prefix, user_id = %user.id, "key created");
    Ok(CreatedKey {
        key: secret,
        meta: key.row.to_meta(now)?,
    })
}

pub async fn list(svc: &Service, user: &User) -> Result<Vec<KeyMeta>, ServiceError> {
    let now = clock::now();
    let rows = svc.store().list_keys(&user.tenant_id).await?;
    rows.iter().map(|row| row.to_meta(now)).collect()
}

pub async fn get(svc: &Service, user: &User, key_id: &str) -> Result<KeyMeta, ServiceError> {
    match svc.store().get_key(&user.tenant_id, key_id).await? {
        Some(row) => row.to_meta(clock::now()),
        None => Err(ServiceError::KeyNotFound),
    }
}

/// Revokes a key at once: when this returns, verification refuses it.
pub async fn revoke(
    svc: &Service,
    user: &User,
    key_id: &str,
    ip: Option<IpAddr>,
) -> Result<KeyMeta, ServiceError> {
    require_manager(user)?;
    let now = clock::now();
    let entry = audit(user, action::KEY_REVOKE, key_id, now, ip);
    let row = svc
        .store()
        .revoke_key(&user.tenant_id, key_id, now, &entry)
        .await?
        .ok_or(ServiceError::KeyNotFound)?;
    tracing::info!(key_id = %row.id, prefix = %row.prefix, user_id = %user.id, "key revoked");
    row.to_meta(now)
}
