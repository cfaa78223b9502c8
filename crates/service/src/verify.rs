//! The hot path: a presented API key → the key, or a denial. The offline format and checksum
//! check runs first, so that a typo or a random string never reaches storage; then one lookup
//! by SHA-256 through an index.

use std::net::IpAddr;
use std::sync::Arc;

use axum::http::{header, HeaderMap, HeaderName};
use keyhaven_api::{keyfmt, KeyStatus};

use crate::config::valid_scope_name;
use crate::error::{KeyDenial, ServiceError};
use crate::keycache::Cached;
use crate::ratelimit::{self, Limited, RateWindow};
use crate::secrets::SecretHash;
use crate::service::Service;
use crate::storage::KeyRow;
use crate::validate;

/// Headers a key may arrive in, besides `Authorization: Bearer` (as names, not text: a lookup by
/// text parses the name first, on every call).
static KEY_HEADERS: [HeaderName; 2] = [
    HeaderName::from_static("x-api-key"),
    HeaderName::from_static("api-key"),
];

/// What a call with a key brings besides the key: where it comes from and what it needs.
#[derive(Debug, Clone, Copy, Default)]
pub struct Call<'a> {
    /// The peer address (never `X-Forwarded-For`).
    pub ip: Option<IpAddr>,
    /// The `Origin` header, when one was sent.
    pub origin: Option<&'a str>,
    /// The scope the call needs, when it names one.
    pub scope: Option<&'a str>,
    /// When set, a key of another tenant counts as unknown (and nothing is counted for it).
    pub tenant_id: Option<&'a str>,
    /// Whether `ip`'s lockout applies and its failures count toward it.
    pub track_lockout: bool,
}

