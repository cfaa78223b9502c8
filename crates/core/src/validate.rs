//! Checks of what a person or a caller passes to the core, before any request leaves this
//! machine. Each failure is [`Error::Validation`] naming the field; none repeats a secret.
//! The service checks everything again; these checks exist so that a mistake is reported at
//! once, clearly, and costs no round trip.

use chrono::{DateTime, Utc};
use keyhaven_api::{keyfmt, rules, CreateKeyRequest, UpdateKeyRequest};

use crate::connector::{Granularity, PageQuery, UsageQuery};
use crate::error::{Error, Result};

/// Longest id (key, tenant) accepted.
pub const MAX_ID_CHARS: usize = 128;
/// Largest page of denials or audit rows.
pub const MAX_PAGE: u32 = 1000;
/// Buckets one usage answer may hold (the service's limit: 31 days by hour).
pub const MAX_USAGE_BUCKETS: i64 = 31 * 24;

/// An opaque id that goes into a URL path or query: 1 to 128 visible ASCII characters, none of
/// which changes the URL's meaning.
pub fn id(field: &str, value: &str) -> Result<()> {
    let ok = !value.is_empty()
        && value.len() <= MAX_ID_CHARS
        && value
            .bytes()
            .all(|b| b.is_ascii_graphic() && !b"/?#%&=+\\".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(Error::validation(
            field,
            format!("must be 1 to {MAX_ID_CHARS} letters, digits or '_', '-', '.' (as the service gave it)"),
        ))
    }
}

pub fn tenant(value: Option<&str>) -> Result<()> {
    match value {
        Some(t) => id("tenant_id", t),
        None => Ok(()),
    }
}

/// A create request, field by field, by the rules the service holds it to
/// ([`keyhaven_api::rules`]); which scopes the service offers, only it knows. No scopes at all
/// passes here: whether a key needs some depends on its service ([`create_request_for`]).
pub fn create_request(request: &CreateKeyRequest, now: DateTime<Utc>) -> Result<()> {
    rules::name(&request.name)?;
    if !request.scopes.is_empty() {
        rules::scope_names(&request.scopes)?;
    }
    rules::expires_at(request.expires_at, now.timestamp())?;
    let origins = rules::origins(request.allowed_origins.as_deref())?;
    rules::with_domain(origins, request.domain.as_deref())?;
    rules::ips(request.allowed_ips.as_deref())?;
    rules::rate_limit(request.rate_limit_per_hour)?;
    Ok(())
}

/// [`create_request`] for a service that has scopes (at least one is needed) or none (none may be
/// given).
pub fn create_request_for(
    request: &CreateKeyRequest,
    now: DateTime<Utc>,
    scoped: bool,
) -> Result<()> {
    create_request(request, now)?;
    match (scoped, request.scopes.is_empty()) {
        (true, true) => Err(Error::validation("scopes", "must name at least one scope")),
        (false, false) => Err(Error::validation(
            "scopes",
            "this service's keys have no scopes: leave them out",
        )),
        _ => Ok(()),
    }
}

/// An update request: at least one field, each valid. `null` clears `expires_at` or
/// `rate_limit_per_hour`; empty lists clear the origin and IP rules.
pub fn update_request(request: &UpdateKeyRequest, now: DateTime<Utc>) -> Result<()> {
    if request == &UpdateKeyRequest::default() {
        return Err(Error::validation(
            "update",
            "names no field to change (name, scopes, expires_at, allowed_origins, allowed_ips or rate_limit_per_hour)",
        ));
    }
    if let Some(n) = &request.name {
        rules::name(n)?;
    }
    if let Some(s) = &request.scopes {
        rules::scope_names(s)?;
    }
    if let Some(Some(at)) = request.expires_at {
        rules::expires_at(Some(at), now.timestamp())?;
    }
    let origins = match &request.allowed_origins {
        Some(list) => rules::origins(Some(list))?,
        None => Vec::new(),
    };
    rules::with_domain(origins, request.domain.as_deref())?;
    if let Some(list) = &request.allowed_ips {
        rules::ips(Some(list))?;
    }
    if let Some(limit) = request.rate_limit_per_hour {
        rules::rate_limit(limit)?;
    }
    Ok(())
}

