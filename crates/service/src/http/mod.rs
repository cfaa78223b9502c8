//! The HTTP application: routes, the body limit, and the request-wide middleware.

pub(crate) mod extract;
mod middleware;
mod routes;
pub(crate) mod serve;

use axum::extract::DefaultBodyLimit;
use axum::routing::{get, patch, post};
use axum::Router;

use crate::config::MAX_BODY_BYTES;
use crate::service::Service;

/// Every endpoint served, as `(method, path)`; a test holds the OpenAPI document to this list.
#[cfg(test)]
pub const ENDPOINTS: [(&str, &str); 21] = [
    ("post", "/v1/auth/login"),
    ("post", "/v1/auth/logout"),
    ("get", "/v1/me"),
    ("get", "/v1/keys"),
    ("post", "/v1/keys"),
    ("get", "/v1/keys/{id}"),
    ("delete", "/v1/keys/{id}"),
    ("patch", "/v1/keys/{id}"),
    ("post", "/v1/keys/{id}/roll"),
    ("get", "/v1/keys/{id}/usage"),
    ("get", "/v1/keys/{id}/denials"),
    ("get", "/v1/usage"),
    ("get", "/v1/audit"),
    ("get", "/v1/support/keys"),
    ("get", "/v1/admin/tenants"),
    ("post", "/v1/admin/tenants"),
    ("patch", "/v1/admin/tenants/{id}"),
    ("post", "/v1/verify"),
    ("get", "/v1/ping"),
    ("get", "/v1/openapi.json"),
    ("get", "/v1/health"),
];

pub fn router(svc: Service) -> Router {
    Router::new()
        .route("/v1/auth/login", post(routes::login))
        .route("/v1/auth/logout", post(routes::logout))
        .route("/v1/me", get(routes::me))
        .route("/v1/keys", get(routes::list_keys).post(routes::create_key))
        .route(
            "/v1/keys/{id}",
            get(routes::get_key)
                .delete(routes::revoke_key)
                .patch(routes::update_key),
        )
        .route("/v1/keys/{id}/roll", post(routes::roll_key))
        .route("/v1/keys/{id}/usage", get(routes::key_usage))
        .route("/v1/keys/{id}/denials", get(routes::key_denials))
        .route("/v1/usage", get(routes::tenant_usage))
        .route("/v1/audit", get(routes::audit))
        .route("/v1/support/keys", get(routes::support_keys))
        .route(
            "/v1/admin/tenants",
            get(routes::list_tenants).post(routes::create_tenant),
        )
        .route("/v1/admin/tenants/{id}", patch(routes::update_tenant))
        .route("/v1/verify", post(routes::verify))
        .route("/v1/ping", get(routes::ping))
        .route("/v1/openapi.json", get(routes::openapi))
        .route("/v1/health", get(routes::health))
        .method_not_allowed_fallback(routes::not_found)
        .fallback(routes::not_found)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn(middleware::session_rate))
        .layer(axum::middleware::from_fn(middleware::reject_keys_in_url))
        .layer(axum::middleware::from_fn(middleware::log_requests))
        .with_state(svc)
}
