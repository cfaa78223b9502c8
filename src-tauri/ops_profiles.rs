//! Profiles, the passphrase lock, the support workspace and the audit log: one function per
//! command, each calling the core. Passphrases become `Secret`s at once and are never kept.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use ts_rs::TS;
use zeroize::Zeroize;

use keyhaven_api::{AuditRecord, DenialRecord, KeyMeta, KeyUsage, SupportKey};
use keyhaven_core::{PageQuery, ProfileInfo, Secret, Settings, UsageQuery};

use crate::state::AppState;
use crate::wire::IpcError;

type Result<T> = std::result::Result<T, IpcError>;

#[derive(Debug, Clone, Deserialize, TS)]
pub struct ProfileName {
    pub name: String,
}

#[derive(Debug, Clone, Deserialize, TS)]
pub struct RenameProfileRequest {
    pub from: String,
    pub to: String,
}

#[derive(Debug, Clone, Deserialize, TS)]
pub struct DeleteProfileRequest {
    pub name: String,
    /// The profile's name typed again by the person.
    pub confirm: String,
}

/// A passphrase typed by the person; wiped when the request is dropped, never printed.
#[derive(Deserialize, TS)]
pub struct PassphraseRequest {
    pub passphrase: String,
}

/// Replaces a passphrase; both are wiped when the request is dropped, never printed.
#[derive(Deserialize, TS)]
pub struct ChangePassphraseRequest {
    pub old: String,
    pub new: String,
}

macro_rules! redacted {
    ($ty:ident, $($field:ident),+) => {
        impl std::fmt::Debug for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct(stringify!($ty)).finish_non_exhaustive()
            }
        }
        impl Drop for $ty {
            fn drop(&mut self) {
                $( self.$field.zeroize(); )+
            }
        }
    };
}
redacted!(PassphraseRequest, passphrase);
redacted!(ChangePassphraseRequest, old, new);

fn take_secret(field: &mut String) -> Secret {
    Secret::new(std::mem::take(field))
}

#[derive(Debug, Clone, Deserialize, TS)]
pub struct AutoLockRequest {
    /// Seconds of inactivity before the profile locks; `null`: never.
    pub seconds: Option<u32>,
}

#[derive(Debug, Clone, Deserialize, TS)]
pub struct SupportSearchRequest {
    pub account_id: String,
    /// The start of a key as quoted in a ticket.
    pub prefix: String,
}

#[derive(Debug, Clone, Deserialize, TS)]
pub struct SupportKeyRequest {
    pub account_id: String,
    pub key_id: String,
    pub tenant_id: String,
}

/// What support sees of one key: metadata, usage by hour, recent denials and the tenant's audit.
#[derive(Debug, Clone, Serialize, TS)]
pub struct SupportKeyDetail {
    pub meta: KeyMeta,
    pub usage: KeyUsage,
    pub denials: Vec<DenialRecord>,
    pub audit: Vec<AuditRecord>,
}

#[derive(Debug, Clone, Deserialize, TS)]
pub struct AuditRequest {
    pub account_id: String,
    #[ts(optional)]
    pub limit: Option<u32>,
}

pub async fn list_profiles(state: &AppState) -> Result<Vec<ProfileInfo>> {
    Ok(state.core()?.profiles().list()?)
}

pub async fn create_profile(state: &AppState, req: ProfileName) -> Result<ProfileInfo> {
    Ok(state.core()?.profiles().create(req.name.trim()).await?)
}

/// Switches, and gives a profile with no account its own account on the local service.
pub async fn switch_profile(state: &AppState, req: ProfileName) -> Result<()> {
    let core = state.core()?;
    core.profiles().switch(req.name.trim())?;
    state.local.ensure_account(core).await;
    Ok(())
}

pub async fn rename_profile(state: &AppState, req: RenameProfileRequest) -> Result<()> {
    Ok(state
        .core()?
        .profiles()
        .rename(req.from.trim(), req.to.trim())
        .await?)
}

pub async fn delete_profile(state: &AppState, req: DeleteProfileRequest) -> Result<()> {
    Ok(state
        .core()?
        .profiles()
        .delete(req.name.trim(), req.confirm.trim())
        .await?)
}

pub async fn lock_profile(state: &AppState) -> Result<()> {
    Ok(state.core()?.profiles().lock()?)
}

pub async fn unlock_profile(state: &AppState, mut req: PassphraseRequest) -> Result<()> {
    let passphrase = take_secret(&mut req.passphrase);
    let core = state.core()?;
    core.profiles().unlock(passphrase).await?;
    state.local.ensure_account(core).await;
    Ok(())
}

