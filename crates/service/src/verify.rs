//! The hot path: a presented API key → the key, or a denial. The offline format and checksum
//! check runs first, so that a typo or a random string never reaches storage; then one lookup
//! by SHA-256 through an index.

use std::net::IpAddr;

use axum::http::{header, HeaderMap};
use keyhaven_api::{keyfmt, KeyStatus};

use crate::clock;
use crate::error::{KeyDenial, ServiceError};
use crate::secrets::SecretHash;
use crate::service::Service;
use crate::storage::KeyRow;

/// Headers a key may arrive in, besides `Authorization: Bearer`.
const KEY_HEADERS: [&str; 2] = ["x-api-key", "api-key"];

/// A key that passed verification.
#[derive(Debug, Clone)]
pub struct VerifiedKey {
    pub row: KeyRow,
    pub tenant_daily_cap: u32,
}

/// The value of a `Bearer` authorization, scheme matched without regard to case.
pub fn bearer_value(authorization: &str) -> Option<&str> {
    let (scheme, value) = authorization.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| value.trim())
}

/// The key a request presents: `X-API-Key`, then `api-key`, then `Authorization: Bearer`.
/// A header that is not readable text counts as presenting an invalid key.
pub fn presented_key(headers: &HeaderMap) -> Option<&str> {
    KEY_HEADERS
        .iter()
        .find_map(|name| headers.get(*name))
        .map(|v| v.to_str().map(str::trim).unwrap_or(""))
        .or_else(|| {
            let auth = headers.get(header::AUTHORIZATION)?;
            Some(auth.to_str().ok().and_then(bearer_value).unwrap_or(""))
        })
}

/// The storage-free first step: the key's shape and checksum. Only a key that passes is hashed
/// and looked up.
pub fn check_format(presented: &str) -> Result<SecretHash, KeyDenial> {
    keyfmt::check(presented).map_err(|_| KeyDenial::Malformed)?;
    Ok(SecretHash::of(presented))
}

/// Verifies the key a request presents. Every refusal is logged with its reason and answered
/// with the same `unauthorized` message.
pub async fn authenticate(
    svc: &Service,
    headers: &HeaderMap,
    ip: Option<IpAddr>,
) -> Result<VerifiedKey, ServiceError> {
    let presented = presented_key(headers);
    let result = match presented {
        None => Err(KeyDenial::Missing),
        Some(key) => lookup(svc, key).await?,
    };
    result.map_err(|denial| {
        // Only a key that passed the format check is ours to name, and then by prefix only.
        let prefix = presented
            .filter(|_| denial != KeyDenial::Malformed && denial != KeyDenial::Missing)
            .map(keyfmt::display_prefix);
        tracing::warn!(reason = denial.as_str(), ip = ?ip, prefix, "API key refused");
        ServiceError::KeyRejected(denial)
    })
}

async fn lookup(
    svc: &Service,
    presented: &str,
) -> Result<Result<VerifiedKey, KeyDenial>, ServiceError> {
    let hash = match check_format(presented) {
        Ok(hash) => hash,
        Err(denial) => return Ok(Err(denial)),
    };
    svc.note_key_lookup();
    let Some(found) = svc.store().key_by_hash(&hash).await? else {
        return Ok(Err(KeyDenial::Unknown));
    };
    if !hash.matches(&found.secret_hash) {
        return Ok(Err(KeyDenial::Unknown));
    }
    match found.row.status(clock::now()) {
        KeyStatus::Revoked => return Ok(Err(KeyDenial::Revoked)),
        KeyStatus::Expired => return Ok(Err(KeyDenial::Expired)),
        KeyStatus::Active | KeyStatus::Expiring => {}
    }
    Ok(Ok(VerifiedKey {
        row: found.row,
        tenant_daily_cap: found.tenant_daily_cap,
    }))
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;
    use keyhaven_api::{CreateKeyRequest, Role};

    use super::*;
    use crate::config::ServiceConfig;
    use crate::keys;

    fn with_header(name: &'static str, value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(name, HeaderValue::from_str(value).expect("header value"));
        h
    }

    /// One character changed anywhere in the random part: a different base62 character.
    fn mistype(key: &str, at: usize) -> String {
        let mut bytes = key.as_bytes().to_vec();
        bytes[at] = if bytes[at] == b'a' { b'b' } else { b'a' };
        String::from_utf8(bytes).expect("ascii")
    }

    #[tokio::test]
    async fn a_mistyped_key_is_refused_before_any_storage_lookup() {
        let svc = Service::open(ServiceConfig::new("sqlite::memory:"))
            .await
            .expect("open");
        let user = svc
            .add_user("o@x.io", Role::Owner, "t", "password-1")
            .await
            .expect("user");
        let req = CreateKeyRequest {
            name: "k".into(),
            scopes: vec!["read".into()],
            ..CreateKeyRequest::default()
        };
        let created = keys::create(&svc, &user, &req, None).await.expect("create");
        let key = created.key.expose();

        for at in [8, 20, key.len() - 1] {
            let typo = mistype(key, at);
            let err = authenticate(&svc, &with_header("x-api-key", &typo), None)
                .await
                .expect_err("a mistyped key is refused");
            assert!(
                matches!(err, ServiceError::KeyRejected(KeyDenial::Malformed)),
                "{err:?}"
            );
        }
        assert_eq!(svc.key_lookups(), 0, "no mistyped key reached storage");

        let ok = authenticate(&svc, &with_header("x-api-key", key), None)
            .await
            .expect("valid");
        assert_eq!(ok.row.id, created.meta.id);
        assert_eq!(svc.key_lookups(), 1);

        let stranger = keyfmt::generate("kh_live_");
        let err = authenticate(&svc, &with_header("api-key", &stranger), None)
            .await
            .expect_err("unknown");
        assert!(
            matches!(err, ServiceError::KeyRejected(KeyDenial::Unknown)),
            "{err:?}"
        );
        assert_eq!(svc.key_lookups(), 2, "a well-formed key is looked up");
    }

    #[test]
    fn keys_are_found_in_the_accepted_headers() {
        assert_eq!(presented_key(&with_header("x-api-key", " k1 ")), Some("k1"));
        assert_eq!(presented_key(&with_header("api-key", "k2")), Some("k2"));
        assert_eq!(
            presented_key(&with_header("authorization", "Bearer k3")),
            Some("k3")
        );
        assert_eq!(
            presented_key(&with_header("authorization", "bearer k4")),
            Some("k4")
        );
        assert_eq!(
            presented_key(&with_header("authorization", "Basic k5")),
            Some("")
        );
        assert_eq!(presented_key(&HeaderMap::new()), None);
        let mut both = with_header("x-api-key", "first");
        both.insert("api-key", HeaderValue::from_static("second"));
        assert_eq!(presented_key(&both), Some("first"));
    }

    #[test]
    fn the_format_check_needs_no_storage() {
        let key = keyfmt::generate("kh_test_");
        assert!(check_format(&key).is_ok());
        assert_eq!(check_format(&mistype(&key, 10)), Err(KeyDenial::Malformed));
        assert_eq!(check_format("not a key"), Err(KeyDenial::Malformed));
    }
}