/// The verdict on one call with a key, and the window its answer reports in the
/// `X-RateLimit-*` headers.
#[derive(Debug)]
pub struct Decision {
    /// The key (as cached, shared), when the call is accepted; otherwise the refusal.
    pub outcome: Result<Arc<Cached>, ServiceError>,
    /// The key's window once the key is known; before that, the source IP's allowance of
    /// failed attempts.
    pub window: RateWindow,
    /// The display prefix of the key, once it is identified: what the request log may show.
    pub key_prefix: Option<String>,
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
        .find_map(|name| headers.get(name))
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

/// Decides a call with a key, in API.md's order: the source IP's lockout; the key present,
/// known, not revoked or expired (401); its origin or, without an `Origin` header, its IP
/// (403); its scope (403); its hourly limit, then its tenant's daily cap (429). Every refusal
/// is logged with its precise reason (never the key) and answered uniformly; each refusal of
/// an identified key and each accepted call is counted in the key's usage.
pub async fn enforce(
    svc: &Service,
    presented: Option<&str>,
    call: &Call<'_>,
) -> Result<Decision, ServiceError> {
    let now = svc.now();
    let lockout = svc.lockout();
    if let Some(ip) = call.ip.filter(|_| call.track_lockout) {
        if let Some(retry_after) = lockout.locked(ip, now) {
            tracing::warn!(%ip, retry_after, "attempt refused: the source IP is locked out");
            return Ok(Decision {
                outcome: Err(ServiceError::IpLockedOut { retry_after }),
                window: lockout.allowance(Some(ip), now),
                key_prefix: None,
            });
        }
    }
    let found = match presented {
        None => Err((KeyDenial::Missing, None)),
        Some(key) => match lookup(svc, key, now).await? {
            Ok(found) if call.tenant_id.is_some_and(|t| t != found.row.tenant_id) => {
                Err((KeyDenial::Unknown, None))
            }
            Err((_, Some(row))) if call.tenant_id.is_some_and(|t| t != row.tenant_id) => {
                Err((KeyDenial::Unknown, None))
            }
            found => found,
        },
    };
    let found = match found {
        Ok(found) => found,
        Err((denial, row)) => {
            // Only a key that passed the format check is ours to name, and then by prefix only.
            let prefix = presented
                .filter(|_| denial != KeyDenial::Malformed && denial != KeyDenial::Missing)
                .map(keyfmt::display_prefix);
            tracing::warn!(reason = denial.as_str(), ip = ?call.ip, prefix, "API key refused");
            if denial != KeyDenial::Missing {
                if let Some(ip) = call.ip.filter(|_| call.track_lockout) {
                    if let Some(secs) = svc.note_failure(ip, now).await {
                        tracing::warn!(%ip, lockout_secs = secs, "source IP locked out after repeated failures");
                    }
                }
            }
            if let Some(row) = row {
                svc.usage()
                    .denied(&row, denial.as_str(), call.ip, call.origin, now);
            }
            return Ok(Decision {
                outcome: Err(ServiceError::KeyRejected(denial)),
                window: lockout.allowance(call.ip, now),
                key_prefix: None,
            });
        }
    };
    let (row, tier) = (&found.row, found.tenant_tier.as_deref());
    let cap = svc.config().daily_cap(tier);
    let refusal = if let Some(origin) = call.origin {
        let origin = origin.trim().to_ascii_lowercase();
        (!row.allowed_origins.is_empty() && !row.allowed_origins.contains(&origin))
            .then_some(ServiceError::OriginNotAllowed)
    } else if row.allowed_ips.is_empty() {
        None
    } else {
        (!call
            .ip
            .is_some_and(|ip| validate::ip_in(&row.allowed_ips, ip)))
        .then_some(ServiceError::IpNotAllowed)
    };
    let refusal = refusal.or_else(|| match call.scope {
        Some(scope) if !row.scopes.iter().any(|s| s == scope) => {
            let scope = if valid_scope_name(scope) {
                scope.to_owned()
            } else {
                "(unreadable)".to_owned()
            };
            Some(ServiceError::ScopeMissing { scope })
        }
        _ => None,
    });
    let (outcome, window) = match refusal {
        Some(err) => (Err(err), ratelimit::peek(svc, row, cap, now).await?),
        None => match ratelimit::acquire(svc, row, cap, now).await? {
            Ok(window) => (Ok(()), window),
            Err(Limited::Hourly(w)) => (
                Err(ServiceError::RateLimited {
                    retry_after: w.reset,
                }),
                w,
            ),
            Err(Limited::Daily(w)) => (
                Err(ServiceError::DailyCapReached {
                    retry_after: w.reset,
                }),
                w,
            ),
        },
    };
    match outcome {
        Ok(()) => {
            svc.usage().allowed(row, now);
            Ok(Decision {
                key_prefix: Some(row.prefix.clone()),
                outcome: Ok(found),
                window,
            })
        }
        Err(err) => {
            let code = err.code();
            tracing::warn!(reason = code.as_str(), ip = ?call.ip, prefix = %row.prefix, key_id = %row.id, "API key call refused");
            svc.usage()
                .denied(row, code.as_str(), call.ip, call.origin, now);
            Ok(Decision {
                outcome: Err(err),
                window,
                key_prefix: Some(row.prefix.clone()),
            })
        }
    }
}

type Found = Result<Arc<Cached>, (KeyDenial, Option<KeyRow>)>;

async fn lookup(svc: &Service, presented: &str, now: i64) -> Result<Found, ServiceError> {
    let hash = match check_format(presented) {
        Ok(hash) => hash,
        Err(denial) => return Ok(Err((denial, None))),
    };
    let cache = svc.key_cache();
    let found = match cache.get(&hash.0) {
        Some(found) => found,
        None => {
            let generation = cache.generation();
            svc.note_key_lookup();
            let Some(found) = svc.store().key_by_hash(&hash).await? else {
                return Ok(Err((KeyDenial::Unknown, None)));
            };
            let found = Arc::new(Cached::new(found.row, found.secret_hash, found.tenant_tier));
            cache.insert(generation, hash.0, Arc::clone(&found));
            found
        }
    };
    if !hash.matches(&found.secret_hash) {
        return Ok(Err((KeyDenial::Unknown, None)));
    }
    match found.row.status(now) {
        KeyStatus::Revoked => Ok(Err((KeyDenial::Revoked, Some(found.row.clone())))),
        KeyStatus::Expired => Ok(Err((KeyDenial::Expired, Some(found.row.clone())))),
        KeyStatus::Active | KeyStatus::Expiring => Ok(Ok(found)),
    }
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

    async fn refusal(svc: &Service, key: &str) -> ServiceError {
        enforce(svc, Some(key), &Call::default())
            .await
            .expect("decided")
            .outcome
            .expect_err("refused")
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
            let err = refusal(&svc, &mistype(key, at)).await;
            assert!(
                matches!(err, ServiceError::KeyRejected(KeyDenial::Malformed)),
                "{err:?}"
            );
        }
        assert_eq!(svc.key_lookups(), 0, "no mistyped key reached storage");

        let ok = enforce(&svc, Some(key), &Call::default())
            .await
            .expect("decided")
            .outcome
            .expect("valid");
        assert_eq!(ok.row.id, created.meta.id);
        assert_eq!(svc.key_lookups(), 1);

        let err = refusal(&svc, &keyfmt::generate("kh_live_")).await;
        assert!(
            matches!(err, ServiceError::KeyRejected(KeyDenial::Unknown)),
            "{err:?}"
        );
        assert_eq!(svc.key_lookups(), 2, "a well-formed key is looked up");

        // A key verified before is found in the cache; a revocation empties it at once.
        let again = enforce(&svc, Some(key), &Call::default())
            .await
            .expect("decided");
        assert!(again.outcome.is_ok());
        assert_eq!(svc.key_lookups(), 2, "served from the cache");
        keys::revoke(&svc, &user, &created.meta.id, None)
            .await
            .expect("revoke");
        let err = refusal(&svc, key).await;
        assert!(
            matches!(err, ServiceError::KeyRejected(KeyDenial::Revoked)),
            "{err:?}"
        );
        assert_eq!(svc.key_lookups(), 3, "looked up afresh after the change");
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
