//! Animus (`shared/seeds/001_…`; what is documented and what is assumed is in
//! `docs/connectors.md`). Keys are managed with the session token (a JWT) of a signed-in Animus
//! session, which the person pastes: Keyhaven cannot get one with a password, so when Animus
//! stops taking it the person signs in again with a new one. With it Keyhaven lists keys (id,
//! name, scopes, created), changes a key's name and scopes without a new secret, and revokes.
//! The document names no create call: keys are made in the Animus app and imported. A key is
//! checked with one read (`GET /api/v1/content/recent`), or, for a key without `read`, one
//! search: a 403 for a missing scope means Animus knows the key, so it works.

use base64::Engine;
use chrono::{DateTime, Duration, TimeZone, Utc};
use reqwest::{Method, RequestBuilder, StatusCode};
use serde::{Deserialize, Serialize};
use url::Url;
use zeroize::Zeroizing;

use keyhaven_api::{
    CreateKeyRequest, KeyMeta, KeyStatus, PingResponse, Role, UpdateKeyRequest, User,
};

use super::exchange::{common_refusal, exchange, parse_json};
use super::native::secret_header;
use super::{
    check_service_url_with, Capabilities, Connector, Credentials, HttpPolicy, Metered, NewKey,
    PingCall, Session,
};
use crate::catalog::ConnectorKind;
use crate::error::{AuthFailure, Error, Result};
use crate::secret::Secret;

/// Animus's documented host.
pub const DEFAULT_URL: &str = "https://api.animus.so";

/// The scopes an Animus key can have (documented).
pub const SCOPES: [&str; 3] = ["read", "write", "search"];

/// Where keys are made, as the document names it.
pub(super) const KEY_PAGE: &str = "the Animus app (Integrations → API Keys)";

/// How long a session token is taken to last when it does not say (its `exp` claim): the
/// document does not say, and a refused token asks for a new one anyway (assumed).
const ASSUMED_SESSION_HOURS: i64 = 12;

/// What the core keeps as an Animus account's session: the pasted token and the name the person
/// gave the account, as one secret.
#[derive(Serialize, Deserialize)]
struct Held {
    jwt: String,
    user: String,
}

impl Drop for Held {
    fn drop(&mut self) {
        use zeroize::Zeroize;
        self.jwt.zeroize();
    }
}

impl Held {
    fn seal(&self) -> Secret {
        // Two strings always serialise.
        let text = Zeroizing::new(serde_json::to_string(self).unwrap_or_default());
        Secret::new(text.to_string())
    }

    fn open(session: &Secret) -> Result<Held> {
        serde_json::from_str(session.expose()).map_err(|_| session_refused())
    }
}

/// A key as Animus lists it (assumed: the document shows no answer).
#[derive(Deserialize)]
struct Listed {
    id: serde_json::Value,
    name: String,
    #[serde(default)]
    scopes: Vec<String>,
    #[serde(default)]
    created_at: Option<serde_json::Value>,
}

/// The list answer: an array, or an object holding it under `api_keys` (assumed, either).
#[derive(Deserialize)]
#[serde(untagged)]
enum ListAnswer {
    Bare(Vec<Listed>),
    Wrapped { api_keys: Vec<Listed> },
}

impl ListAnswer {
    fn keys(self) -> Vec<Listed> {
        match self {
            ListAnswer::Bare(keys) | ListAnswer::Wrapped { api_keys: keys } => keys,
        }
    }
}

/// An update answer: the key, or an object holding it under `api_key` (assumed, either).
#[derive(Deserialize)]
#[serde(untagged)]
enum UpdateAnswer {
    Bare(Listed),
    Wrapped { api_key: Listed },
}

#[derive(Serialize)]
struct UpdateBody<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    scopes: Option<&'a [String]>,
}

/// How a refused call is told: the session token or an API key.
#[derive(Clone, Copy, PartialEq, Eq)]
enum With {
    Session,
    Key,
}

