//! TokenKit (`shared/seeds/004_…`; what is documented and what is assumed is in
//! `docs/connectors.md`). Sign-in with a user name or email and password gives a bearer token;
//! the calls that change keys carry it together with an API key of the account's, which the
//! person gives when adding the account. Keys are listed (id, name, created, last used), created
//! with origins, IPs and an hourly limit, and deleted. TokenKit has no update and no roll, and its
//! list does not give a key's settings: the core keeps the settings of the keys it makes
//! ([`crate::local_keys`]), so that a rotation makes a twin with the same settings, checks it
//! and deletes the old key. A key made elsewhere cannot be rotated that way.

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

/// TokenKit's documented host.
pub const DEFAULT_URL: &str = "https://api.tokenkithq.io";

/// How long Keyhaven takes a session to last: the document does not say, so a session is
/// renewed with the remembered password whenever a call answers 401 (assumed).
const ASSUMED_SESSION_HOURS: i64 = 12;

/// What the core keeps as a TokenKit account's session: the bearer token, the account's API
/// key and the user, as one secret, so that every later call has both headers.
#[derive(Serialize, Deserialize)]
struct Held {
    bearer: String,
    api_key: String,
    user: String,
}

impl Drop for Held {
    fn drop(&mut self) {
        use zeroize::Zeroize;
        self.bearer.zeroize();
        self.api_key.zeroize();
    }
}

impl Held {
    fn seal(&self) -> Secret {
        // Three strings always serialise.
        let text = Zeroizing::new(serde_json::to_string(self).unwrap_or_default());
        Secret::new(text.to_string())
    }

    fn open(session: &Secret) -> Result<Held> {
        serde_json::from_str(session.expose()).map_err(|_| Error::session_expired())
    }
}

/// A key as TokenKit lists it.
#[derive(Deserialize)]
struct Listed {
    id: serde_json::Value,
    name: String,
    #[serde(default)]
    created_at: Option<serde_json::Value>,
    #[serde(default)]
    last_used_at: Option<serde_json::Value>,
}

/// TokenKit's answer to a create: the key once, and (assumed) its id and name.
#[derive(Deserialize)]
struct Created {
    key: String,
    #[serde(default)]
    id: Option<serde_json::Value>,
}

#[derive(Serialize)]
struct CreateBody<'a> {
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    allowed_origins: Option<&'a [String]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    allowed_ips: Option<&'a [String]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    rate_limit_per_hour: Option<u32>,
}

/// A client for TokenKit at one base URL (the documented host, or staging and the tests').
#[derive(Debug, Clone)]
pub struct TokenkitConnector {
    base: Url,
    http: reqwest::Client,
}

impl TokenkitConnector {
    pub fn with_policy(
        base_url: &str,
        policy: HttpPolicy,
        http: reqwest::Client,
    ) -> Result<TokenkitConnector> {
        Ok(TokenkitConnector {
            base: check_service_url_with(base_url, policy)?,
            http,
        })
    }

    fn url(&self, path: &str) -> Result<Url> {
        self.base
            .join(path)
            .map_err(|_| Error::validation("service URL", "cannot be used as a base for API paths"))
    }

    /// A call with the session's bearer token, and with its API key when `with_key`.
    fn request(
        &self,
        method: Method,
        path: &str,
        held: &Held,
        with_key: bool,
    ) -> Result<(Url, RequestBuilder)> {
        let url = self.url(path)?;
        let bearer = Secret::new(held.bearer.clone());
        let mut builder = self.http.request(method, url.clone()).header(
            reqwest::header::AUTHORIZATION,
            secret_header("Bearer ", &bearer)?,
        );
        if with_key {
            let key = Secret::new(held.api_key.clone());
            builder = builder.header("api-key", secret_header("", &key)?);
        }
        Ok((url, builder))
    }

