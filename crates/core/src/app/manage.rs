//! The facade's key management beyond create and revoke, and the reads: one key, updates,
//! usage, denials, audit, support's search and reads of other tenants, verification, and what an
//! account can do at all.
//!
//! Every method checks its inputs and what the account's role and service allow before any
//! request, and answers a clear error naming the field or the missing permission.

use chrono::Utc;
use keyhaven_api::{
    AuditRecord, DenialRecord, KeyMeta, KeyUsage, Role, SupportKey, TenantUsage, UpdateKeyRequest,
    VerifyRequest, VerifyResponse,
};
use serde::Deserialize;
use ts_rs::TS;

use super::Keyhaven;
use crate::catalog::Account;
use crate::connector::{Capabilities, Connector, Metered, PageQuery, UsageQuery};
use crate::error::{Error, Result};
use crate::validate;

/// How a stored key is presented to `POST /v1/verify`: the scope the call needs, and where it
/// comes from (an `Origin`, or else an IP address).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, TS)]
pub struct VerifyOptions {
    #[ts(optional)]
    #[serde(default)]
    pub scope: Option<String>,
    #[ts(optional)]
    #[serde(default)]
    pub origin: Option<String>,
    #[ts(optional)]
    #[serde(default)]
    pub ip: Option<String>,
}

/// The service's capabilities narrowed to what `role` may do there: `support` reads everything
/// and changes nothing; only `owner` and `admin` may verify; only `support` and `admin` search
/// and read other tenants.
pub fn capabilities_for_role(service: Capabilities, role: Role) -> Capabilities {
    let manages = role.can_manage_keys();
    let supports = matches!(role, Role::Support | Role::Admin);
    Capabilities {
        create_key: service.create_key && manages,
        update_key: service.update_key && manages,
        roll_key: service.roll_key && manages,
        max_roll_grace_seconds: if service.roll_key && manages {
            service.max_roll_grace_seconds
        } else {
            0
        },
        revoke_key: service.revoke_key && manages,
        verify_key: service.verify_key && matches!(role, Role::Owner | Role::Admin),
        support_search: service.support_search && supports,
        tenant_reads: service.tenant_reads && supports,
        ..service
    }
}

/// Builds and checks an update from what a person typed. `None` leaves a field as it is;
/// `Some("")` for `expires_at` and `Some(None)` for the hourly limit clear them; list entries
/// are trimmed and empty ones dropped (an empty list clears the rule).
pub fn update_key_request(
    name: Option<String>,
    scopes: Option<Vec<String>>,
    expires_at: Option<&str>,
    allowed_origins: Option<Vec<String>>,
    allowed_ips: Option<Vec<String>>,
    rate_limit_per_hour: Option<Option<u32>>,
) -> Result<UpdateKeyRequest> {
    let clean = |list: Vec<String>| -> Vec<String> {
        list.into_iter()
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect()
    };
    let expires_at = match expires_at.map(str::trim) {
        None => None,
        Some("") => Some(None),
        Some(text) => Some(Some(
            chrono::DateTime::parse_from_rfc3339(text)
                .map_err(|_| {
                    Error::validation(
                        "expires_at",
                        "is not a date and time like 2030-01-31T12:00:00Z",
                    )
                })?
                .with_timezone(&Utc),
        )),
    };
    let request = UpdateKeyRequest {
        name: name.map(|n| n.trim().to_string()),
        scopes: scopes.map(clean),
        expires_at,
        allowed_origins: allowed_origins.map(clean),
        allowed_ips: allowed_ips.map(clean),
        rate_limit_per_hour,
        domain: None,
    };
    validate::update_request(&request, Utc::now())?;
    Ok(request)
}

impl Keyhaven {
    fn capabilities_of(&self, account: &Account) -> Capabilities {
        let service = match self.connector_for(account) {
            Ok(c) => c.capabilities(),
            // The embedded service not running yet does not change what it can do.
            Err(_) => crate::connector::NativeConnector::new("http://127.0.0.1")
                .map(|c| c.capabilities())
                .unwrap_or(Capabilities::NONE),
        };
        capabilities_for_role(service, account.role)
    }

    /// Refuses, before any request, what the account's service or role does not allow.
    pub(crate) fn require(
        &self,
        account_id: &str,
        allowed: impl Fn(&Capabilities) -> bool,
        what: &str,
    ) -> Result<Account> {
        let account = self.accounts().get(account_id)?;
        if allowed(&self.capabilities_of(&account)) {
            Ok(account)
        } else {
            Err(Error::Forbidden {
                message: format!(
                    "this account ({} on its key service) cannot {what}.",
                    account.role.as_str()
                ),
            })
        }
    }

