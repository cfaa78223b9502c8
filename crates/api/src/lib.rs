//! The Keyhaven key service's wire types, written once for the service and every client.
//!
//! Field names and codes follow `shared/API.md` exactly; anything added here is added to the
//! service's OpenAPI document too.

pub mod body;
pub mod keyfmt;
pub mod rules;

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use ts_rs::TS;
use zeroize::Zeroize;

/// Error codes of the service, closed. Serialised as snake_case strings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    Unauthorized,
    Forbidden,
    NotFound,
    ValidationFailed,
    Conflict,
    KeyLimitReached,
    ScopeMissing,
    OriginNotAllowed,
    IpNotAllowed,
    RateLimited,
    DailyCapReached,
    IpLockedOut,
    TenantSuspended,
    PayloadTooLarge,
    RequestTimeout,
    Internal,
}

impl ErrorCode {
    pub const ALL: [ErrorCode; 16] = [
        ErrorCode::Unauthorized,
        ErrorCode::Forbidden,
        ErrorCode::NotFound,
        ErrorCode::ValidationFailed,
        ErrorCode::Conflict,
        ErrorCode::KeyLimitReached,
        ErrorCode::ScopeMissing,
        ErrorCode::OriginNotAllowed,
        ErrorCode::IpNotAllowed,
        ErrorCode::RateLimited,
        ErrorCode::DailyCapReached,
        ErrorCode::IpLockedOut,
        ErrorCode::TenantSuspended,
        ErrorCode::PayloadTooLarge,
        ErrorCode::RequestTimeout,
        ErrorCode::Internal,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::NotFound => "not_found",
            ErrorCode::ValidationFailed => "validation_failed",
            ErrorCode::Conflict => "conflict",
            ErrorCode::KeyLimitReached => "key_limit_reached",
            ErrorCode::ScopeMissing => "scope_missing",
            ErrorCode::OriginNotAllowed => "origin_not_allowed",
            ErrorCode::IpNotAllowed => "ip_not_allowed",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::DailyCapReached => "daily_cap_reached",
            ErrorCode::IpLockedOut => "ip_locked_out",
            ErrorCode::TenantSuspended => "tenant_suspended",
            ErrorCode::PayloadTooLarge => "payload_too_large",
            ErrorCode::RequestTimeout => "request_timeout",
            ErrorCode::Internal => "internal",
        }
    }

    /// The HTTP status this code is answered with.
    pub fn http_status(self) -> u16 {
        match self {
            ErrorCode::Unauthorized => 401,
            ErrorCode::Forbidden
            | ErrorCode::ScopeMissing
            | ErrorCode::OriginNotAllowed
            | ErrorCode::IpNotAllowed
            | ErrorCode::TenantSuspended => 403,
            ErrorCode::NotFound => 404,
            ErrorCode::Conflict | ErrorCode::KeyLimitReached => 409,
            ErrorCode::PayloadTooLarge => 413,
            ErrorCode::RequestTimeout => 408,
            ErrorCode::ValidationFailed => 422,
            ErrorCode::RateLimited | ErrorCode::DailyCapReached | ErrorCode::IpLockedOut => 429,
            ErrorCode::Internal => 500,
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `{"error": {"code", "message"}}`: the body of every error answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = Error))]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorDetail {
    pub code: ErrorCode,
    /// A human sentence. Never contains a secret.
    pub message: String,
}

impl ErrorBody {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ErrorBody {
            error: ErrorDetail {
                code,
                message: message.into(),
            },
        }
    }
}

/// A secret string as it crosses the wire (an API key once, at creation or roll; a password at
/// login; a session token). Its `Debug` is redacted and it is wiped on drop. It has no `Display`.
/// Clients turn it into their own non-serialisable secret type as soon as it arrives.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(
    feature = "openapi",
    schema(
        format = Password,
        description = "A secret: a password, a session token, or an API key (shown once)."
    )
)]
#[serde(transparent)]
pub struct WireSecret(String);

