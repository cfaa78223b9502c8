//! Handlers: each extracts, delegates to one domain function, and shapes the answer.

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use keyhaven_api::{
    AuditRecord, CreateKeyRequest, CreateTenantRequest, CreatedKey, DenialRecord, KeyList, KeyMeta,
    KeyStatus, KeyUsage, LoginRequest, LoginResponse, RateLimitInfo, Role, RollKeyRequest,
    SupportKeyList, Tenant, TenantList, TenantUsage, UpdateKeyRequest, UpdateTenantRequest, User,
    VerifyRequest, VerifyResponse,
};
use serde::Deserialize;

use super::extract::{ApiJson, ApiPath, ApiQuery, ClientIp};
use super::headers::{presented_key, set_rate_headers};
use super::middleware::LoggedKeyPrefix;
use super::openapi::{
    self, BodyAnswers, Conflict, Granularity, Health, Internal, KeyLimitReached, NotFound,
    PingAnswers, SessionAnswers, TooManyRequests, Unauthorized, ValidationFailed,
};
use crate::domain::auth::{self, Session};
use crate::domain::reports::{self, Span};
use crate::domain::tenants::{self, Actor};
use crate::domain::verify::Call;
use crate::domain::Domain;
use crate::domain::{keys, verify};
use crate::error::ServiceError;

#[utoipa::path(
    post,
    path = "/v1/auth/login",
    tag = "sessions",
    operation_id = "login",
    summary = "Exchange an email and password for a session token",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Signed in.", body = LoginResponse),
        BodyAnswers,
        Unauthorized,
        TooManyRequests,
        Internal,
    ),
)]
pub async fn login(
    State(svc): State<Domain>,
    ClientIp(ip): ClientIp,
    ApiJson(req): ApiJson<LoginRequest>,
) -> Result<Json<LoginResponse>, ServiceError> {
    auth::login(&svc, req, ip).await.map(Json)
}

#[utoipa::path(
    post,
    path = "/v1/auth/logout",
    tag = "sessions",
    operation_id = "logout",
    summary = "Revoke the session token used for this call",
    security(("session" = [])),
    responses(
        (status = 204, description = "The session token no longer works."),
        SessionAnswers,
    ),
)]
pub async fn logout(
    State(svc): State<Domain>,
    session: Session,
) -> Result<StatusCode, ServiceError> {
    auth::logout(&svc, &session.token_hash).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    get,
    path = "/v1/me",
    tag = "sessions",
    operation_id = "me",
    summary = "The signed-in user",
    security(("session" = [])),
    responses(
        (status = 200, description = "The user behind the session.", body = User),
        SessionAnswers,
    ),
)]
pub async fn me(session: Session) -> Json<User> {
    Json(session.user)
}

#[utoipa::path(
    get,
    path = "/v1/admin/tenants",
    tag = "admin",
    operation_id = "listTenants",
    summary = "Every tenant, with its tier, suspension and keys against its cap",
    description = "Role `admin` only (others: 403 `forbidden`). `tier` and `key_cap` show the deployment's defaults where the tenant has none of its own; `active_keys` counts keys that still work, keys in a grace period among them.",
    security(("session" = [])),
    responses(
        (status = 200, description = "Every tenant, by name.", body = TenantList),
        SessionAnswers,
    ),
)]
pub async fn list_tenants(
    State(svc): State<Domain>,
    ClientIp(ip): ClientIp,
    session: Session,
) -> Result<Json<TenantList>, ServiceError> {
    let tenants = tenants::list(&svc, Actor::Admin(&session.user, ip)).await?;
    Ok(Json(TenantList { tenants }))
}

