//! Request-wide rules: no keys in URLs, and a request log that never holds a secret.

use std::time::Instant;

use axum::extract::{MatchedPath, Query, Request};
use axum::http::{header, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use keyhaven_api::keyfmt;

use super::extract::SessionWindow;
use super::headers::{bearer_value, set_rate_headers};
use crate::error::ServiceError;
use crate::secrets::SESSION_TOKEN_PREFIX;

/// Set on a response by handlers that verified a key: the log shows this prefix, nothing more.
#[derive(Debug, Clone)]
pub struct LoggedKeyPrefix(pub String);

impl LoggedKeyPrefix {
    /// Whether the request log is written at all, so that handlers skip preparing its line.
    pub fn wanted() -> bool {
        tracing::enabled!(target: LOG_TARGET, tracing::Level::INFO)
    }
}

/// The target of the request log's lines.
const LOG_TARGET: &str = module_path!();

/// Query parameter names that look like an attempt to pass a key or token.
const KEY_PARAM_NAMES: [&str; 7] = [
    "key",
    "api_key",
    "apikey",
    "api-key",
    "x-api-key",
    "access_token",
    "token",
];

/// Puts the session's rate window, when the call had a session, in the answer's
/// `X-RateLimit-*` headers (as a call with a key has its key's).
pub async fn session_rate(mut req: Request, next: Next) -> Response {
    // Only a call that may carry a session pays for the slot (not the hot path of keys).
    let session_like = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(bearer_value)
        .is_some_and(|token| token.starts_with(SESSION_TOKEN_PREFIX));
    if !session_like {
        return next.run(req).await;
    }
    let slot = SessionWindow::default();
    req.extensions_mut().insert(slot.clone());
    let mut response = next.run(req).await;
    if let Some(window) = slot.0.get() {
        set_rate_headers(window, response.headers_mut());
    }
    response
}

/// Refuses any request that carries a key in its query string, by parameter name or because
/// a value has the shape of a key.
pub async fn reject_keys_in_url(req: Request, next: Next) -> Response {
    if query_carries_key(req.uri()) {
        tracing::warn!("request refused: an API key was sent in the URL");
        return ServiceError::KeyInUrl.into_response();
    }
    next.run(req).await
}

fn query_carries_key(uri: &Uri) -> bool {
    if uri.query().is_none() {
        return false;
    }
    let Ok(Query(pairs)) = Query::<Vec<(String, String)>>::try_from_uri(uri) else {
        return false;
    };
    pairs.iter().any(|(name, value)| {
        KEY_PARAM_NAMES.iter().any(|n| name.eq_ignore_ascii_case(n)) || keyfmt::check(value).is_ok()
    })
}

/// One line per request: method, route template (never the raw path or query), status, time,
/// and the key prefix when a key was verified.
pub async fn log_requests(req: Request, next: Next) -> Response {
    // Nothing to prepare when the line would be filtered out (the hot path under load).
    if !LoggedKeyPrefix::wanted() {
        return next.run(req).await;
    }
    let method = req.method().clone();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "(no route)".to_owned(), |p| p.as_str().to_owned());
    let started = Instant::now();
    let response = next.run(req).await;
    let key_prefix = response
        .extensions()
        .get::<LoggedKeyPrefix>()
        .map(|p| p.0.as_str());
    tracing::info!(
        %method,
        route,
        status = response.status().as_u16(),
        key_prefix,
        elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        "request"
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uri(s: &str) -> Uri {
        s.parse().expect("uri")
    }

    #[test]
    fn keys_in_query_strings_are_spotted() {
        let key = keyfmt::generate("kh_live_");
        assert!(query_carries_key(&uri("/v1/ping?key=x")));
        assert!(query_carries_key(&uri("/v1/ping?API_KEY=x")));
        assert!(query_carries_key(&uri(&format!(
            "/v1/ping?scope=read&q={key}"
        ))));
        assert!(!query_carries_key(&uri("/v1/ping?scope=read")));
        assert!(!query_carries_key(&uri("/v1/ping")));
    }
}
