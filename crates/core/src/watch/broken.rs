//! Broken-key alerts: people regenerate a key on a service's page, a script stops working, and
//! nobody connects the two. Keyhaven checks the keys it holds of services with no key API (one
//! cheap call per key per interval, opt-in; AniKura's only when asked too, as its calls count
//! against a daily cap) and, after `keyhaven run`'s command fails, the keys that command was
//! given. A key whose check turns to "refused" raises one alert naming the service and what to
//! do.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::{Alert, AlertKind, AlertSeverity};
use crate::catalog::ConnectorKind;
use crate::connector::kind_info;
use crate::error::Result;
use crate::local_keys::{KeyCheck, Verdict};

/// How the periodic checks run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyCheckConfig {
    /// The least time between two checks of one key.
    pub interval: Duration,
    /// Check AniKura keys too (each check is a call of the account's daily cap).
    pub anikura: bool,
}

impl crate::app::Watch<'_> {
    /// Checks every held key of a service with no key API whose last check is older than
    /// `config.interval` (or that was never checked), and gives an alert for each key that the
    /// service refuses now and did not before. A check that fails to reach the service is
    /// recorded and raises nothing.
    pub async fn check_due_keys(
        &self,
        config: &KeyCheckConfig,
        now: DateTime<Utc>,
    ) -> Result<Vec<Alert>> {
        let interval = chrono::Duration::from_std(config.interval)
            .unwrap_or_else(|_| chrono::Duration::hours(1));
        let store = self.core.local_key_store()?;
        let mut alerts = Vec::new();
        for account in self.core.accounts().list() {
            let caps = match self.core.accounts().capabilities(&account.id) {
                Ok(caps) => caps,
                Err(_) => continue,
            };
            if !caps.local_keys || (account.connector == ConnectorKind::Anikura && !config.anikura)
            {
                continue;
            }
            for key in store.list(&account.id)? {
                let due = key.check.as_ref().is_none_or(|c| c.at + interval <= now);
                if !due {
                    continue;
                }
                let before = key.check.as_ref().map(|c| c.verdict);
                match self.core.keys().check(&account.id, &key.key_id).await {
                    Ok(check) => {
                        if let Some(alert) = refused_alert(
                            &account.id,
                            &key.key_id,
                            &key.name,
                            account.connector,
                            before,
                            &check,
                        ) {
                            alerts.push(alert);
                        }
                    }
                    Err(e) => {
                        tracing::debug!(account = %account.id, key = %key.key_id, code = ?e.code(), "a key check failed: {e}");
                    }
                }
            }
        }
        Ok(alerts)
    }

    /// Checks the given keys now (`keyhaven run`'s command failed: was it one of them?), and
    /// gives an alert for each that its service refuses.
    pub async fn check_keys_now(&self, keys: &[(String, String)]) -> Vec<Alert> {
        let mut alerts = Vec::new();
        for (account_id, key_id) in keys {
            let Ok(account) = self.core.accounts().get(account_id) else {
                continue;
            };
            let name = self
                .core
                .local_key_store()
                .ok()
                .and_then(|s| s.get(account_id, key_id).ok().flatten())
                .map(|k| k.name)
                .unwrap_or_else(|| key_id.clone());
            match self.core.keys().check(account_id, key_id).await {
                Ok(check) => {
                    if let Some(alert) =
                        refused_alert(account_id, key_id, &name, account.connector, None, &check)
                    {
                        alerts.push(alert);
                    }
                }
                Err(e) => {
                    tracing::debug!(account = %account_id, key = %key_id, code = ?e.code(), "a key check failed: {e}");
                }
            }
        }
        alerts
    }
}

/// The alert for a key found refused, unless it was refused at the last check already.
fn refused_alert(
    account_id: &str,
    key_id: &str,
    name: &str,
    kind: ConnectorKind,
    before: Option<Verdict>,
    check: &KeyCheck,
) -> Option<Alert> {
    if check.verdict != Verdict::Refused || before == Some(Verdict::Refused) {
        return None;
    }
    let info = kind_info(kind);
    Some(Alert {
        id: format!("refused:{account_id}:{key_id}:{}", check.at.timestamp()),
        account_id: account_id.to_string(),
        key_id: Some(key_id.to_string()),
        key_name: Some(name.to_string()),
        severity: AlertSeverity::Critical,
        kind: AlertKind::KeyRefused {
            service: info.label.to_string(),
            key_page: info.key_page.to_string(),
        },
        message: format!(
            "{} refuses the key \"{name}\": it was deleted, regenerated or has expired there, so \
             whatever uses it fails. Make a new key in {} and rotate to it.",
            info.label, info.key_page
        ),
        covers: Vec::new(),
    })
}