#[utoipa::path(
    post,
    path = "/v1/admin/tenants",
    tag = "admin",
    operation_id = "createTenant",
    summary = "Add a tenant",
    description = "Role `admin` only. A name already taken is 409 `conflict`; a tier the deployment does not configure is 422 `validation_failed`. Audited as `tenant.create`.",
    security(("session" = [])),
    request_body = CreateTenantRequest,
    responses(
        (status = 201, description = "The new tenant.", body = Tenant),
        SessionAnswers,
        BodyAnswers,
        Conflict,
    ),
)]
pub async fn create_tenant(
    State(svc): State<Domain>,
    ClientIp(ip): ClientIp,
    session: Session,
    ApiJson(req): ApiJson<CreateTenantRequest>,
) -> Result<(StatusCode, Json<Tenant>), ServiceError> {
    let tenant = tenants::create(&svc, Actor::Admin(&session.user, ip), &req).await?;
    Ok((StatusCode::CREATED, Json(tenant)))
}

#[utoipa::path(
    patch,
    path = "/v1/admin/tenants/{id}",
    tag = "admin",
    operation_id = "updateTenant",
    summary = "Change a tenant's tier, suspension or cap of active keys",
    description = "Role `admin` only. Only the fields sent change; `key_cap: null` goes back to the deployment's cap. Takes effect on the next call, on every instance within one second: a suspended tenant's keys are refused (403 `tenant_suspended`) and it cannot make keys; a key keeps working across a change of tier. Audited as `tenant.update`.",
    security(("session" = [])),
    params(
        ("id" = String, Path, description = "The tenant's id."),
    ),
    request_body = UpdateTenantRequest,
    responses(
        (status = 200, description = "The tenant as it is now.", body = Tenant),
        SessionAnswers,
        BodyAnswers,
        NotFound,
    ),
)]
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

#[utoipa::path(
    get,
    path = "/v1/keys",
    tag = "keys",
    operation_id = "listKeys",
    summary = "List the tenant's keys, oldest first, a page at a time (metadata only, never a secret)",
    description = "At most `limit` keys (default and most 1,000); when more follow, `next_cursor` is set: send it as `cursor` for the next page. `status` keeps the keys of one status. An unknown `cursor`, `limit` or `status` is 422 `validation_failed` naming it.",
    security(("session" = [])),
    params(
        ("tenant_id" = Option<String>, Query, description = "Another tenant to read: `support` and `admin` only; for other roles another tenant's id finds nothing (404)."),
        ("limit" = Option<u32>, Query, description = "Keys on the page: 1 to 1,000 (default 1,000)."),
        ("cursor" = Option<String>, Query, description = "The `next_cursor` of the previous page."),
        ("status" = Option<KeyStatus>, Query, description = "Only keys of this status."),
    ),
    responses(
        (status = 200, description = "The tenant's keys, oldest first.", body = KeyList),
        SessionAnswers,
        NotFound,
        ValidationFailed,
    ),
)]
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

#[utoipa::path(
    post,
    path = "/v1/keys",
    tag = "keys",
    operation_id = "createKey",
    summary = "Create a key; the answer holds its secret, shown this once",
    description = "Roles `owner`, `member` and `admin` only; `support` gets 403 `forbidden`. Over the tenant's active-key cap → 409 `key_limit_reached`. A suspended tenant makes no keys (403 `tenant_suspended`); the active-key cap is the tenant's own, or the deployment's.",
    security(("session" = [])),
    request_body = CreateKeyRequest,
    responses(
        (status = 201, description = "Created.", body = CreatedKey),
        SessionAnswers,
        BodyAnswers,
        KeyLimitReached,
    ),
)]
pub async fn create_key(
    State(svc): State<Domain>,
    ClientIp(ip): ClientIp,
    session: Session,
    ApiJson(req): ApiJson<CreateKeyRequest>,
) -> Result<(StatusCode, Json<CreatedKey>), ServiceError> {
    let created = keys::create(&svc, &session.user, &req, ip).await?;
    Ok((StatusCode::CREATED, Json(created)))
}

