//! One function per command: each takes the state and the request and calls the core.

use keyhaven_core::{Account, ClipboardGuard, ConnectorKind, KeyView, Secret};

use crate::state::AppState;
use crate::wire::{
    AccountRef, AppStatus, Copied, CreatedKeyOnce, IpcError, KeyRef, LocalService, NewKeyRequest,
    SignInRequest,
};

type Result<T> = std::result::Result<T, IpcError>;

pub async fn app_status(state: &AppState) -> Result<AppStatus> {
    let local = LocalService {
        url: state.local.url(),
        error: state.local.error(),
        preparing: state.local.preparing(),
    };
    let scopes = keyhaven_api::DEFAULT_SCOPES
        .iter()
        .map(|s| s.to_string())
        .collect();
    let clipboard_clear_seconds = crate::ops_profiles::clipboard_clear(state).as_secs() as u32;
    Ok(match state.core() {
        Ok(core) => AppStatus {
            profile: core.profile(),
            accounts: core.accounts().list(),
            active_account_id: core.accounts().active().map(|a| a.id),
            local_service: local,
            scopes,
            clipboard_clear_seconds,
            startup_error: None,
        },
        Err(_) => AppStatus {
            profile: String::new(),
            accounts: Vec::new(),
            active_account_id: None,
            local_service: local,
            scopes,
            clipboard_clear_seconds,
            startup_error: state.startup_error(),
        },
    })
}

pub async fn sign_in(state: &AppState, req: SignInRequest) -> Result<Account> {
    let password = Secret::new(req.password);
    let account_key = req.account_key.map(Secret::new);
    let kind = req.kind.unwrap_or(ConnectorKind::Native);
    Ok(state
        .core()?
        .accounts()
        .sign_in_to(
            kind,
            req.service,
            req.email.trim(),
            password,
            account_key,
            false,
        )
        .await?)
}

pub async fn sign_out(state: &AppState, req: AccountRef) -> Result<()> {
    Ok(state.core()?.accounts().sign_out(&req.account_id).await?)
}

pub async fn select_account(state: &AppState, req: AccountRef) -> Result<()> {
    Ok(state.core()?.accounts().set_active(&req.account_id)?)
}

pub async fn list_keys(state: &AppState, req: AccountRef) -> Result<Vec<KeyView>> {
    Ok(state.core()?.keys().list(&req.account_id).await?)
}

/// What the header's search box sends: part of a key's name, or the start of its prefix.
#[derive(Debug, Clone, serde::Deserialize, ts_rs::TS)]
pub struct FindKeysRequest {
    pub text: String,
}

pub async fn find_keys(state: &AppState, req: FindKeysRequest) -> Result<keyhaven_core::KeySearch> {
    Ok(state.core()?.keys().find(&req.text).await?)
}

pub async fn create_key(state: &AppState, req: NewKeyRequest) -> Result<CreatedKeyOnce> {
    let request = keyhaven_core::new_key_request(
        req.name,
        req.scopes,
        req.expires_at.as_deref(),
        req.allowed_origins,
        req.allowed_ips,
        req.rate_limit_per_hour,
    )?;
    let created = state
        .core()?
        .keys()
        .create(&req.account_id, request)
        .await?;
    Ok(CreatedKeyOnce {
        meta: created.meta,
        secret_once: created.secret.expose().to_owned(),
        stored_in_keychain: created.stored_in_keychain,
        keychain_error: created.keychain_error.map(IpcError::from),
    })
}

pub async fn revoke_key(state: &AppState, req: KeyRef) -> Result<()> {
    state
        .core()?
        .keys()
        .revoke(&req.account_id, &req.key_id)
        .await?;
    state.recent.forget(&req.account_id, &req.key_id);
    Ok(())
}

/// Offers a copied key again in the tray, by its name and account (read from the service; its id
/// if that fails).
async fn note_recent(state: &AppState, req: &KeyRef) {
    let Ok(core) = state.core() else {
        return;
    };
    let name = match core.keys().get(&req.account_id, &req.key_id, None).await {
        Ok(meta) => meta.name,
        Err(_) => req.key_id.clone(),
    };
    let label = match core.accounts().get(&req.account_id) {
        Ok(account) => format!("{name} ({})", account.label),
        Err(_) => name,
    };
    state.recent.note(crate::recent::RecentKey {
        profile: core.profile(),
        account_id: req.account_id.clone(),
        key_id: req.key_id.clone(),
        label,
    });
}

pub async fn copy_secret(state: &AppState, req: KeyRef) -> Result<Copied> {
    let secret = state
        .core()?
        .keys()
        .secret(&req.account_id, &req.key_id)
        .await?;
    let clear = crate::ops_profiles::clipboard_clear(state);
    {
        let mut guard = state
            .clipboard
            .lock()
            .map_err(|_| IpcError::internal("the clipboard lock was poisoned"))?;
        if guard.is_none() {
            *guard = Some(ClipboardGuard::new()?);
        }
        if let Some(clipboard) = guard.as_mut() {
            clipboard.copy_secret(&secret, clear)?;
        }
    }
    drop(secret);
    note_recent(state, &req).await;
    Ok(Copied {
        clears_in_seconds: clear.as_secs() as u32,
    })
}
