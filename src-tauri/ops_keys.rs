//! Key detail, rotation and usage: one function per command, each delegating to the core, plus
//! the usage watcher the app runs in the background. Rotation progress and watch events go to
//! the main window as Tauri events; alerts also become OS notifications.

use serde::{Deserialize, Serialize};
use tauri::AppHandle;
use ts_rs::TS;

use keyhaven_api::{DenialRecord, KeyMeta, KeyUsage};
use keyhaven_core::{
    Alert, AlertSettings, Capabilities, EnvReference, Grace, Granularity, PageQuery,
    PendingRotation, RotateOptions, RotationMethod, RotationOutcome, RotationProgress, UsageQuery,
    UsageSnapshot, WatchEvent, WatchRuntime,
};

use crate::events::{ROTATION_PROGRESS_EVENT, WATCH_EVENT};
use crate::state::AppState;
use crate::wire::{AccountRef, IpcError, KeyRef};

type Result<T> = std::result::Result<T, IpcError>;

/// Denials shown in a key's detail.
const DENIALS_SHOWN: u32 = 50;

/// How the usage watcher runs (the core's [`keyhaven_core::WatchSettings`]), as the bindings name it.
pub use keyhaven_core::WatchSettings;

/// A watcher's event, for the window, and for an OS notification if it is an alert and the
/// settings want them.
fn on_watch_event(app: &AppHandle, event: WatchEvent) {
    if let WatchEvent::Alert { alert } = &event {
        let wanted = crate::state::started(app).is_some_and(|s| s.keys.settings().notifications);
        if wanted {
            notify(app, alert);
        }
    }
    crate::events::emit(app, WATCH_EVENT, event);
}

/// A desktop notification for something the person asked for outside the window (the tray) that
/// failed.
pub(crate) fn notify_problem(app: &AppHandle, message: &str) {
    use tauri_plugin_notification::NotificationExt;
    if let Err(e) = app
        .notification()
        .builder()
        .title("Keyhaven")
        .body(message)
        .show()
    {
        tracing::warn!(error = %e, "could not show a notification");
    }
}

fn notify(app: &AppHandle, alert: &Alert) {
    use tauri_plugin_notification::NotificationExt;
    let title = match &alert.key_name {
        Some(name) => format!("Keyhaven: {name}"),
        None => "Keyhaven".to_string(),
    };
    if let Err(e) = app
        .notification()
        .builder()
        .title(title)
        .body(&alert.message)
        .show()
    {
        tracing::warn!(error = %e, "could not show a notification");
    }
}

/// Called once the window exists: gives a profile with no account its own on the local service
/// (first run), resumes unfinished rotations (the embedded service's URL is set by then) and
/// starts the usage watcher. Runs in the background; the window does not wait.
pub fn start(app: &AppHandle) {
    let Some(state) = crate::state::started(app) else {
        return;
    };
    let _ = state.keys.app.set(app.clone());
    let events = app.clone();
    let _ = state.keys.watch.set(WatchRuntime::new(move |event| {
        on_watch_event(&events, event)
    }));
    let Ok(core) = state.core().cloned() else {
        return;
    };
    let handle = app.clone();
    tauri::async_runtime::spawn(async move {
        let Some(state) = crate::state::started(&handle) else {
            return;
        };
        if state.local.preparing() {
            let started = std::time::Instant::now();
            state.local.ensure_account(&core).await;
            tracing::info!(
                elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
                "the profile's local account is ready"
            );
            crate::events::emit(&handle, crate::events::PROFILE_CHANGED_EVENT, ());
        }
        let runtime = &state.keys;
        let progress = |p: &RotationProgress| runtime.emit(ROTATION_PROGRESS_EVENT, p.clone());
        match core.rotation().resume(&progress).await {
            Ok(outcomes) => {
                if !outcomes.is_empty() {
                    tracing::info!(count = outcomes.len(), "resumed unfinished rotations");
                }
                *runtime.resumed.lock().unwrap_or_else(|p| p.into_inner()) = outcomes;
            }
            Err(e) => tracing::warn!(code = ?e.code(), "could not resume rotations: {e}"),
        }
        if let Some(watch) = runtime.watch.get() {
            if let Err(e) = watch.start(&core).await {
                tracing::warn!(code = ?e.code(), "the usage watcher did not start: {e}");
            }
        }
    });
}

/// Applies saved settings to the running watcher (the core decides whether it starts again).
pub async fn apply_settings(state: &AppState, saved: &keyhaven_core::Settings) {
    let (Some(watch), Ok(core)) = (state.keys.watch.get(), state.core()) else {
        return;
    };
    if let Err(e) = watch.apply(core, saved).await {
        tracing::warn!(code = ?e.code(), "the usage watcher did not start again: {e}");
    }
}

#[derive(Debug, Clone, Deserialize, TS)]
pub struct UpdateKeyInput {
    pub account_id: String,
    pub key_id: String,
    #[ts(optional)]
    pub name: Option<String>,
    #[ts(optional)]
    pub scopes: Option<Vec<String>>,
    /// RFC 3339; an empty string clears the expiry.
    #[ts(optional)]
    pub expires_at: Option<String>,
    #[ts(optional)]
    pub allowed_origins: Option<Vec<String>>,
    #[ts(optional)]
    pub allowed_ips: Option<Vec<String>>,
    /// Set to change the hourly limit: `{ value: null }` removes it.
    #[ts(optional)]
    pub rate_limit_per_hour: Option<HourlyLimit>,
}