    /// [`Accounts::usage`](crate::Accounts::usage) with the rate-limit window the answer reported, for the
    /// usage watcher.
    pub(crate) async fn account_usage_metered(
        &self,
        account_id: &str,
        query: &UsageQuery,
    ) -> Result<Metered<TenantUsage>> {
        validate::usage_query(query, Utc::now())?;
        if query.tenant_id.is_some() {
            self.require(account_id, |c| c.tenant_reads, "read other tenants' usage")?;
        } else {
            self.require(account_id, |c| c.account_usage, "read usage")?;
        }
        self.with_session(account_id, |c, token| async move {
            c.account_usage(&token, query).await
        })
        .await
    }
}

impl crate::app::Accounts<'_> {
    /// What `account_id` can do: its service's capabilities narrowed by its role, for the UI to
    /// offer only what works. Needs no network.
    pub fn capabilities(&self, account_id: &str) -> Result<Capabilities> {
        let account = self.core.accounts().get(account_id)?;
        Ok(self.core.capabilities_of(&account))
    }

    /// Another tenant's keys, metadata only (support, admin).
    pub async fn tenant_keys(&self, account_id: &str, tenant_id: &str) -> Result<Vec<KeyMeta>> {
        validate::id("tenant_id", tenant_id)?;
        self.core
            .require(account_id, |c| c.tenant_reads, "read other tenants' keys")?;
        self.core
            .with_session(account_id, |c, token| async move {
                c.list_keys(&token, Some(tenant_id)).await
            })
            .await
    }

    /// Every key's usage of the account (or of `query.tenant_id`, for support), in one request.
    pub async fn usage(&self, account_id: &str, query: UsageQuery) -> Result<TenantUsage> {
        Ok(self
            .core
            .account_usage_metered(account_id, &query)
            .await?
            .value)
    }

    /// The tenant's audit log, newest first.
    pub async fn audit(&self, account_id: &str, page: PageQuery) -> Result<Vec<AuditRecord>> {
        validate::page(&page)?;
        if page.tenant_id.is_some() {
            self.core.require(
                account_id,
                |c| c.tenant_reads,
                "read other tenants' audit logs",
            )?;
        } else {
            self.core
                .require(account_id, |c| c.audit, "read the audit log")?;
        }
        let page = &page;
        self.core
            .with_session(
                account_id,
                |c, token| async move { c.audit(&token, page).await },
            )
            .await
    }

    /// Support: the keys of every tenant whose prefix starts with `prefix` (the start of a key
    /// quoted in a ticket), each with its tenant's name. Never a secret.
    pub async fn support_find_keys(
        &self,
        account_id: &str,
        prefix: &str,
    ) -> Result<Vec<SupportKey>> {
        let prefix = validate::key_prefix(prefix)?;
        self.core.require(
            account_id,
            |c| c.support_search,
            "search keys across tenants",
        )?;
        self.core
            .with_session(account_id, |c, token| async move {
                c.find_keys(&token, prefix).await
            })
            .await
    }
}