impl WireSecret {
    pub fn new(value: String) -> Self {
        WireSecret(value)
    }
    /// The secret's text. Call sites are few and each one is a place a secret is handled.
    pub fn expose(&self) -> &str {
        &self.0
    }
    /// Hands the inner string over without a copy; the caller becomes responsible for wiping it.
    pub fn into_inner(mut self) -> String {
        std::mem::take(&mut self.0)
    }
}

impl fmt::Debug for WireSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WireSecret(<redacted>)")
    }
}

impl Drop for WireSecret {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Owner,
    Member,
    Support,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Member => "member",
            Role::Support => "support",
            Role::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "owner" => Some(Role::Owner),
            "member" => Some(Role::Member),
            "support" => Some(Role::Support),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }

    /// Whether this role may create, change or revoke keys.
    pub fn can_manage_keys(self) -> bool {
        matches!(self, Role::Owner | Role::Member | Role::Admin)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct User {
    pub id: String,
    pub email: String,
    pub role: Role,
    pub tenant_id: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LoginRequest {
    pub email: String,
    pub password: WireSecret,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LoginResponse {
    /// The session token; send it as `Authorization: Bearer <token>`.
    pub token: WireSecret,
    pub expires_at: DateTime<Utc>,
    pub user: User,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum KeyStatus {
    Active,
    Expiring,
    Revoked,
    Expired,
}

impl KeyStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyStatus::Active => "active",
            KeyStatus::Expiring => "expiring",
            KeyStatus::Revoked => "revoked",
            KeyStatus::Expired => "expired",
        }
    }
}

/// A key's metadata. Never its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct KeyMeta {
    pub id: String,
    pub tenant_id: String,
    pub name: String,
    /// The first 12 characters of the secret.
    pub prefix: String,
    pub scopes: Vec<String>,
    pub status: KeyStatus,
    #[ts(type = "string")]
    pub created_at: DateTime<Utc>,
    #[cfg_attr(feature = "openapi", schema(required = true))]
    #[ts(type = "string | null")]
    pub last_used_at: Option<DateTime<Utc>>,
    #[cfg_attr(feature = "openapi", schema(required = true))]
    #[ts(type = "string | null")]
    pub expires_at: Option<DateTime<Utc>>,
    #[cfg_attr(feature = "openapi", schema(required = true))]
    #[ts(type = "string | null")]
    pub revoked_at: Option<DateTime<Utc>>,
    pub allowed_origins: Vec<String>,
    pub allowed_ips: Vec<String>,
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub rate_limit_per_hour: Option<u32>,
    /// The id of the user who created the key.
    pub created_by: String,
    #[cfg_attr(feature = "openapi", schema(required = true))]
    /// The key that took this one's place when it was rolled (or, as the core fills it in, when
    /// a rotation replaced it). Absent from services that do not say.
    #[serde(default)]
    pub replaced_by: Option<String>,
    #[cfg_attr(feature = "openapi", schema(required = true))]
    /// The key this one took the place of.
    #[serde(default)]
    pub replaces: Option<String>,
    /// Said once, in the answer to a create or update that used a legacy field: how the service
    /// read it (TokenKit's `domain`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub note: Option<String>,
}

/// `GET /v1/keys`: a page of keys, oldest first; `next_cursor` asks for the next page, and is
/// absent on the last.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct KeyList {
    pub keys: Vec<KeyMeta>,
    /// Present when more keys follow: the `cursor` of the next page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// `POST /v1/keys`. Optional fields may be omitted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreateKeyRequest {
    pub name: String,
    /// A subset of the deployment's scopes (`read`, `write`, `search` unless configured otherwise).
    pub scopes: Vec<String>,
    /// Must be in the future. null is the same as leaving it out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
    /// null is the same as leaving it out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_origins: Option<Vec<String>>,
    /// null is the same as leaving it out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_ips: Option<Vec<String>>,
    /// null is the same as leaving it out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit_per_hour: Option<u32>,
    /// TokenKit's legacy field: `"domain": "example.io"` is taken as the allowed origin
    /// `https://example.io` (added to `allowed_origins`), and the answer's meta says so.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
}

