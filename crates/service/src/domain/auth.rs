//! Users and sessions: adding a user, password login, opaque session tokens stored as SHA-256,
//! logout, and finding the user behind a management call.

use std::net::IpAddr;

use keyhaven_api::{keyfmt, LoginRequest, LoginResponse, Role, User, WireSecret};

use super::{tenants, Domain};
use crate::clock::to_utc;
use crate::config::DEFAULT_DAILY_CAP;
use crate::error::ServiceError;
use crate::secrets::{self, SecretHash, MAX_PASSWORD_CHARS, MIN_PASSWORD_CHARS};
use crate::storage::{action, AuditEntry, NewSession, NewUser};

/// Longest email accepted (RFC 5321's path limit).
const MAX_EMAIL_CHARS: usize = 254;

/// Longest bearer value looked at; session tokens are 47 characters.
const MAX_BEARER_CHARS: usize = 256;

/// Checks the password and opens a session. Unknown email and wrong password fail alike, and
/// cost the same Argon2 work; each counts toward the source IP's lockout.
pub async fn login(
    svc: &Domain,
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
    let row = if email.is_empty() || email.len() > MAX_EMAIL_CHARS {
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
pub async fn logout(svc: &Domain, token_hash: &SecretHash) -> Result<(), ServiceError> {
    svc.store().end_session(token_hash).await
}

/// A signed-in caller of a management endpoint.
#[derive(Debug, Clone)]
pub struct Session {
    pub user: User,
    pub token_hash: SecretHash,
}

/// Who a management call presents: the value of its `Authorization: Bearer` header (empty when
/// the header is there but holds no bearer value), and whether it presents an API key.
#[derive(Debug, Clone, Copy)]
pub struct Credentials<'a> {
    pub bearer: Option<&'a str>,
    pub api_key: bool,
}

/// Finds the session behind a bearer token. An API key is refused with `forbidden`: keys never
/// manage keys.
pub async fn session(
    svc: &Domain,
    presented: Credentials<'_>,
    ip: Option<IpAddr>,
) -> Result<Session, ServiceError> {
    let refuse = |err: ServiceError, reason: &str| {
        tracing::warn!(ip = ?ip, reason, "session refused");
        err
    };
    let Some(token) = presented.bearer else {
        return Err(if presented.api_key {
            refuse(
                ServiceError::ApiKeyForManagement,
                "api key sent for management",
            )
        } else {
            refuse(ServiceError::SessionRequired, "no authorization header")
        });
    };
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

/// Adds a user, creating the tenant named `tenant` when it does not exist.
/// A taken email is [`ServiceError::DuplicateEmail`] (`conflict`).
pub async fn add_user(
    svc: &Domain,
    email: &str,
    role: Role,
    tenant: &str,
    password: &str,
) -> Result<User, ServiceError> {
    let email = normalise_email(email)?;
    let tenant = tenants::checked_name(tenant).map_err(|_| {
        ServiceError::validation(
            "tenant",
            format!(
                "must be 1 to {} printable characters",
                tenants::MAX_TENANT_CHARS
            ),
        )
    })?;
    let chars = password.chars().count();
    if !(MIN_PASSWORD_CHARS..=MAX_PASSWORD_CHARS).contains(&chars) {
        return Err(ServiceError::validation(
            "password",
            format!("must be {MIN_PASSWORD_CHARS} to {MAX_PASSWORD_CHARS} characters long"),
        ));
    }
    let store = svc.store();
    if store.user_by_email(&email).await?.is_some() {
        return Err(ServiceError::DuplicateEmail);
    }
    let password = WireSecret::new(password.to_owned());
    let password_hash = svc
        .password_work(move || secrets::hash_password(password.expose()))
        .await??;
    let now = svc.now();
    let tenant_id = store.ensure_tenant(tenant, DEFAULT_DAILY_CAP, now).await?;
    let user = User {
        id: secrets::random_id("usr"),
        email,
        role,
        tenant_id,
    };
    let audit = AuditEntry {
        at: now,
        tenant_id: user.tenant_id.clone(),
        actor: "system".to_owned(),
        action: action::USER_ADD.to_owned(),
        target: user.id.clone(),
        ip: None,
    };
    let new = NewUser {
        user: user.clone(),
        password_hash,
        created_at: now,
    };
    store.insert_user(&new, &audit).await?;
    tracing::info!(user_id = %user.id, role = role.as_str(), "user added");
    Ok(user)
}

fn normalise_email(email: &str) -> Result<String, ServiceError> {
    let email = email.trim();
    let ok = email.chars().count() <= MAX_EMAIL_CHARS
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        && matches!(email.split_once('@'), Some((local, domain))
            if !local.is_empty() && !domain.is_empty() && !domain.contains('@'));
    if ok {
        Ok(email.to_owned())
    } else {
        Err(ServiceError::validation(
            "email",
            "must be an address like name@example.com",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_checked_and_trimmed() {
        assert_eq!(normalise_email(" a+b@x.io ").expect("ok"), "a+b@x.io");
        for bad in ["", "a", "@x.io", "a@", "a b@x.io", "a@b@c"] {
            assert!(normalise_email(bad).is_err(), "{bad}");
        }
    }
}