    /// Sends; a success gives the body, a refusal the core's error for it.
    async fn send(
        &self,
        url: &Url,
        builder: RequestBuilder,
        refused: AuthFailure,
    ) -> Result<Vec<u8>> {
        let answer = exchange(&self.base, builder).await?;
        if answer.status.is_success() {
            return Ok(answer.body);
        }
        Err(match answer.status {
            StatusCode::UNAUTHORIZED => Error::Unauthorized { reason: refused },
            StatusCode::BAD_REQUEST if refused == AuthFailure::WrongCredentials => {
                Error::Unauthorized { reason: refused }
            }
            StatusCode::FORBIDDEN => Error::Forbidden {
                message: "TokenKit refused the call: the key's origins or IPs do not allow it, \
                          or this IP is blocked after ten failures in five minutes"
                    .into(),
            },
            StatusCode::NOT_FOUND => Error::NotFound {
                what: "that key on TokenKit".into(),
            },
            _ => common_refusal(
                "TokenKit",
                url,
                &answer,
                "the key's hourly limit is reached",
            ),
        })
    }
}

/// A TokenKit time: an RFC 3339 string (assumed) or seconds since the epoch.
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

/// A key as Keyhaven shows it; what TokenKit does not list is empty (`docs/connectors.md`).
fn meta(
    held: &Held,
    id: String,
    name: String,
    created_at: Option<DateTime<Utc>>,
    last_used_at: Option<DateTime<Utc>>,
) -> KeyMeta {
    KeyMeta {
        id,
        tenant_id: tenant_of(&held.user),
        name,
        prefix: String::new(),
        scopes: Vec::new(),
        status: KeyStatus::Active,
        created_at: created_at.unwrap_or_else(Utc::now),
        last_used_at,
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

fn tenant_of(user: &str) -> String {
    format!("tokenkit:{user}")
}

fn user_of(name: &str) -> User {
    User {
        id: name.to_string(),
        email: name.to_string(),
        role: Role::Owner,
        tenant_id: tenant_of(name),
    }
}

impl Connector for TokenkitConnector {
    fn kind(&self) -> ConnectorKind {
        ConnectorKind::Tokenkit
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            login: true,
            list_keys: true,
            get_key: true,
            create_key: true,
            revoke_key: true,
            ping: true,
            allowed_origins: true,
            allowed_ips: true,
            rate_limit_per_hour: true,
            ..Capabilities::NONE
        }
    }

    async fn login(&self, credentials: Credentials<'_>) -> Result<Session> {
        let Some(api_key) = credentials.account_key else {
            return Err(Error::validation(
                "api key",
                "TokenKit's calls that change keys also carry one of the account's API keys: \
                 give one made in its dashboard (Settings → API Keys)",
            ));
        };
        let url = self.url("api/users/auth/login/")?;
        let body = serde_json::json!({
            "username": credentials.user,
            "password": credentials.password.expose(),
        });
        let answer = self
            .send(
                &url,
                self.http.post(url.clone()).json(&body),
                AuthFailure::WrongCredentials,
            )
            .await?;
        #[derive(Deserialize)]
        struct Token {
            token: String,
        }
        let token: Token = parse_json(&url, &answer)?;
        let held = Held {
            bearer: token.token,
            api_key: api_key.expose().to_string(),
            user: credentials.user.to_string(),
        };
        Ok(Session {
            token: held.seal(),
            expires_at: Utc::now() + Duration::hours(ASSUMED_SESSION_HOURS),
            user: user_of(credentials.user),
        })
    }

    /// TokenKit documents no logout: the session is forgotten here.
    async fn logout(&self, _session: &Secret) -> Result<()> {
        Ok(())
    }

    async fn me(&self, session: &Secret) -> Result<User> {
        Ok(user_of(&Held::open(session)?.user))
    }

    async fn list_keys(&self, session: &Secret, _tenant: Option<&str>) -> Result<Vec<KeyMeta>> {
        let held = Held::open(session)?;
        let (url, builder) = self.request(Method::GET, "api/users/auth/api-keys/", &held, false)?;
        let body = self
            .send(&url, builder, AuthFailure::SessionExpired)
            .await?;
        let listed: Vec<Listed> = parse_json(&url, &body)?;
        Ok(listed
            .into_iter()
            .map(|k| {
                meta(
                    &held,
                    id_text(&k.id),
                    k.name,
                    time(k.created_at.as_ref()),
                    time(k.last_used_at.as_ref()),
                )
            })
            .collect())
    }

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
                what: format!("key {key_id} on TokenKit"),
            })
    }

    async fn create_key(&self, session: &Secret, request: &CreateKeyRequest) -> Result<NewKey> {
        if request.expires_at.is_some() {
            return Err(Error::validation(
                "expires_at",
                "TokenKit keys do not expire",
            ));
        }
        let held = Held::open(session)?;
        let mut origins = request.allowed_origins.clone();
        if let Some(domain) = &request.domain {
            origins.get_or_insert_with(Vec::new).push(domain.clone());
        }
        let body = CreateBody {
            name: &request.name,
            allowed_origins: origins.as_deref(),
            allowed_ips: request.allowed_ips.as_deref(),
            rate_limit_per_hour: request.rate_limit_per_hour,
        };
        let (url, builder) =
            self.request(Method::POST, "api/users/auth/create-api-key/", &held, true)?;
        let answer = self
            .send(&url, builder.json(&body), AuthFailure::SessionExpired)
            .await?;
        let created: Created = parse_json(&url, &answer)?;
        let secret = Secret::new(created.key);
        let id = match created.id {
            Some(id) => id_text(&id),
            // Not in the answer (assumed it is): the new key is the one of that name listed last.
            None => self
                .list_keys(session, None)
                .await?
                .into_iter()
                .rev()
                .find(|k| k.name == request.name)
                .map(|k| k.id)
                .ok_or_else(|| Error::UnexpectedResponse {
                    url: url.to_string(),
                    status: 201,
                    problem: "the new key is not in the list".into(),
                })?,
        };
        let mut meta = meta(&held, id, request.name.clone(), Some(Utc::now()), None);
        meta.prefix = keyhaven_api::keyfmt::display_prefix(secret.expose()).to_string();
        meta.allowed_origins = origins.unwrap_or_default();
        meta.allowed_ips = request.allowed_ips.clone().unwrap_or_default();
        meta.rate_limit_per_hour = request.rate_limit_per_hour;
        Ok(NewKey { meta, secret })
    }

    async fn update_key(&self, _: &Secret, _: &str, _: &UpdateKeyRequest) -> Result<KeyMeta> {
        Err(super::unsupported(
            ConnectorKind::Tokenkit,
            "change a key (make a new one with the settings you want)",
        ))
    }

    async fn revoke_key(&self, session: &Secret, key_id: &str) -> Result<()> {
        let held = Held::open(session)?;
        let id: serde_json::Value = key_id
            .parse::<u64>()
            .map(serde_json::Value::from)
            .unwrap_or_else(|_| serde_json::Value::from(key_id));
        let (url, builder) =
            self.request(Method::POST, "api/users/auth/api-keys/delete/", &held, true)?;
        self.send(
            &url,
            builder.json(&serde_json::json!({ "key_id": id })),
            AuthFailure::SessionExpired,
        )
        .await?;
        Ok(())
    }

    /// One cheap documented call with the key (`GET /api/tokens/?common=true`).
    async fn ping(&self, key: &Secret, call: &PingCall) -> Result<Metered<PingResponse>> {
        let url = self.url("api/tokens/?common=true")?;
        let mut builder = self
            .http
            .get(url.clone())
            .header("api-key", secret_header("", key)?);
        if let Some(origin) = &call.origin {
            builder = builder.header(reqwest::header::ORIGIN, origin.as_str());
        }
        self.send(&url, builder, AuthFailure::KeyRejected).await?;
        Ok(Metered {
            value: PingResponse {
                key_id: String::new(),
                tenant_id: String::new(),
                scopes: Vec::new(),
            },
            ratelimit: None,
        })
    }
}
