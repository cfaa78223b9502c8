//! Guided rotation, for services whose keys are made only on their own pages: AniKura, Ananke
//! Labs, WaniKani and generic keys, where they are deleted there too, and Animus, whose API lists
//! and revokes keys but does not create them. The person makes the new key there and pastes it;
//! Keyhaven checks it with the service, stores it, and switches local uses to it (whatever reads
//! the old key's id or name gets the new secret); then the old key goes: the person deletes it
//! there and Keyhaven confirms that the service refuses it, or (Animus) Keyhaven revokes it
//! itself, before the rotation is done.
//!
//! Each guided rotation has a journal (`guided-rotations/ID.json` in the profile folder, ids and
//! steps, never a secret), written before each step: a rotation interrupted at any point —
//! the app closed while waiting, the process killed while storing — resumes where it stopped.

use std::fs;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::app::Keyhaven;
use crate::catalog::{read_json, write_json_atomic};
use crate::connector::{kind_info, Connector};
use crate::error::{Error, Result};
use crate::local_keys::{LocalKey, Verdict};
use crate::secret::Secret;
use crate::validate;
use crate::vault::names;

/// The journal format; a file of another version is left alone and reported.
pub const GUIDED_VERSION: u32 = 1;

/// Where a guided rotation stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum GuidedStep {
    /// Waiting for the new key, made on the service's page, to be pasted.
    NewKey,
    /// The new key was checked and is being stored and switched to.
    Switching,
    /// The new key is in use; the old one is to be deleted on the service's page, then
    /// confirmed.
    DeleteOld,
}

/// A guided rotation in progress, as its journal holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct GuidedRotation {
    pub version: u32,
    pub id: String,
    pub account_id: String,
    pub old_key_id: String,
    pub old_key_name: String,
    pub old_key_prefix: String,
    #[ts(type = "string | null")]
    pub new_key_id: Option<String>,
    pub step: GuidedStep,
    /// The service's name and where its keys are made and deleted, for the person.
    pub service: String,
    pub key_page: String,
    /// The service lists its keys (Animus): the new key is the one that appears in its list, and
    /// Keyhaven revokes the old one itself.
    #[serde(default)]
    pub listed: bool,
    /// The keys listed when the rotation began (a listing service).
    #[serde(default)]
    pub known_key_ids: Vec<String>,
    #[ts(type = "string")]
    pub started_at: DateTime<Utc>,
    #[ts(type = "string")]
    pub updated_at: DateTime<Utc>,
}

impl GuidedRotation {
    /// What the person does next.
    pub fn instructions(&self) -> String {
        match self.step {
            GuidedStep::NewKey | GuidedStep::Switching => format!(
                "In {}, make a new key with the same permissions as \"{}\", then paste its secret \
                 into Keyhaven. The old key keeps working until you delete it.",
                self.key_page, self.old_key_name
            ),
            GuidedStep::DeleteOld if self.listed => format!(
                "The new key is stored and in use. Confirm, and Keyhaven revokes the old key \
                 (\"{}\") on {}.",
                self.old_key_name, self.service
            ),
            GuidedStep::DeleteOld => format!(
                "The new key is stored and in use. Now delete the old key ({}…) in {}, then \
                 confirm: Keyhaven checks that {} refuses it.",
                self.old_key_prefix, self.key_page, self.service
            ),
        }
    }
}

/// The folder of one profile's guided rotation journals.
#[derive(Debug, Clone)]
pub(crate) struct GuidedStore {
    dir: PathBuf,
}

impl GuidedStore {
    pub(crate) fn new(profile_dir: &Path) -> GuidedStore {
        GuidedStore {
            dir: profile_dir.join("guided-rotations"),
        }
    }

    fn path(&self, id: &str) -> PathBuf {
        self.dir.join(format!("{id}.json"))
    }

    fn save(&self, journal: &mut GuidedRotation) -> Result<()> {
        journal.updated_at = Utc::now();
        write_json_atomic(&self.path(&journal.id), journal)
    }

