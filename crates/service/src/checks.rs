//! The request-body checks of `POST /v1/keys` and `PATCH /v1/keys/{id}` on their own, without a
//! database: the JSON parsing of [`ApiJson`](crate::http) and then the field validators, in the
//! order `keys::create` and `keys::update` apply them. For property tests and fuzzing
//! (`fuzz/`); not part of the service's API.

use keyhaven_api::{CreateKeyRequest, UpdateKeyRequest};

use crate::error::ServiceError;
use crate::http::extract::parse_json;
use keyhaven_api::rules;

/// Parses and checks a create-key body as `POST /v1/keys` does before it stores anything.
pub fn create_key_body(body: &[u8], scopes: &[String], now: i64) -> Result<(), ServiceError> {
    let req: CreateKeyRequest = parse_json(body)?;
    rules::name(&req.name)?;
    rules::scopes(&req.scopes, scopes)?;
    rules::expires_at(req.expires_at, now)?;
    let origins = rules::origins(req.allowed_origins.as_deref())?;
    rules::with_domain(origins, req.domain.as_deref())?;
    rules::ips(req.allowed_ips.as_deref())?;
    rules::rate_limit(req.rate_limit_per_hour)?;
    Ok(())
}

/// Parses and checks an update body as `PATCH /v1/keys/{id}` does once it has found the key.
pub fn update_key_body(body: &[u8], scopes: &[String], now: i64) -> Result<(), ServiceError> {
    let req: UpdateKeyRequest = parse_json(body)?;
    if let Some(name) = &req.name {
        rules::name(name)?;
    }
    if let Some(s) = &req.scopes {
        rules::scopes(s, scopes)?;
    }
    if let Some(expires_at) = req.expires_at {
        rules::expires_at(expires_at, now)?;
    }
    let origins = match &req.allowed_origins {
        Some(origins) => rules::origins(Some(origins))?,
        None => Vec::new(),
    };
    rules::with_domain(origins, req.domain.as_deref())?;
    if let Some(ips) = &req.allowed_ips {
        rules::ips(Some(ips))?;
    }
    if let Some(limit) = req.rate_limit_per_hour {
        rules::rate_limit(limit)?;
    }
    Ok(())
}
