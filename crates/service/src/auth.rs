//! Sessions: password login, opaque session tokens stored as SHA-256, logout, and finding the
//! user behind a management call.

use std::net::IpAddr;

use axum::http::{header, HeaderMap};
use keyhaven_api::{keyfmt, LoginRequest, LoginResponse, User, WireSecret};

use crate::clock::to_utc;
use crate::error::ServiceError;
use crate::secrets::{self, SecretHash, MAX_PASSWORD_CHARS};
use crate::service::Service;
use crate::storage::{action, AuditEntry, NewSession};
use crate::verify;

/// Longest bearer value looked at; session tokens are 47 characters.
const MAX_BEARER_CHARS: usize = 256;

/// Checks the password and opens a session. Unknown email and wrong password fail alike, and
/// cost the same Argon2 work; each counts toward the source IP's lockout.
pub async fn login(
    svc: &Service,
    req: LoginRequest,
    ip: Option<IpAddr>,
) -> Result<LoginResponse, ServiceError> {
    let now = svc.now();
    // The attempt holds its place among the source's ten before the password is checked, so a
    // burst of logins at once checks at most ten; a successful one is forgiven (the place is
    // given back as `attempt` is dropped).
    let attempt = match ip.map(|ip| svc.lockout().reserve(ip, now)).transpose() {
        Ok(attempt) => attempt,
        Err(retry_after) => {
            tracing::warn!(ip = ?ip, retry_after, "login refused: the source IP is locked out");
            return Err(ServiceError::IpLockedOut { retry_after });
        }
    };
    let email = req.email.trim();
    let row = if email.is_empty() || email.len() > 254 {
        None
    } else {
        svc.store().user_by_email(email).await?
    };
    let phc = match &row {
        Some(row) => row.password_hash.clone(),
        None => svc.dummy_password_hash().await?.to_owned(),
    };
    let password: WireSecret = req.password;
    let matches = password.expose().chars().count() <= MAX_PASSWORD_CHARS
        && svc
            .password_work(move || secrets::verify_password(password.expose(), &phc))
            .await??;
    let user = match row {
        Some(row) if matches => row.user,
        _ => {
            tracing::warn!(ip = ?ip, "login refused: wrong email or password");
            if let Some(attempt) = attempt {
                svc.attempt_failed(attempt, now).await;
            }
            return Err(ServiceError::InvalidCredentials);
        }
    };
    drop(attempt);

    let token = WireSecret::new(secrets::new_session_token());
    let ttl = i64::try_from(svc.config().session_ttl.as_secs()).unwrap_or(i64::MAX);
    let expires_at = now.saturating_add(ttl);
    let session = NewSession {
        token_hash: SecretHash::of(token.expose()),
        user_id: user.id.clone(),
        created_at: now,
        expires_at,
    };
    let audit = AuditEntry {
        at: now,
        tenant_id: user.tenant_id.clone(),
        actor: user.id.clone(),
        action: action::LOGIN.to_owned(),
        target: user.id.clone(),
        ip: ip.map(|ip| ip.to_string()),
    };
    svc.store().start_session(&session, &audit).await?;
    tracing::info!(user_id = %user.id, ip = ?ip, "login");
    Ok(LoginResponse {
        token,
        expires_at: to_utc(expires_at)?,
        user,
    })
}

/// Ends the session: its token stops working at once.
pub async fn logout(svc: &Service, token_hash: &SecretHash) -> Result<(), ServiceError> {
    svc.store().end_session(token_hash).await
}

/// A signed-in caller of a management endpoint.
#[derive(Debug, Clone)]
pub struct Session {
    pub user: User,
    pub token_hash: SecretHash,
}

/// Finds the session behind `Authorization: Bearer <token>`. An API key is refused with
/// `forbidden`: keys never manage keys.
pub async fn session_from_headers(
    svc: &Service,
    headers: &HeaderMap,
    ip: Option<IpAddr>,
) -> Result<Session, ServiceError> {
    let refuse = |err: ServiceError, reason: &str| {
        tracing::warn!(ip = ?ip, reason, "session refused");
        err
    };
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Err(if verify::presented_key(headers).is_some() {
            refuse(
                ServiceError::ApiKeyForManagement,
                "api key sent for management",
            )
        } else {
            refuse(ServiceError::SessionRequired, "no authorization header")
        });
    };
    let token = value
        .to_str()
        .ok()
        .and_then(verify::bearer_value)
        .unwrap_or("");
    if keyfmt::check(token).is_ok() {
        return Err(refuse(
            ServiceError::ApiKeyForManagement,
            "api key sent for management",
        ));
    }
    if token.is_empty() || token.len() > MAX_BEARER_CHARS {
        return Err(refuse(ServiceError::SessionRequired, "not a bearer token"));
    }
    let token_hash = SecretHash::of(token);
    match svc.store().session_user(&token_hash, svc.now()).await? {
        Some(user) => Ok(Session { user, token_hash }),
        None => Err(refuse(
            ServiceError::SessionRequired,
            "unknown or expired session",
        )),
    }
}