#[utoipa::path(
    get,
    path = "/v1/keys/{id}",
    tag = "keys",
    operation_id = "getKey",
    summary = "One key's metadata",
    security(("session" = [])),
    params(
        ("id" = String, Path, description = "The key's id."),
        ("tenant_id" = Option<String>, Query, description = "Another tenant to read: `support` and `admin` only; for other roles another tenant's id finds nothing (404)."),
    ),
    responses(
        (status = 200, description = "The key.", body = KeyMeta),
        SessionAnswers,
        NotFound,
        ValidationFailed,
    ),
)]
pub async fn get_key(
    State(svc): State<Domain>,
    session: Session,
    ApiPath(id): ApiPath<String>,
    ApiQuery(q): ApiQuery<TenantQuery>,
) -> Result<Json<KeyMeta>, ServiceError> {
    let tenant = reports::tenant_for(&session.user, q.tenant_id.as_deref())?;
    keys::get(&svc, &tenant, &id).await.map(Json)
}

#[utoipa::path(
    delete,
    path = "/v1/keys/{id}",
    tag = "keys",
    operation_id = "revokeKey",
    summary = "Revoke a key; it stops working before this answer is sent",
    security(("session" = [])),
    params(
        ("id" = String, Path, description = "The key's id."),
    ),
    responses(
        (status = 204, description = "Revoked (also when it already was)."),
        SessionAnswers,
        NotFound,
    ),
)]
pub async fn revoke_key(
    State(svc): State<Domain>,
    ClientIp(ip): ClientIp,
    session: Session,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ServiceError> {
    keys::revoke(&svc, &session.user, &id, ip).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    patch,
    path = "/v1/keys/{id}",
    tag = "keys",
    operation_id = "updateKey",
    summary = "Change a key's name, scopes, expiry, origins, IPs or hourly limit; the secret does not change",
    description = "Only the fields sent change; `null` clears `expires_at` or `rate_limit_per_hour`. Unknown fields are refused. Only an active key can be changed: a revoked, expired or replaced (rolled) one cannot (409 `conflict`), so that nothing brings a retired secret back. Recorded in the audit log as `key.update`.",
    security(("session" = [])),
    params(
        ("id" = String, Path, description = "The key's id."),
    ),
    request_body = UpdateKeyRequest,
    responses(
        (status = 200, description = "The key as it is now.", body = KeyMeta),
        SessionAnswers,
        BodyAnswers,
        NotFound,
        Conflict,
    ),
)]
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

#[utoipa::path(
    post,
    path = "/v1/keys/{id}/roll",
    tag = "keys",
    operation_id = "rollKey",
    summary = "Replace an active key with a new secret and the same settings",
    description = "The old key keeps working for `grace_seconds` with status `expiring`, then is `expired`; 0 revokes it at once. Only an active key can be rolled (409 `conflict`): a key in its grace period cannot be rolled again. A key in its grace period counts toward the active-key cap, so a roll with a grace period when the tenant holds its cap is refused (409 `key_limit_reached`); a roll with no grace period always fits. Audited as `key.roll` (the old key) and `key.create` (the new one). A suspended tenant makes no keys (403 `tenant_suspended`); the active-key cap is the tenant's own, or the deployment's.",
    security(("session" = [])),
    params(
        ("id" = String, Path, description = "The key's id."),
    ),
    request_body = RollKeyRequest,
    responses(
        (status = 201, description = "The new key; its secret is shown this once.", body = CreatedKey),
        SessionAnswers,
        BodyAnswers,
        NotFound,
        Conflict,
    ),
)]
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

#[utoipa::path(
    get,
    path = "/v1/keys/{id}/usage",
    tag = "usage",
    operation_id = "keyUsage",
    summary = "One key's calls by hour or day: accepted, and refused by reason",
    description = "At most 744 buckets per answer; every bucket in the span is present. Usage is counted in memory and written about once a second; a read includes everything counted before it.",
    security(("session" = [])),
    params(
        ("id" = String, Path, description = "The key's id."),
        ("from" = Option<String>, Query, format = DateTime, description = "Start (RFC 3339), widened to a whole bucket; default 24 hours (hour) or 30 days (day) before `to`."),
        ("to" = Option<String>, Query, format = DateTime, description = "End (RFC 3339), widened to a whole bucket; default now."),
        ("granularity" = Option<Granularity>, Query, description = "Default `hour`."),
        ("tenant_id" = Option<String>, Query, description = "Another tenant to read: `support` and `admin` only; for other roles another tenant's id finds nothing (404)."),
    ),
    responses(
        (status = 200, description = "The key's usage.", body = KeyUsage),
        SessionAnswers,
        NotFound,
        ValidationFailed,
    ),
)]
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

