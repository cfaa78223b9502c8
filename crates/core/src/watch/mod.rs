//! Usage watch and alerts.
//!
//! [`Watch::start`](crate::Watch::start) starts a watcher: one task that polls `GET /v1/usage` once per
//! account per interval (one request for all of an account's keys; the key list is refreshed
//! less often), keeps the last answer in the profile's usage cache (so that it is there
//! offline, [`Watch::cached`](crate::Watch::cached)), projects when each hourly limit and the daily cap will
//! be reached at the current rate, and raises alerts once each: a key expiring within N days,
//! usage at 80 % and 95 % of a limit or cap, a spike of refused calls with their reason, a key
//! unused for N days.
//!
//! It honours the service: `Retry-After` on a 429, `X-RateLimit-Remaining: 0` until
//! `X-RateLimit-Reset`; while the service is unreachable it backs off exponentially and says
//! so once ([`WatchEvent::Offline`]), then [`WatchEvent::Online`] when it answers again. The
//! app can also pause it (the OS reports no network, the window is hidden) and resume it.
//!
//! Events go to the callback given at start (the app forwards them to the window and to OS
//! notifications) and to any [`UsageWatch::subscribe`] receiver.

mod analysis;
mod broken;
mod cache;
mod runtime;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use keyhaven_api::KeyMeta;
use serde::Serialize;
use tokio::sync::{broadcast, mpsc};
use tokio::time::Instant;
use ts_rs::TS;

use crate::app::Keyhaven;
use crate::connector::{Connector, UsageQuery};
use crate::error::{Error, ErrorPayload, Result};

pub use self::analysis::{
    alerts, new_alerts, next_delay, snapshot, Alert, AlertKind, AlertSettings, AlertSeverity,
    KeySnapshot, LimitKind, PollResult, QuotaProjection, UsageSnapshot,
};
pub use self::broken::KeyCheckConfig;
use self::cache::UsageCache;
pub use self::runtime::{WatchRuntime, WatchSettings, RECENT_ALERTS};

/// Where the watcher reads the time (the system clock unless a test sets another).
pub type Clock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

/// How the watcher runs.
#[derive(Clone)]
pub struct WatchConfig {
    /// Time between two polls of one account.
    pub interval: Duration,
    /// The longest wait while the service is unreachable or failing.
    pub max_backoff: Duration,
    /// How often each account's key list (names, limits, expiry) is read again.
    pub metadata_interval: Duration,
    pub alerts: AlertSettings,
    /// Broken-key checks of held keys of services with no key API; `None`: off (the default,
    /// as each check is a call of the person's quota).
    pub key_checks: Option<KeyCheckConfig>,
    pub clock: Clock,
}

impl Default for WatchConfig {
    fn default() -> WatchConfig {
        WatchConfig {
            interval: Duration::from_secs(60),
            max_backoff: Duration::from_secs(15 * 60),
            metadata_interval: Duration::from_secs(5 * 60),
            alerts: AlertSettings::default(),
            key_checks: None,
            clock: Arc::new(Utc::now),
        }
    }
}

impl std::fmt::Debug for WatchConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WatchConfig")
            .field("interval", &self.interval)
            .field("max_backoff", &self.max_backoff)
            .field("metadata_interval", &self.metadata_interval)
            .field("alerts", &self.alerts)
            .finish_non_exhaustive()
    }
}

/// What the watcher tells the app.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum WatchEvent {
    /// Fresh usage of one account is in the cache: [`Watch::cached`](crate::Watch::cached) reads it. The event
    /// carries no snapshot: one of an account with ten thousand keys is megabytes, which every
    /// subscriber and the window (that mostly does not show usage) would take each poll.
    Usage {
        account_id: String,
        #[ts(type = "string")]
        fetched_at: DateTime<Utc>,
    },
    /// An alert, raised once.
    Alert {
        alert: Box<Alert>,
    },
    /// The account's service does not answer; the watcher retries with backoff.
    Offline {
        account_id: String,
        reason: ErrorPayload,
        #[ts(type = "number")]
        retry_in_seconds: u64,
    },
    /// It answers again.
    Online {
        account_id: String,
    },
    /// The service asked to slow down (429 `Retry-After`, or no calls left in its window).
    Throttled {
        account_id: String,
        #[ts(type = "number")]
        retry_in_seconds: u64,
    },
    /// Polling failed for another reason (signed out, no permission, a bad answer).
    Failed {
        account_id: String,
        reason: ErrorPayload,
        #[ts(type = "number")]
        retry_in_seconds: u64,
    },
    Paused,
    Resumed,
}

