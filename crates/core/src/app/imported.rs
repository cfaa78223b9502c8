//! Accounts of services whose keys are made in their own dashboards (AniKura, Ananke Labs,
//! WaniKani, generic keys): added without a sign-in, their keys imported by pasting the secret,
//! checked with one cheap call, and listed from this profile's own record
//! ([`crate::local_keys`]).

use chrono::{DateTime, Utc};
use keyhaven_api::{rules, KeyMeta, Role};
use serde::Deserialize;
use ts_rs::TS;

use super::{account_label, new_account_id, normalize_service, KeyView, Keyhaven};
use crate::catalog::{Account, ConnectorKind, ServiceRef, Tier};
use crate::connector::{
    check_endpoint_url, kind_info, AnyConnector, Connector, HttpPolicy, PingCall,
};
use crate::error::{AuthFailure, Error, Result};
use crate::local_keys::{KeyCheck, LocalKey, LocalKeyStore, Presentation, Verdict};
use crate::secret::Secret;
use crate::vault::names;

/// Characters of an imported secret kept to recognise it by, after any documented prefix.
const SHOWN_CHARS: usize = 4;
/// Longest account name.
const MAX_ACCOUNT_NAME_CHARS: usize = 64;
/// Longest header name of a generic key.
const MAX_HEADER_CHARS: usize = 64;

/// An account of a kind without sign-in, as the person describes it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, TS)]
pub struct NewAccount {
    pub kind: ConnectorKind,
    /// What the person calls the account ("personal", "work").
    pub name: String,
    /// The service's base URL; the documented host when absent (a generic account names one).
    #[ts(optional)]
    #[serde(default)]
    pub url: Option<String>,
    /// Plain `http://` to a host other than this computer (SECURITY 18).
    #[serde(default)]
    pub allow_http: bool,
    /// AniKura's plan (default free).
    #[ts(optional)]
    #[serde(default)]
    pub tier: Option<Tier>,
}

/// What goes with a pasted secret: its name and what the person knows of it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, TS)]
pub struct ImportOptions {
    pub name: String,
    /// WaniKani's permissions, or any scopes the person wants to note.
    #[serde(default)]
    pub scopes: Vec<String>,
    #[ts(optional, type = "string")]
    #[serde(default)]
    pub expires_at: Option<DateTime<Utc>>,
    /// How a generic key is sent (needed for generic keys).
    #[ts(optional)]
    #[serde(default)]
    pub presentation: Option<Presentation>,
    /// Store the key without checking it with its service.
    #[serde(default)]
    pub unverified: bool,
}

impl Keyhaven {
    pub(crate) fn local_key_store(&self) -> Result<LocalKeyStore> {
        Ok(LocalKeyStore::new(&self.profile_dir()?))
    }

    /// The keys of an account whose service does not list them, from this profile's record.
    pub(crate) async fn list_local_keys(&self, account: &Account) -> Result<Vec<KeyView>> {
        let now = Utc::now();
        let records = self.local_key_store()?.list(&account.id)?;
        let names = records
            .iter()
            .map(|k| names::key(&account.id, &k.key_id))
            .collect();
        let stored = self.vault().contains_each(&self.profile(), names).await?;
        let mut metas: Vec<KeyMeta> = records
            .iter()
            .map(|r| r.meta(&account.tenant_id, &account.email, now))
            .collect();
        self.annotate_replacements(&account.id, &mut metas);
        Ok(metas
            .into_iter()
            .zip(records)
            .zip(stored)
            .map(|((meta, record), stored_locally)| KeyView {
                meta,
                stored_locally,
                check: record.check,
            })
            .collect())
    }

    pub(crate) async fn check_with_service(
        &self,
        account: &Account,
        secret: &Secret,
        presentation: Option<&Presentation>,
    ) -> Result<KeyCheck> {
        let connector = self.connector_for(account)?;
        let at = Utc::now();
        if let AnyConnector::Imported(imported) = &connector {
            let checked = imported.check(secret, presentation).await?;
            let mut quota = checked.quota;
            if let (Some(q), Some(tier)) = (quota.as_mut(), account.tier) {
                q.limit = tier.daily_cap();
            }
            return Ok(KeyCheck {
                at,
                verdict: checked.verdict,
                message: checked.message,
                quota,
            });
        }
        let label = kind_info(account.connector).label;
        let (verdict, message) = match connector.ping(secret, &PingCall::default()).await {
            Ok(_) => (Verdict::Works, format!("{label} accepted the key.")),
            Err(Error::Unauthorized {
                reason: AuthFailure::KeyRejected,
            }) => (
                Verdict::Refused,
                format!("{label} refused the key: it was revoked, regenerated or has expired."),
            ),
            Err(
                e @ (Error::RateLimited { .. } | Error::Forbidden { .. } | Error::Service { .. }),
            ) => (Verdict::Limited, e.to_string()),
            Err(e) => (Verdict::Unknown, e.to_string()),
        };
        Ok(KeyCheck {
            at,
            verdict,
            message,
            quota: None,
        })
    }

