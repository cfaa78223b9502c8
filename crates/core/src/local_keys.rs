//! What Keyhaven knows of keys their service does not describe to it: the keys of services with
//! no key API (AniKura, Ananke Labs, WaniKani, generic keys), imported by pasting their secret;
//! the settings of keys Keyhaven made on a service that does not list them (TokenKit's origins,
//! IPs and hourly limit), so that a rotation can make a twin; and the last check of each key.
//!
//! One JSON file per profile, `local-keys.json`, written atomically. Never a secret: those are in
//! the [vault](crate::vault) under [`names::key`](crate::vault::names::key).

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use keyhaven_api::{KeyMeta, KeyStatus};
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::catalog::{read_json, write_json_atomic};
use crate::error::Result;
use crate::file_lock::{lock_path_for, FileLock};

/// Serialises read-modify-write cycles of every profile's file in this process.
static WRITES: Mutex<()> = Mutex::new(());

/// How a key of a generic service is sent, and where it can be checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct Presentation {
    /// The HTTP header the key goes in, e.g. `Authorization` or `X-API-Key`.
    pub header: String,
    /// Text put before the key in that header, e.g. `Bearer ` (may be empty).
    #[serde(default)]
    pub value_prefix: String,
    /// A URL that answers 2xx to a working key and 401 or 403 to a refused one; without it the
    /// key cannot be checked.
    #[ts(optional)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verify_url: Option<String>,
}

/// What a check of a key found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// The service accepted the key.
    Works,
    /// The service refused the key itself (401): it was deleted, regenerated or has expired.
    Refused,
    /// The key is valid, but the service refused the call for the account's sake (a quota spent,
    /// a suspended tenant, a rate limit): the key is not broken.
    Limited,
    /// The service could not be reached or answered something that says neither.
    Unknown,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Works => "works",
            Verdict::Refused => "refused",
            Verdict::Limited => "limited",
            Verdict::Unknown => "unknown",
        }
    }
}

/// What a service's answer said of the account's daily quota (AniKura's `X-RateLimit-*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct Quota {
    /// Calls left today; `None` on a tier without a daily cap.
    #[ts(type = "number | null")]
    pub remaining: Option<u32>,
    /// The tier's daily cap, when it has one.
    #[ts(type = "number | null")]
    pub limit: Option<u32>,
    /// When the count starts again (midnight UTC for AniKura).
    #[ts(type = "string")]
    pub resets_at: DateTime<Utc>,
}

/// The last check of a key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct KeyCheck {
    #[ts(type = "string")]
    pub at: DateTime<Utc>,
    pub verdict: Verdict,
    /// What the person is told: what the service answered and what to do.
    pub message: String,
    #[ts(optional)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quota: Option<Quota>,
}

/// A key as this profile records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LocalKey {
    pub account_id: String,
    /// The service's id where it has one (TokenKit), else Keyhaven's own (`imp_…`).
    pub key_id: String,
    pub name: String,
    /// The first characters of the secret, to recognise it by.
    pub prefix: String,
    pub added_at: DateTime<Utc>,
    /// Scopes or permissions (WaniKani's, as the person gives them).
    #[serde(default)]
    pub scopes: Vec<String>,
    #[serde(default)]
    pub expires_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub allowed_origins: Vec<String>,
    #[serde(default)]
    pub allowed_ips: Vec<String>,
    #[serde(default)]
    pub rate_limit_per_hour: Option<u32>,
    /// How a generic key is sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub presentation: Option<Presentation>,
    /// The last check; `None`: never checked (imported unverified).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check: Option<KeyCheck>,
}

impl LocalKey {
    /// The key as the UI and the CLI show keys, for a service that does not list it.
    pub fn meta(&self, tenant_id: &str, created_by: &str, now: DateTime<Utc>) -> KeyMeta {
        let expired = self.expires_at.is_some_and(|t| t <= now);
        KeyMeta {
            id: self.key_id.clone(),
            tenant_id: tenant_id.to_string(),
            name: self.name.clone(),
            prefix: self.prefix.clone(),
            scopes: self.scopes.clone(),
            status: if expired {
                KeyStatus::Expired
            } else {
                KeyStatus::Active
            },
            created_at: self.added_at,
            last_used_at: None,
            expires_at: self.expires_at,
            revoked_at: None,
            allowed_origins: self.allowed_origins.clone(),
            allowed_ips: self.allowed_ips.clone(),
            rate_limit_per_hour: self.rate_limit_per_hour,
            created_by: created_by.to_string(),
            replaced_by: None,
            replaces: None,
            note: None,
        }
    }

