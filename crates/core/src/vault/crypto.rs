//! The cryptography of a passphrase-protected profile.
//!
//! Two keys, the way disk encryption does it:
//! - the profile key: 256 random bits that encrypt the profile's secrets (each keychain value, or
//!   the whole vault file) with XChaCha20-Poly1305;
//! - the passphrase key: derived from the passphrase with Argon2id (salt and cost in the
//!   profile's `profile.json`), it encrypts the profile key. The encrypted profile key
//!   ([`LockRecord::wrapped_key`]) is also the verifier: a wrong passphrase fails its
//!   authentication tag, so nothing else is tried and nothing is changed.
//!
//! So changing the passphrase re-encrypts 72 bytes in one atomic file write instead of every
//! keychain entry, and a crash can never leave entries under two different passphrases. Neither
//! the passphrase nor either key is ever written anywhere; both keys are wiped from memory when
//! dropped.

use argon2::{Algorithm, Argon2, Params, Version};
use base64::engine::general_purpose::STANDARD_NO_PAD as B64;
use base64::Engine as _;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{Key, XChaCha20Poly1305, XNonce};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::secret::Secret;

/// A 256-bit key, wiped on drop.
pub(crate) type Key32 = Zeroizing<[u8; 32]>;

const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;
const SALT_LEN: usize = 16;
/// Bytes an encrypted value adds to its plaintext: the nonce and the tag.
pub(crate) const OVERHEAD: usize = NONCE_LEN + TAG_LEN;

/// The shortest passphrase accepted, in characters.
pub const MIN_PASSPHRASE_CHARS: usize = 8;
/// The longest passphrase accepted, in bytes.
pub const MAX_PASSPHRASE_BYTES: usize = 1024;

const WRAP_AAD: &[u8] = b"keyhaven/v1/profile-key";

/// Argon2id cost. Stored with each profile so that it can be raised later without locking anyone
/// out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct KdfParams {
    /// Memory in KiB.
    pub m_cost: u32,
    /// Passes.
    pub t_cost: u32,
    /// Lanes.
    pub p_cost: u32,
}

impl KdfParams {
    /// OWASP's Password Storage Cheat Sheet (Argon2id, first configuration): 46 MiB of memory,
    /// one pass, one lane.
    pub const OWASP: KdfParams = KdfParams {
        m_cost: 47_104,
        t_cost: 1,
        p_cost: 1,
    };

    /// Cheap parameters for tests only: never use them for a real profile.
    pub const INSECURE_FOR_TESTS: KdfParams = KdfParams {
        m_cost: 256,
        t_cost: 1,
        p_cost: 1,
    };

    /// The most memory a stored parameter set may ask for (1 GiB): a damaged or hostile
    /// `profile.json` cannot make unlocking exhaust the machine.
    const MAX_M_COST: u32 = 1024 * 1024;
    const MAX_T_COST: u32 = 64;
    const MAX_P_COST: u32 = 16;

    fn argon2(&self) -> Result<Argon2<'static>, String> {
        if self.m_cost > Self::MAX_M_COST
            || self.t_cost > Self::MAX_T_COST
            || self.p_cost > Self::MAX_P_COST
        {
            return Err("the key derivation parameters are out of range".to_string());
        }
        let params = Params::new(self.m_cost, self.t_cost, self.p_cost, Some(32))
            .map_err(|e| format!("invalid key derivation parameters: {e}"))?;
        Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
    }
}

impl Default for KdfParams {
    fn default() -> KdfParams {
        KdfParams::OWASP
    }
}

/// What `profile.json` keeps about a profile's passphrase: never the passphrase, never a key in
/// the clear.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockRecord {
    pub kdf: KdfParams,
    /// Argon2id salt, base64.
    pub salt: String,
    /// The profile key encrypted with the passphrase key (nonce and ciphertext, base64). Opening
    /// it is how a passphrase is checked.
    pub wrapped_key: String,
}

/// Why a [`LockRecord`] did not open.
#[derive(Debug)]
pub(crate) enum OpenError {
    /// The authentication tag did not match: the passphrase is wrong (or the record was changed).
    WrongPassphrase,
    /// The record itself is unusable.
    Damaged(String),
}

impl LockRecord {
    /// A new profile key and its record for `passphrase`.
    pub(crate) fn create(
        passphrase: &Secret,
        kdf: KdfParams,
    ) -> Result<(LockRecord, Key32), String> {
        let mut profile_key = Zeroizing::new([0u8; 32]);
        rand::rngs::OsRng.fill_bytes(profile_key.as_mut());
        let record = LockRecord::wrap(passphrase, kdf, &profile_key)?;
        Ok((record, profile_key))
    }