    fn remove(&self, id: &str) -> Result<()> {
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

    fn get(&self, id: &str) -> Result<GuidedRotation> {
        validate::id("rotation id", id)?;
        let journal: GuidedRotation = read_json(&self.path(id))?
            .ok_or_else(|| Error::not_found(format!("guided rotation {id}")))?;
        if journal.version != GUIDED_VERSION {
            return Err(Error::CatalogCorrupt {
                path: self.path(id),
                problem: format!(
                    "journal version {} is not {GUIDED_VERSION}",
                    journal.version
                ),
            });
        }
        Ok(journal)
    }

    /// Every guided rotation in progress, oldest first.
    pub(crate) fn load_all(&self) -> Result<Vec<GuidedRotation>> {
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
        let mut all = Vec::new();
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(id) = name.to_str().and_then(|n| n.strip_suffix(".json")) else {
                continue;
            };
            if id.starts_with('.') {
                continue;
            }
            all.push(self.get(id)?);
        }
        all.sort_by_key(|j| j.started_at);
        Ok(all)
    }
}

/// What confirming the old key's deletion found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum GuidedOutcome {
    /// The service refuses the old key: it is gone from Keyhaven too, and the rotation is done.
    Completed {
        rotation_id: String,
        account_id: String,
        old_key_id: String,
        new_key_id: String,
    },
    /// Still waiting: the message says for what.
    Waiting {
        rotation: Box<GuidedRotation>,
        message: String,
    },
}

impl Keyhaven {
    fn guided_store(&self) -> Result<GuidedStore> {
        Ok(GuidedStore::new(&self.profile_dir()?))
    }

    /// One step of one guided rotation at a time, among this profile's processes (`what`: the
    /// rotation's id, or `begin` while one is being started).
    async fn guided_lock(&self, what: &str) -> Result<crate::file_lock::FileLock> {
        validate::id("rotation id", what)?;
        crate::file_lock::FileLock::exclusive_async(
            self.profile_dir()?
                .join("locks")
                .join(format!("guided-{what}.lock")),
        )
        .await
    }

    /// The new key of a service that lists keys (Animus): the one key that appeared in its list
    /// since the rotation began, checked and stored as that key ([`Keys::import_listed`](crate::Keys::import_listed)).
    async fn listed_new_key(
        &self,
        mut journal: GuidedRotation,
        secret: Secret,
    ) -> Result<GuidedRotation> {
        let account = self.accounts().get(&journal.account_id)?;
        let listed = self
            .with_session(&account.id, |c, token| async move {
                c.list_keys(&token, None).await
            })
            .await?;
        let new: Vec<&keyhaven_api::KeyMeta> = listed
            .iter()
            .filter(|k| k.id != journal.old_key_id && !journal.known_key_ids.contains(&k.id))
            .collect();
        let chosen = match new[..] {
            [one] => one.id.clone(),
            [] => {
                return Err(Error::validation(
                    "secret",
                    format!(
                        "{} lists no key made since the rotation began: make the new key in {} \
                         first, then paste its secret",
                        journal.service, journal.key_page
                    ),
                ))
            }
            _ => {
                return Err(Error::validation(
                    "secret",
                    format!(
                        "{} lists several keys made since the rotation began ({}): revoke the \
                         ones you do not want, or import the new key with `keys import --key ID` \
                         and revoke the old one",
                        journal.service,
                        new.iter()
                            .map(|k| format!("\"{}\" {}", k.name, k.id))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ))
            }
        };
        journal.new_key_id = Some(chosen.clone());
        journal.step = GuidedStep::Switching;
        let store = self.guided_store()?;
        store.save(&mut journal)?;
        if let Err(e) = self
            .keys()
            .import_listed(&account.id, secret, None, Some(&chosen))
            .await
        {
            journal.new_key_id = None;
            journal.step = GuidedStep::NewKey;
            store.save(&mut journal)?;
            return Err(e);
        }
        self.resume_guided(journal).await
    }

    /// Finishes the switch of a rotation found at [`GuidedStep::Switching`] (the process stopped
    /// while storing): the new key in use if its secret and record are here, else back to
    /// waiting for it (the secret never reached the keychain; paste it again).
    async fn resume_guided(&self, mut journal: GuidedRotation) -> Result<GuidedRotation> {
        if journal.step != GuidedStep::Switching {
            return Ok(journal);
        }
        let store = self.guided_store()?;
        let Some(new_id) = journal.new_key_id.clone() else {
            journal.step = GuidedStep::NewKey;
            store.save(&mut journal)?;
            return Ok(journal);
        };
        let held = self
            .vault()
            .contains(&self.profile(), &names::key(&journal.account_id, &new_id))
            .await?;
        let recorded = journal.listed
            || self
                .local_key_store()?
                .get(&journal.account_id, &new_id)?
                .is_some();
        if !(held && recorded) {
            let _ = self
                .vault()
                .delete(&self.profile(), &names::key(&journal.account_id, &new_id))
                .await;
            self.forget_settings(&journal.account_id, &new_id);
            self.link_store()?
                .unlink(&journal.account_id, &journal.old_key_id)?;
            journal.new_key_id = None;
            journal.step = GuidedStep::NewKey;
            store.save(&mut journal)?;
            return Ok(journal);
        }
        self.link_store()?
            .link(&journal.account_id, &journal.old_key_id, &new_id)?;
        journal.step = GuidedStep::DeleteOld;
        store.save(&mut journal)?;
        tracing::info!(rotation = %journal.id, "guided rotation: the new key is in use");
        Ok(journal)
    }
}

impl crate::app::Rotation<'_> {
    /// The guided rotations in progress in this profile.
    pub fn guided(&self) -> Result<Vec<GuidedRotation>> {
        self.core.guided_store()?.load_all()
    }