enum Command {
    Pause,
    Resume,
    PollNow,
}

/// A running usage watcher. Dropping it stops the watcher.
pub struct UsageWatch {
    commands: mpsc::UnboundedSender<Command>,
    events: broadcast::Sender<WatchEvent>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl std::fmt::Debug for UsageWatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UsageWatch").finish_non_exhaustive()
    }
}

impl UsageWatch {
    /// Another receiver of the events from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<WatchEvent> {
        self.events.subscribe()
    }

    /// No more requests until [`UsageWatch::resume`] (for example while the OS reports no
    /// network).
    pub fn pause(&self) {
        let _ = self.commands.send(Command::Pause);
    }

    /// Polls every account now and carries on.
    pub fn resume(&self) {
        let _ = self.commands.send(Command::Resume);
    }

    /// Polls every account now (a refresh button).
    pub fn poll_now(&self) {
        let _ = self.commands.send(Command::PollNow);
    }

    /// Stops the watcher and waits until it has.
    pub async fn stop(mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
            let _ = task.await;
        }
    }
}

impl Drop for UsageWatch {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

struct AccountState {
    due: Instant,
    failures: u32,
    offline: bool,
    metas: Option<(Instant, Vec<KeyMeta>)>,
}

struct Watcher {
    core: Keyhaven,
    config: WatchConfig,
    cache: UsageCache,
    on_event: Arc<dyn Fn(WatchEvent) + Send + Sync>,
    events: broadcast::Sender<WatchEvent>,
    accounts: HashMap<String, AccountState>,
    /// When the held keys are next looked at for due checks.
    next_key_checks: Instant,
    /// Broken-key alerts raised by this watcher, each once.
    raised: HashSet<String>,
}

impl Keyhaven {
    /// Notes the daily cap a key's use reported (`X-RateLimit-*` of a daily window), for the
    /// usage projections.
    pub(crate) fn note_daily_cap(&self, account_id: &str, limit: u32) {
        let noted = self.profile_dir().and_then(|dir| {
            let cache = UsageCache::new(&dir);
            if cache.load().daily_caps.get(account_id) == Some(&limit) {
                return Ok(());
            }
            cache.update(|f| {
                f.daily_caps.insert(account_id.to_string(), limit);
            })
        });
        if let Err(e) = noted {
            tracing::debug!(code = ?e.code(), "could not note the daily cap: {e}");
        }
    }
}

impl crate::app::Watch<'_> {
    /// Starts watching the usage of every account of the active profile whose service reports
    /// usage (see the [module documentation](crate::watch)). `on_event` receives every event,
    /// in order, from the first poll on. Needs a tokio runtime.
    pub fn start(
        &self,
        config: WatchConfig,
        on_event: impl Fn(WatchEvent) + Send + Sync + 'static,
    ) -> Result<UsageWatch> {
        if config.interval.is_zero() {
            return Err(Error::validation("interval", "must be longer than zero"));
        }
        let cache = UsageCache::new(&self.core.profile_dir()?);
        let (commands, receiver) = mpsc::unbounded_channel();
        let (events, _) = broadcast::channel(256);
        let watcher = Watcher {
            core: self.core.clone(),
            config,
            cache,
            on_event: Arc::new(on_event),
            events: events.clone(),
            accounts: HashMap::new(),
            next_key_checks: Instant::now(),
            raised: HashSet::new(),
        };
        let task = tokio::spawn(watcher.run(receiver));
        Ok(UsageWatch {
            commands,
            events,
            task: Some(task),
        })
    }