/// A client for Animus at one base URL (the documented host, or staging and the tests').
#[derive(Debug, Clone)]
pub struct AnimusConnector {
    base: Url,
    http: reqwest::Client,
}

/// Animus no longer takes the pasted session token: only a new one helps.
fn session_refused() -> Error {
    Error::Unauthorized {
        reason: AuthFailure::SessionTokenRefused,
    }
}

impl AnimusConnector {
    pub fn with_policy(
        base_url: &str,
        policy: HttpPolicy,
        http: reqwest::Client,
    ) -> Result<AnimusConnector> {
        Ok(AnimusConnector {
            base: check_service_url_with(base_url, policy)?,
            http,
        })
    }

    fn url(&self, path: &str) -> Result<Url> {
        self.base
            .join(path)
            .map_err(|_| Error::validation("service URL", "cannot be used as a base for API paths"))
    }

    fn bearer(&self, method: Method, path: &str, token: &Secret) -> Result<(Url, RequestBuilder)> {
        let url = self.url(path)?;
        let builder = self.http.request(method, url.clone()).header(
            reqwest::header::AUTHORIZATION,
            secret_header("Bearer ", token)?,
        );
        Ok((url, builder))
    }

    fn managing(&self, method: Method, path: &str, held: &Held) -> Result<(Url, RequestBuilder)> {
        self.bearer(method, path, &Secret::new(held.jwt.clone()))
    }

    /// Sends; a success gives the body, a refusal the core's error for it.
    async fn send(&self, url: &Url, builder: RequestBuilder, with: With) -> Result<Vec<u8>> {
        let answer = exchange(&self.base, builder).await?;
        if answer.status.is_success() {
            return Ok(answer.body);
        }
        Err(match answer.status {
            StatusCode::UNAUTHORIZED if with == With::Session => session_refused(),
            StatusCode::UNAUTHORIZED => Error::Unauthorized {
                reason: AuthFailure::KeyRejected,
            },
            StatusCode::FORBIDDEN if with == With::Session => Error::Forbidden {
                message: "Animus refused to manage keys with what was given: its key calls take \
                          the session token of a signed-in session, never an API key"
                    .into(),
            },
            StatusCode::FORBIDDEN => Error::Forbidden {
                message: "Animus knows the key but it lacks the scope this call needs".into(),
            },
            StatusCode::NOT_FOUND => Error::NotFound {
                what: "that key on Animus".into(),
            },
            StatusCode::UNPROCESSABLE_ENTITY | StatusCode::BAD_REQUEST => Error::Validation {
                field: "update".into(),
                message: "Animus refused the change (scopes must be some of read, write, search)"
                    .into(),
            },
            _ => common_refusal("Animus", url, &answer, "Animus is limiting calls right now"),
        })
    }

    async fn listed(&self, held: &Held) -> Result<Vec<Listed>> {
        let (url, builder) = self.managing(Method::GET, "api/v1/api-keys", held)?;
        let body = self.send(&url, builder, With::Session).await?;
        Ok(parse_json::<ListAnswer>(&url, &body)?.keys())
    }

