//! The OpenAPI 3.1 document served at `GET /v1/openapi.json`, generated from the code: the
//! schemas from the wire types (`keyhaven-api`, feature `openapi`), each operation from the
//! `#[utoipa::path]` on its handler in `routes.rs`, and what operations share (security
//! schemes, error answers, rate-limit headers) from here.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde::Serialize;
use serde_json::{json, Value};
use utoipa::openapi::header::{Header, HeaderBuilder};
use utoipa::openapi::response::{Response, ResponseBuilder};
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::{Content, OpenApi, Ref, RefOr};
use utoipa::{IntoResponses, Modify, ToSchema};

use keyhaven_api::{ErrorBody, PingResponse};

/// The document as served, built once from the router's operations (see `super::api!`).
pub fn document() -> &'static str {
    static DOCUMENT: OnceLock<String> = OnceLock::new();
    DOCUMENT.get_or_init(|| document_value().to_string())
}

fn document_value() -> Value {
    let doc = super::documented_routes().1;
    // A document of plain data always serialises.
    let mut doc = serde_json::to_value(&doc).unwrap_or_default();
    for (target, bound) in bounds() {
        if let Some(Value::Object(schema)) = target.schema_in(&mut doc) {
            if let Value::Object(bound) = bound {
                schema.extend(bound);
            }
        }
    }
    doc
}

/// Where a bound applies: a field of a schema, or a query parameter of an operation.
#[derive(Debug, Clone, Copy)]
enum Target {
    Field(&'static str, &'static str),
    Param(&'static str, &'static str, &'static str),
}

impl Target {
    /// The schema the bound goes into, if the document has it.
    fn schema_in(self, doc: &mut Value) -> Option<&mut Value> {
        match self {
            Target::Field(schema, field) => {
                doc.pointer_mut(&format!("/components/schemas/{schema}/properties/{field}"))
            }
            Target::Param(method, path, name) => doc
                .pointer_mut(&format!(
                    "/paths/{}/{method}/parameters",
                    path.replace('/', "~1")
                ))?
                .as_array_mut()?
                .iter_mut()
                .find(|p| p["name"] == name)?
                .get_mut("schema"),
        }
    }
}

/// The bounds the service checks, written into the document from the constants it checks them
/// with (`keyhaven_api::rules` and the domain), so that the two cannot drift apart.
fn bounds() -> Vec<(Target, Value)> {
    use keyhaven_api::rules::{MAX_GRACE_SECONDS, MAX_LIST_ENTRIES};
    use keyhaven_api::MAX_NAME_CHARS;

    use crate::domain::reports::MAX_PAGE;
    use crate::domain::tenants::{MAX_KEY_CAP, MAX_TENANT_CHARS};

    let name = json!({"minLength": 1, "maxLength": MAX_NAME_CHARS});
    let scopes = json!({"minItems": 1, "uniqueItems": true});
    let list = json!({"maxItems": MAX_LIST_ENTRIES, "uniqueItems": true});
    let hourly = json!({"minimum": 1, "maximum": u32::MAX});
    let page = json!({"minimum": 1, "maximum": MAX_PAGE});
    let mut bounds = Vec::new();
    for schema in ["CreateKeyRequest", "UpdateKeyRequest"] {
        bounds.extend([
            (Target::Field(schema, "name"), name.clone()),
            (Target::Field(schema, "scopes"), scopes.clone()),
            (Target::Field(schema, "allowed_origins"), list.clone()),
            (Target::Field(schema, "allowed_ips"), list.clone()),
            (Target::Field(schema, "rate_limit_per_hour"), hourly.clone()),
        ]);
    }
    bounds.extend([
        (Target::Field("KeyMeta", "rate_limit_per_hour"), hourly),
        (
            Target::Field("RollKeyRequest", "grace_seconds"),
            json!({"maximum": MAX_GRACE_SECONDS}),
        ),
        (
            Target::Field("CreateTenantRequest", "name"),
            json!({"minLength": 1, "maxLength": MAX_TENANT_CHARS}),
        ),
        (
            Target::Field("UpdateTenantRequest", "key_cap"),
            json!({"maximum": MAX_KEY_CAP}),
        ),
        (Target::Param("get", "/v1/keys", "limit"), page.clone()),
        (
            Target::Param("get", "/v1/keys/{id}/denials", "limit"),
            page.clone(),
        ),
        (Target::Param("get", "/v1/audit", "limit"), page),
        (
            Target::Param("get", "/v1/support/keys", "prefix"),
            json!({"minLength": 1, "maxLength": keyhaven_api::keyfmt::DISPLAY_PREFIX_CHARS}),
        ),
    ]);
    bounds
}

/// What the document says besides its operations.
#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "Keyhaven key service",
        version = "1.0.0",
        description = "Sessions, API key management and key verification. Management calls use `Authorization: Bearer <session token>`; an API key is never accepted for management (403 `forbidden`). Calls made with a key send it in `X-API-Key` (also accepted: `api-key`, `Authorization: Bearer kh_…`), never in the URL. Every error answer is `{\"error\": {\"code\", \"message\"}}` with the code's HTTP status. Request bodies are limited to 64 KiB. Calls with a key are enforced as `GET /v1/ping` describes and counted in memory; usage reaches storage about once a second and on a graceful stop.",
        license(name = "MIT OR Apache-2.0"),
    ),
    servers((url = "http://127.0.0.1:8787")),
    tags(
        (name = "sessions"),
        (name = "keys"),
        (name = "using a key"),
        (name = "usage"),
        (name = "meta"),
        (name = "support"),
        (name = "admin", description = "Operating the deployment: its tenants. Role `admin` only; `keyhaven-service tenant` does the same on the server."),
    ),
    components(schemas(ErrorBody, PingResponse, Granularity)),
    modifiers(&Shared),
)]
pub struct ApiDoc;