    /// The last usage seen of the account, from the cache: available offline. `None` before
    /// the first poll.
    pub fn cached(&self, account_id: &str) -> Result<Option<UsageSnapshot>> {
        self.core.accounts().get(account_id)?;
        Ok(UsageCache::new(&self.core.profile_dir()?).snapshot(account_id))
    }

    /// Reads the account's usage now (one `/v1/usage` request and the key list), keeps it in
    /// the cache and returns it, with projections against `alerts.daily_caps` or the cap the
    /// service reported. Raises no alert.
    pub async fn refresh(
        &self,
        account_id: &str,
        settings: &AlertSettings,
    ) -> Result<UsageSnapshot> {
        let cache = UsageCache::new(&self.core.profile_dir()?);
        let usage = self
            .core
            .account_usage_metered(account_id, &UsageQuery::default())
            .await?
            .value;
        let metas = self
            .core
            .with_session(account_id, |c, token| async move {
                c.list_keys(&token, None).await
            })
            .await?;
        let cap = daily_cap(&cache, settings, account_id);
        let snap = snapshot(account_id, &usage, &metas, cap, Utc::now());
        let stored = snap.clone();
        cache.update(|f| {
            f.accounts.insert(account_id.to_string(), stored);
        })?;
        Ok(snap)
    }
}

fn daily_cap(cache: &UsageCache, settings: &AlertSettings, account_id: &str) -> Option<u32> {
    settings
        .daily_caps
        .get(account_id)
        .copied()
        .or_else(|| cache.load().daily_caps.get(account_id).copied())
}

/// The accounts whose service reports usage: a service that does not (TokenKit) is not polled,
/// so that it raises no failed poll every interval.
fn reporting_usage(
    accounts: Vec<crate::Account>,
    capabilities: impl Fn(&str) -> Option<crate::Capabilities>,
) -> Vec<crate::Account> {
    accounts
        .into_iter()
        .filter(|a| capabilities(&a.id).is_some_and(|c| c.account_usage))
        .collect()
}

impl Watcher {
    fn emit(&self, event: WatchEvent) {
        (self.on_event)(event.clone());
        let _ = self.events.send(event);
    }

    async fn run(mut self, mut commands: mpsc::UnboundedReceiver<Command>) {
        let mut paused = false;
        loop {
            if !paused {
                let core = &self.core;
                let accounts = reporting_usage(core.accounts().list(), |id| {
                    core.accounts().capabilities(id).ok()
                });
                self.accounts
                    .retain(|id, _| accounts.iter().any(|a| &a.id == id));
                // The longest-waiting account first (a new one before all), each checked against
                // the time it would start: a slow poll of one account must not let it go again
                // before another that fell due while it ran.
                let mut order: Vec<(Option<Instant>, &str)> = accounts
                    .iter()
                    .map(|a| (self.accounts.get(&a.id).map(|s| s.due), a.id.as_str()))
                    .collect();
                order.sort_by_key(|(due, _)| *due);
                for (due, id) in order {
                    if due.is_none_or(|due| due <= Instant::now()) {
                        self.poll(id).await;
                    }
                }
                self.check_keys().await;
            }
            let mut next = self
                .accounts
                .values()
                .map(|s| s.due)
                .min()
                .unwrap_or_else(|| Instant::now() + self.config.interval);
            if self.config.key_checks.is_some() {
                next = next.min(self.next_key_checks);
            }
            tokio::select! {
                command = commands.recv() => match command {
                    None => break,
                    Some(Command::Pause) => {
                        if !paused {
                            paused = true;
                            self.emit(WatchEvent::Paused);
                        }
                    }
                    Some(Command::Resume) => {
                        let was = paused;
                        paused = false;
                        self.make_all_due();
                        if was {
                            self.emit(WatchEvent::Resumed);
                        }
                    }
                    Some(Command::PollNow) => self.make_all_due(),
                },
                _ = tokio::time::sleep_until(next), if !paused => {}
            }
        }
    }