    /// Starts a guided rotation of a key of a service Keyhaven cannot make keys on, or gives the
    /// one already in progress for that key, to go on with.
    pub async fn begin_guided(&self, account_id: &str, key_id: &str) -> Result<GuidedRotation> {
        validate::id("key id", key_id)?;
        let account = self.core.accounts().get(account_id)?;
        let caps = self.core.accounts().capabilities(&account.id)?;
        let info = kind_info(account.connector);
        let listed = !caps.local_keys;
        if !caps.guided_rotation {
            return Err(Error::validation(
                "key",
                format!(
                    "{} keys are rotated by Keyhaven itself (`keys rotate`), not guided",
                    info.label
                ),
            ));
        }
        let _starting = self.core.guided_lock("begin").await?;
        let store = self.core.guided_store()?;
        if let Some(existing) = store
            .load_all()?
            .into_iter()
            .find(|j| j.account_id == account.id && j.old_key_id == key_id)
        {
            return Ok(existing);
        }
        let (name, prefix, known_key_ids) = if listed {
            let keys = self
                .core
                .with_session(&account.id, |c, token| async move {
                    c.list_keys(&token, None).await
                })
                .await?;
            let old = keys
                .iter()
                .find(|k| k.id == key_id)
                .ok_or_else(|| Error::not_found(format!("key {key_id} on {}", info.label)))?;
            (
                old.name.clone(),
                old.prefix.clone(),
                keys.iter().map(|k| k.id.clone()).collect(),
            )
        } else {
            let old = self
                .core
                .local_key_store()?
                .get(&account.id, key_id)?
                .ok_or_else(|| {
                    Error::not_found(format!("key {key_id} in account {}", account.id))
                })?;
            (old.name, old.prefix, Vec::new())
        };
        // The old key must be held here: it is what works until the new one is in use.
        self.core.keys().secret(&account.id, key_id).await?;
        let now = Utc::now();
        let mut journal = GuidedRotation {
            version: GUIDED_VERSION,
            id: format!("grot_{:016x}", rand::random::<u64>()),
            account_id: account.id.clone(),
            old_key_id: key_id.to_string(),
            old_key_name: name,
            old_key_prefix: prefix,
            new_key_id: None,
            step: GuidedStep::NewKey,
            service: info.label.to_string(),
            key_page: info.key_page.to_string(),
            listed,
            known_key_ids,
            started_at: now,
            updated_at: now,
        };
        store.save(&mut journal)?;
        tracing::info!(rotation = %journal.id, account = %account.id, key_id, "guided rotation started");
        Ok(journal)
    }

