//! Extractors whose every rejection is a [`ServiceError`], so that bad input gets the service's
//! own error shape and never echoes what was sent.

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, OnceLock};

use axum::body::Bytes;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderName, StatusCode};
use serde::de::DeserializeOwned;

use crate::domain::auth::{self, Session};
use crate::domain::limits::RateWindow;
use crate::domain::Domain;
use crate::error::ServiceError;

/// The address a request comes from: the connection's peer, or, for a connection from a
/// trusted proxy (`--trusted-proxy`), the client its `X-Forwarded-For` names (see
/// [`crate::config::ServiceConfig::client_ip`]). `None` when the router is driven without a
/// socket (oneshot tests).
#[derive(Debug, Clone, Copy)]
pub struct ClientIp(pub Option<IpAddr>);

impl FromRequestParts<Domain> for ClientIp {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, svc: &Domain) -> Result<Self, Self::Rejection> {
        let Some(peer) = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip())
        else {
            return Ok(ClientIp(None));
        };
        let config = svc.config();
        if config.trusted_proxies.is_empty() {
            return Ok(ClientIp(Some(peer)));
        }
        let forwarded: Vec<&str> = parts
            .headers
            .get_all(&X_FORWARDED_FOR)
            .iter()
            .map(|v| v.to_str().unwrap_or("unreadable"))
            .collect();
        Ok(ClientIp(Some(config.client_ip(peer, &forwarded))))
    }
}

static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

/// Where a management call's session window is left for [`super::middleware::session_rate`] to
/// put in the answer's headers.
#[derive(Debug, Clone, Default)]
pub struct SessionWindow(pub Arc<OnceLock<RateWindow>>);

/// A management call's session: found, and counted in its minute's rate (429 `rate_limited`
/// past it). Its window goes into the answer's `X-RateLimit-*` headers.
impl FromRequestParts<Domain> for Session {
    type Rejection = ServiceError;

    async fn from_request_parts(parts: &mut Parts, svc: &Domain) -> Result<Self, Self::Rejection> {
        let ClientIp(ip) = ClientIp::from_request_parts(parts, svc)
            .await
            .unwrap_or(ClientIp(None));
        let session = auth::session(svc, super::headers::credentials(&parts.headers), ip).await?;
        let id: String = session
            .token_hash
            .0
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let limit = svc.config().session_rate_per_minute;
        let taken = svc.session_rates().take(&id, limit, svc.now());
        let window = match taken {
            Ok(w) | Err(w) => w,
        };
        if let Some(slot) = parts.extensions.get::<SessionWindow>() {
            let _ = slot.0.set(window);
        }
        match taken {
            Ok(_) => Ok(session),
            Err(w) => {
                tracing::warn!(user_id = %session.user.id, limit, "management call refused: the session's rate is used up");
                Err(ServiceError::RateLimited {
                    retry_after: w.reset,
                })
            }
        }
    }
}

/// A JSON body. Wrong content type, bad JSON or a wrong shape → `validation_failed` naming the
/// problem (and the field, when there is one); over the body limit → `payload_too_large`.
#[derive(Debug, Clone)]
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ServiceError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !has_json_content_type(req.headers()) {
            return Err(ServiceError::InvalidBody(
                "The request needs the header `Content-Type: application/json`.".into(),
            ));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ServiceError::PayloadTooLarge
            } else {
                ServiceError::InvalidBody("The request body could not be read.".into())
            }
        })?;
        parse_json(&bytes).map(ApiJson)
    }
}

/// A query string; a malformed one is `validation_failed`.
#[derive(Debug, Clone)]
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ServiceError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Query::try_from_uri(&parts.uri)
            .map(|Query(v)| ApiQuery(v))
            .map_err(|_| ServiceError::InvalidBody("The query string is malformed.".into()))
    }
}

/// Path parameters; ones that cannot be read match no resource.
#[derive(Debug, Clone)]
pub struct ApiPath<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ServiceError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Path::from_request_parts(parts, state)
            .await
            .map(|Path(v)| ApiPath(v))
            .map_err(|_| ServiceError::RouteNotFound)
    }
}

fn has_json_content_type(headers: &HeaderMap) -> bool {
    let Some(value) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let mime = value
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json"))
}

/// Parses JSON into `T` as [`keyhaven_api::body::parse`] does (a failure names where it
/// happened, never the value found there).
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ServiceError> {
    keyhaven_api::body::parse(bytes).map_err(ServiceError::from)
}

#[cfg(test)]
mod tests {
    use super::*;
    use keyhaven_api::{CreateKeyRequest, LoginRequest};

    fn message(e: ServiceError) -> String {
        e.to_string()
    }

    #[test]
    fn wrong_types_name_the_field_and_hide_the_value() {
        let e = parse_json::<CreateKeyRequest>(br#"{"name":"a","scopes":"kh_secret_value"}"#)
            .expect_err("wrong type");
        let m = message(e);
        assert!(m.contains("`scopes`"), "{m}");
        assert!(!m.contains("kh_secret_value"), "{m}");

        let e = parse_json::<LoginRequest>(br#"{"email":"a@b.c","password":12345678}"#)
            .expect_err("wrong type");
        let m = message(e);
        assert!(m.contains("`password`") && !m.contains("12345678"), "{m}");

        let e = parse_json::<CreateKeyRequest>(
            br#"{"name":"a","scopes":["read"],"rate_limit_per_hour":"lots-of-secret"}"#,
        )
        .expect_err("wrong type");
        let m = message(e);
        assert!(
            m.contains("`rate_limit_per_hour`") && !m.contains("lots-of-secret"),
            "{m}"
        );
    }

    #[test]
    fn missing_fields_and_bad_syntax_are_described() {
        let m = message(parse_json::<CreateKeyRequest>(br#"{"name":"a"}"#).expect_err("missing"));
        assert!(m.contains("missing field `scopes`"), "{m}");
        let m = message(parse_json::<CreateKeyRequest>(br#"{"name": "#).expect_err("eof"));
        assert!(m.contains("ends before"), "{m}");
        let m = message(parse_json::<CreateKeyRequest>(br#"{"name" 1}"#).expect_err("syntax"));
        assert!(m.contains("not valid JSON"), "{m}");
        let m = message(
            parse_json::<CreateKeyRequest>(br#"{"name":"a","scopes":[]} trailing"#)
                .expect_err("trailing"),
        );
        assert!(m.contains("not valid JSON"), "{m}");
    }

    #[test]
    fn only_objects_are_bodies() {
        for body in [&br#"["deploy", ["read"]]"#[..], b" 1", b"\"name\"", b"null"] {
            let m = message(parse_json::<CreateKeyRequest>(body).expect_err("not an object"));
            assert!(m.contains("must be a JSON object"), "{m}");
        }
        assert!(parse_json::<CreateKeyRequest>(br#" {"name":"a","scopes":["read"]}"#).is_ok());
    }

    #[test]
    fn content_types() {
        let mut h = HeaderMap::new();
        assert!(!has_json_content_type(&h));
        h.insert(
            header::CONTENT_TYPE,
            "application/json; charset=utf-8".parse().expect("hv"),
        );
        assert!(has_json_content_type(&h));
        h.insert(header::CONTENT_TYPE, "text/plain".parse().expect("hv"));
        assert!(!has_json_content_type(&h));
        h.insert(
            header::CONTENT_TYPE,
            "application/merge-patch+json".parse().expect("hv"),
        );
        assert!(has_json_content_type(&h));
    }
}
