//! The API key format: a readable prefix, 30 characters of base62 randomness (178 bits from the
//! OS CSPRNG) and a 6-character base62 CRC32 checksum of everything before it, in the manner of
//! GitHub's tokens. A typo or a truncated paste is recognised offline, before any lookup.
//!
//! `kh_live_` + `4Wq…(30)` + `0cZk3a` → 44 characters for the default prefixes.

use rand::rngs::OsRng;
use rand::RngCore;

/// Characters of randomness in a key.
pub const RANDOM_CHARS: usize = 30;
/// Characters of checksum at the end of a key.
pub const CHECKSUM_CHARS: usize = 6;
/// Characters of a key shown as its `prefix` in metadata.
pub const DISPLAY_PREFIX_CHARS: usize = 12;
/// Longest key the parser looks at; anything longer is refused unread.
pub const MAX_KEY_CHARS: usize = 64;

const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyFormatError {
    #[error("the key is empty")]
    Empty,
    #[error("the key is longer than {MAX_KEY_CHARS} characters")]
    TooLong,
    #[error("the key is too short to be a Keyhaven key")]
    TooShort,
    #[error(
        "the key's prefix is not a valid prefix (lowercase letters, digits and '_', ending in '_')"
    )]
    BadPrefix,
    #[error("the key contains characters that are not base62")]
    BadCharacters,
    #[error("the key's checksum does not match: it was mistyped or truncated")]
    ChecksumMismatch,
}

/// Whether `prefix` is usable as a key prefix: 3 to 16 characters of `[a-z0-9_]`, ending in `_`.
pub fn valid_prefix(prefix: &str) -> bool {
    (3..=16).contains(&prefix.len())
        && prefix.ends_with('_')
        && prefix
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// A new random key with the given prefix. Panics only if the prefix is invalid, which is a
/// configuration error checked at start-up with [`valid_prefix`].
pub fn generate(prefix: &str) -> String {
    assert!(valid_prefix(prefix), "invalid key prefix");
    let mut out = String::with_capacity(prefix.len() + RANDOM_CHARS + CHECKSUM_CHARS);
    out.push_str(prefix);
    let mut buf = [0u8; 64];
    let mut filled = 0;
    while filled < RANDOM_CHARS {
        OsRng.fill_bytes(&mut buf);
        for &b in &buf {
            // Rejection sampling keeps every character equally likely: 248 = 4 * 62.
            if b < 248 && filled < RANDOM_CHARS {
                out.push(ALPHABET[(b % 62) as usize] as char);
                filled += 1;
            }
        }
    }
    buf.iter_mut().for_each(|b| *b = 0);
    let sum = crc32fast::hash(out.as_bytes());
    out.push_str(&encode_checksum(sum));
    out
}

/// Checks a key's shape and checksum without any storage. Returns the prefix it carries.
pub fn check(key: &str) -> Result<&str, KeyFormatError> {
    if key.is_empty() {
        return Err(KeyFormatError::Empty);
    }
    if key.len() > MAX_KEY_CHARS {
        return Err(KeyFormatError::TooLong);
    }
    if !key.is_ascii() {
        return Err(KeyFormatError::BadCharacters);
    }
    let tail = RANDOM_CHARS + CHECKSUM_CHARS;
    if key.len() < tail + 3 {
        return Err(KeyFormatError::TooShort);
    }
    let (prefix, rest) = key.split_at(key.len() - tail);
    if !valid_prefix(prefix) {
        return Err(KeyFormatError::BadPrefix);
    }
    if !rest.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(KeyFormatError::BadCharacters);
    }
    let (body, sum) = key.split_at(key.len() - CHECKSUM_CHARS);
    match decode_checksum(sum) {
        Some(v) if v == crc32fast::hash(body.as_bytes()) => Ok(prefix),
        _ => Err(KeyFormatError::ChecksumMismatch),
    }
}

/// The part of a key shown in metadata and logs: its first 12 characters.
pub fn display_prefix(key: &str) -> &str {
    let end = key
        .char_indices()
        .nth(DISPLAY_PREFIX_CHARS)
        .map_or(key.len(), |(i, _)| i);
    &key[..end]
}

fn encode_checksum(mut v: u32) -> String {
    let mut out = [b'0'; CHECKSUM_CHARS];
    for slot in out.iter_mut().rev() {
        *slot = ALPHABET[(v % 62) as usize];
        v /= 62;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn decode_checksum(s: &str) -> Option<u32> {
    let mut v: u64 = 0;
    for b in s.bytes() {
        let d = ALPHABET.iter().position(|&a| a == b)? as u64;
        v = v * 62 + d;
    }
    u32::try_from(v).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_check() {
        for prefix in ["kh_live_", "kh_test_", "acme_"] {
            let k = generate(prefix);
            assert_eq!(k.len(), prefix.len() + RANDOM_CHARS + CHECKSUM_CHARS);
            assert_eq!(check(&k), Ok(prefix));
            assert!(display_prefix(&k).starts_with(prefix));
            assert_eq!(display_prefix(&k).len(), 12);
        }
    }

    #[test]
    fn every_one_character_change_is_refused() {
        let k = generate("kh_live_");
        let bytes = k.as_bytes();
        for i in 0..bytes.len() {
            for &c in ALPHABET.iter().chain(b"_-".iter()) {
                if c == bytes[i] {
                    continue;
                }
                let mut changed = bytes.to_vec();
                changed[i] = c;
                let s = String::from_utf8(changed).expect("ascii");
                assert!(check(&s).is_err(), "a change at {i} passed the check");
            }
        }
    }

    #[test]
    fn truncated_and_extended_keys_are_refused() {
        let k = generate("kh_test_");
        assert!(check(&k[..k.len() - 1]).is_err());
        assert!(check(&format!("{k}0")).is_err());
        assert_eq!(check(""), Err(KeyFormatError::Empty));
        assert_eq!(check(&"a".repeat(200)), Err(KeyFormatError::TooLong));
        assert_eq!(check("kh_live_é"), Err(KeyFormatError::BadCharacters));
    }

    #[test]
    fn keys_differ() {
        let a = generate("kh_live_");
        let b = generate("kh_live_");
        assert_ne!(a, b);
    }

    #[test]
    fn prefixes() {
        assert!(valid_prefix("kh_live_"));
        assert!(!valid_prefix("KH_"));
        assert!(!valid_prefix("kh"));
        assert!(!valid_prefix("kh-live_"));
        assert!(!valid_prefix("a_very_long_prefix_"));
    }
}