    /// Takes the new key of a guided rotation: checked with the service (unless `unverified`),
    /// stored in the keychain (read back and compared) with the old key's name, scopes and
    /// header, and put in use for whatever reads the old key. A key the service refuses, or the
    /// old key pasted again, is not taken.
    pub async fn guided_new_key(
        &self,
        rotation_id: &str,
        secret: Secret,
        unverified: bool,
    ) -> Result<GuidedRotation> {
        let _one_step = self.core.guided_lock(rotation_id).await?;
        let store = self.core.guided_store()?;
        let mut journal = store.get(rotation_id)?;
        if journal.step != GuidedStep::NewKey {
            return self.core.resume_guided(journal).await;
        }
        let account = self.core.accounts().get(&journal.account_id)?;
        let secret = Secret::new(secret.expose().trim().to_string());
        if secret.is_empty() {
            return Err(Error::validation("secret", "is empty"));
        }
        let old_secret = self
            .core
            .keys()
            .secret(&account.id, &journal.old_key_id)
            .await?;
        if old_secret.constant_time_eq(&secret) {
            return Err(Error::validation(
                "secret",
                "is the old key: make a new key in the service's page and paste that one",
            ));
        }
        drop(old_secret);
        if journal.listed {
            return self.core.listed_new_key(journal, secret).await;
        }
        let keys = self.core.local_key_store()?;
        let old = keys.get(&account.id, &journal.old_key_id)?.ok_or_else(|| {
            Error::not_found(format!(
                "key {} in account {}",
                journal.old_key_id, account.id
            ))
        })?;
        let check = if unverified {
            None
        } else {
            let check = self
                .core
                .check_with_service(&account, &secret, old.presentation.as_ref())
                .await?;
            match check.verdict {
                Verdict::Works | Verdict::Limited => Some(check),
                Verdict::Refused => {
                    return Err(Error::Unauthorized {
                        reason: crate::error::AuthFailure::KeyRejected,
                    })
                }
                Verdict::Unknown => {
                    return Err(Error::validation(
                        "secret",
                        format!(
                            "could not be checked: {} Paste it again once the service answers, or take it unverified.",
                            check.message
                        ),
                    ))
                }
            }
        };
        let new_id = format!("imp_{:016x}", rand::random::<u64>());
        journal.new_key_id = Some(new_id.clone());
        journal.step = GuidedStep::Switching;
        store.save(&mut journal)?;
        let profile = self.core.profile();
        let name = names::key(&account.id, &new_id);
        let stored = async {
            self.core.vault().put(&profile, &name, &secret).await?;
            match self.core.vault().get(&profile, &name).await? {
                Some(back) if back.constant_time_eq(&secret) => {}
                _ => return Err(Error::KeychainWrite),
            }
            keys.put(LocalKey {
                key_id: new_id.clone(),
                prefix: crate::app::shown_prefix(account.connector, &secret),
                added_at: Utc::now(),
                // A new key of the same service: what was said of the old one, but its own
                // expiry.
                expires_at: None,
                check,
                ..old
            })
        }
        .await;
        if let Err(e) = stored {
            // Nothing half-stored stays: back to waiting for the new key.
            if let Err(cleanup) = self.core.vault().delete(&profile, &name).await {
                tracing::debug!(code = ?cleanup.code(), "a refused new key's secret was not removed");
            }
            journal.new_key_id = None;
            journal.step = GuidedStep::NewKey;
            store.save(&mut journal)?;
            return Err(e);
        }
        drop(secret);
        self.core.resume_guided(journal).await
    }