    /// Keeps what a key was made with, for a service that lists keys without their settings
    /// (TokenKit): listing shows them, and a rotation's twin copies them. Nothing for the others.
    pub(crate) fn remember_settings(&self, account: &Account, meta: &KeyMeta) -> Result<()> {
        if !self.keeps_settings(account) {
            return Ok(());
        }
        self.local_key_store()?.put(LocalKey {
            account_id: account.id.clone(),
            key_id: meta.id.clone(),
            name: meta.name.clone(),
            prefix: meta.prefix.clone(),
            added_at: meta.created_at,
            scopes: meta.scopes.clone(),
            expires_at: meta.expires_at,
            allowed_origins: meta.allowed_origins.clone(),
            allowed_ips: meta.allowed_ips.clone(),
            rate_limit_per_hour: meta.rate_limit_per_hour,
            presentation: None,
            check: None,
        })
    }

    /// Whether Keyhaven keeps what this account's keys were made with: its service lists keys
    /// without their settings (TokenKit).
    fn keeps_settings(&self, account: &Account) -> bool {
        self.connector_for(account).is_ok_and(|c| {
            let caps = c.capabilities();
            !caps.key_settings && !caps.local_keys
        })
    }

    /// Whether this profile knows the settings of a key its service lists without them.
    pub(crate) fn settings_known(&self, account_id: &str, key_id: &str) -> Result<bool> {
        Ok(self.local_key_store()?.get(account_id, key_id)?.is_some())
    }

    /// Adds the kept settings to keys as a service that does not tell them lists them. Only a
    /// help for the person: a record that cannot be read is logged.
    pub(crate) fn fill_settings(&self, account_id: &str, metas: &mut [KeyMeta]) {
        // Only a service that lists keys without their settings has any kept: the others' lists
        // do not read the file.
        if !self
            .accounts()
            .get(account_id)
            .is_ok_and(|account| self.keeps_settings(&account))
        {
            return;
        }
        let records = match self.local_key_store().and_then(|s| s.list(account_id)) {
            Ok(records) => records,
            Err(e) => {
                tracing::warn!(account = %account_id, "the kept key settings were not read: {e}");
                return;
            }
        };
        for meta in metas {
            if let Some(record) = records.iter().find(|r| r.key_id == meta.id) {
                record.fill(meta);
            }
        }
    }

    /// Forgets what was kept of a key that is gone (best effort).
    pub(crate) fn forget_settings(&self, account_id: &str, key_id: &str) {
        if let Err(e) = self
            .local_key_store()
            .and_then(|s| s.remove(account_id, key_id))
        {
            tracing::debug!(account = %account_id, "a kept key record was not removed: {e}");
        }
    }
}

