//! The usage watcher as an app runs it: [`WatchRuntime`] starts it with the active profile's
//! settings, starts it again when saved settings change how it polls, stops it on quit, and keeps
//! the recent alerts for a window that opens (or reloads) after they were raised.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use super::{Alert, KeyCheckConfig, UsageWatch, WatchConfig, WatchEvent};
use crate::app::Keyhaven;
use crate::error::Result;
use crate::settings::Settings;

/// Alerts kept for a window that opens after they were raised.
pub const RECENT_ALERTS: usize = 50;
/// The shortest poll interval the runtime uses, whatever the settings say.
const MIN_INTERVAL: Duration = Duration::from_secs(5);

/// What of the profile's settings the watcher runs by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct WatchSettings {
    pub poll_interval_seconds: u32,
    pub notifications: bool,
    /// Minutes between broken-key checks of one held key; `None`: the checks are off.
    #[ts(type = "number | null")]
    pub key_check_minutes: Option<u32>,
    pub key_checks_anikura: bool,
}

impl From<&Settings> for WatchSettings {
    fn from(settings: &Settings) -> Self {
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
        WatchSettings::from(&Settings::default())
    }
}

impl WatchSettings {
    /// How often to poll and whether to check keys: what a running watcher cannot change.
    fn polling(&self) -> (Duration, Option<KeyCheckConfig>) {
        let interval = Duration::from_secs(u64::from(self.poll_interval_seconds)).max(MIN_INTERVAL);
        let key_checks = self.key_check_minutes.map(|minutes| KeyCheckConfig {
            interval: Duration::from_secs(u64::from(minutes.max(1)) * 60),
            anikura: self.key_checks_anikura,
        });
        (interval, key_checks)
    }
}

type OnEvent = Arc<dyn Fn(WatchEvent) + Send + Sync>;

/// Starts, restarts and stops the usage watcher for an app; see `watch/runtime.rs`.
pub struct WatchRuntime {
    /// The running watcher. A tokio mutex: a restart holds it across the old watcher's stop, so
    /// that two saves in a row cannot leave two watchers running.
    watch: tokio::sync::Mutex<Option<UsageWatch>>,
    state: Mutex<State>,
    alerts: Arc<Mutex<Vec<Alert>>>,
    base: WatchConfig,
    on_event: OnEvent,
}

#[derive(Default)]
struct State {
    settings: WatchSettings,
    /// Set by [`WatchRuntime::start`], cleared by [`WatchRuntime::stop`]: saved settings restart
    /// the watcher only between the two.
    started: bool,
    starts: u64,
}

impl WatchRuntime {
    /// A runtime whose watchers send every event to `on_event` (after keeping alerts).
    pub fn new(on_event: impl Fn(WatchEvent) + Send + Sync + 'static) -> WatchRuntime {
        WatchRuntime::with_config(WatchConfig::default(), on_event)
    }

    /// [`WatchRuntime::new`] whose watchers take everything but the interval and the key checks
    /// (which come from the settings) from `base`: its clock, backoff and alert thresholds.
    pub fn with_config(
        base: WatchConfig,
        on_event: impl Fn(WatchEvent) + Send + Sync + 'static,
    ) -> WatchRuntime {
        WatchRuntime {
            watch: tokio::sync::Mutex::new(None),
            state: Mutex::new(State::default()),
            alerts: Arc::default(),
            base,
            on_event: Arc::new(on_event),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The settings the watcher runs by (the profile's, once started).
    pub fn settings(&self) -> WatchSettings {
        self.state().settings
    }

    /// How many watchers this runtime has started.
    pub fn starts(&self) -> u64 {
        self.state().starts
    }

    /// Whether a watcher is running.
    pub async fn is_running(&self) -> bool {
        self.watch.lock().await.is_some()
    }

    /// The alerts raised since start, newest first, at most [`RECENT_ALERTS`]; an alert that
    /// covers others (95 % after 80 %) replaces them.
    pub fn recent_alerts(&self) -> Vec<Alert> {
        self.alerts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Starts watching with the active profile's settings (the defaults if they cannot be read).
    /// A watcher already running is stopped first. Needs a tokio runtime.
    pub async fn start(&self, core: &Keyhaven) -> Result<()> {
        let settings = core
            .profiles()
            .settings()
            .map(|s| WatchSettings::from(&s))
            .unwrap_or_default();
        let mut watch = self.watch.lock().await;
        if let Some(old) = watch.take() {
            old.stop().await;
        }
        {
            let mut state = self.state();
            state.settings = settings;
            state.started = true;
        }
        *watch = Some(self.spawn(core, settings)?);
        Ok(())
    }

    /// Takes saved settings: notifications at once; a new poll interval or key-check setting by
    /// starting the watcher again, if it was started. Returns whether it started again.
    pub async fn apply(&self, core: &Keyhaven, saved: &Settings) -> Result<bool> {
        let new = WatchSettings::from(saved);
        let mut watch = self.watch.lock().await;
        let (old, started) = {
            let mut state = self.state();
            (std::mem::replace(&mut state.settings, new), state.started)
        };
        if !started || old.polling() == new.polling() {
            return Ok(false);
        }
        if let Some(old) = watch.take() {
            old.stop().await;
        }
        *watch = Some(self.spawn(core, new)?);
        Ok(true)
    }

    /// Asks the running watcher, if any, to poll every account now.
    pub async fn poll_now(&self) {
        if let Some(watch) = self.watch.lock().await.as_ref() {
            watch.poll_now();
        }
    }

    /// Stops the watcher; saved settings no longer start it.
    pub async fn stop(&self) {
        let mut watch = self.watch.lock().await;
        self.state().started = false;
        if let Some(old) = watch.take() {
            old.stop().await;
        }
    }

    fn spawn(&self, core: &Keyhaven, settings: WatchSettings) -> Result<UsageWatch> {
        let (interval, key_checks) = settings.polling();
        let config = WatchConfig {
            interval,
            key_checks,
            ..self.base.clone()
        };
        let alerts = Arc::clone(&self.alerts);
        let on_event = Arc::clone(&self.on_event);
        let watch = core.watch().start(config, move |event| {
            if let WatchEvent::Alert { alert } = &event {
                keep_alert(&mut alerts.lock().unwrap_or_else(|p| p.into_inner()), alert);
            }
            on_event(event);
        })?;
        self.state().starts += 1;
        Ok(watch)
    }
}

/// Puts `alert` first, in place of the alerts it covers and of an earlier copy of itself.
fn keep_alert(alerts: &mut Vec<Alert>, alert: &Alert) {
    alerts.retain(|a| a.id != alert.id && !alert.covers.contains(&a.id));
    alerts.insert(0, alert.clone());
    alerts.truncate(RECENT_ALERTS);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn polling_changes_only_with_the_interval_or_the_key_checks() {
        let base = WatchSettings::default();
        let quiet = WatchSettings {
            notifications: !base.notifications,
            ..base
        };
        assert_eq!(base.polling(), quiet.polling());
        let slower = WatchSettings {
            poll_interval_seconds: base.poll_interval_seconds + 60,
            ..base
        };
        assert_ne!(base.polling(), slower.polling());
        let checking = WatchSettings {
            key_check_minutes: Some(30),
            ..base
        };
        assert_ne!(base.polling(), checking.polling());
        let too_fast = WatchSettings {
            poll_interval_seconds: 1,
            ..base
        };
        assert_eq!(too_fast.polling().0, MIN_INTERVAL);
    }
}
