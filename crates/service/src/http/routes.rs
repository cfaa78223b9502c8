//! Handlers: each extracts, delegates to one domain function, and shapes the answer.

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use keyhaven_api::{
    AuditRecord, CreateKeyRequest, CreateTenantRequest, CreatedKey, DenialRecord, KeyList, KeyMeta,
    KeyUsage, LoginRequest, LoginResponse, RateLimitInfo, Role, RollKeyRequest, SupportKeyList,
    Tenant, TenantList, TenantUsage, UpdateKeyRequest, UpdateTenantRequest, User, VerifyRequest,
    VerifyResponse,
};
use serde::Deserialize;

use super::extract::{ApiJson, ApiPath, ApiQuery, ClientIp};
use super::headers::{presented_key, set_rate_headers};
use super::middleware::LoggedKeyPrefix;
use super::openapi;
use crate::domain::auth::{self, Session};
use crate::domain::reports::{self, Span};
use crate::domain::tenants::{self, Actor};
use crate::domain::verify::Call;
use crate::domain::Domain;
use crate::domain::{keys, verify};
use crate::error::ServiceError;

pub async fn login(
    State(svc): State<Domain>,
    ClientIp(ip): ClientIp,
    ApiJson(req): ApiJson<LoginRequest>,
) -> Result<Json<LoginResponse>, ServiceError> {
    auth::login(&svc, req, ip).await.map(Json)
}