/// `PATCH /v1/keys/{id}`: only the fields sent change, and the secret never does. `null`
/// clears `expires_at` or `rate_limit_per_hour`. An unknown field is refused.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UpdateKeyRequest {
    /// null leaves it unchanged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// null leaves it unchanged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scopes: Option<Vec<String>>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "double_option"
    )]
    /// In the future, or null for no expiry.
    pub expires_at: Option<Option<DateTime<Utc>>>,
    /// null leaves it unchanged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_origins: Option<Vec<String>>,
    /// null leaves it unchanged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_ips: Option<Vec<String>>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "double_option"
    )]
    /// null for no hourly limit.
    pub rate_limit_per_hour: Option<Option<u32>>,
    /// TokenKit's legacy field, as on create: its origin `https://` + the host is added to the
    /// key's allowed origins (to those sent, when `allowed_origins` is sent too).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
}

/// A field that may be absent (outer `None`), `null` (`Some(None)`) or a value.
mod double_option {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<T: Serialize, S: Serializer>(
        v: &Option<Option<T>>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match v {
            Some(inner) => inner.serialize(s),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, T: Deserialize<'de>, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Option<T>>, D::Error> {
        Option::<T>::deserialize(d).map(Some)
    }
}

/// `POST /v1/keys/{id}/roll`: the old key keeps working for `grace_seconds` (0: revoked at once).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RollKeyRequest {
    /// How long the old key keeps working; 0 revokes it at once.
    pub grace_seconds: u64,
}

/// The answer to a create or a roll: the secret, shown this once, and the key's metadata.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreatedKey {
    /// The secret, shown this once.
    pub key: WireSecret,
    pub meta: KeyMeta,
}

/// `GET /v1/ping` with a valid key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PingResponse {
    pub key_id: String,
    pub tenant_id: String,
    pub scopes: Vec<String>,
}

/// One bucket of a usage series: calls accepted, and calls refused by code (`revoked`,
/// `expired`, `origin_not_allowed`, `ip_not_allowed`, `scope_missing`, `rate_limited`,
/// `daily_cap_reached`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UsagePoint {
    /// The bucket's start.
    #[ts(type = "string")]
    pub t: DateTime<Utc>,
    // Counts reach the UI as JSON numbers (exact up to 2^53).
    #[ts(type = "number")]
    pub allowed: u64,
    /// Refused calls by code.
    #[ts(type = "{ [key in string]?: number }")]
    pub denied: std::collections::BTreeMap<String, u64>,
}

/// `GET /v1/keys/{id}/usage`: one key's calls by hour or day, oldest bucket first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct KeyUsage {
    pub key_id: String,
    #[cfg_attr(feature = "openapi", schema(required = true))]
    #[ts(type = "string | null")]
    pub last_used_at: Option<DateTime<Utc>>,
    pub series: Vec<UsagePoint>,
}

/// `GET /v1/usage`: the same for every key of a tenant, in one answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TenantUsage {
    pub tenant_id: String,
    pub keys: Vec<KeyUsage>,
}

/// One refused call of a key, in `GET /v1/keys/{id}/denials`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DenialRecord {
    #[ts(type = "string")]
    pub at: DateTime<Utc>,
    pub code: String,
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub ip: Option<String>,
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub origin: Option<String>,
}

/// One change, in `GET /v1/audit`: who (a user id), what, to what, when, from where.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditRecord {
    #[ts(type = "string")]
    pub at: DateTime<Utc>,
    pub actor: String,
    pub action: String,
    pub target: String,
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub ip: Option<String>,
}

/// A tenant, as the admin routes show it: its tier (the deployment's default tier unless it was
/// given another), whether it is suspended, and its keys against its cap.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Tenant {
    pub id: String,
    pub name: String,
    /// The tenant's tier, or the deployment's default tier.
    pub tier: String,
    /// A suspended tenant's keys are refused (403 `tenant_suspended`) and it cannot make keys.
    pub suspended: bool,
    /// Keys that still work (keys in a grace period among them).
    pub active_keys: u32,
    /// Most active keys the tenant may hold: its own cap, or the deployment's.
    pub key_cap: u32,
}