    /// Confirms that the old key was deleted on the service's page: the service is asked once
    /// with it, and only a refusal completes the rotation (the old key's secret and record then
    /// leave Keyhaven). `without_check` completes it when the service cannot tell (a generic key
    /// without a check URL), on the person's word.
    pub async fn guided_confirm_deleted(
        &self,
        rotation_id: &str,
        without_check: bool,
    ) -> Result<GuidedOutcome> {
        let _one_step = self.core.guided_lock(rotation_id).await?;
        let store = self.core.guided_store()?;
        let journal = self.core.resume_guided(store.get(rotation_id)?).await?;
        if journal.step != GuidedStep::DeleteOld {
            let message = journal.instructions();
            return Ok(GuidedOutcome::Waiting {
                rotation: Box::new(journal),
                message,
            });
        }
        let account = self.core.accounts().get(&journal.account_id)?;
        if journal.listed {
            let old_id = journal.old_key_id.clone();
            let revoked = self
                .core
                .with_session(&account.id, |c, token| {
                    let id = old_id.clone();
                    async move { c.revoke_key(&token, &id).await }
                })
                .await;
            match revoked {
                Ok(()) => {}
                // Revoked already (in the app, or by an earlier confirmation).
                Err(Error::NotFound { .. }) => {}
                Err(e) => return Err(e),
            }
            self.core
                .vault()
                .delete(
                    &self.core.profile(),
                    &names::key(&account.id, &journal.old_key_id),
                )
                .await?;
            store.remove(&journal.id)?;
            tracing::info!(rotation = %journal.id, "guided rotation complete: the old key is revoked");
            return Ok(GuidedOutcome::Completed {
                rotation_id: journal.id,
                account_id: journal.account_id,
                old_key_id: journal.old_key_id,
                new_key_id: journal.new_key_id.unwrap_or_default(),
            });
        }
        let keys = self.core.local_key_store()?;
        let old_secret = self
            .core
            .vault()
            .get(
                &self.core.profile(),
                &names::key(&account.id, &journal.old_key_id),
            )
            .await?;
        if let Some(old_secret) = old_secret {
            let presentation = keys
                .get(&account.id, &journal.old_key_id)?
                .and_then(|k| k.presentation);
            let check = self
                .core
                .check_with_service(&account, &old_secret, presentation.as_ref())
                .await?;
            drop(old_secret);
            let waiting = |message: String| {
                Ok(GuidedOutcome::Waiting {
                    rotation: Box::new(journal.clone()),
                    message,
                })
            };
            match check.verdict {
                Verdict::Refused => {}
                Verdict::Works | Verdict::Limited => {
                    return waiting(format!(
                        "{} still accepts the old key ({}…): delete it in {}, then confirm again.",
                        journal.service, journal.old_key_prefix, journal.key_page
                    ))
                }
                Verdict::Unknown if !without_check => {
                    return waiting(format!(
                        "{} Confirm again once it answers, or confirm without a check if you deleted the key.",
                        check.message
                    ))
                }
                Verdict::Unknown => {}
            }
            self.core
                .vault()
                .delete(
                    &self.core.profile(),
                    &names::key(&account.id, &journal.old_key_id),
                )
                .await?;
        }
        keys.remove(&account.id, &journal.old_key_id)?;
        store.remove(&journal.id)?;
        tracing::info!(rotation = %journal.id, "guided rotation complete");
        Ok(GuidedOutcome::Completed {
            rotation_id: journal.id,
            account_id: journal.account_id,
            old_key_id: journal.old_key_id,
            new_key_id: journal.new_key_id.unwrap_or_default(),
        })
    }

    /// Stops a guided rotation. Before the new key is in use nothing changed; after, both keys
    /// stay in Keyhaven (the new one in use) and the old one can be removed when deleted.
    pub async fn cancel_guided(&self, rotation_id: &str) -> Result<GuidedRotation> {
        let _one_step = self.core.guided_lock(rotation_id).await?;
        let store = self.core.guided_store()?;
        let journal = self.core.resume_guided(store.get(rotation_id)?).await?;
        store.remove(&journal.id)?;
        tracing::info!(rotation = %journal.id, step = ?journal.step, "guided rotation cancelled");
        Ok(journal)
    }
}