/// The liveness answer of `GET /v1/health`.
#[derive(Serialize, ToSchema)]
pub struct Health {
    #[schema(value_type = String, pattern = "^ok$")]
    status: &'static str,
}

/// Adds what many operations share: the security schemes, the error answers and the
/// `X-RateLimit-*` and `Retry-After` headers.
struct Shared;

impl Modify for Shared {
    fn modify(&self, openapi: &mut OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "session",
            SecurityScheme::Http(Http::builder().scheme(HttpAuthScheme::Bearer).description(Some(
                "A session token from POST /v1/auth/login. Management calls are rate limited per session (default 600 a minute, on each instance): every answer to a call with a session carries `X-RateLimit-Limit`, `X-RateLimit-Remaining` and `X-RateLimit-Reset` for the session's minute, and past the limit the call is answered 429 `rate_limited` with `Retry-After`.",
            )).build()),
        );
        components.add_security_scheme(
            "apiKey",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("X-API-Key"))),
        );
        components.add_security_scheme(
            "apiKeyAlt",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("api-key"))),
        );
        components.add_security_scheme(
            "apiKeyBearer",
            SecurityScheme::Http(
                Http::builder()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "An API key (`kh_…`) as a bearer token; for key-using calls only.",
                    ))
                    .build(),
            ),
        );
        for (name, description, minimum) in HEADERS {
            let schema = ObjectBuilder::new()
                .schema_type(Type::Integer)
                .minimum(Some(minimum));
            let header = HeaderBuilder::new()
                .schema(Some(schema))
                .description(Some(description))
                .build();
            components.headers.insert(name.to_owned(), RefOr::T(header));
        }
        for answer in ERROR_ANSWERS {
            let mut response = error_response(answer.description);
            if answer.status == 429 {
                for name in [
                    "Retry-After",
                    RATE_HEADERS[0],
                    RATE_HEADERS[1],
                    RATE_HEADERS[2],
                ] {
                    response.headers.insert(name.to_owned(), header_ref(name));
                }
            }
            components
                .responses
                .insert(answer.name.to_owned(), RefOr::T(response));
        }
    }
}

/// The headers answers refer to: name, description, least value.
const HEADERS: [(&str, &str, u32); 4] = [
    (
        "X-RateLimit-Limit",
        "Requests allowed in the window: the key's hourly limit, or the tenant's daily cap.",
        0,
    ),
    ("X-RateLimit-Remaining", "Requests left in the window.", 0),
    ("X-RateLimit-Reset", "Seconds until the window resets.", 0),
    ("Retry-After", "Seconds to wait before trying again.", 1),
];

const RATE_HEADERS: [&str; 3] = [
    "X-RateLimit-Limit",
    "X-RateLimit-Remaining",
    "X-RateLimit-Reset",
];

fn header_ref(name: &str) -> RefOr<Header> {
    RefOr::Ref(Ref::new(format!("#/components/headers/{name}")))
}

/// An error answer: the error body, described.
fn error_response(description: &str) -> Response {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            Content::new(Some(Ref::from_schema_name("Error"))),
        )
        .build()
}

/// An error answer operations refer to by name.
struct ErrorAnswer {
    name: &'static str,
    status: u16,
    description: &'static str,
}

