//! Guided rotation in the window, for keys made on their service's own page (AniKura, Ananke
//! Labs, WaniKani, generic keys) or in its app (Animus): one function per command, each calling
//! the core. The pasted new key becomes a `Secret` at once and never goes back to the window.

use serde::{Deserialize, Serialize};
use ts_rs::TS;
use zeroize::Zeroize;

use keyhaven_core::{GuidedOutcome, GuidedRotation, Secret};

use crate::state::AppState;
use crate::wire::{IpcError, KeyRef};

type Result<T> = std::result::Result<T, IpcError>;

/// A guided rotation with what the person does next, as the core words it.
#[derive(Debug, Clone, Serialize, TS)]
pub struct GuidedView {
    pub rotation: GuidedRotation,
    pub instructions: String,
}

impl From<GuidedRotation> for GuidedView {
    fn from(rotation: GuidedRotation) -> Self {
        GuidedView {
            instructions: rotation.instructions(),
            rotation,
        }
    }
}

#[derive(Debug, Clone, Deserialize, TS)]
pub struct GuidedRotationRef {
    pub rotation_id: String,
}

/// The new key of a guided rotation, pasted by the person. The secret is wiped when the request
/// is dropped and never printed.
#[derive(Deserialize, TS)]
pub struct GuidedNewKeyRequest {
    pub rotation_id: String,
    pub secret: String,
    /// Store it without checking it with its service.
    #[serde(default)]
    pub unverified: bool,
}

impl std::fmt::Debug for GuidedNewKeyRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GuidedNewKeyRequest")
            .field("rotation_id", &self.rotation_id)
            .finish_non_exhaustive()
    }
}

impl Drop for GuidedNewKeyRequest {
    fn drop(&mut self) {
        self.secret.zeroize();
    }
}

#[derive(Debug, Clone, Deserialize, TS)]
pub struct GuidedConfirmRequest {
    pub rotation_id: String,
    /// Complete it on the person's word when the service cannot tell (a generic key without a
    /// check URL).
    #[serde(default)]
    pub without_check: bool,
}

pub async fn guided_rotations(state: &AppState) -> Result<Vec<GuidedView>> {
    Ok(state
        .core()?
        .rotation()
        .guided()?
        .into_iter()
        .map(GuidedView::from)
        .collect())
}

pub async fn begin_guided_rotation(state: &AppState, req: KeyRef) -> Result<GuidedView> {
    Ok(state
        .core()?
        .rotation()
        .begin_guided(&req.account_id, &req.key_id)
        .await?
        .into())
}

pub async fn guided_new_key(state: &AppState, mut req: GuidedNewKeyRequest) -> Result<GuidedView> {
    let secret = Secret::new(std::mem::take(&mut req.secret));
    Ok(state
        .core()?
        .rotation()
        .guided_new_key(&req.rotation_id, secret, req.unverified)
        .await?
        .into())
}

pub async fn guided_confirm_deleted(
    state: &AppState,
    req: GuidedConfirmRequest,
) -> Result<GuidedOutcome> {
    Ok(state
        .core()?
        .rotation()
        .guided_confirm_deleted(&req.rotation_id, req.without_check)
        .await?)
}

pub async fn cancel_guided_rotation(
    state: &AppState,
    req: GuidedRotationRef,
) -> Result<GuidedRotation> {
    Ok(state
        .core()?
        .rotation()
        .cancel_guided(&req.rotation_id)
        .await?)
}

pub fn declarations() -> Vec<String> {
    vec![
        keyhaven_core::GuidedStep::decl(),
        GuidedRotation::decl(),
        GuidedOutcome::decl(),
        GuidedView::decl(),
        GuidedRotationRef::decl(),
        GuidedNewKeyRequest::decl(),
        GuidedConfirmRequest::decl(),
    ]
}
