//! Key links: after a rotation, whatever reads a key by its old id (the CLI's `keys get`, env
//! mappings, [`crate::Keys::secret`]) is pointed at its replacement. One small JSON
//! file per profile, `key-links.json`, written atomically; ids only, never a secret.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use keyhaven_api::{KeyMeta, KeyStatus};
use serde::{Deserialize, Serialize};

use crate::catalog::write_json_atomic;
use crate::error::{Error, Result};
use crate::file_lock::{lock_path_for, FileLock};

/// Longest chain of rotations followed (a loop in a damaged file stops here).
const MAX_CHAIN: usize = 32;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyLink {
    pub account_id: String,
    pub from: String,
    pub to: String,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct LinkFile {
    #[serde(default)]
    links: Vec<KeyLink>,
}

#[derive(Debug, Clone)]
pub struct LinkStore {
    path: PathBuf,
}

impl LinkStore {
    pub fn new(profile_dir: &Path) -> LinkStore {
        LinkStore {
            path: profile_dir.join("key-links.json"),
        }
    }

    fn load(&self) -> Result<LinkFile> {
        match std::fs::read_to_string(&self.path) {
            Ok(text) => serde_json::from_str(&text).map_err(|e| Error::CatalogCorrupt {
                path: self.path.clone(),
                problem: e.to_string(),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(LinkFile::default()),
            Err(source) => Err(Error::Catalog {
                action: "read",
                path: self.path.clone(),
                source,
            }),
        }
    }

    /// Points `from` at `to` for the account, replacing an earlier link from `from`.
    /// Idempotent.
    pub fn link(&self, account_id: &str, from: &str, to: &str) -> Result<()> {
        let _other_processes = FileLock::exclusive(&lock_path_for(&self.path))?;
        let mut file = self.load()?;
        let exists = file
            .links
            .iter()
            .any(|l| l.account_id == account_id && l.from == from && l.to == to);
        if exists {
            return Ok(());
        }
        file.links
            .retain(|l| !(l.account_id == account_id && l.from == from));
        file.links.push(KeyLink {
            account_id: account_id.to_string(),
            from: from.to_string(),
            to: to.to_string(),
            at: Utc::now(),
        });
        write_json_atomic(&self.path, &file)
    }

    /// Removes the link from `from`, if any.
    pub fn unlink(&self, account_id: &str, from: &str) -> Result<()> {
        let _other_processes = FileLock::exclusive(&lock_path_for(&self.path))?;
        let mut file = self.load()?;
        let before = file.links.len();
        file.links
            .retain(|l| !(l.account_id == account_id && l.from == from));
        if file.links.len() == before {
            return Ok(());
        }
        write_json_atomic(&self.path, &file)
    }

    /// Fills in `replaced_by` and `replaces` where the service left them out: a rotation that
    /// made a replacement (instead of a roll) is known only here. What the service says stays. A
    /// replaced key the service still calls active works only until its grace period ends, as a
    /// rolled one does: it is shown as expiring, like that one.
    pub fn annotate(&self, account_id: &str, metas: &mut [KeyMeta]) -> Result<()> {
        let file = self.load()?;
        let mut next: HashMap<&str, &str> = HashMap::new();
        let mut previous: HashMap<&str, &str> = HashMap::new();
        for link in file.links.iter().filter(|l| l.account_id == account_id) {
            next.insert(&link.from, &link.to);
            previous.insert(&link.to, &link.from);
        }
        if next.is_empty() {
            return Ok(());
        }
        for meta in metas {
            if meta.replaced_by.is_none() {
                meta.replaced_by = next.get(meta.id.as_str()).map(|id| id.to_string());
                if meta.replaced_by.is_some() && meta.status == KeyStatus::Active {
                    meta.status = KeyStatus::Expiring;
                }
            }
            if meta.replaces.is_none() {
                meta.replaces = previous.get(meta.id.as_str()).map(|id| id.to_string());
            }
        }
        Ok(())
    }

    /// `key_id` and the keys that replaced it, in order: `[key_id, next, …, newest]`.
    pub fn chain(&self, account_id: &str, key_id: &str) -> Result<Vec<String>> {
        let file = self.load()?;
        let mut chain = vec![key_id.to_string()];
        while chain.len() <= MAX_CHAIN {
            let last = chain.last().map(String::as_str).unwrap_or(key_id);
            match file
                .links
                .iter()
                .find(|l| l.account_id == account_id && l.from == last)
            {
                Some(link) if !chain.contains(&link.to) => chain.push(link.to.clone()),
                _ => break,
            }
        }
        Ok(chain)
    }

    /// The keys whose chain ends at `key_id`, newest first: those rotations replaced, one after
    /// the other, until `key_id`. Empty when `key_id` itself was replaced. One read of the file.
    pub fn replaced_until(&self, account_id: &str, key_id: &str) -> Result<Vec<String>> {
        let file = self.load()?;
        let links: Vec<_> = file
            .links
            .iter()
            .filter(|l| l.account_id == account_id)
            .collect();
        if links.iter().any(|l| l.from == key_id) {
            return Ok(Vec::new());
        }
        let mut earlier: Vec<String> = Vec::new();
        let mut last = key_id;
        while earlier.len() < MAX_CHAIN {
            match links.iter().find(|l| l.to == last) {
                Some(link) if link.from != key_id && !earlier.contains(&link.from) => {
                    earlier.push(link.from.clone());
                    last = &link.from;
                }
                _ => break,
            }
        }
        Ok(earlier)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_follow_rotations_in_order() {
        let dir = tempfile::tempdir().expect("tempdir");
        let links = LinkStore::new(dir.path());
        assert_eq!(links.chain("acc", "k1").expect("chain"), vec!["k1"]);
        links.link("acc", "k1", "k2").expect("link");
        links.link("acc", "k1", "k2").expect("idempotent");
        links.link("acc", "k2", "k3").expect("link");
        links.link("other", "k1", "x").expect("other account");
        assert_eq!(
            links.chain("acc", "k1").expect("chain"),
            vec!["k1", "k2", "k3"]
        );
        assert_eq!(links.chain("acc", "k2").expect("chain"), vec!["k2", "k3"]);
        assert_eq!(links.chain("other", "k1").expect("chain"), vec!["k1", "x"]);
        assert_eq!(
            links.replaced_until("acc", "k3").expect("earlier"),
            vec!["k2", "k1"]
        );
        assert!(links
            .replaced_until("acc", "k2")
            .expect("earlier")
            .is_empty());
        assert!(links
            .replaced_until("acc", "k1")
            .expect("earlier")
            .is_empty());
        // A loop in a damaged file does not hang.
        links.link("acc", "k3", "k1").expect("loop");
        assert_eq!(
            links.chain("acc", "k1").expect("chain"),
            vec!["k1", "k2", "k3"]
        );
        links.unlink("acc", "k3").expect("unlink");
        links.unlink("acc", "k3").expect("unlink twice");
        assert_eq!(links.chain("acc", "k3").expect("chain"), vec!["k3"]);
    }

    fn meta(id: &str) -> KeyMeta {
        KeyMeta {
            id: id.into(),
            tenant_id: "ten".into(),
            name: "bot".into(),
            prefix: "kh_test_AbCd".into(),
            scopes: vec!["read".into()],
            status: KeyStatus::Active,
            created_at: Utc::now(),
            last_used_at: None,
            expires_at: None,
            revoked_at: None,
            allowed_origins: vec![],
            allowed_ips: vec![],
            rate_limit_per_hour: None,
            created_by: "usr".into(),
            replaced_by: None,
            replaces: None,
            note: None,
        }
    }

    #[test]
    fn annotate_names_both_ends_of_a_replacement_and_keeps_what_the_service_said() {
        let dir = tempfile::tempdir().expect("tempdir");
        let links = LinkStore::new(dir.path());
        links.link("acc", "k1", "k2").expect("link");
        links.link("other", "k2", "x").expect("other account");
        let mut metas = vec![meta("k1"), meta("k2"), meta("k3")];
        metas[2].replaces = Some("from-service".into());
        links.annotate("acc", &mut metas).expect("annotate");
        assert_eq!(metas[0].replaced_by.as_deref(), Some("k2"));
        assert_eq!(metas[0].status, KeyStatus::Expiring, "in its grace period");
        assert_eq!(metas[0].replaces, None);
        assert_eq!(metas[1].replaces.as_deref(), Some("k1"));
        assert_eq!(metas[1].status, KeyStatus::Active);
        assert_eq!(
            metas[1].replaced_by, None,
            "another account's link is not this one's"
        );
        assert_eq!(metas[2].replaces.as_deref(), Some("from-service"));
    }
}
