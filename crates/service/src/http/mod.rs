//! The HTTP application: routes, the body limit, and the request-wide middleware.

mod extract;
mod middleware;
mod routes;

use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::Router;

use crate::config::MAX_BODY_BYTES;
use crate::service::Service;

/// Every endpoint served, as `(method, path)`; a test holds the OpenAPI document to this list.
#[cfg(test)]
pub const ENDPOINTS: [(&str, &str); 9] = [
    ("post", "/v1/auth/login"),
    ("post", "/v1/auth/logout"),
    ("get", "/v1/me"),
    ("get", "/v1/keys"),
    ("post", "/v1/keys"),
    ("get", "/v1/keys/{id}"),
    ("delete", "/v1/keys/{id}"),
    ("get", "/v1/ping"),
    ("get", "/v1/openapi.json"),
];

pub fn router(svc: Service) -> Router {
    Router::new()
        .route("/v1/auth/login", post(routes::login))
        .route("/v1/auth/logout", post(routes::logout))
        .route("/v1/me", get(routes::me))
        .route("/v1/keys", get(routes::list_keys).post(routes::create_key))
        .route(
            "/v1/keys/{id}",
            get(routes::get_key).delete(routes::revoke_key),
        )
        .route("/v1/ping", get(routes::ping))
        .route("/v1/openapi.json", get(routes::openapi))
        .method_not_allowed_fallback(routes::not_found)
        .fallback(routes::not_found)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn(middleware::reject_keys_in_url))
        .layer(axum::middleware::from_fn(middleware::log_requests))
        .with_state(svc)
}