#[utoipa::path(
    get,
    path = "/v1/usage",
    tag = "usage",
    operation_id = "tenantUsage",
    summary = "The usage of every key of a tenant, in one answer",
    description = "Keys that are active or expiring, or that were used in the span.",
    security(("session" = [])),
    params(
        ("from" = Option<String>, Query, format = DateTime, description = "Start (RFC 3339), widened to a whole bucket; default 24 hours (hour) or 30 days (day) before `to`."),
        ("to" = Option<String>, Query, format = DateTime, description = "End (RFC 3339), widened to a whole bucket; default now."),
        ("granularity" = Option<Granularity>, Query, description = "Default `hour`."),
        ("tenant_id" = Option<String>, Query, description = "Another tenant to read: `support` and `admin` only; for other roles another tenant's id finds nothing (404)."),
    ),
    responses(
        (status = 200, description = "The tenant's usage.", body = TenantUsage),
        SessionAnswers,
        NotFound,
        ValidationFailed,
    ),
)]
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

#[utoipa::path(
    get,
    path = "/v1/keys/{id}/denials",
    tag = "usage",
    operation_id = "keyDenials",
    summary = "A key's recent denials, newest first, with reason, IP and origin",
    description = "Recorded for calls whose key was identified: `revoked`, `expired`, `origin_not_allowed`, `ip_not_allowed`, `scope_missing`, `rate_limited`, `daily_cap_reached`.",
    security(("session" = [])),
    params(
        ("id" = String, Path, description = "The key's id."),
        ("limit" = Option<u32>, Query, description = "Default 50."),
        ("tenant_id" = Option<String>, Query, description = "Another tenant to read: `support` and `admin` only; for other roles another tenant's id finds nothing (404)."),
    ),
    responses(
        (status = 200, description = "Denials.", body = Vec<DenialRecord>),
        SessionAnswers,
        NotFound,
        ValidationFailed,
    ),
)]
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

#[utoipa::path(
    get,
    path = "/v1/audit",
    tag = "usage",
    operation_id = "audit",
    summary = "The tenant's audit log, newest first",
    description = "Actions: `user.add` (actor `system`: added from the command line), `login`, `key.create`, `key.update`, `key.roll`, `key.revoke`. `actor` is the acting user's id; `target` a user or key id; `ip` the peer address of the change.",
    security(("session" = [])),
    params(
        ("limit" = Option<u32>, Query, description = "Default 100."),
        ("tenant_id" = Option<String>, Query, description = "Another tenant to read: `support` and `admin` only; for other roles another tenant's id finds nothing (404)."),
    ),
    responses(
        (status = 200, description = "Audit rows.", body = Vec<AuditRecord>),
        SessionAnswers,
        NotFound,
        ValidationFailed,
    ),
)]
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