const ERROR_ANSWERS: [ErrorAnswer; 9] = [
    ErrorAnswer {
        name: "Unauthorized",
        status: 401,
        description: "`unauthorized`: missing, unknown, revoked or expired credentials, or a key sent in the URL.",
    },
    ErrorAnswer {
        name: "Forbidden",
        status: 403,
        description: "`forbidden`: the role may not do this, or an API key was used for management; `tenant_suspended`: the caller's tenant is suspended.",
    },
    ErrorAnswer {
        name: "NotFound",
        status: 404,
        description: "`not_found`: no such resource in the caller's tenant, or no such endpoint.",
    },
    ErrorAnswer {
        name: "Conflict",
        status: 409,
        description: "`conflict`: the key is not in a state that allows this (revoked, expired or already rolled), or a tenant with that name exists; `key_limit_reached`: a roll would keep the old key working in a grace period beyond the tenant's cap.",
    },
    ErrorAnswer {
        name: "KeyLimitReached",
        status: 409,
        description: "`key_limit_reached`: the tenant holds its cap of active keys.",
    },
    ErrorAnswer {
        name: "PayloadTooLarge",
        status: 413,
        description: "`payload_too_large`: the body is over 64 KiB.",
    },
    ErrorAnswer {
        name: "ValidationFailed",
        status: 422,
        description: "`validation_failed`: bad JSON, wrong content type, or a bad field (named in the message).",
    },
    ErrorAnswer {
        name: "TooManyRequests",
        status: 429,
        description: "`rate_limited` (the key's hourly limit, or on a management call the session's rate), `daily_cap_reached` (the tenant's daily cap, reset at midnight UTC) or `ip_locked_out` (too many failed attempts from the source IP).",
    },
    ErrorAnswer {
        name: "Internal",
        status: 500,
        description: "`internal`: a fault of the service; details are in its log, not in the answer.",
    },
];

/// Declares a type per shared error answer, for the `responses(...)` of `#[utoipa::path]`:
/// each stands for its answer's status and refers to it by name.
macro_rules! error_answers {
    ($($name:ident),* $(,)?) => {$(
        #[doc = concat!("The shared `", stringify!($name), "` answer.")]
        pub struct $name;

        impl IntoResponses for $name {
            fn responses() -> BTreeMap<String, RefOr<Response>> {
                shared_answer(stringify!($name))
            }
        }
    )*};
}

error_answers!(
    Unauthorized,
    Forbidden,
    NotFound,
    Conflict,
    KeyLimitReached,
    PayloadTooLarge,
    ValidationFailed,
    TooManyRequests,
    Internal,
);

/// Declares a type standing for several shared answers at once, for what many operations share.
macro_rules! answer_groups {
    ($($(#[$doc:meta])* $group:ident = [$($answer:ident),+];)*) => {$(
        $(#[$doc])*
        pub struct $group;

        impl IntoResponses for $group {
            fn responses() -> BTreeMap<String, RefOr<Response>> {
                let mut all = BTreeMap::new();
                $(all.extend($answer::responses());)+
                all
            }
        }
    )*};
}

answer_groups! {
    /// What any call with a session can be answered: 401, 403, 429 and 500.
    SessionAnswers = [Unauthorized, Forbidden, TooManyRequests, Internal];
    /// What a call with a JSON body can be answered for its body: 413 and 422.
    BodyAnswers = [PayloadTooLarge, ValidationFailed];
}

fn shared_answer(name: &str) -> BTreeMap<String, RefOr<Response>> {
    ERROR_ANSWERS
        .iter()
        .filter(|a| a.name == name)
        .map(|a| {
            (
                a.status.to_string(),
                RefOr::Ref(Ref::from_response_name(a.name)),
            )
        })
        .collect()
}

/// `GET /v1/ping`'s own answers: each carries the `X-RateLimit-*` headers.
pub struct PingAnswers;

impl IntoResponses for PingAnswers {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        let with_rate_headers = |mut response: Response| {
            for name in RATE_HEADERS {
                response.headers.insert(name.to_owned(), header_ref(name));
            }
            RefOr::T(response)
        };
        let valid = ResponseBuilder::new()
            .description("The key is valid.")
            .content(
                "application/json",
                Content::new(Some(Ref::from_schema_name("PingResponse"))),
            )
            .build();
        BTreeMap::from([
            ("200".to_owned(), with_rate_headers(valid)),
            (
                "401".to_owned(),
                with_rate_headers(error_response(
                    "`unauthorized`: the key is missing, malformed, unknown, revoked or expired.",
                )),
            ),
            (
                "403".to_owned(),
                with_rate_headers(error_response(
                    "`tenant_suspended` (the key's tenant is suspended), `ip_not_allowed`, `origin_not_allowed`, or `scope_missing` (the key lacks the scope named in `?scope=`).",
                )),
            ),
        ])
    }
}

/// The buckets a usage read may ask for.
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)] // Only described: the domain reads `granularity` from the query's text.
pub enum Granularity {
    Hour,
    Day,
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::{Method, Request, StatusCode};
    use keyhaven_api::ErrorCode;
    use tower::ServiceExt;

