//! The HTTP application: routes, the body limit, and the request-wide middleware.

mod error;
mod extract;
mod headers;
mod middleware;
mod openapi;
mod routes;
pub(crate) mod serve;

pub use openapi::document as openapi_document;

use axum::extract::DefaultBodyLimit;
use axum::Router;
use utoipa_axum::router::OpenApiRouter;

use crate::config::MAX_BODY_BYTES;
use crate::domain::Domain;

/// The one list of the API's operations. Each handler's `#[utoipa::path]` names its method and
/// path; `api! { HANDLER, ... }` builds from the list both the router and the OpenAPI document
/// (see [`openapi::document`]), so that a route is served if and only if it is documented, with
/// nothing kept in step by hand. Handlers of one path with several methods come in one group.
macro_rules! api {
    ($( [$($handler:path),+] ),* $(,)?) => {
        /// The routes with their document.
        fn documented_routes() -> (Router<Domain>, utoipa::openapi::OpenApi) {
            use utoipa::OpenApi as _;
            OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
                $(.routes(utoipa_axum::routes!($($handler),+)))*
                .split_for_parts()
        }
    };
}

api! {
    [routes::login],
    [routes::logout],
    [routes::me],
    [routes::list_keys, routes::create_key],
    [routes::get_key, routes::revoke_key, routes::update_key],
    [routes::roll_key],
    [routes::key_usage],
    [routes::key_denials],
    [routes::tenant_usage],
    [routes::audit],
    [routes::support_keys],
    [routes::list_tenants, routes::create_tenant],
    [routes::update_tenant],
    [routes::verify],
    [routes::ping],
    [routes::openapi],
    [routes::health],
}

pub fn router(svc: Domain) -> Router {
    documented_routes()
        .0
        .method_not_allowed_fallback(routes::not_found)
        .fallback(routes::not_found)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn(middleware::session_rate))
        .layer(axum::middleware::from_fn(middleware::reject_keys_in_url))
        .layer(axum::middleware::from_fn(middleware::log_requests))
        .with_state(svc)
}
