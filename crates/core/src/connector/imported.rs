//! The services whose keys are made in their own dashboards and only used through their API:
//! AniKura, Ananke Labs, WaniKani, and keys of any other service (generic). Keyhaven cannot list,
//! create or delete their keys; it holds the ones the person imports (see
//! [`crate::local_keys`]) and checks that they still work with one cheap call each. What each
//! document says and what is assumed is in `docs/connectors.md`.

use chrono::{Duration, Utc};
use reqwest::{RequestBuilder, StatusCode};
use url::Url;

use keyhaven_api::{PingResponse, User};

use super::native::{root_cause, secret_header};
use super::{
    check_service_url_with, Capabilities, Connector, Credentials, HttpPolicy, Metered, PingCall,
    Session,
};
use crate::catalog::ConnectorKind;
use crate::error::{AuthFailure, Error, Result};
use crate::local_keys::{Presentation, Quota, Verdict};
use crate::secret::Secret;

/// What one check of a key found, to be told to the person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    pub verdict: Verdict,
    pub message: String,
    pub quota: Option<Quota>,
}

/// A client for one of these services at one base URL.
#[derive(Debug, Clone)]
pub struct ImportedConnector {
    kind: ConnectorKind,
    base: Url,
    policy: HttpPolicy,
    http: reqwest::Client,
}

impl ImportedConnector {
    pub fn with_policy(
        kind: ConnectorKind,
        base_url: &str,
        policy: HttpPolicy,
        http: reqwest::Client,
    ) -> Result<ImportedConnector> {
        Ok(ImportedConnector {
            kind,
            base: check_service_url_with(base_url, policy)?,
            policy,
            http,
        })
    }

    fn url(&self, path: &str) -> Result<Url> {
        self.base
            .join(path)
            .map_err(|_| Error::validation("service URL", "cannot be used as a base for API paths"))
    }

    fn label(&self) -> &'static str {
        super::kind_info(self.kind).label
    }

    /// The documented cheap call with `key` (for a generic key, its own check URL).
    fn check_request(
        &self,
        key: &Secret,
        presentation: Option<&Presentation>,
    ) -> Result<Option<(Url, RequestBuilder)>> {
        let (url, builder) = match self.kind {
            ConnectorKind::Anikura => {
                let url = self.url("graphql")?;
                let builder = self
                    .http
                    .post(url.clone())
                    .header("X-API-Key", secret_header("", key)?)
                    .json(&serde_json::json!({ "query": "{ __typename }" }));
                (url, builder)
            }
            ConnectorKind::Ananke => {
                let url = self.url("v1/trust/templates")?;
                let builder = self
                    .http
                    .get(url.clone())
                    .header("x-api-key", secret_header("", key)?);
                (url, builder)
            }
            ConnectorKind::Wanikani => {
                let url = self.url("v2/user")?;
                let builder = self.http.get(url.clone()).header(
                    reqwest::header::AUTHORIZATION,
                    secret_header("Bearer ", key)?,
                );
                (url, builder)
            }
            _ => {
                let Some(p) = presentation else {
                    return Err(Error::validation(
                        "presentation",
                        "a generic key needs the header it is sent in",
                    ));
                };
                let Some(verify) = &p.verify_url else {
                    return Ok(None);
                };
                let url = super::check_endpoint_url(verify, self.policy)?;
                let header = reqwest::header::HeaderName::from_bytes(p.header.trim().as_bytes())
                    .map_err(|_| Error::validation("header", "is not an HTTP header name"))?;
                let builder = self
                    .http
                    .get(url.clone())
                    .header(header, secret_header(&p.value_prefix, key)?);
                (url, builder)
            }
        };
        Ok(Some((url, builder)))
    }

    /// Uses `key` once and says what the service made of it. Only a key the service refuses as
    /// such (401, or a generic service's 401 or 403) is `Refused`; Ananke's 403 (quota spent or
    /// tenant suspended) and any rate limit are `Limited`: the key works.
    pub async fn check(
        &self,
        key: &Secret,
        presentation: Option<&Presentation>,
    ) -> Result<Checked> {
        let label = self.label();
        let Some((url, builder)) = self.check_request(key, presentation)? else {
            return Ok(Checked {
                verdict: Verdict::Unknown,
                message:
                    "No check URL was given for this key, so Keyhaven cannot tell whether it works."
                        .into(),
                quota: None,
            });
        };
        let response = match builder.send().await {
            Ok(response) => response,
            Err(e) => {
                return Ok(Checked {
                    verdict: Verdict::Unknown,
                    message: format!(
                        "{label} could not be reached at {} ({}); the key was not checked.",
                        url.origin().ascii_serialization(),
                        if e.is_timeout() {
                            "no answer in time".to_string()
                        } else {
                            root_cause(&e)
                        }
                    ),
                    quota: None,
                })
            }
        };
        let status = response.status();
        let quota = (self.kind == ConnectorKind::Anikura)
            .then(|| anikura_quota(response.headers()))
            .flatten();
        let (verdict, message) = match status {
            s if s.is_success() => (Verdict::Works, format!("{label} accepted the key.")),
            StatusCode::UNAUTHORIZED => (Verdict::Refused, refused_message(self.kind)),
            StatusCode::FORBIDDEN if self.kind == ConnectorKind::Ananke => (
                Verdict::Limited,
                "Ananke Labs knows the key but refused the call (403 FORBIDDEN): the tenant's \
                 quota is exhausted or the tenant is suspended. The key itself is valid; see \
                 the Ananke Console for the tenant's state."
                    .into(),
            ),
            StatusCode::FORBIDDEN if self.kind == ConnectorKind::Generic => {
                (Verdict::Refused, refused_message(self.kind))
            }
            StatusCode::TOO_MANY_REQUESTS => (
                Verdict::Limited,
                match (self.kind, quota.and_then(|q| q.remaining)) {
                    (ConnectorKind::Anikura, Some(0)) => {
                        "AniKura's daily cap is reached for this account; the key works again \
                         after midnight UTC."
                            .into()
                    }
                    _ => format!(
                        "{label} is limiting calls right now (429); the key was not refused."
                    ),
                },
            ),
            other => (
                Verdict::Unknown,
                format!(
                    "{label} answered {} to the check; that says neither that the key works nor \
                     that it was refused.",
                    other.as_u16()
                ),
            ),
        };
        Ok(Checked {
            verdict,
            message,
            quota,
        })
    }
}

