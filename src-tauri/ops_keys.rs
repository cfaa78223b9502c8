//! Key detail, rotation and usage: one function per command, each delegating to the core, plus
//! the usage watcher the app runs in the background. Rotation progress and watch events go to
//! the main window as Tauri events; alerts also become OS notifications.

use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tauri::AppHandle;
use ts_rs::TS;

use keyhaven_api::{DenialRecord, KeyMeta, KeyUsage};
use keyhaven_core::{
    Alert, AlertSettings, Capabilities, EnvReference, Grace, Granularity, PageQuery,
    PendingRotation, RotateOptions, RotationMethod, RotationOutcome, RotationProgress, UsageQuery,
    UsageSnapshot, UsageWatch, WatchConfig, WatchEvent,
};

use crate::events::{Event, ROTATION_PROGRESS_EVENT, WATCH_EVENT};
use crate::ipc::{AccountRef, IpcError, KeyRef};
use crate::state::AppState;

type Result<T> = std::result::Result<T, IpcError>;

/// Alerts kept for a window that opens (or reloads) after they were raised.
const RECENT_ALERTS: usize = 50;
/// Denials shown in a key's detail.
const DENIALS_SHOWN: u32 = 50;

/// How the usage watcher runs: the profile's settings (`keyhaven_core::Settings`), read at start
/// and applied again whenever the settings screen saves them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct WatchSettings {
    pub poll_interval_seconds: u32,
    pub notifications: bool,
    /// Minutes between broken-key checks of one held key; `None`: the checks are off.
    #[ts(type = "number | null")]
    pub key_check_minutes: Option<u32>,
    pub key_checks_anikura: bool,
}

impl From<&keyhaven_core::Settings> for WatchSettings {
    fn from(settings: &keyhaven_core::Settings) -> Self {
        WatchSettings {
            poll_interval_seconds: settings.poll_interval_seconds,
            notifications: settings.notifications,
            key_check_minutes: settings
                .key_checks
                .then_some(settings.key_check_interval_minutes),
            key_checks_anikura: settings.key_checks_anikura,
        }
    }
}

impl Default for WatchSettings {
    fn default() -> Self {
        WatchSettings::from(&keyhaven_core::Settings::default())
    }
}

/// The shell's side of key detail and usage: the window to send events to, the running watcher,
/// its settings, recent alerts, and what the start-up resume of rotations found.
#[derive(Default)]
pub struct KeysRuntime {
    app: OnceLock<AppHandle>,
    watch: Mutex<Option<UsageWatch>>,
    pub settings: Mutex<WatchSettings>,
    alerts: Mutex<Vec<Alert>>,
    resumed: Mutex<Vec<RotationOutcome>>,
}

impl KeysRuntime {
    fn emit<P: Serialize + Clone>(&self, event: Event<P>, payload: P) {
        if let Some(app) = self.app.get() {
            crate::events::emit(app, event, payload);
        }
    }

