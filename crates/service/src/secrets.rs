//! Making and hashing secret material: random ids and session tokens from the OS CSPRNG,
//! SHA-256 for high-entropy secrets, Argon2id for passwords.

use argon2::password_hash::rand_core::OsRng as PhcOsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use rand::distributions::{Alphanumeric, DistString};
use rand::rngs::OsRng;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::error::ServiceError;

/// Prefix of session tokens; they are not API keys and fail the key format check.
pub const SESSION_TOKEN_PREFIX: &str = "khs_";
/// Base62 characters in a session token: 43 × log2(62) ≈ 256 bits.
const SESSION_TOKEN_CHARS: usize = 43;
/// Base62 characters in an id (≈ 119 bits, so ids cannot be guessed either).
const ID_CHARS: usize = 20;
/// Shortest password accepted for a user.
pub const MIN_PASSWORD_CHARS: usize = 8;
/// Longest password hashed; longer ones are refused before any work is done.
pub const MAX_PASSWORD_CHARS: usize = 1024;

/// A SHA-256 digest of a secret: what storage keeps instead of the secret.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct SecretHash(pub [u8; 32]);

impl SecretHash {
    pub fn of(secret: &str) -> SecretHash {
        SecretHash(Sha256::digest(secret.as_bytes()).into())
    }

    /// Constant-time comparison with stored bytes.
    pub fn matches(&self, stored: &[u8]) -> bool {
        stored.len() == 32 && bool::from(self.0.ct_eq(stored))
    }
}

impl std::fmt::Debug for SecretHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretHash(..)")
    }
}

/// A random opaque id such as `key_3fQ…`.
pub fn random_id(kind: &str) -> String {
    format!(
        "{kind}_{}",
        Alphanumeric.sample_string(&mut OsRng, ID_CHARS)
    )
}

/// A new session token, `khs_` and 43 base62 characters.
pub fn new_session_token() -> String {
    format!(
        "{SESSION_TOKEN_PREFIX}{}",
        Alphanumeric.sample_string(&mut OsRng, SESSION_TOKEN_CHARS)
    )
}

/// A random password for generated logins (the demo owner).
pub fn random_password() -> String {
    Alphanumeric.sample_string(&mut OsRng, 20)
}

/// Argon2id (default parameters, per-user random salt) as a PHC string. CPU-heavy: call it
/// from a blocking thread.
pub fn hash_password(password: &str) -> Result<String, ServiceError> {
    let salt = SaltString::generate(&mut PhcOsRng);
    Ok(Argon2::default()
        .hash_password(password.as_bytes(), &salt)?
        .to_string())
}

/// Whether `password` matches the PHC string. CPU-heavy: call it from a blocking thread.
pub fn verify_password(password: &str, phc: &str) -> Result<bool, ServiceError> {
    let parsed = PasswordHash::new(phc)?;
    match Argon2::default().verify_password(password.as_bytes(), &parsed) {
        Ok(()) => Ok(true),
        Err(argon2::password_hash::Error::Password) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use keyhaven_api::keyfmt;

    #[test]
    fn session_tokens_are_long_random_and_not_keys() {
        let a = new_session_token();
        let b = new_session_token();
        assert_ne!(a, b);
        assert_eq!(a.len(), 4 + 43);
        assert!(keyfmt::check(&a).is_err());
    }

    #[test]
    fn hashes_compare_by_value() {
        let h = SecretHash::of("abc");
        assert!(h.matches(&h.0));
        assert!(!h.matches(&SecretHash::of("abd").0));
        assert!(!h.matches(&h.0[..31]));
        assert_eq!(format!("{h:?}"), "SecretHash(..)");
    }

    #[test]
    fn passwords_verify() {
        let phc = hash_password("correct horse").expect("hash");
        assert!(phc.starts_with("$argon2id$"));
        assert!(verify_password("correct horse", &phc).expect("verify"));
        assert!(!verify_password("correct hors", &phc).expect("verify"));
        assert_ne!(
            phc,
            hash_password("correct horse").expect("hash"),
            "salts differ"
        );
    }
}
