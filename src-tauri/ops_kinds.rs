//! Kinds of service, the accounts added without a sign-in, and the keys imported into them by
//! pasting: one function per command, each calling the core. A pasted secret becomes a `Secret`
//! at once and never goes back to the window.

use serde::Deserialize;
use ts_rs::TS;
use zeroize::Zeroize;

use keyhaven_core::local_keys::KeyCheck;
use keyhaven_core::{Account, ImportOptions, KeyView, KindInfo, NewAccount, Secret, KINDS};

use crate::state::AppState;
use crate::wire::{IpcError, KeyRef};

type Result<T> = std::result::Result<T, IpcError>;

/// A key pasted by the person, with what they say of it. The secret is wiped when the request
/// is dropped and never printed.
#[derive(Deserialize, TS)]
pub struct ImportKeyRequest {
    pub account_id: String,
    pub secret: String,
    pub options: ImportOptions,
}

impl std::fmt::Debug for ImportKeyRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImportKeyRequest")
            .field("account_id", &self.account_id)
            .finish_non_exhaustive()
    }
}

impl Drop for ImportKeyRequest {
    fn drop(&mut self) {
        self.secret.zeroize();
    }
}

/// Every kind of service, as the core describes it, in the order the UI offers them.
pub async fn kinds(_: &AppState) -> Result<Vec<KindInfo>> {
    Ok(KINDS.to_vec())
}

pub async fn add_account(state: &AppState, req: NewAccount) -> Result<Account> {
    Ok(state.core()?.accounts().add(req).await?)
}

/// A key of a service that does not list keys is recorded here; one of a service that lists
/// them (Animus) is matched by the name the service lists it under, and stored as that key.
pub async fn import_key(state: &AppState, mut req: ImportKeyRequest) -> Result<KeyView> {
    let secret = Secret::new(std::mem::take(&mut req.secret));
    let options = std::mem::take(&mut req.options);
    let core = state.core()?;
    if core.accounts().capabilities(&req.account_id)?.local_keys {
        return Ok(core
            .keys()
            .import_local(&req.account_id, secret, options)
            .await?);
    }
    let meta = core
        .keys()
        .import_listed(&req.account_id, secret, Some(&options.name), None)
        .await?;
    Ok(KeyView {
        meta,
        stored_locally: true,
        check: None,
    })
}

pub async fn check_key(state: &AppState, req: KeyRef) -> Result<KeyCheck> {
    Ok(state
        .core()?
        .keys()
        .check(&req.account_id, &req.key_id)
        .await?)
}

pub async fn forget_key(state: &AppState, req: KeyRef) -> Result<()> {
    state
        .core()?
        .keys()
        .forget(&req.account_id, &req.key_id)
        .await?;
    state.recent.forget(&req.account_id, &req.key_id);
    Ok(())
}

pub fn declarations() -> Vec<String> {
    vec![
        KindInfo::decl(),
        NewAccount::decl(),
        keyhaven_core::local_keys::Presentation::decl(),
        ImportOptions::decl(),
        ImportKeyRequest::decl(),
    ]
}