impl crate::app::Accounts<'_> {
    /// Adds an account of a kind without sign-in and makes it active. Its keys are imported.
    pub async fn add(&self, request: NewAccount) -> Result<Account> {
        let info = kind_info(request.kind);
        if info.signs_in {
            return Err(Error::validation(
                "kind",
                format!("{} accounts are added by signing in", info.label),
            ));
        }
        let name = request.name.trim();
        if name.is_empty()
            || name.chars().count() > MAX_ACCOUNT_NAME_CHARS
            || name.chars().any(char::is_control)
        {
            return Err(Error::validation(
                "name",
                format!("give the account a name of 1 to {MAX_ACCOUNT_NAME_CHARS} characters"),
            ));
        }
        let url = match (request.url.as_deref().map(str::trim), info.documented_url) {
            (Some(url), _) if !url.is_empty() => url.to_string(),
            (_, Some(documented)) => documented.to_string(),
            _ => {
                return Err(Error::validation(
                    "url",
                    "give the service's URL (its API's address)",
                ))
            }
        };
        let service = normalize_service(ServiceRef::Url {
            url,
            allow_http: request.allow_http,
        })?;
        if request.tier.is_some() && request.kind != ConnectorKind::Anikura {
            return Err(Error::validation(
                "tier",
                "only AniKura accounts have a tier",
            ));
        }
        let duplicate = self.core.accounts().list().into_iter().find(|a| {
            a.connector == request.kind
                && a.service == service
                && a.email.eq_ignore_ascii_case(name)
        });
        if let Some(existing) = duplicate {
            return Err(Error::validation(
                "name",
                format!(
                    "this profile already has {} account \"{name}\" ({})",
                    info.label, existing.id
                ),
            ));
        }
        let id = new_account_id();
        let account = Account {
            id: id.clone(),
            label: format!("{} · {}", info.label, account_label(&service, name)),
            service,
            email: name.to_string(),
            user_id: String::new(),
            role: Role::Owner,
            tenant_id: format!("{}:{id}", request.kind.cli_name()),
            connector: request.kind,
            created_at: Utc::now(),
            remember_password: false,
            tier: (request.kind == ConnectorKind::Anikura)
                .then(|| request.tier.unwrap_or_default()),
        };
        let saved = account.clone();
        self.core.update_catalog(move |catalog| {
            catalog.upsert(saved);
            catalog.active_account = Some(id);
            Ok(())
        })?;
        tracing::info!(account = %account.id, kind = request.kind.cli_name(), "account added");
        Ok(account)
    }
}

impl crate::app::Keys<'_> {
    /// Imports a key of an account whose service does not list keys: checked with its service
    /// first (unless `unverified`), then its secret stored in the keychain (read back and
    /// compared) and its record kept. A key the service refuses is not stored; one that could
    /// not be checked is stored only when the person says so.
    pub async fn import_local(
        &self,
        account_id: &str,
        secret: Secret,
        options: ImportOptions,
    ) -> Result<KeyView> {
        let account = self.core.accounts().get(account_id)?;
        if !self.core.accounts().capabilities(&account.id)?.local_keys {
            return Err(Error::validation(
                "account",
                "its service lists its keys: import with the secret alone (`keys import`)",
            ));
        }
        let secret = Secret::new(secret.expose().trim().to_string());
        if secret.is_empty() {
            return Err(Error::validation("secret", "is empty"));
        }
        let name = rules::name(&options.name)?;
        let scopes = options
            .scopes
            .iter()
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>();
        if !scopes.is_empty() {
            rules::scope_names(&scopes)?;
        }
        let presentation = match (account.connector, options.presentation) {
            (ConnectorKind::Generic, Some(p)) => {
                let allow_http = matches!(
                    account.service,
                    ServiceRef::Url {
                        allow_http: true,
                        ..
                    }
                );
                Some(check_presentation(
                    p,
                    HttpPolicy::from_override(allow_http),
                )?)
            }
            (ConnectorKind::Generic, None) => {
                return Err(Error::validation(
                    "header",
                    "say which HTTP header the key is sent in (for example Authorization)",
                ))
            }
            (_, Some(_)) => {
                return Err(Error::validation(
                    "header",
                    "only generic keys take a header; this service's is known",
                ))
            }
            (_, None) => None,
        };
        let store = self.core.local_key_store()?;
        let held = store.list(&account.id)?;
        let profile = self.core.profile();
        for other in &held {
            if let Some(existing) = self
                .core
                .vault()
                .get(&profile, &names::key(&account.id, &other.key_id))
                .await?
            {
                if existing.constant_time_eq(&secret) {
                    return Err(Error::validation(
                        "secret",
                        format!(
                            "is already in this account as \"{}\" ({})",
                            other.name, other.key_id
                        ),
                    ));
                }
            }
        }
        let check = if options.unverified {
            None
        } else {
            let check = self
                .core
                .check_with_service(&account, &secret, presentation.as_ref())
                .await?;
            match check.verdict {
                Verdict::Works | Verdict::Limited => Some(check),
                Verdict::Refused => {
                    return Err(Error::Unauthorized {
                        reason: AuthFailure::KeyRejected,
                    })
                }
                Verdict::Unknown => {
                    return Err(Error::validation(
                        "secret",
                        format!(
                            "could not be checked: {} Store it unverified to keep it anyway.",
                            check.message
                        ),
                    ))
                }
            }
        };
        let key_id = format!("imp_{:016x}", rand::random::<u64>());
        let record = LocalKey {
            account_id: account.id.clone(),
            key_id: key_id.clone(),
            name,
            prefix: shown_prefix(account.connector, &secret),
            added_at: Utc::now(),
            scopes,
            expires_at: options.expires_at,
            allowed_origins: Vec::new(),
            allowed_ips: Vec::new(),
            rate_limit_per_hour: None,
            presentation,
            check,
        };
        let vault_name = names::key(&account.id, &key_id);
        self.core
            .vault()
            .put(&profile, &vault_name, &secret)
            .await?;
        match self.core.vault().get(&profile, &vault_name).await? {
            Some(back) if back.constant_time_eq(&secret) => {}
            _ => {
                let _ = self.core.vault().delete(&profile, &vault_name).await;
                return Err(Error::KeychainWrite);
            }
        }
        if let Err(e) = store.put(record.clone()) {
            // Without its record the secret would be invisible: take it back out.
            let _ = self.core.vault().delete(&profile, &vault_name).await;
            return Err(e);
        }
        tracing::info!(account = %account.id, key_id = %key_id, verified = record.check.is_some(), "key imported");
        Ok(KeyView {
            meta: record.meta(&account.tenant_id, &account.email, Utc::now()),
            stored_locally: true,
            check: record.check,
        })
    }

    /// Checks a held key with its service (one cheap call) and records what was found. For an
    /// account whose service lists keys, the check is a ping.
    pub async fn check(&self, account_id: &str, key_id: &str) -> Result<KeyCheck> {
        let account = self.core.accounts().get(account_id)?;
        let store = self.core.local_key_store()?;
        let record = store.get(&account.id, key_id)?;
        let secret = self.core.keys().secret(&account.id, key_id).await?;
        let presentation = record.as_ref().and_then(|r| r.presentation.clone());
        let check = self
            .core
            .check_with_service(&account, &secret, presentation.as_ref())
            .await?;
        drop(secret);
        if record.is_some() {
            store.edit(&account.id, key_id, |k| k.check = Some(check.clone()))?;
        }
        Ok(check)
    }

    /// Forgets a key this profile holds of a service that does not list keys: its record and
    /// its secret here. The key itself is deleted on the service's own page.
    pub async fn forget(&self, account_id: &str, key_id: &str) -> Result<()> {
        let account = self.core.accounts().get(account_id)?;
        let store = self.core.local_key_store()?;
        if store.get(&account.id, key_id)?.is_none() {
            return Err(Error::not_found(format!(
                "key {key_id} in account {}",
                account.id
            )));
        }
        self.core
            .vault()
            .delete(&self.core.profile(), &names::key(&account.id, key_id))
            .await?;
        store.remove(&account.id, key_id)?;
        tracing::info!(account = %account.id, key_id, "key forgotten");
        Ok(())
    }
}