/// `GET /v1/admin/tenants`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TenantList {
    pub tenants: Vec<Tenant>,
}

/// `POST /v1/admin/tenants`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateTenantRequest {
    /// 1 to 64 printable characters, unique.
    pub name: String,
    /// A tier the deployment configures; absent: its default tier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tier: Option<String>,
}

/// `PATCH /v1/admin/tenants/{id}`: only the fields sent change. `key_cap: null` goes back to the
/// deployment's cap.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UpdateTenantRequest {
    /// A tier the deployment configures. null is the same as leaving it out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tier: Option<String>,
    /// null is the same as leaving it out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suspended: Option<bool>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "double_option"
    )]
    /// Most active keys the tenant may hold; null: the deployment's cap.
    pub key_cap: Option<Option<u32>>,
}

/// A key found by support's prefix search, with its tenant's name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SupportKey {
    #[serde(flatten)]
    pub meta: KeyMeta,
    pub tenant_name: String,
}

/// `GET /v1/support/keys?prefix=`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SupportKeyList {
    pub keys: Vec<SupportKey>,
}

/// `POST /v1/verify`: an API's own backend asks whether a key its caller sent may make a call.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct VerifyRequest {
    /// The key the backend's caller sent.
    pub key: WireSecret,
    /// null is the same as leaving it out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// The `Origin` the caller sent, if any; when absent, `ip` is checked instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
    /// The caller's IP address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
}

/// Where a key stands in its rate-limit window (as the `X-RateLimit-*` headers report it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RateLimitInfo {
    pub limit: u32,
    pub remaining: u32,
    /// Seconds until the window resets.
    pub reset: i64,
}

/// The answer to `POST /v1/verify`. `code` is present when `valid` is false; `key_id` and
/// `scopes` once the key is identified as one of the caller's tenant's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct VerifyResponse {
    pub valid: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<ErrorCode>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scopes: Option<Vec<String>>,
    pub ratelimit: RateLimitInfo,
}

/// Scopes a deployment offers when it configures none.
pub const DEFAULT_SCOPES: [&str; 3] = ["read", "write", "search"];

/// Longest key name the service accepts, in characters.
pub const MAX_NAME_CHARS: usize = 100;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_codes_serialise_as_their_names() {
        for code in ErrorCode::ALL {
            let json = serde_json::to_string(&code).expect("serialise");
            assert_eq!(json, format!("\"{}\"", code.as_str()));
            let back: ErrorCode = serde_json::from_str(&json).expect("parse");
            assert_eq!(back, code);
        }
    }

    #[test]
    fn wire_secret_debug_is_redacted() {
        let s = WireSecret::new("kh_live_topsecretvalue".into());
        let printed = format!("{s:?}");
        assert!(!printed.contains("topsecret"), "{printed}");
        assert_eq!(
            serde_json::to_string(&s).expect("json"),
            "\"kh_live_topsecretvalue\""
        );
    }

    #[test]
    fn an_update_tells_absent_from_null() {
        let u: UpdateKeyRequest =
            serde_json::from_str(r#"{"name":"n","rate_limit_per_hour":null}"#).expect("parse");
        assert_eq!(u.name.as_deref(), Some("n"));
        assert_eq!(u.rate_limit_per_hour, Some(None));
        assert_eq!(u.expires_at, None);
        let back = serde_json::to_value(&u).expect("json");
        assert_eq!(
            back,
            serde_json::json!({"name": "n", "rate_limit_per_hour": null})
        );
        assert!(serde_json::from_str::<UpdateKeyRequest>(r#"{"nmae":"x"}"#).is_err());
    }

    #[test]
    fn error_body_has_the_fixed_shape() {
        let body = ErrorBody::new(ErrorCode::NotFound, "No key with that id.");
        let v = serde_json::to_value(&body).expect("json");
        assert_eq!(v["error"]["code"], "not_found");
        assert_eq!(v["error"]["message"], "No key with that id.");
    }
}
