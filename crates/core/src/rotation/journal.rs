//! The rotation journal: one JSON file per unfinished rotation in the profile's
//! `rotations/` folder, rewritten atomically before and after every step. It holds ids,
//! names, times and the step reached, never a secret: a secret that was not yet in the
//! keychain when the process stopped is gone, and recovery treats it so.

use std::fs;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{Method, RotationStep};
use crate::catalog::write_json_atomic;
use crate::error::{Error, ErrorPayload, Result};

/// The journal format; a file of another version is left alone and reported.
pub const JOURNAL_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Journal {
    pub version: u32,
    pub id: String,
    pub account_id: String,
    pub old_key_id: String,
    pub old_key_name: String,
    /// How the replacement is made; a roll that lost its new key continues as a replace.
    pub method: Method,
    pub grace_seconds: u64,
    pub started_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The account's keys before anything changed: a key that is not among them, has the old
    /// key's name and appeared after `started_at` is this rotation's.
    pub known_key_ids: Vec<String>,
    /// The step in progress, or the last one finished when `step_done`.
    pub step: RotationStep,
    pub step_done: bool,
    pub new_key_id: Option<String>,
    pub new_key_prefix: Option<String>,
    /// When the old key stops working, once that is decided (a roll, or the retire step).
    pub old_key_expires_at: Option<DateTime<Utc>>,
    /// Replacement keys made after the first one was lost or refused.
    pub replacements: u32,
    /// The old key's own expiry when the rotation began: a replacement made after a roll copies
    /// this, not the end of the roll's grace period. Absent in journals written before.
    #[serde(default)]
    pub old_key_expiry: Option<DateTime<Utc>>,
    /// Why the rotation last stopped short, for the person and for the logs.
    pub last_error: Option<ErrorPayload>,
}

/// The folder of one profile's rotation journals.
#[derive(Debug, Clone)]
pub struct JournalStore {
    dir: PathBuf,
}

impl JournalStore {
    pub fn new(profile_dir: &Path) -> JournalStore {
        JournalStore {
            dir: profile_dir.join("rotations"),
        }
    }

    fn path(&self, id: &str) -> PathBuf {
        self.dir.join(format!("{id}.json"))
    }

    pub fn save(&self, journal: &Journal) -> Result<()> {
        write_json_atomic(&self.path(&journal.id), journal)
    }

    pub fn remove(&self, id: &str) -> Result<()> {
        match fs::remove_file(self.path(id)) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(Error::Catalog {
                action: "remove",
                path: self.path(id),
                source,
            }),
        }
    }

    /// Every unfinished rotation, oldest first. A damaged file is reported, not skipped: it
    /// may describe a key that needs attention.
    pub fn load_all(&self) -> Result<Vec<Journal>> {
        let entries = match fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => {
                return Err(Error::Catalog {
                    action: "read",
                    path: self.dir.clone(),
                    source,
                })
            }
        };
        let mut journals = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|source| Error::Catalog {
                action: "read",
                path: self.dir.clone(),
                source,
            })?;
            let path = entry.path();
            let is_journal = path.extension().is_some_and(|e| e == "json")
                && path
                    .file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("rot_"));
            if !is_journal {
                continue;
            }
            let text = fs::read_to_string(&path).map_err(|source| Error::Catalog {
                action: "read",
                path: path.clone(),
                source,
            })?;
            let journal: Journal =
                serde_json::from_str(&text).map_err(|e| Error::CatalogCorrupt {
                    path: path.clone(),
                    problem: e.to_string(),
                })?;
            if journal.version != JOURNAL_VERSION {
                return Err(Error::CatalogCorrupt {
                    path,
                    problem: format!(
                        "journal version {} is not {JOURNAL_VERSION}; a newer Keyhaven wrote it",
                        journal.version
                    ),
                });
            }
            journals.push(journal);
        }
        journals.sort_by_key(|j| j.started_at);
        Ok(journals)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn journal(id: &str) -> Journal {
        Journal {
            version: JOURNAL_VERSION,
            id: id.into(),
            account_id: "acc_1".into(),
            old_key_id: "key_old".into(),
            old_key_name: "deploy".into(),
            method: Method::Replace,
            grace_seconds: 3600,
            started_at: Utc::now(),
            updated_at: Utc::now(),
            known_key_ids: vec!["key_old".into()],
            step: RotationStep::Store,
            step_done: false,
            new_key_id: Some("key_new".into()),
            new_key_prefix: Some("kh_test_AbCd".into()),
            old_key_expires_at: None,
            replacements: 0,
            old_key_expiry: None,
            last_error: None,
        }
    }

    #[test]
    fn journals_round_trip_and_leave_no_temporary_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = JournalStore::new(dir.path());
        assert!(store.load_all().expect("empty").is_empty());
        let j = journal("rot_1");
        store.save(&j).expect("save");
        let mut j2 = j.clone();
        j2.step_done = true;
        store.save(&j2).expect("save again");
        assert_eq!(store.load_all().expect("load"), vec![j2]);
        let files: Vec<_> = fs::read_dir(dir.path().join("rotations"))
            .expect("dir")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(files, vec![std::ffi::OsString::from("rot_1.json")]);
        let v: serde_json::Value = serde_json::from_str(
            &fs::read_to_string(dir.path().join("rotations/rot_1.json")).expect("read"),
        )
        .expect("json");
        assert_eq!(v["step"], "store");
        assert_eq!(v["method"], "replace");
        store.remove("rot_1").expect("remove");
        store.remove("rot_1").expect("remove twice");
        assert!(store.load_all().expect("empty").is_empty());
    }

    #[test]
    fn a_damaged_journal_is_reported() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = JournalStore::new(dir.path());
        fs::create_dir_all(dir.path().join("rotations")).expect("mkdir");
        fs::write(dir.path().join("rotations/rot_x.json"), "{").expect("write");
        assert!(matches!(
            store.load_all(),
            Err(Error::CatalogCorrupt { .. })
        ));
    }
}