/// A new hourly limit, or none (`value: null`).
#[derive(Debug, Clone, Copy, Deserialize, TS)]
pub struct HourlyLimit {
    pub value: Option<u32>,
}

/// A key the window shows, for the env files that reference it: matched on this computer, so
/// the key's metadata comes along instead of being read from its service again.
#[derive(Debug, Clone, Deserialize, TS)]
pub struct EnvReferencesRequest {
    pub account_id: String,
    pub key: KeyMeta,
}

#[derive(Debug, Clone, Deserialize, TS)]
pub struct KeyUsageRequest {
    pub account_id: String,
    pub key_id: String,
    pub granularity: Granularity,
}

#[derive(Debug, Clone, Deserialize, TS)]
pub struct RotateRequest {
    pub account_id: String,
    pub key_id: String,
    pub grace: Grace,
}

/// What the window shows about the watcher and rotations when it opens.
#[derive(Debug, Clone, Serialize, TS)]
pub struct WatchStatus {
    pub settings: WatchSettings,
    pub running: bool,
    /// Newest first.
    pub alerts: Vec<Alert>,
    /// What resuming unfinished rotations at start-up did.
    pub resumed: Vec<RotationOutcome>,
    /// Rotations still unfinished.
    pub pending: Vec<PendingRotation>,
}

pub async fn key_capabilities(state: &AppState, req: AccountRef) -> Result<Capabilities> {
    Ok(state.core()?.accounts().capabilities(&req.account_id)?)
}

pub async fn get_key(state: &AppState, req: KeyRef) -> Result<KeyMeta> {
    Ok(state
        .core()?
        .keys()
        .get(&req.account_id, &req.key_id, None)
        .await?)
}

pub async fn update_key(state: &AppState, req: UpdateKeyInput) -> Result<KeyMeta> {
    let request = keyhaven_core::update_key_request(
        req.name,
        req.scopes,
        req.expires_at.as_deref(),
        req.allowed_origins,
        req.allowed_ips,
        req.rate_limit_per_hour.map(|l| l.value),
    )?;
    Ok(state
        .core()?
        .keys()
        .update(&req.account_id, &req.key_id, request)
        .await?)
}

pub async fn key_usage(state: &AppState, req: KeyUsageRequest) -> Result<KeyUsage> {
    let query = UsageQuery {
        granularity: Some(req.granularity),
        ..UsageQuery::default()
    };
    Ok(state
        .core()?
        .keys()
        .usage(&req.account_id, &req.key_id, query)
        .await?)
}

pub async fn key_denials(state: &AppState, req: KeyRef) -> Result<Vec<DenialRecord>> {
    let page = PageQuery {
        limit: Some(DENIALS_SHOWN),
        tenant_id: None,
    };
    Ok(state
        .core()?
        .keys()
        .denials(&req.account_id, &req.key_id, page)
        .await?)
}

pub async fn env_references(
    state: &AppState,
    req: EnvReferencesRequest,
) -> Result<Vec<EnvReference>> {
    Ok(state
        .core()?
        .keys()
        .env_references(&req.account_id, &req.key)?)
}

pub async fn rotate_key(state: &AppState, req: RotateRequest) -> Result<RotationOutcome> {
    let options = RotateOptions {
        grace: req.grace,
        method: RotationMethod::Auto,
    };
    let runtime = &state.keys;
    let progress = |p: &RotationProgress| runtime.emit(ROTATION_PROGRESS_EVENT, p.clone());
    Ok(state
        .core()?
        .rotation()
        .rotate(&req.account_id, &req.key_id, options, &progress)
        .await?)
}

/// The last usage the watcher saw of the account (works offline), or `None` before the first.
pub async fn cached_usage(state: &AppState, req: AccountRef) -> Result<Option<UsageSnapshot>> {
    Ok(state.core()?.watch().cached(&req.account_id)?)
}

/// Reads the account's usage now, and asks the watcher to poll every account.
pub async fn refresh_usage(state: &AppState, req: AccountRef) -> Result<UsageSnapshot> {
    let snapshot = state
        .core()?
        .watch()
        .refresh(&req.account_id, &AlertSettings::default())
        .await?;
    if let Some(watch) = state.keys.watch.get() {
        watch.poll_now().await;
    }
    Ok(snapshot)
}

pub async fn watch_status(state: &AppState) -> Result<WatchStatus> {
    let runtime = &state.keys;
    Ok(WatchStatus {
        settings: runtime.settings(),
        running: match runtime.watch.get() {
            Some(watch) => watch.is_running().await,
            None => false,
        },
        alerts: runtime
            .watch
            .get()
            .map(WatchRuntime::recent_alerts)
            .unwrap_or_default(),
        resumed: runtime
            .resumed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone(),
        pending: state.core()?.rotation().pending()?,
    })
}
