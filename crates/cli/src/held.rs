//! The secrets this profile holds, known only by the SHA-256 of their text: what `scan` and
//! `env import|check` compare candidate values with, so no secret is compared in the clear.

use std::collections::HashMap;

use keyhaven_core::vault::names;
use keyhaven_core::{Error, Keyhaven};
use sha2::{Digest, Sha256};

/// The held key a hash belongs to.
#[derive(Debug, Clone)]
pub(crate) struct Held {
    pub(crate) account: String,
    pub(crate) key_id: String,
    /// The key's name from its service; its id when the service does not answer.
    pub(crate) name: String,
}

pub(crate) fn hash(text: &str) -> [u8; 32] {
    Sha256::digest(text.as_bytes()).into()
}

/// Every secret the profile holds, by the hash of its text.
pub(crate) async fn held_hashes(core: &Keyhaven) -> Result<HashMap<[u8; 32], Held>, Error> {
    let profile = core.profile();
    let vault = core.vault().clone();
    let names_profile = profile.clone();
    let entries = tokio::task::spawn_blocking(move || vault.entry_names_blocking(&names_profile))
        .await
        .map_err(|_| Error::TaskFailed {
            during: "listing the keychain's entries",
        })??;
    let mut held = HashMap::new();
    for account in core.accounts().list() {
        let prefix = names::key(&account.id, "");
        // Names from the service where it answers; the id where it does not.
        let names_by_id: HashMap<String, String> = core
            .keys()
            .list(&account.id)
            .await
            .map(|keys| keys.into_iter().map(|k| (k.meta.id, k.meta.name)).collect())
            .unwrap_or_default();
        for entry in entries.iter().filter(|e| e.starts_with(&prefix)) {
            let key_id = &entry[prefix.len()..];
            if let Some(secret) = core.vault().get(&profile, entry).await? {
                held.insert(
                    hash(secret.expose()),
                    Held {
                        account: account.id.clone(),
                        key_id: key_id.to_string(),
                        name: names_by_id
                            .get(key_id)
                            .cloned()
                            .unwrap_or_else(|| key_id.to_string()),
                    },
                );
            }
        }
    }
    Ok(held)
}