/// A usage span as the service will read it: `from` before `to` (default now), at most
/// [`MAX_USAGE_BUCKETS`] buckets once widened to whole buckets, and a valid tenant.
pub fn usage_query(query: &UsageQuery, now: DateTime<Utc>) -> Result<()> {
    tenant(query.tenant_id.as_deref())?;
    let bucket = query.granularity.unwrap_or(Granularity::Hour).seconds();
    let to = query.to.unwrap_or(now).timestamp();
    let to = (to.div_euclid(bucket) + 1) * bucket;
    if let Some(from) = query.from {
        let from = from.timestamp().div_euclid(bucket) * bucket;
        if from >= to {
            return Err(Error::validation("from", "must be before `to`"));
        }
        if (to - from) / bucket > MAX_USAGE_BUCKETS {
            return Err(Error::validation(
                "from",
                format!(
                    "is too far before `to`: at most {MAX_USAGE_BUCKETS} {}s per answer",
                    query.granularity.unwrap_or_default().as_str()
                ),
            ));
        }
    }
    Ok(())
}

pub fn page(page: &PageQuery) -> Result<()> {
    tenant(page.tenant_id.as_deref())?;
    if let Some(limit) = page.limit {
        if !(1..=MAX_PAGE).contains(&limit) {
            return Err(Error::validation(
                "limit",
                format!("must be from 1 to {MAX_PAGE}"),
            ));
        }
    }
    Ok(())
}