    use super::*;
    use crate::config::ServiceConfig;
    use crate::domain::Domain;

    /// Every operation of the document, as `(method, path)`.
    fn operations(doc: &Value) -> Vec<(String, String)> {
        let paths = doc["paths"].as_object().expect("paths");
        let mut ops = Vec::new();
        for (path, item) in paths {
            for method in item.as_object().expect("path item").keys() {
                if ["get", "post", "put", "patch", "delete"].contains(&method.as_str()) {
                    ops.push((method.clone(), path.clone()));
                }
            }
        }
        ops
    }

    /// Whether the router answers `method path` from a handler rather than the "no such
    /// endpoint" fallback (which answers unknown paths and methods alike).
    async fn served(router: &axum::Router, method: &str, path: &str) -> bool {
        let uri = path.replace("{id}", "key_x");
        let request = Request::builder()
            .method(Method::from_bytes(method.to_uppercase().as_bytes()).expect("method"))
            .uri(uri)
            .body(Body::empty())
            .expect("request");
        let response = router.clone().oneshot(request).await.expect("answer");
        if response.status() != StatusCode::NOT_FOUND {
            return true;
        }
        let body = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .expect("body");
        !String::from_utf8_lossy(&body).contains("No such endpoint")
    }

    #[tokio::test]
    async fn the_router_serves_every_documented_operation_and_no_other() {
        let domain = Domain::open_for_test(ServiceConfig::new("sqlite::memory:")).await;
        let router = super::super::router(domain);
        let doc: Value = serde_json::from_str(document()).expect("the document is JSON");
        assert_eq!(doc["openapi"], "3.1.0");
        let ops = operations(&doc);
        assert_eq!(ops.len(), 21, "{ops:?}");
        for (method, path) in &ops {
            assert!(
                served(&router, method, path).await,
                "{method} {path} is documented but not served"
            );
        }
        // The same paths with the methods the document does not give them are not served.
        for path in doc["paths"].as_object().expect("paths").keys() {
            for method in ["get", "post", "put", "patch", "delete"] {
                if !ops.contains(&(method.to_owned(), path.clone())) {
                    assert!(
                        !served(&router, method, path).await,
                        "{method} {path} is served but not documented"
                    );
                }
            }
        }
    }

    #[test]
    fn lists_every_error_code() {
        let doc = document_value();
        let codes = doc["components"]["schemas"]["ErrorCode"]["enum"]
            .as_array()
            .expect("enum");
        let codes: Vec<&str> = codes.iter().filter_map(|c| c.as_str()).collect();
        let all: Vec<&str> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(codes, all);
    }

    #[test]
    fn every_bound_finds_its_place() {
        let mut doc = document_value();
        for (target, bound) in bounds() {
            let schema = target
                .schema_in(&mut doc)
                .unwrap_or_else(|| panic!("{target:?} is not in the document"));
            for (k, v) in bound.as_object().expect("bound") {
                assert_eq!(schema.get(k), Some(v), "{target:?} {k}");
            }
        }
        let name = &doc["components"]["schemas"]["CreateKeyRequest"]["properties"]["name"];
        assert_eq!(name["maxLength"], keyhaven_api::MAX_NAME_CHARS);
    }

    #[test]
    fn every_reference_resolves_and_every_component_is_used() {
        let doc = document_value();
        let mut refs = Vec::new();
        collect_refs(&doc, &mut refs);
        assert!(!refs.is_empty());
        for r in &refs {
            let pointer = r.strip_prefix('#').expect("local reference");
            assert!(doc.pointer(pointer).is_some(), "{r} does not resolve");
        }
        for kind in ["responses", "headers"] {
            for name in doc["components"][kind].as_object().expect(kind).keys() {
                let r = format!("#/components/{kind}/{name}");
                assert!(refs.contains(&r), "{r} is never used");
            }
        }
    }

    #[test]
    fn operations_with_a_session_or_a_key_say_so() {
        let doc = document_value();
        for (method, path) in operations(&doc) {
            let op = &doc["paths"][&path][&method];
            let open =
                ["/v1/auth/login", "/v1/health", "/v1/openapi.json"].contains(&path.as_str());
            assert_eq!(op.get("security").is_none(), open, "{method} {path}");
            assert!(
                op["responses"].get("500").is_some() || open,
                "{method} {path}"
            );
        }
    }

    fn collect_refs(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(map) => {
                for (k, v) in map {
                    match (k.as_str(), v.as_str()) {
                        ("$ref", Some(r)) => out.push(r.to_owned()),
                        _ => collect_refs(v, out),
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|v| collect_refs(v, out)),
            _ => {}
        }
    }
}
