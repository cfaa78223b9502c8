//! Which env files reference which keys. `keyhaven run --env-file` and `keyhaven env import`
//! record, for every file they read, the `keyhaven:ACCOUNT/KEY` references it holds; a key's
//! detail shows the files that name it ("Used by"). Kept per profile in
//! `profiles/{name}/env-references.json`, written atomically under a lock
//! (`env-references.lock`), so that commands running at once each keep their note; never a
//! secret, only the file's path, the variables and the references as written.
//!
//! A reference names a key by name, id or prefix, so it is matched the same way it resolves: by
//! name (a rotation keeps it), by id (following the rotation links), or by the start of the
//! prefix.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use keyhaven_api::KeyMeta;
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::catalog::{create_private_dir, read_json, write_json_atomic};
use crate::error::{Error, Result};
use crate::Keyhaven;

const REFERENCES_FILE: &str = "env-references.json";
const LOCK_FILE: &str = "env-references.lock";
/// Files remembered per profile; the ones seen longest ago are forgotten first.
pub const FILES_KEPT: usize = 500;

/// One reference in an env file, as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recorded {
    /// The variable that holds the reference.
    pub variable: String,
    /// The file's line (from 1).
    pub line: usize,
    /// The account's id (a reference naming the account by email or label is recorded by id).
    pub account_id: String,
    /// The key as the reference names it: name, id or prefix.
    pub key: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct FileEntry {
    seen_at: DateTime<Utc>,
    references: Vec<Recorded>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct References {
    #[serde(default)]
    files: BTreeMap<PathBuf, FileEntry>,
}

/// An env file that references a key, for its detail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct EnvReference {
    /// The file's absolute path.
    pub path: String,
    /// The variable that holds the reference.
    pub variable: String,
    /// The file's line (from 1).
    pub line: u32,
    /// When `run` or `env import` last read the file (RFC 3339).
    pub seen_at: String,
    /// Whether the file is still there.
    pub exists: bool,
}

impl Keyhaven {
    fn references_path(&self) -> Result<PathBuf> {
        Ok(self.profile_dir()?.join(REFERENCES_FILE))
    }
}

impl crate::app::Keys<'_> {
    /// Records what a file references now, replacing what it referenced before; a file with no
    /// reference left is forgotten. The path is made absolute (and canonical when it exists),
    /// so a file read from two folders is one entry.
    pub fn record_env_file(&self, file: &Path, references: Vec<Recorded>) -> Result<()> {
        let path = absolute(file);
        let store = self.core.references_path()?;
        // Held until the new file is in place: another process's read-change-write waits.
        let _lock = lock(&store.with_file_name(LOCK_FILE))?;
        let mut all: References = read_json(&store)?.unwrap_or_default();
        if references.is_empty() {
            if all.files.remove(&path).is_none() {
                return Ok(());
            }
        } else {
            all.files.insert(
                path,
                FileEntry {
                    seen_at: Utc::now(),
                    references,
                },
            );
        }
        while all.files.len() > FILES_KEPT {
            let oldest = all
                .files
                .iter()
                .min_by_key(|(_, f)| f.seen_at)
                .map(|(p, _)| p.clone());
            match oldest {
                Some(p) => all.files.remove(&p),
                None => break,
            };
        }
        write_json_atomic(&store, &all)
    }

    /// The env files known to reference a key of an account, by path then line.
    pub fn env_references(&self, account_id: &str, key: &KeyMeta) -> Result<Vec<EnvReference>> {
        let all: References = read_json(&self.core.references_path()?)?.unwrap_or_default();
        // Read once: the ids of the keys this one replaced, which references may still name.
        let earlier = self
            .core
            .link_store()?
            .replaced_until(account_id, &key.id)?;
        let mut found = Vec::new();
        for (path, file) in &all.files {
            for r in &file.references {
                if r.account_id == account_id && names(&r.key, key, &earlier) {
                    found.push(EnvReference {
                        path: path.display().to_string(),
                        variable: r.variable.clone(),
                        line: u32::try_from(r.line).unwrap_or(u32::MAX),
                        seen_at: file.seen_at.to_rfc3339(),
                        exists: path.is_file(),
                    });
                }
            }
        }
        Ok(found)
    }
}

/// Whether a reference's key text names this key, as resolving it would: a name resolves to the
/// newest key of that name, so not to one a rotation replaced; the id of a key this one
/// replaced resolves to this one.
fn names(text: &str, key: &KeyMeta, earlier: &[String]) -> bool {
    (text == key.name && key.replaced_by.is_none())
        || text == key.id
        || (!text.is_empty() && key.prefix.starts_with(text))
        || earlier.iter().any(|id| id == text)
}

/// An exclusive lock on `path` (created if need be), released when the file is dropped.
fn lock(path: &Path) -> Result<std::fs::File> {
    let fail = |action: &'static str| {
        let path = path.to_path_buf();
        move |source| Error::Catalog {
            action,
            path,
            source,
        }
    };
    create_private_dir(path.parent().unwrap_or(Path::new(".")))?;
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(fail("open"))?;
    file.lock().map_err(fail("lock"))?;
    Ok(file)
}

fn absolute(file: &Path) -> PathBuf {
    if let Ok(path) = std::fs::canonicalize(file) {
        return path;
    }
    std::path::absolute(file).unwrap_or_else(|_| file.to_path_buf())
}