    /// Checks the held keys that are due, at most once a minute, and raises an alert for each
    /// that its service started refusing.
    async fn check_keys(&mut self) {
        let Some(config) = self.config.key_checks else {
            return;
        };
        if Instant::now() < self.next_key_checks {
            return;
        }
        self.next_key_checks = Instant::now() + config.interval.min(Duration::from_secs(60));
        match self
            .core
            .watch()
            .check_due_keys(&config, (self.config.clock)())
            .await
        {
            Ok(alerts) => {
                for alert in alerts {
                    if self.raised.insert(alert.id.clone()) {
                        self.emit(WatchEvent::Alert {
                            alert: Box::new(alert),
                        });
                    }
                }
            }
            Err(e) => tracing::warn!(code = ?e.code(), "the held keys were not checked: {e}"),
        }
    }

    fn make_all_due(&mut self) {
        let now = Instant::now();
        for state in self.accounts.values_mut() {
            state.due = now;
        }
    }

    async fn poll(&mut self, account_id: &str) {
        let started = Instant::now();
        let result = self.poll_once(account_id).await;
        let config = &self.config;
        let state = self
            .accounts
            .entry(account_id.to_string())
            .or_insert(AccountState {
                due: started,
                failures: 0,
                offline: false,
                metas: None,
            });
        let (outcome, error) = match result {
            Ok((ratelimit, metas)) => {
                if let Some(metas) = metas {
                    state.metas = Some((started, metas));
                }
                (PollResult::Fresh { ratelimit }, None)
            }
            Err(e) if e.is_network() => (PollResult::Offline, Some(e)),
            Err(e) => match e {
                Error::RateLimited { retry_after, .. } => {
                    (PollResult::Throttled { retry_after }, Some(e))
                }
                other => (PollResult::Failed, Some(other)),
            },
        };
        match &outcome {
            PollResult::Fresh { .. } => state.failures = 0,
            _ => state.failures = state.failures.saturating_add(1),
        }
        let delay = next_delay(
            &outcome,
            state.failures,
            config.interval,
            config.max_backoff,
        );
        // The usual interval keeps its cadence from the poll's start; a wait the service asked for
        // counts from its answer, as the service does.
        let service_asked = outcome.service_wait().is_some();
        state.due = if service_asked {
            Instant::now() + delay
        } else {
            started + delay
        };
        let was_offline = state.offline;
        state.offline = outcome == PollResult::Offline;
        let retry_in_seconds = delay.as_secs().max(1);
        let account_id = account_id.to_string();
        let event = match (&outcome, error) {
            (PollResult::Fresh { .. }, _) => {
                if was_offline {
                    self.emit(WatchEvent::Online {
                        account_id: account_id.clone(),
                    });
                }
                service_asked.then_some(WatchEvent::Throttled {
                    account_id,
                    retry_in_seconds,
                })
            }
            (PollResult::Offline, Some(e)) if !was_offline => Some(WatchEvent::Offline {
                account_id,
                reason: e.payload(),
                retry_in_seconds,
            }),
            (PollResult::Offline, _) => None,
            (PollResult::Throttled { .. }, _) => Some(WatchEvent::Throttled {
                account_id,
                retry_in_seconds,
            }),
            (PollResult::Failed, Some(e)) => Some(WatchEvent::Failed {
                account_id,
                reason: e.payload(),
                retry_in_seconds,
            }),
            (PollResult::Failed, None) => None,
        };
        if let Some(event) = event {
            tracing::info!(?delay, "usage watch: {:?}", event_name(&event));
            self.emit(event);
        }
    }