    /// One call with `key` that needs `scope`: `Ok(true)` if it passed, `Ok(false)` if Animus
    /// knows the key but it lacks the scope (403), a refusal (401) as `KeyRejected`.
    async fn use_key(&self, key: &Secret, path: &str) -> Result<bool> {
        let (url, builder) = self.bearer(Method::GET, path, key)?;
        match self.send(&url, builder, With::Key).await {
            Ok(_) => Ok(true),
            Err(Error::Forbidden { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }
}

/// Scopes an update may give: some of Animus's three, at least one, none twice.
pub fn check_scopes(scopes: &[String]) -> Result<()> {
    let unknown: Vec<&str> = scopes
        .iter()
        .map(String::as_str)
        .filter(|s| !SCOPES.contains(s))
        .collect();
    if scopes.is_empty() || !unknown.is_empty() {
        return Err(Error::validation(
            "scopes",
            format!(
                "Animus keys take some of read, write, search{}",
                if unknown.is_empty() {
                    String::new()
                } else {
                    format!(", not {}", unknown.join(", "))
                }
            ),
        ));
    }
    Ok(())
}

/// Whether a secret whose check proved `proved` (see [`AnimusConnector`]'s ping) can be the key
/// listed with `listed` scopes: the check reads first, so a key with `read` proves `read`, one
/// with `search` and no `read` proves `search`, and one with neither proves nothing.
pub(crate) fn scopes_fit(listed: &[String], proved: &[String]) -> bool {
    let has = |scope: &str| listed.iter().any(|s| s == scope);
    match proved.first().map(String::as_str) {
        Some("read") => has("read"),
        Some("search") => !has("read") && has("search"),
        _ => !has("read") && !has("search"),
    }
}

/// What an update may change on Animus: its name and scopes. Anything else is refused before a
/// request, naming what cannot change.
fn check_update(request: &UpdateKeyRequest) -> Result<()> {
    let mut other = Vec::new();
    if request.expires_at.is_some() {
        other.push("expiry");
    }
    if request.allowed_origins.is_some() || request.domain.is_some() {
        other.push("allowed origins");
    }
    if request.allowed_ips.is_some() {
        other.push("allowed IPs");
    }
    if request.rate_limit_per_hour.is_some() {
        other.push("hourly limit");
    }
    if !other.is_empty() {
        return Err(Error::validation(
            "update",
            format!(
                "Animus keys have no {}: only their name and scopes can change",
                other.join(", ")
            ),
        ));
    }
    if request.name.is_none() && request.scopes.is_none() {
        return Err(Error::validation(
            "update",
            "give a new name or new scopes (read, write, search)",
        ));
    }
    if let Some(scopes) = &request.scopes {
        check_scopes(scopes)?;
    }
    Ok(())
}

/// An Animus time: an RFC 3339 string or seconds since the epoch (assumed, either).
fn time(value: Option<&serde_json::Value>) -> Option<DateTime<Utc>> {
    match value? {
        serde_json::Value::String(s) => DateTime::parse_from_rfc3339(s).ok().map(|t| t.to_utc()),
        serde_json::Value::Number(n) => n
            .as_f64()
            .and_then(|secs| Utc.timestamp_opt(secs as i64, 0).single()),
        _ => None,
    }
}

fn id_text(id: &serde_json::Value) -> String {
    match id {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// When the token says it ends (its `exp` claim), if it is a JWT that says so.
fn jwt_expiry(token: &str) -> Option<DateTime<Utc>> {
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    let exp = claims.get("exp")?.as_i64()?;
    Utc.timestamp_opt(exp, 0).single()
}

fn tenant_of(user: &str) -> String {
    format!("animus:{user}")
}

fn user_of(name: &str) -> User {
    User {
        id: name.to_string(),
        email: name.to_string(),
        role: Role::Owner,
        tenant_id: tenant_of(name),
    }
}

/// A key as Keyhaven shows it; what Animus does not have (expiry, origins, IPs, limits) is empty.
fn meta(held: &Held, key: Listed) -> KeyMeta {
    KeyMeta {
        id: id_text(&key.id),
        tenant_id: tenant_of(&held.user),
        name: key.name,
        prefix: String::new(),
        scopes: key.scopes,
        status: KeyStatus::Active,
        created_at: time(key.created_at.as_ref()).unwrap_or_else(Utc::now),
        last_used_at: None,
        expires_at: None,
        revoked_at: None,
        allowed_origins: Vec::new(),
        allowed_ips: Vec::new(),
        rate_limit_per_hour: None,
        created_by: held.user.clone(),
        replaced_by: None,
        replaces: None,
        note: None,
    }
}

impl Connector for AnimusConnector {
    fn kind(&self) -> ConnectorKind {
        ConnectorKind::Animus
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            login: true,
            list_keys: true,
            get_key: true,
            update_key: true,
            revoke_key: true,
            ping: true,
            // The list gives every setting an Animus key has: its name and scopes.
            key_settings: true,
            key_scopes: true,
            import_keys: true,
            guided_rotation: true,
            ..Capabilities::NONE
        }
    }

    /// The pasted session token (`credentials.password`) is checked with one list of keys and
    /// kept as the session; `credentials.user` is the name the person gives the account.
    async fn login(&self, credentials: Credentials<'_>) -> Result<Session> {
        let held = Held {
            jwt: credentials.password.expose().trim().to_string(),
            user: credentials.user.to_string(),
        };
        if held.jwt.is_empty() {
            return Err(Error::validation("session token", "is empty"));
        }
        if held.jwt.starts_with("anm_") {
            return Err(Error::validation(
                "session token",
                "that is an API key: Animus manages keys only with the session token of a \
                 signed-in session of the Animus app",
            ));
        }
        self.listed(&held).await?;
        let expires_at = jwt_expiry(&held.jwt)
            .unwrap_or_else(|| Utc::now() + Duration::hours(ASSUMED_SESSION_HOURS));
        Ok(Session {
            token: held.seal(),
            expires_at,
            user: user_of(credentials.user),
        })
    }

    /// Animus documents no logout: the token is forgotten here.
    async fn logout(&self, _session: &Secret) -> Result<()> {
        Ok(())
    }

    async fn me(&self, session: &Secret) -> Result<User> {
        Ok(user_of(&Held::open(session)?.user))
    }

    async fn list_keys(&self, session: &Secret, _tenant: Option<&str>) -> Result<Vec<KeyMeta>> {
        let held = Held::open(session)?;
        Ok(self
            .listed(&held)
            .await?
            .into_iter()
            .map(|k| meta(&held, k))
            .collect())
    }

    /// Animus documents no call for one key: it is found in the list.
    async fn get_key(
        &self,
        session: &Secret,
        key_id: &str,
        tenant: Option<&str>,
    ) -> Result<KeyMeta> {
        self.list_keys(session, tenant)
            .await?
            .into_iter()
            .find(|k| k.id == key_id)
            .ok_or_else(|| Error::NotFound {
                what: format!("key {key_id} on Animus"),
            })
    }

    async fn create_key(&self, _: &Secret, _: &CreateKeyRequest) -> Result<NewKey> {
        Err(Error::Forbidden {
            message: format!(
                "Animus makes keys only in {KEY_PAGE}: create it there, then import it \
                 (`keyhaven keys import --name NAME`)"
            ),
        })
    }

    /// `PATCH /api/v1/api-keys/ID` with the new name and scopes (assumed method and body); the
    /// secret stays.
    async fn update_key(
        &self,
        session: &Secret,
        key_id: &str,
        request: &UpdateKeyRequest,
    ) -> Result<KeyMeta> {
        check_update(request)?;
        let held = Held::open(session)?;
        let body = UpdateBody {
            name: request.name.as_deref(),
            scopes: request.scopes.as_deref(),
        };
        let (url, builder) = self.managing(
            Method::PATCH,
            &format!("api/v1/api-keys/{}", path_segment(key_id)?),
            &held,
        )?;
        let answer = self.send(&url, builder.json(&body), With::Session).await?;
        // The answer's shape is not documented: the key as listed is what counts.
        match serde_json::from_slice::<UpdateAnswer>(&answer) {
            Ok(UpdateAnswer::Bare(key) | UpdateAnswer::Wrapped { api_key: key }) => {
                Ok(meta(&held, key))
            }
            Err(_) => self.get_key(session, key_id, None).await,
        }
    }

    async fn roll_key(&self, _: &Secret, _: &str, _: u64) -> Result<NewKey> {
        Err(super::unsupported(
            ConnectorKind::Animus,
            "give a key a new secret (rotate it: Keyhaven guides you through making a new key there)",
        ))
    }

    async fn revoke_key(&self, session: &Secret, key_id: &str) -> Result<()> {
        let held = Held::open(session)?;
        let (url, builder) = self.managing(
            Method::DELETE,
            &format!("api/v1/api-keys/{}", path_segment(key_id)?),
            &held,
        )?;
        self.send(&url, builder, With::Session).await?;
        Ok(())
    }

    /// The key used once: `GET /api/v1/content/recent` (needs `read`), else `GET /api/v1/search`
    /// (needs `search`). A 403 for a missing scope still means Animus knows the key: it works.
    /// The answer's scopes are the ones this proved the key has (`read`, else `search`, else
    /// none known). Animus does not say which key it is.
    async fn ping(&self, key: &Secret, _call: &PingCall) -> Result<Metered<PingResponse>> {
        let proved = if self.use_key(key, "api/v1/content/recent").await? {
            vec!["read".to_string()]
        } else if self.use_key(key, "api/v1/search").await? {
            vec!["search".to_string()]
        } else {
            Vec::new()
        };
        Ok(Metered {
            value: PingResponse {
                key_id: String::new(),
                tenant_id: String::new(),
                scopes: proved,
            },
            ratelimit: None,
        })
    }
}

/// A key id as one path segment: Animus's ids are letters, digits, `_` and `-` (assumed); any
/// other is refused rather than sent.
fn path_segment(key_id: &str) -> Result<&str> {
    let ok = !key_id.is_empty()
        && key_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if ok {
        Ok(key_id)
    } else {
        Err(Error::validation(
            "key id",
            "is not an Animus key id (letters, digits, '_' and '-')",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn updates_change_only_names_and_known_scopes() {
        let scopes = |s: &[&str]| UpdateKeyRequest {
            scopes: Some(s.iter().map(|s| s.to_string()).collect()),
            ..UpdateKeyRequest::default()
        };
        assert!(check_update(&scopes(&["read", "search"])).is_ok());
        let err = check_update(&scopes(&["admin"])).expect_err("unknown scope");
        assert!(err.to_string().contains("not admin"), "{err}");
        assert!(check_update(&scopes(&[])).is_err());
        let err = check_update(&UpdateKeyRequest {
            rate_limit_per_hour: Some(Some(10)),
            name: Some("x".into()),
            ..UpdateKeyRequest::default()
        })
        .expect_err("no limits on Animus");
        assert!(err.to_string().contains("hourly limit"), "{err}");
    }

    #[test]
    fn lists_are_read_bare_or_wrapped_and_times_either_way() {
        let bare: ListAnswer = serde_json::from_str(
            r#"[{"id":"key_1","name":"a","scopes":["read"],"created_at":1800000000.0}]"#,
        )
        .expect("bare");
        let wrapped: ListAnswer = serde_json::from_str(
            r#"{"api_keys":[{"id":7,"name":"b","scopes":[],"created_at":"2027-01-15T08:00:00Z"}]}"#,
        )
        .expect("wrapped");
        let (a, b) = (&bare.keys()[0], &wrapped.keys()[0]);
        assert_eq!(id_text(&a.id), "key_1");
        assert_eq!(id_text(&b.id), "7");
        assert_eq!(
            time(a.created_at.as_ref()).map(|t| t.timestamp()),
            Some(1_800_000_000)
        );
        assert!(time(b.created_at.as_ref()).is_some());
    }

    #[test]
    fn a_token_tells_its_end_when_it_is_a_jwt() {
        let payload =
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(r#"{"exp":1900000000}"#);
        let token = format!("eyJhbGciOiJIUzI1NiJ9.{payload}.sig");
        assert_eq!(
            jwt_expiry(&token).map(|t| t.timestamp()),
            Some(1_900_000_000)
        );
        assert_eq!(jwt_expiry("eyJnotajwt"), None);
        assert!(path_segment("key_12").is_ok());
        assert!(path_segment("../x").is_err());
    }
}