impl crate::app::Keys<'_> {
    /// One key's metadata; `tenant_id` reads another tenant's key (support, admin).
    pub async fn get(
        &self,
        account_id: &str,
        key_id: &str,
        tenant_id: Option<&str>,
    ) -> Result<KeyMeta> {
        validate::id("key id", key_id)?;
        validate::tenant(tenant_id)?;
        let account = self.core.accounts().get(account_id)?;
        if tenant_id.is_none() && self.core.capabilities_of(&account).local_keys {
            return self
                .core
                .local_key_store()?
                .get(&account.id, key_id)?
                .map(|k| k.meta(&account.tenant_id, &account.email, Utc::now()))
                .ok_or_else(|| Error::not_found(format!("key {key_id} in account {account_id}")));
        }
        if tenant_id.is_some() {
            self.core
                .require(account_id, |c| c.tenant_reads, "read other tenants' keys")?;
        } else {
            self.core.require(account_id, |c| c.get_key, "read a key")?;
        }
        let mut meta = self
            .core
            .with_session(account_id, |c, token| async move {
                c.get_key(&token, key_id, tenant_id).await
            })
            .await?;
        if tenant_id.is_none() {
            self.core
                .annotate_replacements(account_id, std::slice::from_mut(&mut meta));
            self.core
                .fill_settings(account_id, std::slice::from_mut(&mut meta));
        }
        Ok(meta)
    }

    /// Changes a key's name, scopes, expiry, allowed origins, allowed IPs or hourly limit. The
    /// secret does not change, so nothing in the keychain does either.
    pub async fn update(
        &self,
        account_id: &str,
        key_id: &str,
        request: UpdateKeyRequest,
    ) -> Result<KeyMeta> {
        validate::id("key id", key_id)?;
        validate::update_request(&request, Utc::now())?;
        self.core
            .require(account_id, |c| c.update_key, "change keys")?;
        let meta = self
            .core
            .with_session(account_id, |c, token| {
                let request = request.clone();
                async move { c.update_key(&token, key_id, &request).await }
            })
            .await?;
        tracing::info!(account = %account_id, key_id = %meta.id, "key updated");
        Ok(meta)
    }

    /// One key's usage by hour or day.
    pub async fn usage(
        &self,
        account_id: &str,
        key_id: &str,
        query: UsageQuery,
    ) -> Result<KeyUsage> {
        validate::id("key id", key_id)?;
        validate::usage_query(&query, Utc::now())?;
        if query.tenant_id.is_some() {
            self.core
                .require(account_id, |c| c.tenant_reads, "read other tenants' usage")?;
        } else {
            self.core
                .require(account_id, |c| c.key_usage, "read usage")?;
        }
        let query = &query;
        self.core
            .with_session(account_id, |c, token| async move {
                c.key_usage(&token, key_id, query).await
            })
            .await
    }

    /// A key's recent refused calls, newest first, each with its reason.
    pub async fn denials(
        &self,
        account_id: &str,
        key_id: &str,
        page: PageQuery,
    ) -> Result<Vec<DenialRecord>> {
        validate::id("key id", key_id)?;
        validate::page(&page)?;
        if page.tenant_id.is_some() {
            self.core.require(
                account_id,
                |c| c.tenant_reads,
                "read other tenants' denials",
            )?;
        } else {
            self.core
                .require(account_id, |c| c.denials, "read denials")?;
        }
        let page = &page;
        self.core
            .with_session(account_id, |c, token| async move {
                c.denials(&token, key_id, page).await
            })
            .await
    }

    /// Asks the service whether the key's stored secret may make a call with `options`
    /// (`POST /v1/verify`, owners and admins), without using up the key's own call.
    pub async fn verify(
        &self,
        account_id: &str,
        key_id: &str,
        options: VerifyOptions,
    ) -> Result<VerifyResponse> {
        validate::id("key id", key_id)?;
        if let Some(ip) = &options.ip {
            if ip.trim().parse::<std::net::IpAddr>().is_err() {
                return Err(Error::validation("ip", "is not an IP address"));
            }
        }
        if let Some(origin) = &options.origin {
            keyhaven_api::rules::origin(origin).ok_or_else(|| {
                Error::validation("origin", "is not an origin like https://app.example.com")
            })?;
        }
        if let Some(scope) = &options.scope {
            if !keyhaven_api::rules::valid_scope_name(scope) {
                return Err(Error::validation("scope", "is not a scope name"));
            }
        }
        self.core
            .require(account_id, |c| c.verify_key, "verify keys")?;
        let secret = self.core.keys().secret(account_id, key_id).await?;
        let request = VerifyRequest {
            key: secret.to_wire(),
            scope: options.scope,
            origin: options.origin,
            ip: options.ip.map(|ip| ip.trim().to_string()),
        };
        let request = &request;
        self.core
            .with_session(account_id, |c, token| async move {
                c.verify_key(&token, request).await
            })
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connector::NativeConnector;

    #[test]
    fn roles_narrow_what_the_service_offers() {
        let service = NativeConnector::new("http://127.0.0.1")
            .expect("connector")
            .capabilities();
        let support = capabilities_for_role(service, Role::Support);
        assert!(!support.create_key && !support.update_key && !support.roll_key);
        assert!(!support.revoke_key && !support.verify_key);
        assert_eq!(support.max_roll_grace_seconds, 0);
        assert!(support.support_search && support.tenant_reads);
        assert!(support.account_usage && support.denials && support.audit);
        let owner = capabilities_for_role(service, Role::Owner);
        assert!(owner.create_key && owner.roll_key && owner.verify_key);
        assert!(!owner.support_search && !owner.tenant_reads);
        let member = capabilities_for_role(service, Role::Member);
        assert!(member.update_key && !member.verify_key);
        assert_eq!(capabilities_for_role(service, Role::Admin), service);
        assert_eq!(
            capabilities_for_role(Capabilities::NONE, Role::Admin),
            Capabilities::NONE
        );
    }

    #[test]
    fn updates_from_typed_text() {
        let u = update_key_request(
            Some(" new name ".into()),
            None,
            Some(""),
            Some(vec![" https://a.example.com ".into(), "".into()]),
            Some(vec![]),
            Some(None),
        )
        .expect("valid");
        assert_eq!(u.name.as_deref(), Some("new name"));
        assert_eq!(u.expires_at, Some(None));
        assert_eq!(
            u.allowed_origins,
            Some(vec!["https://a.example.com".to_string()])
        );
        assert_eq!(u.allowed_ips, Some(vec![]));
        assert_eq!(u.rate_limit_per_hour, Some(None));
        let e = update_key_request(None, None, Some("soon"), None, None, None).expect_err("date");
        assert!(matches!(e, Error::Validation { ref field, .. } if field == "expires_at"));
        let e = update_key_request(None, None, None, None, None, None).expect_err("nothing");
        assert!(matches!(e, Error::Validation { ref field, .. } if field == "update"));
    }
}