pub async fn set_passphrase(state: &AppState, mut req: PassphraseRequest) -> Result<()> {
    let passphrase = take_secret(&mut req.passphrase);
    Ok(state.core()?.profiles().set_passphrase(passphrase).await?)
}

pub async fn change_passphrase(state: &AppState, mut req: ChangePassphraseRequest) -> Result<()> {
    let old = take_secret(&mut req.old);
    let new = take_secret(&mut req.new);
    Ok(state.core()?.profiles().change_passphrase(old, new).await?)
}

pub async fn remove_passphrase(state: &AppState, mut req: PassphraseRequest) -> Result<()> {
    let passphrase = take_secret(&mut req.passphrase);
    Ok(state
        .core()?
        .profiles()
        .remove_passphrase(passphrase)
        .await?)
}

/// The person did something: postpones the active profile's auto-lock.
pub async fn touch_activity(state: &AppState) -> Result<()> {
    state.core()?.profiles().touch();
    Ok(())
}

pub async fn set_auto_lock(state: &AppState, req: AutoLockRequest) -> Result<()> {
    let idle = req.seconds.map(|s| Duration::from_secs(u64::from(s)));
    Ok(state.core()?.profiles().set_auto_lock(idle)?)
}

pub async fn support_find_keys(
    state: &AppState,
    req: SupportSearchRequest,
) -> Result<Vec<SupportKey>> {
    Ok(state
        .core()?
        .accounts()
        .support_find_keys(&req.account_id, req.prefix.trim())
        .await?)
}

pub async fn support_key_detail(
    state: &AppState,
    req: SupportKeyRequest,
) -> Result<SupportKeyDetail> {
    let core = state.core()?;
    let tenant = Some(req.tenant_id.clone());
    let meta = core
        .keys()
        .get(&req.account_id, &req.key_id, tenant.as_deref())
        .await?;
    let usage = core
        .keys()
        .usage(
            &req.account_id,
            &req.key_id,
            UsageQuery {
                tenant_id: tenant.clone(),
                ..UsageQuery::default()
            },
        )
        .await?;
    let denials = core
        .keys()
        .denials(
            &req.account_id,
            &req.key_id,
            PageQuery {
                limit: Some(50),
                tenant_id: tenant.clone(),
            },
        )
        .await?;
    let audit = core
        .accounts()
        .audit(
            &req.account_id,
            PageQuery {
                limit: Some(50),
                tenant_id: tenant,
            },
        )
        .await?;
    Ok(SupportKeyDetail {
        meta,
        usage,
        denials,
        audit,
    })
}

pub async fn audit_log(state: &AppState, req: AuditRequest) -> Result<Vec<AuditRecord>> {
    Ok(state
        .core()?
        .accounts()
        .audit(
            &req.account_id,
            PageQuery {
                limit: req.limit,
                tenant_id: None,
            },
        )
        .await?)
}

pub async fn get_settings(state: &AppState) -> Result<Settings> {
    Ok(state.core()?.profiles().settings()?)
}

pub async fn save_settings(state: &AppState, req: Settings) -> Result<Settings> {
    let core = state.core()?;
    core.profiles().save_settings(req)?;
    let saved = core.profiles().settings()?;
    crate::ops_keys::apply_settings(state, &saved).await;
    Ok(saved)
}

/// How long a copied secret stays on the clipboard: the active profile's setting, or the default
/// when the settings cannot be read.
pub fn clipboard_clear(state: &AppState) -> Duration {
    state
        .core()
        .ok()
        .and_then(|core| core.profiles().settings().ok())
        .map(|s| s.clipboard_clear())
        .unwrap_or(crate::state::CLIPBOARD_CLEAR)
}

/// The types these commands declare, for the bindings, in dependency order.
pub fn declarations() -> Vec<String> {
    vec![
        ProfileInfo::decl(),
        ProfileName::decl(),
        RenameProfileRequest::decl(),
        DeleteProfileRequest::decl(),
        PassphraseRequest::decl(),
        ChangePassphraseRequest::decl(),
        AutoLockRequest::decl(),
        SupportSearchRequest::decl(),
        SupportKeyRequest::decl(),
        // UsagePoint, KeyUsage and DenialRecord are declared with the key detail's types.
        AuditRecord::decl(),
        SupportKey::decl(),
        SupportKeyDetail::decl(),
        AuditRequest::decl(),
        Settings::decl(),
    ]
}
