//! The HTTP application: routes, the body limit, and the request-wide middleware.

mod error;
mod extract;
mod headers;
mod middleware;
mod openapi;
mod routes;
pub(crate) mod serve;

use axum::extract::DefaultBodyLimit;
use axum::Router;

use crate::config::MAX_BODY_BYTES;
use crate::domain::Domain;

/// The one list of the API's endpoints: `api! { METHOD "PATH" => HANDLER, ... }` builds the
/// router from it and [`ENDPOINTS`], the list a test holds the OpenAPI document to: a route is
/// served if and only if it is documented, with nothing kept in step by hand.
macro_rules! api {
    ($( $method:ident $path:literal => $handler:path ),* $(,)?) => {
        /// Every endpoint served, as `(method, path)`, in the order of the list.
        #[cfg_attr(not(test), allow(dead_code))]
        pub const ENDPOINTS: &[(&str, &str)] = &[$((stringify!($method), $path)),*];

        fn endpoints(router: Router<Domain>) -> Router<Domain> {
            router$(.route($path, axum::routing::$method($handler)))*
        }
    };
}

api! {
    post "/v1/auth/login" => routes::login,
    post "/v1/auth/logout" => routes::logout,
    get "/v1/me" => routes::me,
    get "/v1/keys" => routes::list_keys,
    post "/v1/keys" => routes::create_key,
    get "/v1/keys/{id}" => routes::get_key,
    delete "/v1/keys/{id}" => routes::revoke_key,
    patch "/v1/keys/{id}" => routes::update_key,
    post "/v1/keys/{id}/roll" => routes::roll_key,
    get "/v1/keys/{id}/usage" => routes::key_usage,
    get "/v1/keys/{id}/denials" => routes::key_denials,
    get "/v1/usage" => routes::tenant_usage,
    get "/v1/audit" => routes::audit,
    get "/v1/support/keys" => routes::support_keys,
    get "/v1/admin/tenants" => routes::list_tenants,
    post "/v1/admin/tenants" => routes::create_tenant,
    patch "/v1/admin/tenants/{id}" => routes::update_tenant,
    post "/v1/verify" => routes::verify,
    get "/v1/ping" => routes::ping,
    get "/v1/openapi.json" => routes::openapi,
    get "/v1/health" => routes::health,
}

pub fn router(svc: Domain) -> Router {
    endpoints(Router::new())
        .method_not_allowed_fallback(routes::not_found)
        .fallback(routes::not_found)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn(middleware::session_rate))
        .layer(axum::middleware::from_fn(middleware::reject_keys_in_url))
        .layer(axum::middleware::from_fn(middleware::log_requests))
        .with_state(svc)
}
