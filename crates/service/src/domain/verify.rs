//! The hot path: a presented API key → the key, or a denial. The offline format and checksum
//! check runs first, so that a typo or a random string never reaches storage; then one lookup
//! by SHA-256 through an index.

use std::net::IpAddr;
use std::sync::Arc;

use keyhaven_api::{keyfmt, KeyStatus};

use crate::domain::keycache::Cached;
use crate::domain::limits::{self, Limited, RateWindow};
use crate::domain::lockout::Attempt;
use crate::domain::Domain;
use crate::error::{KeyDenial, ServiceError};
use crate::secrets::SecretHash;
use crate::storage::KeyRow;
use keyhaven_api::rules;

/// What a call with a key brings besides the key: where it comes from and what it needs.
#[derive(Debug, Clone, Copy, Default)]
pub struct Call<'a> {
    /// The peer address, or what a trusted proxy forwarded for.
    pub ip: Option<IpAddr>,
    /// The `Origin` (or `X-Origin`) header, when one was sent.
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

/// The storage-free first step: the key's shape and checksum. Only a key that passes is hashed
/// and looked up.
pub fn check_format(presented: &str) -> Result<SecretHash, KeyDenial> {
    keyfmt::check(presented).map_err(|_| KeyDenial::Malformed)?;
    Ok(SecretHash::of(presented))
}