    /// A record for `profile_key` under `passphrase`, with a fresh salt.
    pub(crate) fn wrap(
        passphrase: &Secret,
        kdf: KdfParams,
        profile_key: &Key32,
    ) -> Result<LockRecord, String> {
        let mut salt = [0u8; SALT_LEN];
        rand::rngs::OsRng.fill_bytes(&mut salt);
        let passphrase_key = derive(passphrase, &salt, kdf)?;
        let wrapped = seal(&passphrase_key, WRAP_AAD, profile_key.as_ref());
        Ok(LockRecord {
            kdf,
            salt: B64.encode(salt),
            wrapped_key: B64.encode(wrapped),
        })
    }

    /// The profile key, if `passphrase` is the right one.
    pub(crate) fn open(&self, passphrase: &Secret) -> Result<Key32, OpenError> {
        let salt = B64
            .decode(&self.salt)
            .map_err(|_| OpenError::Damaged("the salt is not base64".into()))?;
        let wrapped = B64
            .decode(&self.wrapped_key)
            .map_err(|_| OpenError::Damaged("the wrapped key is not base64".into()))?;
        if salt.len() < 8 || wrapped.len() != 32 + OVERHEAD {
            return Err(OpenError::Damaged("the record has the wrong size".into()));
        }
        let passphrase_key = derive(passphrase, &salt, self.kdf).map_err(OpenError::Damaged)?;
        let plain = open(&passphrase_key, WRAP_AAD, &wrapped).ok_or(OpenError::WrongPassphrase)?;
        let mut key = Zeroizing::new([0u8; 32]);
        key.copy_from_slice(&plain);
        Ok(key)
    }
}

/// Argon2id(passphrase, salt).
fn derive(passphrase: &Secret, salt: &[u8], kdf: KdfParams) -> Result<Key32, String> {
    let mut key = Zeroizing::new([0u8; 32]);
    kdf.argon2()?
        .hash_password_into(passphrase.expose().as_bytes(), salt, key.as_mut())
        .map_err(|e| format!("key derivation failed: {e}"))?;
    Ok(key)
}

/// Encrypts `plain` under `key`, binding `aad`: random nonce followed by ciphertext and tag.
pub(crate) fn seal(key: &Key32, aad: &[u8], plain: &[u8]) -> Vec<u8> {
    let cipher = XChaCha20Poly1305::new(Key::from_slice(key.as_ref()));
    let mut nonce = [0u8; NONCE_LEN];
    rand::rngs::OsRng.fill_bytes(&mut nonce);
    // Encryption with a valid key and nonce only fails for messages of many gigabytes.
    let sealed = cipher
        .encrypt(XNonce::from_slice(&nonce), Payload { msg: plain, aad })
        .unwrap_or_default();
    let mut out = Vec::with_capacity(NONCE_LEN + sealed.len());
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&sealed);
    out
}

/// Decrypts what [`seal`] made; `None` if the key, the AAD or any byte is wrong.
pub(crate) fn open(key: &Key32, aad: &[u8], sealed: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
    if sealed.len() < OVERHEAD {
        return None;
    }
    let (nonce, body) = sealed.split_at(NONCE_LEN);
    let cipher = XChaCha20Poly1305::new(Key::from_slice(key.as_ref()));
    cipher
        .decrypt(XNonce::from_slice(nonce), Payload { msg: body, aad })
        .ok()
        .map(Zeroizing::new)
}

/// Keychain values of a protected profile: `khv1:` and the base64 of [`seal`]'s output, with the
/// entry's name as associated data (a value moved to another entry does not open).
pub(crate) mod envelope {
    use super::*;

    pub(crate) const PREFIX: &str = "khv1:";

    fn aad(name: &str) -> Vec<u8> {
        format!("keyhaven/v1/entry/{name}").into_bytes()
    }

    pub(crate) fn is_envelope(value: &str) -> bool {
        value.starts_with(PREFIX)
    }

    /// The longest plaintext whose envelope fits in `max_stored` bytes.
    pub(crate) const fn max_plain(max_stored: usize) -> usize {
        (max_stored - PREFIX.len()) / 4 * 3 - OVERHEAD
    }

    pub(crate) fn wrap(key: &Key32, name: &str, secret: &Secret) -> Secret {
        let sealed = seal(key, &aad(name), secret.expose().as_bytes());
        Secret::new(format!("{PREFIX}{}", B64.encode(sealed)))
    }