/// The start of a key as support finds it in a ticket: 1 to 12 characters of letters, digits
/// and '_'. Returns it trimmed.
pub fn key_prefix(prefix: &str) -> Result<&str> {
    let prefix = prefix.trim();
    let ok = (1..=keyfmt::DISPLAY_PREFIX_CHARS).contains(&prefix.len())
        && prefix
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if ok {
        Ok(prefix)
    } else {
        Err(Error::validation(
            "prefix",
            format!(
                "must be 1 to {} characters of a key's start (letters, digits, '_'), like kh_live_AbC1",
                keyfmt::DISPLAY_PREFIX_CHARS
            ),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The field a check refused, without the index of a list's entry (`allowed_ips[3]`).
    fn field(r: Result<()>) -> String {
        match r {
            Err(Error::Validation { field, .. }) => match field.split_once('[') {
                Some((name, _)) => name.to_owned(),
                None => field,
            },
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn ids_are_plain() {
        assert!(id("key id", "key_AbC123").is_ok());
        assert!(id("key id", "6f1c-2.b").is_ok());
        for bad in [
            "",
            "a/b",
            "a b",
            "a?b",
            "a#b",
            "a%2F",
            "é",
            &"k".repeat(129),
        ] {
            assert_eq!(field(id("key id", bad)), "key id", "{bad}");
        }
        assert_eq!(field(tenant(Some("x/y"))), "tenant_id");
        assert!(tenant(None).is_ok());
    }

    #[test]
    fn updates_name_the_bad_field() {
        let now = Utc::now();
        assert_eq!(
            field(update_request(&UpdateKeyRequest::default(), now)),
            "update"
        );
        let ok = UpdateKeyRequest {
            name: Some("renamed".into()),
            expires_at: Some(None),
            rate_limit_per_hour: Some(None),
            allowed_ips: Some(vec![]),
            ..Default::default()
        };
        assert!(update_request(&ok, now).is_ok());
        let cases: Vec<(UpdateKeyRequest, &str)> = vec![
            (
                UpdateKeyRequest {
                    name: Some(" ".into()),
                    ..Default::default()
                },
                "name",
            ),
            (
                UpdateKeyRequest {
                    scopes: Some(vec![]),
                    ..Default::default()
                },
                "scopes",
            ),
            (
                UpdateKeyRequest {
                    scopes: Some(vec!["read".into(), "read".into()]),
                    ..Default::default()
                },
                "scopes",
            ),
            (
                UpdateKeyRequest {
                    expires_at: Some(Some(now - chrono::Duration::seconds(1))),
                    ..Default::default()
                },
                "expires_at",
            ),
            (
                UpdateKeyRequest {
                    allowed_origins: Some(vec!["app.example.com".into()]),
                    ..Default::default()
                },
                "allowed_origins",
            ),
            (
                UpdateKeyRequest {
                    allowed_ips: Some(vec![
                        "10.0.0.1".into();
                        keyhaven_api::rules::MAX_LIST_ENTRIES + 1
                    ]),
                    ..Default::default()
                },
                "allowed_ips",
            ),
            (
                UpdateKeyRequest {
                    allowed_ips: Some(vec!["10.0.0.0/+8".into()]),
                    ..Default::default()
                },
                "allowed_ips",
            ),
            (
                UpdateKeyRequest {
                    rate_limit_per_hour: Some(Some(0)),
                    ..Default::default()
                },
                "rate_limit_per_hour",
            ),
        ];
        for (request, expected) in cases {
            assert_eq!(
                field(update_request(&request, now)),
                expected,
                "{request:?}"
            );
        }
    }

    #[test]
    fn usage_spans_follow_the_services_rules() {
        let now: DateTime<Utc> = "2030-03-10T10:20:00Z".parse().expect("time");
        assert!(usage_query(&UsageQuery::default(), now).is_ok());
        let q = |from: &str, to: Option<&str>, g: Option<Granularity>| UsageQuery {
            from: Some(from.parse().expect("from")),
            to: to.map(|t| t.parse().expect("to")),
            granularity: g,
            tenant_id: None,
        };
        assert!(usage_query(&q("2030-03-01T00:00:00Z", None, None), now).is_ok());
        assert_eq!(
            field(usage_query(&q("2030-01-01T00:00:00Z", None, None), now)),
            "from"
        );
        assert!(usage_query(
            &q("2030-01-01T00:00:00Z", None, Some(Granularity::Day)),
            now
        )
        .is_ok());
        assert_eq!(
            field(usage_query(
                &q("2030-03-10T12:00:00Z", Some("2030-03-10T09:00:00Z"), None),
                now
            )),
            "from"
        );
        let with_tenant = UsageQuery {
            tenant_id: Some("".into()),
            ..Default::default()
        };
        assert_eq!(field(usage_query(&with_tenant, now)), "tenant_id");
        assert_eq!(
            field(page(&PageQuery {
                limit: Some(0),
                tenant_id: None
            })),
            "limit"
        );
        assert_eq!(
            field(page(&PageQuery {
                limit: Some(1001),
                tenant_id: None
            })),
            "limit"
        );
        assert!(page(&PageQuery {
            limit: Some(1000),
            tenant_id: Some("ten_1".into())
        })
        .is_ok());
    }

    #[test]
    fn prefixes_are_a_keys_start() {
        assert_eq!(key_prefix(" kh_live_AbC1 ").expect("ok"), "kh_live_AbC1");
        assert_eq!(key_prefix("kh_").expect("ok"), "kh_");
        for bad in ["", " ", "kh_live_AbC12", "kh-live", "kh live", "kh_%"] {
            match key_prefix(bad) {
                Err(Error::Validation { field, .. }) => assert_eq!(field, "prefix"),
                other => panic!("{bad}: {other:?}"),
            }
        }
    }

    #[test]
    fn ip_rules() {
        for good in ["10.0.0.1", "10.0.0.0/8", "::1", "fd00::/64", "0.0.0.0/0"] {
            assert!(rules::ip_or_cidr(good).is_some(), "{good}");
        }
        for bad in [
            "10.0.0",
            "10.0.0.0/33",
            "::/129",
            "10.0.0.0/",
            "host",
            " 10.0.0.1",
        ] {
            assert!(rules::ip_or_cidr(bad).is_none(), "{bad}");
        }
    }
}