/// Decides a call with a key, in API.md's order: the source IP's lockout; the key present,
/// known, not revoked or expired (401); its tenant not suspended (403); a non-empty list of allowed IPs, always (403: an
/// `Origin` never lifts it); its origins, when the call names an origin (403); its scope (403);
/// its tier's request rate and its hourly limit, then its tenant's daily cap (429). Every refusal is logged with its precise
/// reason (never the key) and answered uniformly; each refusal of an identified key and each
/// accepted call is counted in the key's usage. Refusals of the key itself and for its IP or
/// origin count toward the source's lockout.
pub async fn enforce(
    svc: &Domain,
    presented: Option<&str>,
    call: &Call<'_>,
) -> Result<Decision, ServiceError> {
    let now = svc.now();
    let lockout = svc.lockout();
    // The source whose lockout applies, if any.
    let watched = call.ip.filter(|_| call.track_lockout);
    if let Some(ip) = watched {
        if let Some(retry_after) = lockout.locked(ip, now) {
            tracing::warn!(%ip, retry_after, "attempt refused: the source IP is locked out");
            return Ok(locked_out(svc, ip, retry_after, now));
        }
    }
    let looked = match presented {
        None => Looked::Denied {
            denial: KeyDenial::Missing,
            row: None,
            counted: false,
        },
        Some(key) => lookup(svc, key, now, watched).await?,
    };
    // For an API's own backend, a key of another tenant is unknown (and nothing is counted
    // for it).
    let looked = match looked {
        Looked::Found(found) if call.tenant_id.is_some_and(|t| t != found.row.tenant_id) => {
            Looked::Denied {
                denial: KeyDenial::Unknown,
                row: None,
                counted: false,
            }
        }
        Looked::Denied {
            denial,
            row: Some(row),
            counted,
        } if call.tenant_id.is_some_and(|t| t != row.tenant_id) => Looked::Denied {
            denial,
            row: None,
            counted,
        },
        looked => looked,
    };
    let found = match looked {
        Looked::Found(found) => found,
        Looked::LockedOut { ip, retry_after } => {
            tracing::warn!(%ip, retry_after, "attempt refused: the source IP is locked out");
            return Ok(locked_out(svc, ip, retry_after, now));
        }
        Looked::Denied {
            denial,
            row,
            counted,
        } => {
            // Only a key that passed the format check is ours to name, and then by prefix only.
            let prefix = presented
                .filter(|_| denial != KeyDenial::Malformed && denial != KeyDenial::Missing)
                .map(keyfmt::display_prefix);
            tracing::warn!(reason = denial.as_str(), ip = ?call.ip, prefix, "API key refused");
            if denial != KeyDenial::Missing && !counted {
                if let Some(ip) = watched {
                    if let Err(retry_after) = svc.fail_now(ip, now).await {
                        return Ok(locked_out(svc, ip, retry_after, now));
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
    let refusal = if found.tenant_suspended {
        Some(ServiceError::TenantSuspended)
    } else if !row.allowed_ips.is_empty()
        && !call.ip.is_some_and(|ip| rules::ip_in(&row.allowed_ips, ip))
    {
        Some(ServiceError::IpNotAllowed)
    } else {
        call.origin.and_then(|origin| {
            let origin = origin.trim().to_ascii_lowercase();
            (!row.allowed_origins.is_empty() && !row.allowed_origins.contains(&origin))
                .then_some(ServiceError::OriginNotAllowed)
        })
    };
    // A call refused for where it comes from is a failed attempt of its source.
    if matches!(
        refusal,
        Some(ServiceError::IpNotAllowed | ServiceError::OriginNotAllowed)
    ) {
        if let Some(ip) = watched {
            if let Err(retry_after) = svc.fail_now(ip, now).await {
                return Ok(locked_out(svc, ip, retry_after, now));
            }
        }
    }
    let refusal = refusal.or_else(|| match call.scope {
        Some(scope) if !row.scopes.iter().any(|s| s == scope) => {
            let scope = if rules::valid_scope_name(scope) {
                scope.to_owned()
            } else {
                "(unreadable)".to_owned()
            };
            Some(ServiceError::ScopeMissing { scope })
        }
        _ => None,
    });
    // The tier's request rate, then the key's hourly limit and the tenant's daily cap. A call
    // one of them refuses counts against none.
    let tier_rate = svc.config().tier_rate(tier);
    let (outcome, window) = match refusal {
        Some(err) => (Err(err), limits::peek(svc, row, cap, now).await?),
        None => match tier_rate.map(|rate| svc.tier_rates().take(&row.id, rate, now)) {
            Some(Err(w)) => (
                Err(ServiceError::RateLimited {
                    retry_after: w.reset,
                }),
                w,
            ),
            _ => {
                let limited = limits::acquire(svc, row, cap, now).await?;
                if let (Err(_), Some(rate)) = (&limited, tier_rate) {
                    svc.tier_rates().untake(&row.id, rate, now);
                }
                match limited {
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
                }
            }
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

/// The answer to an attempt from a locked-out source.
fn locked_out(svc: &Domain, ip: IpAddr, retry_after: i64, now: i64) -> Decision {
    Decision {
        outcome: Err(ServiceError::IpLockedOut { retry_after }),
        window: svc.lockout().allowance(Some(ip), now),
        key_prefix: None,
    }
}

/// What the lookup of a presented key found.
enum Looked {
    Found(Arc<Cached>),
    /// Refused: why, the key when it is known (its usage counts the refusal), and whether the
    /// failure was already counted toward the source's lockout.
    Denied {
        denial: KeyDenial,
        row: Option<Box<KeyRow>>,
        counted: bool,
    },
    /// The source's failures and attempts under way leave no room for a lookup in storage.
    LockedOut {
        ip: IpAddr,
        retry_after: i64,
    },
}

/// The key behind a presented secret: from the cache, or from storage. A lookup in storage
/// takes time, so it holds a place among `watched`'s attempts while it runs (see
/// [`crate::domain::lockout`]) and counts its own failure.
async fn lookup(
    svc: &Domain,
    presented: &str,
    now: i64,
    watched: Option<IpAddr>,
) -> Result<Looked, ServiceError> {
    let hash = match check_format(presented) {
        Ok(hash) => hash,
        Err(denial) => {
            return Ok(Looked::Denied {
                denial,
                row: None,
                counted: false,
            })
        }
    };
    let cache = svc.key_cache();
    let mut attempt = None;
    let found = match cache.get(&hash.0) {
        Some(found) => found,
        None => {
            // Calls with the same secret share one lookup; only the call that runs it holds a
            // place among the source's attempts.
            let flight = cache.flight(&hash.0);
            let mut ran = false;
            let looked = flight
                .get_or_try_init(|| async {
                    ran = true;
                    if let Some(ip) = watched {
                        let held = svc
                            .lockout()
                            .reserve(ip, now)
                            .map_err(|retry_after| Stop::LockedOut { ip, retry_after })?;
                        attempt = Some(held);
                    }
                    let generation = cache.generation();
                    svc.note_key_lookup();
                    let found = svc.store().key_by_hash(&hash).await.map_err(Stop::Store)?;
                    let found = found.map(|found| Arc::new(Cached::new(found)));
                    if let Some(found) = &found {
                        cache.insert(generation, hash.0, Arc::clone(found));
                    }
                    Ok(found)
                })
                .await
                .cloned();
            if ran {
                cache.land(&hash.0, &flight);
            }
            match looked {
                Ok(Some(found)) => found,
                // A call that shared the lookup is counted by the caller (`counted` is false).
                Ok(None) => return Ok(denied(svc, attempt, KeyDenial::Unknown, None, now).await),
                Err(Stop::LockedOut { ip, retry_after }) => {
                    return Ok(Looked::LockedOut { ip, retry_after })
                }
                Err(Stop::Store(e)) => return Err(e),
            }
        }
    };
    if !hash.matches(&found.secret_hash) {
        return Ok(denied(svc, attempt, KeyDenial::Unknown, None, now).await);
    }
    match found.row.status(now) {
        KeyStatus::Revoked => {
            let row = Some(Box::new(found.row.clone()));
            Ok(denied(svc, attempt, KeyDenial::Revoked, row, now).await)
        }
        KeyStatus::Expired => {
            let row = Some(Box::new(found.row.clone()));
            Ok(denied(svc, attempt, KeyDenial::Expired, row, now).await)
        }
        // A place held for the lookup is given back as the attempt is dropped.
        KeyStatus::Active | KeyStatus::Expiring => Ok(Looked::Found(found)),
    }
}

/// Why a storage lookup did not run to its end.
enum Stop {
    LockedOut { ip: IpAddr, retry_after: i64 },
    Store(ServiceError),
}

/// A refusal found by [`lookup`], counted toward the lockout when it held a place for it.
async fn denied(
    svc: &Domain,
    attempt: Option<Attempt<'_>>,
    denial: KeyDenial,
    row: Option<Box<KeyRow>>,
    now: i64,
) -> Looked {
    let counted = attempt.is_some();
    if let Some(attempt) = attempt {
        svc.attempt_failed(attempt, now).await;
    }
    Looked::Denied {
        denial,
        row,
        counted,
    }
}

#[cfg(test)]
mod tests {
    use keyhaven_api::{CreateKeyRequest, Role};

    use super::*;
    use crate::config::ServiceConfig;
    use crate::domain::keys;

    /// One character changed anywhere in the random part: a different base62 character.
    fn mistype(key: &str, at: usize) -> String {
        let mut bytes = key.as_bytes().to_vec();
        bytes[at] = if bytes[at] == b'a' { b'b' } else { b'a' };
        String::from_utf8(bytes).expect("ascii")
    }

    async fn refusal(svc: &Domain, key: &str) -> ServiceError {
        enforce(svc, Some(key), &Call::default())
            .await
            .expect("decided")
            .outcome
            .expect_err("refused")
    }

    /// A fresh in-memory service with an owner and one key of scope `read`.
    async fn owner_with_key() -> (Domain, keyhaven_api::User, keyhaven_api::CreatedKey) {
        let svc = Domain::open_for_test(ServiceConfig::new("sqlite::memory:")).await;
        let user = crate::domain::auth::add_user(&svc, "o@x.io", Role::Owner, "t", "password-1")
            .await
            .expect("user");
        let req = CreateKeyRequest {
            name: "k".into(),
            scopes: vec!["read".into()],
            ..CreateKeyRequest::default()
        };
        let created = keys::create(&svc, &user, &req, None).await.expect("create");
        (svc, user, created)
    }

    #[tokio::test]
    async fn a_mistyped_key_is_refused_before_any_storage_lookup() {
        let (svc, user, created) = owner_with_key().await;
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

    #[tokio::test]
    async fn calls_with_one_uncached_key_share_one_lookup_and_one_place() {
        let (svc, _, created) = owner_with_key().await;
        let key = created.key.expose();
        let call = Call {
            ip: Some("203.0.113.7".parse().expect("ip")),
            track_lockout: true,
            ..Call::default()
        };
        // More calls at once than the source has places for failed attempts (10): polled
        // together, every one finds the first one's lookup running and waits for it.
        let calls: Vec<_> = (0..50).map(|_| enforce(&svc, Some(key), &call)).collect();
        let mut outcomes = Vec::new();
        for decided in keyhaven_testkit::join_all(calls).await {
            outcomes.push(
                decided
                    .expect("decided")
                    .outcome
                    .map(|found| found.row.id.clone()),
            );
        }
        assert!(
            outcomes
                .iter()
                .all(|o| o.as_ref().is_ok_and(|id| *id == created.meta.id)),
            "{outcomes:?}"
        );
        assert_eq!(svc.key_lookups(), 1, "one lookup for the fifty calls");
        // A secret nobody holds is still a failure of each call that presents it.
        let unknown = keyfmt::generate("kh_live_");
        let calls: Vec<_> = (0..3)
            .map(|_| enforce(&svc, Some(&unknown), &call))
            .collect();
        keyhaven_testkit::join_all(calls).await;
        assert_eq!(svc.key_lookups(), 2);
        let allowance = svc.lockout().allowance(call.ip, svc.now());
        assert_eq!(allowance.remaining, 7, "three failed attempts counted");
    }

    #[test]
    fn the_format_check_needs_no_storage() {
        let key = keyfmt::generate("kh_test_");
        assert!(check_format(&key).is_ok());
        assert_eq!(check_format(&mistype(&key, 10)), Err(KeyDenial::Malformed));
        assert_eq!(check_format("not a key"), Err(KeyDenial::Malformed));
    }
}