pub async fn logout(
    State(svc): State<Domain>,
    session: Session,
) -> Result<StatusCode, ServiceError> {
    auth::logout(&svc, &session.token_hash).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn me(session: Session) -> Json<User> {
    Json(session.user)
}

pub async fn list_tenants(
    State(svc): State<Domain>,
    ClientIp(ip): ClientIp,
    session: Session,
) -> Result<Json<TenantList>, ServiceError> {
    let tenants = tenants::list(&svc, Actor::Admin(&session.user, ip)).await?;
    Ok(Json(TenantList { tenants }))
}

pub async fn create_tenant(
    State(svc): State<Domain>,
    ClientIp(ip): ClientIp,
    session: Session,
    ApiJson(req): ApiJson<CreateTenantRequest>,
) -> Result<(StatusCode, Json<Tenant>), ServiceError> {
    let tenant = tenants::create(&svc, Actor::Admin(&session.user, ip), &req).await?;
    Ok((StatusCode::CREATED, Json(tenant)))
}

pub async fn update_tenant(
    State(svc): State<Domain>,
    ClientIp(ip): ClientIp,
    session: Session,
    ApiPath(id): ApiPath<String>,
    ApiJson(req): ApiJson<UpdateTenantRequest>,
) -> Result<Json<Tenant>, ServiceError> {
    tenants::update(&svc, Actor::Admin(&session.user, ip), &id, &req)
        .await
        .map(Json)
}

/// `?tenant_id=`: another tenant's keys, for `support` and `admin`.
#[derive(Debug, Deserialize)]
pub struct TenantQuery {
    tenant_id: Option<String>,
}

/// `GET /v1/keys`: paging and a status, besides support's `?tenant_id=`.
#[derive(Debug, Deserialize)]
pub struct KeyListQuery {
    tenant_id: Option<String>,
    limit: Option<String>,
    cursor: Option<String>,
    status: Option<String>,
}

pub async fn list_keys(
    State(svc): State<Domain>,
    session: Session,
    ApiQuery(q): ApiQuery<KeyListQuery>,
) -> Result<Json<KeyList>, ServiceError> {
    let tenant = reports::tenant_for(&session.user, q.tenant_id.as_deref())?;
    let limit = reports::page_size(q.limit.as_deref(), reports::MAX_PAGE)?;
    keys::list(
        &svc,
        &tenant,
        limit,
        q.cursor.as_deref(),
        q.status.as_deref(),
    )
    .await
    .map(Json)
}

pub async fn create_key(
    State(svc): State<Domain>,
    ClientIp(ip): ClientIp,
    session: Session,
    ApiJson(req): ApiJson<CreateKeyRequest>,
) -> Result<(StatusCode, Json<CreatedKey>), ServiceError> {
    let created = keys::create(&svc, &session.user, &req, ip).await?;
    Ok((StatusCode::CREATED, Json(created)))
}

pub async fn get_key(
    State(svc): State<Domain>,
    session: Session,
    ApiPath(id): ApiPath<String>,
    ApiQuery(q): ApiQuery<TenantQuery>,
) -> Result<Json<KeyMeta>, ServiceError> {
    let tenant = reports::tenant_for(&session.user, q.tenant_id.as_deref())?;
    keys::get(&svc, &tenant, &id).await.map(Json)
}

pub async fn revoke_key(
    State(svc): State<Domain>,
    ClientIp(ip): ClientIp,
    session: Session,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ServiceError> {
    keys::revoke(&svc, &session.user, &id, ip).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn update_key(
    State(svc): State<Domain>,
    ClientIp(ip): ClientIp,
    session: Session,
    ApiPath(id): ApiPath<String>,
    ApiJson(req): ApiJson<UpdateKeyRequest>,
) -> Result<Json<KeyMeta>, ServiceError> {
    keys::update(&svc, &session.user, &id, &req, ip)
        .await
        .map(Json)
}

pub async fn roll_key(
    State(svc): State<Domain>,
    ClientIp(ip): ClientIp,
    session: Session,
    ApiPath(id): ApiPath<String>,
    ApiJson(req): ApiJson<RollKeyRequest>,
) -> Result<(StatusCode, Json<CreatedKey>), ServiceError> {
    let created = keys::roll(&svc, &session.user, &id, &req, ip).await?;
    Ok((StatusCode::CREATED, Json(created)))
}

/// `?from=&to=&granularity=&tenant_id=` of the usage reads; checked by [`Span::parse`].
#[derive(Debug, Deserialize)]
pub struct UsageQuery {
    from: Option<String>,
    to: Option<String>,
    granularity: Option<String>,
    tenant_id: Option<String>,
}

/// `?limit=&tenant_id=` of the denial and audit reads.
#[derive(Debug, Deserialize)]
pub struct PageQuery {
    limit: Option<String>,
    tenant_id: Option<String>,
}

pub async fn key_usage(
    State(svc): State<Domain>,
    session: Session,
    ApiPath(id): ApiPath<String>,
    ApiQuery(q): ApiQuery<UsageQuery>,
) -> Result<Json<KeyUsage>, ServiceError> {
    let span = Span::parse(
        q.from.as_deref(),
        q.to.as_deref(),
        q.granularity.as_deref(),
        svc.now(),
    )?;
    reports::key_usage(&svc, &session.user, q.tenant_id.as_deref(), &id, span)
        .await
        .map(Json)
}

pub async fn tenant_usage(
    State(svc): State<Domain>,
    session: Session,
    ApiQuery(q): ApiQuery<UsageQuery>,
) -> Result<Json<TenantUsage>, ServiceError> {
    let span = Span::parse(
        q.from.as_deref(),
        q.to.as_deref(),
        q.granularity.as_deref(),
        svc.now(),
    )?;
    reports::tenant_usage(&svc, &session.user, q.tenant_id.as_deref(), span)
        .await
        .map(Json)
}

pub async fn key_denials(
    State(svc): State<Domain>,
    session: Session,
    ApiPath(id): ApiPath<String>,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> Result<Json<Vec<DenialRecord>>, ServiceError> {
    let limit = reports::page_size(q.limit.as_deref(), 50)?;
    reports::denials(&svc, &session.user, q.tenant_id.as_deref(), &id, limit)
        .await
        .map(Json)
}

pub async fn audit(
    State(svc): State<Domain>,
    session: Session,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> Result<Json<Vec<AuditRecord>>, ServiceError> {
    let limit = reports::page_size(q.limit.as_deref(), 100)?;
    reports::audit(&svc, &session.user, q.tenant_id.as_deref(), limit)
        .await
        .map(Json)
}

#[derive(Debug, Deserialize)]
pub struct PrefixQuery {
    prefix: Option<String>,
}

pub async fn support_keys(
    State(svc): State<Domain>,
    session: Session,
    ApiQuery(q): ApiQuery<PrefixQuery>,
) -> Result<Json<SupportKeyList>, ServiceError> {
    reports::find_keys(&svc, &session.user, q.prefix.as_deref())
        .await
        .map(Json)
}

/// For an API's own backend: the same decision as a call with the key, without the lockout
/// (the IP named is the backend's caller's, not this connection's).
pub async fn verify(
    State(svc): State<Domain>,
    session: Session,
    ApiJson(req): ApiJson<VerifyRequest>,
) -> Result<Json<VerifyResponse>, ServiceError> {
    if !matches!(session.user.role, Role::Owner | Role::Admin) {
        return Err(ServiceError::OwnerOnly);
    }
    let ip = req
        .ip
        .as_deref()
        .map(keyhaven_api::rules::ip_address)
        .transpose()?;
    let call = Call {
        ip,
        origin: req.origin.as_deref(),
        scope: req.scope.as_deref(),
        tenant_id: Some(&session.user.tenant_id),
        track_lockout: false,
    };
    let decision = verify::enforce(&svc, Some(req.key.expose().trim()), &call).await?;
    let w = decision.window;
    let ratelimit = RateLimitInfo {
        limit: w.limit,
        remaining: w.remaining,
        reset: w.reset,
    };
    Ok(Json(match decision.outcome {
        Ok(found) => VerifyResponse {
            valid: true,
            code: None,
            key_id: Some(found.row.id.clone()),
            scopes: Some(found.row.scopes.clone()),
            ratelimit,
        },
        Err(err) => {
            let identified = !matches!(err, ServiceError::KeyRejected(_));
            VerifyResponse {
                valid: false,
                code: Some(err.code()),
                key_id: None,
                scopes: None,
                ratelimit: if identified {
                    ratelimit
                } else {
                    RateLimitInfo {
                        limit: 0,
                        remaining: 0,
                        reset: 0,
                    }
                },
            }
        }
    }))
}

#[derive(Debug, Deserialize)]
pub struct PingQuery {
    scope: Option<String>,
}

/// Answers with the key's identity; with `?scope=`, only when the key has that scope. Every
/// answer carries the rate-limit headers, and a 429 `Retry-After`.
pub async fn ping(
    State(svc): State<Domain>,
    ClientIp(ip): ClientIp,
    ApiQuery(query): ApiQuery<PingQuery>,
    req: Request,
) -> Result<Response, ServiceError> {
    // The request itself, not a `HeaderMap` extractor: that one copies every header.
    let headers = req.headers();
    let call = Call {
        ip,
        origin: origin_of(headers),
        scope: query.scope.as_deref(),
        tenant_id: None,
        track_lockout: true,
    };
    let decision = verify::enforce(&svc, presented_key(headers), &call).await?;
    let mut response = match decision.outcome {
        Ok(found) => (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            found.ping_body.clone(),
        )
            .into_response(),
        Err(err) => err.into_response(),
    };
    set_rate_headers(&decision.window, response.headers_mut());
    if let Some(prefix) = decision.key_prefix.filter(|_| LoggedKeyPrefix::wanted()) {
        response.extensions_mut().insert(LoggedKeyPrefix(prefix));
    }
    Ok(response)
}

/// `X-Origin`: the origin a client that cannot send `Origin` names (TokenKit's clients do).
static X_ORIGIN: HeaderName = HeaderName::from_static("x-origin");

/// The `Origin` header, else `X-Origin`; one that is not readable text matches no allowed
/// origin.
fn origin_of(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::ORIGIN)
        .or_else(|| headers.get(&X_ORIGIN))
        .map(|v| v.to_str().unwrap_or("(unreadable)"))
}

pub async fn openapi() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        openapi::DOCUMENT,
    )
}

/// A bare route that touches nothing: liveness, and the benchmark's baseline.
pub async fn health() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        r#"{"status":"ok"}"#,
    )
}

pub async fn not_found() -> ServiceError {
    ServiceError::RouteNotFound
}