#[utoipa::path(
    get,
    path = "/v1/support/keys",
    tag = "support",
    operation_id = "supportFindKeys",
    summary = "Find keys of every tenant by the start of their prefix, each with its tenant's name",
    description = "Roles `support` and `admin` only (others: 403 `forbidden`). At most 100 keys, newest first. Never a secret.",
    security(("session" = [])),
    params(
        ("prefix" = String, Query, description = "The start of a key, e.g. from a ticket: `kh_live_4Wq`."),
    ),
    responses(
        (status = 200, description = "Matching keys.", body = SupportKeyList),
        SessionAnswers,
        ValidationFailed,
    ),
)]
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
#[utoipa::path(
    post,
    path = "/v1/verify",
    tag = "using a key",
    operation_id = "verifyKey",
    summary = "For an API's own backend: may this key make this call?",
    description = "Session of an `owner` or `admin` (others: 403 `forbidden`). The same decision as a call with the key (see `GET /v1/ping`), for the caller's `ip` (always held against `allowed_ips`) and `origin` (when given); the call is counted in the key's usage and hourly limit when accepted. Keys of other tenants are not valid (`unauthorized`) and nothing is counted for them. The source-IP lockout does not apply: `ip` names the backend's caller, not this connection. `code` is one of `unauthorized`, `tenant_suspended`, `origin_not_allowed`, `ip_not_allowed`, `scope_missing`, `rate_limited`, `daily_cap_reached`; `ratelimit` is zero when the key is not identified.",
    security(("session" = [])),
    request_body = VerifyRequest,
    responses(
        (status = 200, description = "The verdict.", body = VerifyResponse),
        SessionAnswers,
        BodyAnswers,
    ),
)]
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
#[utoipa::path(
    get,
    path = "/v1/ping",
    tag = "using a key",
    operation_id = "ping",
    summary = "Check a key: who it belongs to and what it may do",
    description = "Enforcement, in this order: the source IP's lockout (429 `ip_locked_out`); the key present, known, not revoked or expired (401 `unauthorized`); the key's tenant not suspended (403 `tenant_suspended`); a non-empty `allowed_ips`, always: the source IP must match it (403 `ip_not_allowed`; an `Origin` header never lifts it); when an `Origin` (or `X-Origin`) header is sent and `allowed_origins` is non-empty, the origin must be in it (403 `origin_not_allowed`); the scope named in `?scope=` (403 `scope_missing`); the request rate per key of the tenant's tier, when it has one, and the key's hourly limit (429 `rate_limited`, with `Retry-After`); the tenant's daily cap by tier, reset at midnight UTC (429 `daily_cap_reached`). Lockout (defaults; a deployment may configure both numbers): 10 failed attempts (malformed, unknown, revoked or expired key, a call refused for its IP or origin, or a failed login) from one source within 300 seconds lock that source out of every key and login attempt until 300 seconds after the first of them; then it starts afresh. A source is an IPv4 address or an IPv6 /64. Concurrent attempts cannot exceed the ten: an attempt that needs a storage lookup or a password check holds its place before it is checked, and one that finds no place is answered 429 `ip_locked_out`. Session-authenticated management calls are not affected. The source IP is the connection's peer; `X-Forwarded-For` is read only for connections from a proxy the deployment trusts (`--trusted-proxy`), and then its last entry that is not such a proxy is the client. Every answer carries the `X-RateLimit-*` headers: once the key is known they describe the tighter of the key's hourly window and the tenant's daily window; on 401 and `ip_locked_out` answers they describe the source IP's allowance of failed attempts.",
    security(("apiKey" = []), ("apiKeyAlt" = []), ("apiKeyBearer" = [])),
    params(
        ("scope" = Option<String>, Query, description = "A scope the call needs; 403 `scope_missing` when the key lacks it."),
    ),
    responses(
        PingAnswers,
        ValidationFailed,
        TooManyRequests,
        Internal,
    ),
)]
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

#[utoipa::path(
    get,
    path = "/v1/openapi.json",
    tag = "meta",
    operation_id = "openapi",
    summary = "This document",
    responses(
        (status = 200, description = "The OpenAPI 3.1 document of the service.", body = Object),
    ),
)]
pub async fn openapi() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        openapi::document(),
    )
}

/// A bare route that touches nothing: liveness, and the benchmark's baseline.
#[utoipa::path(
    get,
    path = "/v1/health",
    tag = "meta",
    operation_id = "health",
    summary = "Liveness: answers without touching storage or credentials",
    responses(
        (status = 200, description = "The service is up.", body = Health),
    ),
)]
pub async fn health() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        r#"{"status":"ok"}"#,
    )
}

pub async fn not_found() -> ServiceError {
    ServiceError::RouteNotFound
}