    /// Adds what this record knows to a key as its service lists it (the settings TokenKit does
    /// not list).
    pub fn fill(&self, meta: &mut KeyMeta) {
        if meta.prefix.is_empty() {
            meta.prefix = self.prefix.clone();
        }
        if meta.allowed_origins.is_empty() {
            meta.allowed_origins = self.allowed_origins.clone();
        }
        if meta.allowed_ips.is_empty() {
            meta.allowed_ips = self.allowed_ips.clone();
        }
        if meta.rate_limit_per_hour.is_none() {
            meta.rate_limit_per_hour = self.rate_limit_per_hour;
        }
        if meta.scopes.is_empty() {
            meta.scopes = self.scopes.clone();
        }
        if meta.expires_at.is_none() {
            meta.expires_at = self.expires_at;
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct LocalKeyFile {
    #[serde(default)]
    keys: Vec<LocalKey>,
}

/// The `local-keys.json` of one profile.
#[derive(Debug, Clone)]
pub struct LocalKeyStore {
    path: PathBuf,
}

impl LocalKeyStore {
    pub fn new(profile_dir: &Path) -> LocalKeyStore {
        LocalKeyStore {
            path: profile_dir.join("local-keys.json"),
        }
    }

    fn load(&self) -> Result<LocalKeyFile> {
        Ok(read_json(&self.path)?.unwrap_or_default())
    }

    /// Reads the file again, applies `change`, and writes it (only if `change` asked to).
    fn change<R>(&self, change: impl FnOnce(&mut Vec<LocalKey>) -> (bool, R)) -> Result<R> {
        let _one_at_a_time = WRITES.lock().unwrap_or_else(|p| p.into_inner());
        let _other_processes = FileLock::exclusive(&lock_path_for(&self.path))?;
        let mut file = self.load()?;
        let (write, result) = change(&mut file.keys);
        if write {
            write_json_atomic(&self.path, &file)?;
        }
        Ok(result)
    }

    /// The account's keys, in the order they were added.
    pub fn list(&self, account_id: &str) -> Result<Vec<LocalKey>> {
        Ok(self
            .load()?
            .keys
            .into_iter()
            .filter(|k| k.account_id == account_id)
            .collect())
    }

    pub fn get(&self, account_id: &str, key_id: &str) -> Result<Option<LocalKey>> {
        Ok(self
            .load()?
            .keys
            .into_iter()
            .find(|k| k.account_id == account_id && k.key_id == key_id))
    }

    /// Records `key`, replacing the record of the same account and id.
    pub fn put(&self, key: LocalKey) -> Result<()> {
        self.change(|keys| {
            match keys
                .iter_mut()
                .find(|k| k.account_id == key.account_id && k.key_id == key.key_id)
            {
                Some(existing) => *existing = key,
                None => keys.push(key),
            }
            (true, ())
        })
    }

    /// Applies `edit` to the key's record; `false` if there is none.
    pub fn edit(
        &self,
        account_id: &str,
        key_id: &str,
        edit: impl FnOnce(&mut LocalKey),
    ) -> Result<bool> {
        self.change(|keys| {
            match keys
                .iter_mut()
                .find(|k| k.account_id == account_id && k.key_id == key_id)
            {
                Some(key) => {
                    edit(key);
                    (true, true)
                }
                None => (false, false),
            }
        })
    }

    /// Forgets the key's record; `false` if there was none.
    pub fn remove(&self, account_id: &str, key_id: &str) -> Result<bool> {
        self.change(|keys| {
            let before = keys.len();
            keys.retain(|k| !(k.account_id == account_id && k.key_id == key_id));
            let removed = keys.len() != before;
            (removed, removed)
        })
    }

    /// Forgets every record of the account.
    pub fn remove_account(&self, account_id: &str) -> Result<()> {
        self.change(|keys| {
            let before = keys.len();
            keys.retain(|k| k.account_id != account_id);
            (keys.len() != before, ())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(account: &str, id: &str) -> LocalKey {
        LocalKey {
            account_id: account.into(),
            key_id: id.into(),
            name: format!("key {id}"),
            prefix: "ak_live_AbCd".into(),
            added_at: Utc::now(),
            scopes: Vec::new(),
            expires_at: None,
            allowed_origins: Vec::new(),
            allowed_ips: Vec::new(),
            rate_limit_per_hour: None,
            presentation: None,
            check: None,
        }
    }

    #[test]
    fn records_are_kept_per_account_and_replaced_by_id() {
        let dir = tempfile::tempdir().expect("store");
        let store = LocalKeyStore::new(dir.path());
        assert!(store.list("acc_a").expect("store").is_empty());
        store.put(key("acc_a", "imp_1")).expect("store");
        store.put(key("acc_a", "imp_2")).expect("store");
        store.put(key("acc_b", "imp_1")).expect("store");
        let mut renamed = key("acc_a", "imp_1");
        renamed.name = "renamed".into();
        store.put(renamed).expect("store");
        let a = store.list("acc_a").expect("store");
        assert_eq!(a.len(), 2);
        assert_eq!(a[0].name, "renamed");
        assert!(store
            .edit("acc_b", "imp_1", |k| k.scopes = vec!["read".into()])
            .expect("store"));
        assert!(!store.edit("acc_b", "imp_9", |_| {}).expect("store"));
        assert_eq!(
            store
                .get("acc_b", "imp_1")
                .expect("store")
                .expect("store")
                .scopes,
            ["read"]
        );
        assert!(store.remove("acc_a", "imp_2").expect("store"));
        assert!(!store.remove("acc_a", "imp_2").expect("store"));
        store.remove_account("acc_a").expect("store");
        assert!(store.list("acc_a").expect("store").is_empty());
        assert_eq!(store.list("acc_b").expect("store").len(), 1);
    }

    #[test]
    fn a_record_fills_what_a_listing_leaves_out_and_says_when_it_expired() {
        let now = Utc::now();
        let mut record = key("acc", "17");
        record.allowed_origins = vec!["https://app.example".into()];
        record.rate_limit_per_hour = Some(500);
        record.expires_at = Some(now - chrono::Duration::minutes(1));
        let mut listed = record.meta("t", "ann", now);
        assert_eq!(listed.status, KeyStatus::Expired);
        listed.allowed_origins.clear();
        listed.rate_limit_per_hour = None;
        listed.prefix.clear();
        record.fill(&mut listed);
        assert_eq!(listed.allowed_origins, ["https://app.example"]);
        assert_eq!(listed.rate_limit_per_hour, Some(500));
        assert_eq!(listed.prefix, "ak_live_AbCd");
    }
}
