//! The usage cache: `profiles/{profile}/usage-cache.json`, written atomically after each poll.
//! The last snapshot of each account (metadata and counts, never a secret), the alerts already
//! raised (so that a restart does not raise them again), and the daily caps the service
//! reported.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use super::analysis::UsageSnapshot;
use crate::catalog::write_json_atomic;
use crate::error::Result;

/// How long a raised alert is remembered.
const RAISED_FOR_DAYS: i64 = 14;

/// One read-modify-write of a cache file at a time in this process.
static WRITES: Mutex<()> = Mutex::new(());

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CacheFile {
    #[serde(default)]
    pub accounts: BTreeMap<String, UsageSnapshot>,
    /// Alert id → when it was raised.
    #[serde(default)]
    pub raised: BTreeMap<String, DateTime<Utc>>,
    /// Account id → the daily cap the service reported for its tenant.
    #[serde(default)]
    pub daily_caps: BTreeMap<String, u32>,
}

impl CacheFile {
    pub fn raised_ids(&self) -> HashSet<String> {
        self.raised.keys().cloned().collect()
    }
}

#[derive(Debug, Clone)]
pub struct UsageCache {
    path: PathBuf,
}

impl UsageCache {
    pub fn new(profile_dir: &Path) -> UsageCache {
        UsageCache {
            path: profile_dir.join("usage-cache.json"),
        }
    }

    /// The cache; empty when there is none. A damaged cache is only a cache: it is reported in
    /// the log and read as empty (the next poll rewrites it).
    pub fn load(&self) -> CacheFile {
        match std::fs::read_to_string(&self.path) {
            Ok(text) => serde_json::from_str(&text).unwrap_or_else(|e| {
                tracing::warn!(problem = %e, "the usage cache is damaged; starting afresh");
                CacheFile::default()
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => CacheFile::default(),
            Err(e) => {
                tracing::warn!(error = %e, "the usage cache could not be read");
                CacheFile::default()
            }
        }
    }

    /// Applies `change` to the cache on disk and writes it back atomically.
    pub fn update(&self, change: impl FnOnce(&mut CacheFile)) -> Result<()> {
        let _one_at_a_time = WRITES.lock().unwrap_or_else(|p| p.into_inner());
        let _other_processes =
            crate::file_lock::FileLock::exclusive(&crate::file_lock::lock_path_for(&self.path))?;
        let mut file = self.load();
        change(&mut file);
        let cutoff = Utc::now() - TimeDelta::days(RAISED_FOR_DAYS);
        file.raised.retain(|_, at| *at >= cutoff);
        write_json_atomic(&self.path, &file)
    }

    pub fn snapshot(&self, account_id: &str) -> Option<UsageSnapshot> {
        self.load().accounts.remove(account_id)
    }
}