fn refused_message(kind: ConnectorKind) -> String {
    let info = super::kind_info(kind);
    format!(
        "{} refused the key (401): it was deleted, regenerated or has expired. Make a new one \
         in {} and rotate to it.",
        info.label, info.key_page
    )
}

/// AniKura's `X-RateLimit-Remaining` (left today; absent on a tier without a cap) and
/// `X-RateLimit-Reset` (seconds to midnight UTC).
fn anikura_quota(headers: &reqwest::header::HeaderMap) -> Option<Quota> {
    let number = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<i64>().ok())
    };
    let reset = number("X-RateLimit-Reset")?;
    Some(Quota {
        remaining: number("X-RateLimit-Remaining").and_then(|n| u32::try_from(n).ok()),
        limit: None,
        resets_at: Utc::now() + Duration::seconds(reset.clamp(0, 86_400)),
    })
}

impl Connector for ImportedConnector {
    fn kind(&self) -> ConnectorKind {
        self.kind
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            import_keys: true,
            local_keys: true,
            guided_rotation: true,
            ping: self.kind != ConnectorKind::Generic,
            key_expiry: self.kind == ConnectorKind::Wanikani,
            ..Capabilities::NONE
        }
    }

    async fn login(&self, _: Credentials<'_>) -> Result<Session> {
        Err(Error::validation(
            "account",
            format!(
                "{} accounts have no sign-in in Keyhaven: add the account, then import its keys",
                self.label()
            ),
        ))
    }

    async fn logout(&self, _: &Secret) -> Result<()> {
        Ok(())
    }

    async fn me(&self, _: &Secret) -> Result<User> {
        Err(super::unsupported(self.kind, "tell who is signed in"))
    }

    /// The check, as a ping: a refused key is `Unauthorized { KeyRejected }`.
    async fn ping(&self, key: &Secret, _: &PingCall) -> Result<Metered<PingResponse>> {
        let checked = self.check(key, None).await?;
        match checked.verdict {
            Verdict::Works | Verdict::Limited => Ok(Metered {
                value: PingResponse {
                    key_id: String::new(),
                    tenant_id: String::new(),
                    scopes: Vec::new(),
                },
                ratelimit: None,
            }),
            Verdict::Refused => Err(Error::Unauthorized {
                reason: AuthFailure::KeyRejected,
            }),
            Verdict::Unknown => Err(Error::UnexpectedResponse {
                url: self.base.to_string(),
                status: 0,
                problem: checked.message,
            }),
        }
    }
}