    fn settings(&self) -> WatchSettings {
        *self.settings.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn on_watch_event(&self, event: WatchEvent) {
        if let WatchEvent::Alert { alert } = &event {
            {
                let mut alerts = self.alerts.lock().unwrap_or_else(|p| p.into_inner());
                alerts.retain(|a| a.id != alert.id && !alert.covers.contains(&a.id));
                alerts.insert(0, (**alert).clone());
                alerts.truncate(RECENT_ALERTS);
            }
            if self.settings().notifications {
                self.notify(alert);
            }
        }
        self.emit(WATCH_EVENT, event);
    }

    fn notify(&self, alert: &Alert) {
        use tauri_plugin_notification::NotificationExt;
        let Some(app) = self.app.get() else { return };
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
}

/// Called once the window exists: resumes unfinished rotations (the embedded service's URL is set
/// by then) and starts the usage watcher. Runs in the background; the window does not wait.
pub fn start(app: &AppHandle) {
    let Some(state) = crate::state::started(app) else {
        return;
    };
    let _ = state.keys.app.set(app.clone());
    let Ok(core) = state.core().cloned() else {
        return;
    };
    let handle = app.clone();
    tauri::async_runtime::spawn(async move {
        let Some(state) = crate::state::started(&handle) else {
            return;
        };
        let runtime = &state.keys;
        let progress = |p: &RotationProgress| runtime.emit(ROTATION_PROGRESS_EVENT, p.clone());
        match core.resume_rotations(&progress).await {
            Ok(outcomes) => {
                if !outcomes.is_empty() {
                    tracing::info!(count = outcomes.len(), "resumed unfinished rotations");
                }
                *runtime.resumed.lock().unwrap_or_else(|p| p.into_inner()) = outcomes;
            }
            Err(e) => tracing::warn!(code = ?e.code(), "could not resume rotations: {e}"),
        }
        // The profile's own settings (poll interval, notifications), or the defaults.
        let settings = core
            .settings()
            .map(|s| WatchSettings::from(&s))
            .unwrap_or_default();
        *runtime.settings.lock().unwrap_or_else(|p| p.into_inner()) = settings;
        start_watch(&handle, &core, settings);
    });
}

/// Starts the usage watcher with these settings; its events go to the window and notifications.
fn start_watch(handle: &AppHandle, core: &keyhaven_core::Keyhaven, settings: WatchSettings) {
    let config = WatchConfig {
        interval: Duration::from_secs(u64::from(settings.poll_interval_seconds.max(5))),
        key_checks: settings
            .key_check_minutes
            .map(|minutes| keyhaven_core::KeyCheckConfig {
                interval: Duration::from_secs(u64::from(minutes.max(1)) * 60),
                anikura: settings.key_checks_anikura,
            }),
        ..WatchConfig::default()
    };
    let events = handle.clone();
    let watch = core.watch_usage(config, move |event| {
        if let Some(state) = crate::state::started(&events) {
            state.keys.on_watch_event(event);
        }
    });
    let Some(runtime) = crate::state::started(handle).map(|s| &s.keys) else {
        return;
    };
    match watch {
        Ok(watch) => *runtime.watch.lock().unwrap_or_else(|p| p.into_inner()) = Some(watch),
        Err(e) => tracing::warn!(code = ?e.code(), "the usage watcher did not start: {e}"),
    }
}

/// Applies saved settings to the running watcher: notifications at once, a new poll interval by
/// restarting the watcher.
pub async fn apply_settings(state: &AppState, saved: &keyhaven_core::Settings) {
    let runtime = &state.keys;
    let new = WatchSettings::from(saved);
    let old = std::mem::replace(
        &mut *runtime.settings.lock().unwrap_or_else(|p| p.into_inner()),
        new,
    );
    if old.poll_interval_seconds == new.poll_interval_seconds {
        return;
    }
    let running = runtime
        .watch
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .take();
    if let Some(watch) = running {
        watch.stop().await;
    }
    if let (Some(app), Ok(core)) = (runtime.app.get(), state.core()) {
        start_watch(app, core, new);
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
    Ok(state.core()?.capabilities(&req.account_id)?)
}

pub async fn get_key(state: &AppState, req: KeyRef) -> Result<KeyMeta> {
    Ok(state
        .core()?
        .get_key(&req.account_id, &req.key_id, None)
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
        .update_key(&req.account_id, &req.key_id, request)
        .await?)
}

pub async fn key_usage(state: &AppState, req: KeyUsageRequest) -> Result<KeyUsage> {
    let query = UsageQuery {
        granularity: Some(req.granularity),
        ..UsageQuery::default()
    };
    Ok(state
        .core()?
        .key_usage(&req.account_id, &req.key_id, query)
        .await?)
}

pub async fn key_denials(state: &AppState, req: KeyRef) -> Result<Vec<DenialRecord>> {
    let page = PageQuery {
        limit: Some(DENIALS_SHOWN),
        tenant_id: None,
    };
    Ok(state
        .core()?
        .denials(&req.account_id, &req.key_id, page)
        .await?)
}

pub async fn env_references(
    state: &AppState,
    req: EnvReferencesRequest,
) -> Result<Vec<EnvReference>> {
    Ok(state.core()?.env_references(&req.account_id, &req.key)?)
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
        .rotate_key(&req.account_id, &req.key_id, options, &progress)
        .await?)
}

/// The last usage the watcher saw of the account (works offline), or `None` before the first.
pub async fn cached_usage(state: &AppState, req: AccountRef) -> Result<Option<UsageSnapshot>> {
    Ok(state.core()?.cached_usage(&req.account_id)?)
}

/// Reads the account's usage now, and asks the watcher to poll every account.
pub async fn refresh_usage(state: &AppState, req: AccountRef) -> Result<UsageSnapshot> {
    let snapshot = state
        .core()?
        .refresh_usage(&req.account_id, &AlertSettings::default())
        .await?;
    if let Some(watch) = state
        .keys
        .watch
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .as_ref()
    {
        watch.poll_now();
    }
    Ok(snapshot)
}

pub async fn watch_status(state: &AppState) -> Result<WatchStatus> {
    let runtime = &state.keys;
    Ok(WatchStatus {
        settings: runtime.settings(),
        running: runtime
            .watch
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_some(),
        alerts: runtime
            .alerts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone(),
        resumed: runtime
            .resumed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone(),
        pending: state.core()?.pending_rotations()?,
    })
}
