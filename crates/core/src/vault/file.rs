//! The encrypted file vault, for machines without a keychain, used only when the person opts in
//! (`KEYHAVEN_VAULT=file`). One file per profile, `profiles/{profile}/vault.khv`, holding all of
//! the profile's secrets as one XChaCha20-Poly1305 ciphertext under the profile key (see
//! [`crypto`](super::crypto)), which only the passphrase opens. Written atomically (temporary
//! file, fsync, rename), readable by the user only. A changed byte anywhere fails the
//! authentication tag and is reported as [`Error::VaultCorrupt`]; the file is then left alone.
//!
//! ```text
//! {"format": "keyhaven-vault", "version": 1, "sealed": "<base64 of nonce ‖ ciphertext ‖ tag>"}
//! ```
//! Within one process, writes are serialised by the vault's write lock. The rollback of a whole
//! file to an older copy of itself cannot be detected.

use std::collections::BTreeMap;
use std::path::PathBuf;

use base64::engine::general_purpose::STANDARD_NO_PAD as B64;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::crypto::{open, seal, Key32};
use crate::catalog::write_json_atomic;
use crate::error::{Error, Result};

const FORMAT: &str = "keyhaven-vault";
const VERSION: u32 = 1;
const AAD: &[u8] = b"keyhaven/v1/vault-file";
/// The vault file's name inside the profile's folder.
pub const FILE_NAME: &str = "vault.khv";

#[derive(Serialize, Deserialize)]
struct FileFormat {
    format: String,
    version: u32,
    sealed: String,
}

/// The secrets of one profile, decrypted; wiped on drop.
pub(super) type Entries = BTreeMap<String, Zeroizing<String>>;

#[derive(Debug, Clone)]
pub(super) struct FileVault {
    data_dir: PathBuf,
}

impl FileVault {
    pub(super) fn new(data_dir: PathBuf) -> FileVault {
        FileVault { data_dir }
    }

    pub(super) fn path(&self, profile: &str) -> PathBuf {
        self.data_dir.join("profiles").join(profile).join(FILE_NAME)
    }

    /// Held across a read-modify-write of the profile's file, against other processes.
    pub(super) fn lock(&self, profile: &str) -> Result<crate::file_lock::FileLock> {
        crate::file_lock::FileLock::exclusive(&crate::file_lock::lock_path_for(&self.path(profile)))
    }

    /// The profile's secrets; none when the file does not exist yet.
    pub(super) fn load(&self, profile: &str, key: &Key32) -> Result<Entries> {
        let path = self.path(profile);
        let corrupt = |problem: &str| Error::VaultCorrupt {
            profile: profile.to_string(),
            problem: problem.to_string(),
        };
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Entries::new()),
            Err(source) => {
                return Err(Error::Catalog {
                    action: "read",
                    path,
                    source,
                })
            }
        };
        let file: FileFormat =
            serde_json::from_str(&text).map_err(|_| corrupt("the file is not a Keyhaven vault"))?;
        if file.format != FORMAT || file.version != VERSION {
            return Err(corrupt("unknown vault format or version"));
        }
        let sealed = B64
            .decode(file.sealed.as_bytes())
            .map_err(|_| corrupt("the ciphertext is not base64"))?;
        let plain = open(key, AAD, &sealed)
            .ok_or_else(|| corrupt("its authentication tag does not match"))?;
        serde_json::from_slice(&plain).map_err(|_| corrupt("the decrypted content is not valid"))
    }

    /// Replaces the profile's file with `entries`, atomically.
    pub(super) fn save(&self, profile: &str, key: &Key32, entries: &Entries) -> Result<()> {
        let mut plain = Zeroizing::new(Vec::with_capacity(
            entries
                .iter()
                .map(|(k, v)| k.len() + v.len() + 8)
                .sum::<usize>()
                + 8,
        ));
        serde_json::to_writer(&mut *plain, entries).map_err(|e| Error::VaultCorrupt {
            profile: profile.to_string(),
            problem: e.to_string(),
        })?;
        let file = FileFormat {
            format: FORMAT.to_string(),
            version: VERSION,
            sealed: B64.encode(seal(key, AAD, &plain)),
        };
        write_json_atomic(&self.path(profile), &file)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_tamper_detection() {
        let dir = tempfile::tempdir().expect("tempdir");
        let vault = FileVault::new(dir.path().to_path_buf());
        let key = Zeroizing::new([9u8; 32]);
        assert!(vault.load("ann", &key).expect("empty").is_empty());
        let mut entries = Entries::new();
        entries.insert(
            "key:a:b".into(),
            Zeroizing::new("kh_test_file_secret".into()),
        );
        vault.save("ann", &key, &entries).expect("save");
        let loaded = vault.load("ann", &key).expect("load");
        assert_eq!(
            loaded.get("key:a:b").map(|s| s.as_str()),
            Some("kh_test_file_secret")
        );
        let bytes = std::fs::read(vault.path("ann")).expect("read");
        assert!(!bytes.windows(11).any(|w| w == b"file_secret"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(vault.path("ann"))
                .expect("meta")
                .permissions()
                .mode();
            assert_eq!(mode & 0o077, 0, "readable by the user only");
        }
        let err = vault
            .load("ann", &Zeroizing::new([1u8; 32]))
            .expect_err("wrong key");
        assert!(matches!(err, Error::VaultCorrupt { .. }), "{err:?}");
    }
}
