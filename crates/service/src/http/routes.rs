//! Handlers: each extracts, delegates to one domain function, and shapes the answer.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use keyhaven_api::{
    CreateKeyRequest, CreatedKey, KeyList, KeyMeta, LoginRequest, LoginResponse, PingResponse, User,
};
use serde::Deserialize;

use super::extract::{ApiJson, ApiPath, ApiQuery, ClientIp};
use super::middleware::LoggedKeyPrefix;
use crate::auth::{self, Session};
use crate::clock;
use crate::config::valid_scope_name;
use crate::error::ServiceError;
use crate::service::Service;
use crate::{keys, openapi, verify};

pub async fn login(
    State(svc): State<Service>,
    ClientIp(ip): ClientIp,
    ApiJson(req): ApiJson<LoginRequest>,
) -> Result<Json<LoginResponse>, ServiceError> {
    auth::login(&svc, req, ip).await.map(Json)
}

pub async fn logout(
    State(svc): State<Service>,
    session: Session,
) -> Result<StatusCode, ServiceError> {
    auth::logout(&svc, &session.token_hash).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn me(session: Session) -> Json<User> {
    Json(session.user)
}

pub async fn list_keys(
    State(svc): State<Service>,
    session: Session,
) -> Result<Json<KeyList>, ServiceError> {
    Ok(Json(KeyList {
        keys: keys::list(&svc, &session.user).await?,
    }))
}

pub async fn create_key(
    State(svc): State<Service>,
    ClientIp(ip): ClientIp,
    session: Session,
    ApiJson(req): ApiJson<CreateKeyRequest>,
) -> Result<(StatusCode, Json<CreatedKey>), ServiceError> {
    let created = keys::create(&svc, &session.user, &req, ip).await?;
    Ok((StatusCode::CREATED, Json(created)))
}

pub async fn get_key(
    State(svc): State<Service>,
    session: Session,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<KeyMeta>, ServiceError> {
    keys::get(&svc, &session.user, &id).await.map(Json)
}

pub async fn revoke_key(
    State(svc): State<Service>,
    ClientIp(ip): ClientIp,
    session: Session,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ServiceError> {
    keys::revoke(&svc, &session.user, &id, ip).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize)]
pub struct PingQuery {
    scope: Option<String>,
}

/// Answers with the key's identity; with `?scope=`, only when the key has that scope. Every
/// answer once the key is known carries the rate-limit headers.
pub async fn ping(
    State(svc): State<Service>,
    ClientIp(ip): ClientIp,
    headers: axum::http::HeaderMap,
    ApiQuery(query): ApiQuery<PingQuery>,
) -> Result<Response, ServiceError> {
    let key = verify::authenticate(&svc, &headers, ip).await?;
    let window = svc
        .rates()
        .record(&key.row, key.tenant_daily_cap, clock::now());
    let row = key.row;
    let mut response = match query.scope {
        Some(scope) if !row.scopes.contains(&scope) => {
            let scope = if valid_scope_name(&scope) {
                scope
            } else {
                "(unreadable)".to_owned()
            };
            ServiceError::ScopeMissing { scope }.into_response()
        }
        _ => Json(PingResponse {
            key_id: row.id,
            tenant_id: row.tenant_id,
            scopes: row.scopes,
        })
        .into_response(),
    };
    window.apply(response.headers_mut());
    response
        .extensions_mut()
        .insert(LoggedKeyPrefix(row.prefix));
    Ok(response)
}

pub async fn openapi() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        openapi::DOCUMENT,
    )
}

pub async fn not_found() -> ServiceError {
    ServiceError::RouteNotFound
}