/// What an imported key is shown by: its documented prefix and a few characters, or only a few
/// characters of a secret with no documented prefix.
pub(crate) fn shown_prefix(kind: ConnectorKind, secret: &Secret) -> String {
    let text = secret.expose();
    let known = kind_info(kind)
        .key_prefixes
        .iter()
        .find(|p| text.starts_with(**p))
        .map_or(0, |p| p.len());
    text.chars().take(known + SHOWN_CHARS).collect()
}

fn check_presentation(p: Presentation, policy: HttpPolicy) -> Result<Presentation> {
    let header = p.header.trim().to_string();
    let valid = !header.is_empty()
        && header.len() <= MAX_HEADER_CHARS
        && reqwest::header::HeaderName::from_bytes(header.as_bytes()).is_ok();
    if !valid {
        return Err(Error::validation(
            "header",
            format!("must be an HTTP header name of at most {MAX_HEADER_CHARS} characters"),
        ));
    }
    if p.value_prefix.chars().any(char::is_control) || p.value_prefix.len() > MAX_HEADER_CHARS {
        return Err(Error::validation(
            "value prefix",
            format!("must be at most {MAX_HEADER_CHARS} characters, none of them a control"),
        ));
    }
    let verify_url = match p.verify_url.as_deref().map(str::trim) {
        Some(url) if !url.is_empty() => Some(check_endpoint_url(url, policy)?.to_string()),
        _ => None,
    };
    Ok(Presentation {
        header,
        value_prefix: p.value_prefix,
        verify_url,
    })
}