    /// The secret inside `value`; `Err` with a reason when it does not open.
    pub(crate) fn unwrap(key: &Key32, name: &str, value: &str) -> Result<Secret, &'static str> {
        let body = value.strip_prefix(PREFIX).ok_or("not an encrypted value")?;
        let sealed = Zeroizing::new(B64.decode(body).map_err(|_| "not base64")?);
        let plain =
            open(key, &aad(name), &sealed).ok_or("its authentication tag does not match")?;
        let text = std::str::from_utf8(&plain).map_err(|_| "not text")?;
        Ok(Secret::new(text.to_string()))
    }
}

/// Whether `passphrase` is acceptable for a new lock.
pub(crate) fn check_new_passphrase(passphrase: &Secret) -> Result<(), String> {
    if passphrase.expose().chars().count() < MIN_PASSPHRASE_CHARS {
        return Err(format!("use at least {MIN_PASSPHRASE_CHARS} characters"));
    }
    if passphrase.len() > MAX_PASSPHRASE_BYTES {
        return Err(format!("use at most {MAX_PASSPHRASE_BYTES} bytes"));
    }
    if passphrase.expose().chars().any(char::is_control) {
        return Err("contains control characters".to_string());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASS: &str = "correct horse battery staple";

    #[test]
    fn a_record_opens_with_its_passphrase_only() {
        let pass = Secret::new(PASS.into());
        let (record, key) =
            LockRecord::create(&pass, KdfParams::INSECURE_FOR_TESTS).expect("create");
        assert_eq!(record.open(&pass).expect("opens").as_ref(), key.as_ref());
        assert!(matches!(
            record.open(&Secret::new("correct horse battery stapler".into())),
            Err(OpenError::WrongPassphrase)
        ));
        // The record holds neither the passphrase nor the key.
        let json = serde_json::to_string(&record).expect("json");
        assert!(!json.contains(PASS));
        assert!(!json.contains(&B64.encode(key.as_ref())));
        // Re-wrapping keeps the key under a new salt.
        let other = Secret::new("another passphrase".into());
        let rewrapped = LockRecord::wrap(&other, record.kdf, &key).expect("wrap");
        assert_ne!(rewrapped.salt, record.salt);
        assert_eq!(
            rewrapped.open(&other).expect("opens").as_ref(),
            key.as_ref()
        );
        assert!(rewrapped.open(&pass).is_err());
    }

    #[test]
    fn damaged_records_and_hostile_costs_are_refused() {
        let pass = Secret::new(PASS.into());
        let (record, _) = LockRecord::create(&pass, KdfParams::INSECURE_FOR_TESTS).expect("create");
        let bad = LockRecord {
            wrapped_key: "!!".into(),
            ..record.clone()
        };
        assert!(matches!(bad.open(&pass), Err(OpenError::Damaged(_))));
        let huge = LockRecord {
            kdf: KdfParams {
                m_cost: u32::MAX,
                ..record.kdf
            },
            ..record.clone()
        };
        assert!(matches!(huge.open(&pass), Err(OpenError::Damaged(_))));
    }

    #[test]
    fn envelopes_bind_the_entry_name_and_detect_changes() {
        let key = Zeroizing::new([7u8; 32]);
        let secret = Secret::new("kh_test_envelope_value".into());
        let wrapped = envelope::wrap(&key, "key:a:b", &secret);
        assert!(envelope::is_envelope(wrapped.expose()));
        assert!(!wrapped.expose().contains("envelope_value"));
        assert_eq!(
            envelope::unwrap(&key, "key:a:b", wrapped.expose()).expect("opens"),
            secret
        );
        assert!(envelope::unwrap(&key, "key:a:c", wrapped.expose()).is_err());
        assert!(envelope::unwrap(&Zeroizing::new([8u8; 32]), "key:a:b", wrapped.expose()).is_err());
        let mut tampered = wrapped.expose().to_string();
        let last = tampered.pop().expect("char");
        tampered.push(if last == 'A' { 'B' } else { 'A' });
        assert!(envelope::unwrap(&key, "key:a:b", &tampered).is_err());
        // The longest plaintext that fits in the keychain's limit does fit.
        let max = envelope::max_plain(2560);
        let long = Secret::new("x".repeat(max));
        assert!(envelope::wrap(&key, "n", &long).len() <= 2560);
    }

    #[test]
    fn new_passphrases_are_checked() {
        assert!(check_new_passphrase(&Secret::new("short".into())).is_err());
        assert!(check_new_passphrase(&Secret::new("long enough".into())).is_ok());
        assert!(check_new_passphrase(&Secret::new("tab\there ok?".into())).is_err());
        assert!(check_new_passphrase(&Secret::new("x".repeat(2000))).is_err());
    }
}
