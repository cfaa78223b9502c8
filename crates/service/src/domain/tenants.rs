//! Tenants, for the deployment's operators: list them, add one, and change its tier, its
//! suspension or its cap of active keys. The admin routes and `keyhaven-service tenant` both come
//! here, with the same rules; a change takes effect on every instance's next call.

use std::net::IpAddr;

use keyhaven_api::{CreateTenantRequest, Role, Tenant, UpdateTenantRequest, User};

use crate::domain::Domain;
use crate::error::ServiceError;
use crate::secrets::random_id;
use crate::storage::{action, AuditEntry, TenantChange, TenantRow};

/// Longest tenant name accepted.
pub const MAX_TENANT_CHARS: usize = 64;
/// Highest cap of active keys a tenant may be given.
pub const MAX_KEY_CAP: u32 = 100_000;
/// Who the audit log names for a change made with `keyhaven-service tenant` on the server.
pub const OPERATOR: &str = "operator (keyhaven-service)";

/// Who changes tenants: an admin through the API, or the operator on the server.
#[derive(Debug, Clone, Copy)]
pub enum Actor<'a> {
    Admin(&'a User, Option<IpAddr>),
    Operator,
}

impl Actor<'_> {
    fn check(&self) -> Result<(), ServiceError> {
        match self {
            Actor::Admin(user, _) if user.role != Role::Admin => Err(ServiceError::AdminOnly),
            _ => Ok(()),
        }
    }

    fn audit(&self, action: &str, tenant_id: &str, at: i64) -> AuditEntry {
        let (actor, ip) = match self {
            Actor::Admin(user, ip) => (user.id.clone(), ip.map(|ip| ip.to_string())),
            Actor::Operator => (OPERATOR.to_owned(), None),
        };
        AuditEntry {
            at,
            tenant_id: tenant_id.to_owned(),
            actor,
            action: action.to_owned(),
            target: tenant_id.to_owned(),
            ip,
        }
    }
}

/// A tenant's name as given, trimmed: 1 to 64 printable characters.
pub fn checked_name(name: &str) -> Result<&str, ServiceError> {
    let name = name.trim();
    if name.is_empty()
        || name.chars().count() > MAX_TENANT_CHARS
        || name.chars().any(char::is_control)
    {
        return Err(ServiceError::validation(
            "name",
            format!("must be 1 to {MAX_TENANT_CHARS} printable characters"),
        ));
    }
    Ok(name)
}

fn checked_tier<'t>(svc: &Domain, tier: &'t str) -> Result<&'t str, ServiceError> {
    let tier = tier.trim();
    let tiers = &svc.config().tiers;
    if tiers.contains_key(tier) {
        Ok(tier)
    } else {
        Err(ServiceError::validation(
            "tier",
            format!(
                "must be one of the deployment's tiers: {}",
                tiers.keys().cloned().collect::<Vec<_>>().join(", ")
            ),
        ))
    }
}

/// The tenant as the API shows it: the deployment's default tier and cap where it has none.
pub(crate) fn to_wire(svc: &Domain, row: TenantRow) -> Tenant {
    let config = svc.config();
    Tenant {
        tier: row.tier.unwrap_or_else(|| config.default_tier.clone()),
        key_cap: row.key_cap.unwrap_or(config.max_active_keys),
        id: row.id,
        name: row.name,
        suspended: row.suspended,
        active_keys: row.active_keys,
    }
}

pub async fn list(svc: &Domain, actor: Actor<'_>) -> Result<Vec<Tenant>, ServiceError> {
    actor.check()?;
    let rows = svc.store().list_tenants(svc.now()).await?;
    Ok(rows.into_iter().map(|row| to_wire(svc, row)).collect())
}

/// Adds a tenant; a name already taken is 409 `conflict`.
pub async fn create(
    svc: &Domain,
    actor: Actor<'_>,
    req: &CreateTenantRequest,
) -> Result<Tenant, ServiceError> {
    actor.check()?;
    let name = checked_name(&req.name)?;
    let tier = req
        .tier
        .as_deref()
        .map(|t| checked_tier(svc, t))
        .transpose()?;
    let now = svc.now();
    let id = random_id("ten");
    let entry = actor.audit(action::TENANT_CREATE, &id, now);
    if !svc
        .store()
        .create_tenant(&id, name, tier, now, &entry)
        .await?
    {
        return Err(ServiceError::TenantNameTaken);
    }
    tracing::info!(tenant_id = %id, tier = ?tier, "tenant created");
    let row = svc
        .store()
        .get_tenant(&id, now)
        .await?
        .ok_or(ServiceError::TenantNotFound)?;
    Ok(to_wire(svc, row))
}

/// Changes what the request names; the secret of no key changes, and a key keeps working across
/// a change of tier. The key cache is emptied here, and on PostgreSQL every other instance's
/// when it hears the change (within its cache's age, one second, at the latest).
pub async fn update(
    svc: &Domain,
    actor: Actor<'_>,
    tenant_id: &str,
    req: &UpdateTenantRequest,
) -> Result<Tenant, ServiceError> {
    actor.check()?;
    let tier = req
        .tier
        .as_deref()
        .map(|t| checked_tier(svc, t))
        .transpose()?;
    if let Some(Some(cap)) = req.key_cap {
        if cap > MAX_KEY_CAP {
            return Err(ServiceError::validation(
                "key_cap",
                format!("must be at most {MAX_KEY_CAP}, or null for the deployment's cap"),
            ));
        }
    }
    let change = TenantChange {
        tier: tier.map(|t| Some(t.to_owned())),
        suspended: req.suspended,
        key_cap: req.key_cap,
    };
    let now = svc.now();
    let entry = actor.audit(action::TENANT_UPDATE, tenant_id, now);
    let row = svc
        .store()
        .update_tenant(tenant_id, &change, now, &entry)
        .await;
    // Before the answer: from here on no cached key carries the tenant's old state.
    svc.key_cache().invalidate();
    let row = row?.ok_or(ServiceError::TenantNotFound)?;
    tracing::info!(tenant_id, ?change, "tenant changed");
    Ok(to_wire(svc, row))
}

/// The tenant `name_or_id` names: an id, else a name (for the operator's command line).
pub async fn find(svc: &Domain, name_or_id: &str) -> Result<Tenant, ServiceError> {
    let wanted = name_or_id.trim();
    let all = list(svc, Actor::Operator).await?;
    all.iter()
        .find(|t| t.id == wanted)
        .or_else(|| all.iter().find(|t| t.name == wanted))
        .cloned()
        .ok_or(ServiceError::TenantNotFound)
}