    /// One account's poll: usage (always), the key list (when stale or a key is new), the
    /// snapshot into the cache, then events. Returns the rate-limit window the service reported
    /// and a fresh key list, if one was read.
    async fn poll_once(
        &mut self,
        account_id: &str,
    ) -> Result<(Option<keyhaven_api::RateLimitInfo>, Option<Vec<KeyMeta>>)> {
        let usage = self
            .core
            .account_usage_metered(account_id, &UsageQuery::default())
            .await?;
        let known = self.accounts.get(account_id).and_then(|s| s.metas.as_ref());
        let stale = match known {
            None => true,
            Some((at, metas)) => {
                at.elapsed() >= self.config.metadata_interval || {
                    let ids: HashSet<&str> = metas.iter().map(|m| m.id.as_str()).collect();
                    usage
                        .value
                        .keys
                        .iter()
                        .any(|k| !ids.contains(k.key_id.as_str()))
                }
            }
        };
        let fresh_metas = if stale {
            Some(
                self.core
                    .with_session(account_id, |c, token| async move {
                        c.list_keys(&token, None).await
                    })
                    .await?,
            )
        } else {
            None
        };
        let metas: &[KeyMeta] = match (&fresh_metas, known) {
            (Some(m), _) => m,
            (None, Some((_, m))) => m,
            (None, None) => &[],
        };
        let now = (self.config.clock)();
        let cap = daily_cap(&self.cache, &self.config.alerts, account_id);
        let snap = snapshot(account_id, &usage.value, metas, cap, now);
        let holding = alerts(&snap, &self.config.alerts, now);
        let mut raised_now = Vec::new();
        let fetched_at = snap.fetched_at;
        self.cache.update(|f| {
            let mut raised = f.raised_ids();
            raised_now = new_alerts(holding, &mut raised);
            for id in raised {
                f.raised.entry(id).or_insert(now);
            }
            f.accounts.insert(account_id.to_string(), snap);
        })?;
        self.emit(WatchEvent::Usage {
            account_id: account_id.to_string(),
            fetched_at,
        });
        for alert in raised_now {
            tracing::info!(alert = %alert.id, severity = ?alert.severity, "usage alert");
            self.emit(WatchEvent::Alert {
                alert: Box::new(alert),
            });
        }
        Ok((usage.ratelimit, fresh_metas))
    }
}

fn event_name(e: &WatchEvent) -> &'static str {
    match e {
        WatchEvent::Usage { .. } => "usage",
        WatchEvent::Alert { .. } => "alert",
        WatchEvent::Offline { .. } => "offline",
        WatchEvent::Online { .. } => "online",
        WatchEvent::Throttled { .. } => "throttled",
        WatchEvent::Failed { .. } => "failed",
        WatchEvent::Paused => "paused",
        WatchEvent::Resumed => "resumed",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::{Account, ConnectorKind, ServiceRef};
    use crate::Capabilities;

    fn account(id: &str, connector: ConnectorKind) -> Account {
        Account {
            id: id.to_string(),
            label: id.to_string(),
            service: ServiceRef::Url {
                url: "http://127.0.0.1:8080".to_string(),
                allow_http: false,
            },
            email: "ann@example.com".to_string(),
            user_id: "usr_1".to_string(),
            role: keyhaven_api::Role::Owner,
            tenant_id: "ten_1".to_string(),
            connector,
            created_at: chrono::Utc::now(),
            remember_password: false,
            tier: None,
        }
    }

    #[test]
    fn only_accounts_whose_service_reports_usage_are_polled() {
        let accounts = vec![
            account("acc_native", ConnectorKind::Native),
            account("acc_tokenkit", ConnectorKind::Tokenkit),
            account("acc_gone", ConnectorKind::Native),
        ];
        let caps = |id: &str| match id {
            "acc_native" => Some(Capabilities {
                account_usage: true,
                ..Capabilities::NONE
            }),
            "acc_tokenkit" => Some(Capabilities {
                list_keys: true,
                ..Capabilities::NONE
            }),
            _ => None,
        };
        let polled: Vec<String> = reporting_usage(accounts, caps)
            .into_iter()
            .map(|a| a.id)
            .collect();
        assert_eq!(polled, ["acc_native"]);
    }
}
