//! The native connector: the Keyhaven service API (`shared/API.md`) over HTTP with reqwest.

use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION, ORIGIN, RETRY_AFTER};
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde::de::DeserializeOwned;
use url::Url;
use zeroize::Zeroizing;

use keyhaven_api::{
    AuditRecord, CreateKeyRequest, CreatedKey, DenialRecord, ErrorBody, ErrorCode, KeyList,
    KeyMeta, KeyUsage, LoginRequest, LoginResponse, PingResponse, RateLimitInfo, RollKeyRequest,
    SupportKey, SupportKeyList, TenantUsage, UpdateKeyRequest, User, VerifyRequest, VerifyResponse,
};

use super::{
    check_service_url_with, Capabilities, Connector, Credentials, HttpPolicy, Metered, NewKey,
    PageQuery, PingCall, Session, UsageQuery, REQUEST_TIMEOUT,
};
use crate::catalog::ConnectorKind;
use crate::error::{AuthFailure, Error, Result};
use crate::secret::Secret;

/// Longest service error message passed on to the person, in characters.
const MAX_MESSAGE_CHARS: usize = 300;

/// The longest grace period the Keyhaven service gives a rolled key: 30 days.
pub const MAX_ROLL_GRACE_SECONDS: u32 = 30 * 24 * 60 * 60;

/// The HTTP client every connector shares: 10 s timeouts, no redirects (a redirect could lead a
/// session token to another host or to plain http).
pub fn http_client() -> Result<reqwest::Client> {
    reqwest::Client::builder()
        .timeout(REQUEST_TIMEOUT)
        .connect_timeout(REQUEST_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("keyhaven/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| Error::Network {
            url: String::new(),
            reason: format!("the HTTP client could not start: {}", root_cause(&e)),
        })
}

/// A client for one Keyhaven service.
#[derive(Debug, Clone)]
pub struct NativeConnector {
    base: Url,
    http: reqwest::Client,
}

impl NativeConnector {
    /// A connector with its own HTTP client.
    pub fn new(base_url: &str) -> Result<NativeConnector> {
        NativeConnector::with_client(base_url, http_client()?)
    }

    /// A connector sharing `http` (see [`http_client`]). Checks the URL rule.
    pub fn with_client(base_url: &str, http: reqwest::Client) -> Result<NativeConnector> {
        NativeConnector::with_policy(base_url, HttpPolicy::LoopbackOnly, http)
    }

    /// [`NativeConnector::with_client`] under an account's `policy` for plain `http://`.
    pub fn with_policy(
        base_url: &str,
        policy: HttpPolicy,
        http: reqwest::Client,
    ) -> Result<NativeConnector> {
        Ok(NativeConnector {
            base: check_service_url_with(base_url, policy)?,
            http,
        })
    }

    pub fn base_url(&self) -> &Url {
        &self.base
    }

    fn url(&self, segments: &[&str], query: &[(&str, String)]) -> Result<Url> {
        let mut url = self.base.clone();
        {
            let mut path = url.path_segments_mut().map_err(|()| {
                Error::validation("service URL", "cannot be used as a base for API paths")
            })?;
            path.pop_if_empty();
            path.extend(segments);
        }
        if !query.is_empty() {
            url.query_pairs_mut()
                .extend_pairs(query.iter().map(|(k, v)| (*k, v.as_str())));
        }
        Ok(url)
    }

    fn request(
        &self,
        method: Method,
        segments: &[&str],
        query: &[(&str, String)],
        session: Option<&Secret>,
    ) -> Result<(Url, RequestBuilder)> {
        let url = self.url(segments, query)?;
        let mut builder = self.http.request(method, url.clone());
        if let Some(token) = session {
            builder = builder.header(AUTHORIZATION, secret_header("Bearer ", token)?);
        }
        Ok((url, builder))
    }

    /// Sends the request; a success status gives the response, anything else the mapped error.
    async fn send(
        &self,
        url: &Url,
        builder: RequestBuilder,
        refused: AuthFailure,
    ) -> Result<Response> {
        let response = builder.send().await.map_err(|e| self.network_error(&e))?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let retry_after = retry_after(response.headers());
        let body = response.bytes().await.map_err(|e| self.network_error(&e))?;
        Err(map_error_answer(url, status, &body, refused, retry_after))
    }

    async fn json<T: DeserializeOwned>(&self, url: &Url, response: Response) -> Result<T> {
        let status = response.status();
        let body = response.bytes().await.map_err(|e| self.network_error(&e))?;
        serde_json::from_slice(&body).map_err(|e| Error::UnexpectedResponse {
            url: url.to_string(),
            status: status.as_u16(),
            problem: format!(
                "the answer is not the expected JSON ({})",
                e.classify_name()
            ),
        })
    }

    /// A management read or write with the session: sends, checks, parses.
    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        segments: &[&str],
        query: &[(&str, String)],
        session: &Secret,
        body: Option<&(dyn erased::Body + Sync)>,
    ) -> Result<Metered<T>> {
        let (url, mut builder) = self.request(method, segments, query, Some(session))?;
        if let Some(body) = body {
            builder = body.attach(builder);
        }
        let response = self
            .send(&url, builder, AuthFailure::SessionExpired)
            .await?;
        let ratelimit = ratelimit_info(response.headers());
        let value = self.json(&url, response).await?;
        Ok(Metered { value, ratelimit })
    }

    fn network_error(&self, e: &reqwest::Error) -> Error {
        network_error(&self.base, e)
    }
}

/// A request that got no answer from the service at `base`, said plainly.
pub(super) fn network_error(base: &Url, e: &reqwest::Error) -> Error {
    let reason = if e.is_timeout() {
        format!("no answer within {} seconds", REQUEST_TIMEOUT.as_secs())
    } else if e.is_connect() {
        format!("could not connect ({})", root_cause(e))
    } else {
        root_cause(e)
    };
    Error::Network {
        url: base.to_string(),
        reason,
    }
}

/// Request bodies of different types through one `call`.
mod erased {
    pub trait Body {
        fn attach(&self, builder: reqwest::RequestBuilder) -> reqwest::RequestBuilder;
    }

    impl<T: serde::Serialize> Body for T {
        fn attach(&self, builder: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
            builder.json(self)
        }
    }
}

/// Most pages of keys read for one list: a million keys, far past any tenant's.
const MAX_KEY_PAGES: usize = 1_000;

fn tenant_query(tenant: Option<&str>) -> Vec<(&'static str, String)> {
    tenant
        .map(|t| vec![("tenant_id", t.to_string())])
        .unwrap_or_default()
}

fn usage_query(query: &UsageQuery) -> Vec<(&'static str, String)> {
    let time =
        |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let mut pairs = Vec::new();
    if let Some(from) = query.from {
        pairs.push(("from", time(from)));
    }
    if let Some(to) = query.to {
        pairs.push(("to", time(to)));
    }
    if let Some(g) = query.granularity {
        pairs.push(("granularity", g.as_str().to_string()));
    }
    pairs.extend(tenant_query(query.tenant_id.as_deref()));
    pairs
}

fn page_query(page: &PageQuery) -> Vec<(&'static str, String)> {
    let mut pairs = Vec::new();
    if let Some(limit) = page.limit {
        pairs.push(("limit", limit.to_string()));
    }
    pairs.extend(tenant_query(page.tenant_id.as_deref()));
    pairs
}

impl Connector for NativeConnector {
    fn kind(&self) -> ConnectorKind {
        ConnectorKind::Native
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            login: true,
            list_keys: true,
            get_key: true,
            create_key: true,
            update_key: true,
            roll_key: true,
            max_roll_grace_seconds: MAX_ROLL_GRACE_SECONDS,
            revoke_key: true,
            ping: true,
            verify_key: true,
            key_settings: true,
            key_scopes: true,
            key_expiry: true,
            allowed_origins: true,
            allowed_ips: true,
            rate_limit_per_hour: true,
            key_usage: true,
            account_usage: true,
            denials: true,
            audit: true,
            support_search: true,
            tenant_reads: true,
            import_keys: true,
            local_keys: false,
            guided_rotation: false,
        }
    }

    async fn login(&self, credentials: Credentials<'_>) -> Result<Session> {
        let (url, builder) = self.request(Method::POST, &["v1", "auth", "login"], &[], None)?;
        let body = LoginRequest {
            email: credentials.user.to_string(),
            password: credentials.password.to_wire(),
        };
        let response = self
            .send(&url, builder.json(&body), AuthFailure::WrongCredentials)
            .await?;
        let answer: LoginResponse = self.json(&url, response).await?;
        Ok(Session {
            token: Secret::from_wire(answer.token),
            expires_at: answer.expires_at,
            user: answer.user,
        })
    }

    async fn logout(&self, session: &Secret) -> Result<()> {
        let (url, builder) =
            self.request(Method::POST, &["v1", "auth", "logout"], &[], Some(session))?;
        self.send(&url, builder, AuthFailure::SessionExpired)
            .await?;
        Ok(())
    }

    async fn me(&self, session: &Secret) -> Result<User> {
        let answer = self
            .call(Method::GET, &["v1", "me"], &[], session, None)
            .await?;
        Ok(answer.value)
    }

    /// Every key, page after page (the service answers at most 1,000 at a time).
    async fn list_keys(&self, session: &Secret, tenant: Option<&str>) -> Result<Vec<KeyMeta>> {
        let mut keys = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..MAX_KEY_PAGES {
            let mut query = tenant_query(tenant);
            if let Some(cursor) = &cursor {
                query.push(("cursor", cursor.clone()));
            }
            let page: Metered<KeyList> = self
                .call(Method::GET, &["v1", "keys"], &query, session, None)
                .await?;
            keys.extend(page.value.keys);
            match page.value.next_cursor {
                None => return Ok(keys),
                // A cursor that does not move would ask for the same page for ever.
                Some(next) if cursor.as_deref() == Some(next.as_str()) => break,
                Some(next) => cursor = Some(next),
            }
        }
        Err(Error::UnexpectedResponse {
            url: self
                .base
                .join("v1/keys")
                .map_or_else(|_| self.base.to_string(), |u| u.to_string()),
            status: 200,
            problem: "the key list's pages did not come to an end".into(),
        })
    }

    async fn get_key(
        &self,
        session: &Secret,
        key_id: &str,
        tenant: Option<&str>,
    ) -> Result<KeyMeta> {
        let answer = self
            .call(
                Method::GET,
                &["v1", "keys", key_id],
                &tenant_query(tenant),
                session,
                None,
            )
            .await?;
        Ok(answer.value)
    }

    async fn create_key(&self, session: &Secret, request: &CreateKeyRequest) -> Result<NewKey> {
        let created: Metered<CreatedKey> = self
            .call(Method::POST, &["v1", "keys"], &[], session, Some(request))
            .await?;
        Ok(NewKey {
            meta: created.value.meta,
            secret: Secret::from_wire(created.value.key),
        })
    }

    async fn update_key(
        &self,
        session: &Secret,
        key_id: &str,
        request: &UpdateKeyRequest,
    ) -> Result<KeyMeta> {
        let answer = self
            .call(
                Method::PATCH,
                &["v1", "keys", key_id],
                &[],
                session,
                Some(request),
            )
            .await?;
        Ok(answer.value)
    }

    async fn roll_key(&self, session: &Secret, key_id: &str, grace_seconds: u64) -> Result<NewKey> {
        let body = RollKeyRequest { grace_seconds };
        let created: Metered<CreatedKey> = self
            .call(
                Method::POST,
                &["v1", "keys", key_id, "roll"],
                &[],
                session,
                Some(&body),
            )
            .await?;
        Ok(NewKey {
            meta: created.value.meta,
            secret: Secret::from_wire(created.value.key),
        })
    }

    async fn revoke_key(&self, session: &Secret, key_id: &str) -> Result<()> {
        if key_id.is_empty() {
            return Err(Error::validation("key id", "is empty"));
        }
        let (url, builder) =
            self.request(Method::DELETE, &["v1", "keys", key_id], &[], Some(session))?;
        self.send(&url, builder, AuthFailure::SessionExpired)
            .await?;
        Ok(())
    }

    async fn key_usage(
        &self,
        session: &Secret,
        key_id: &str,
        query: &UsageQuery,
    ) -> Result<KeyUsage> {
        let answer = self
            .call(
                Method::GET,
                &["v1", "keys", key_id, "usage"],
                &usage_query(query),
                session,
                None,
            )
            .await?;
        Ok(answer.value)
    }

    async fn account_usage(
        &self,
        session: &Secret,
        query: &UsageQuery,
    ) -> Result<Metered<TenantUsage>> {
        self.call(
            Method::GET,
            &["v1", "usage"],
            &usage_query(query),
            session,
            None,
        )
        .await
    }

    async fn denials(
        &self,
        session: &Secret,
        key_id: &str,
        page: &PageQuery,
    ) -> Result<Vec<DenialRecord>> {
        let answer = self
            .call(
                Method::GET,
                &["v1", "keys", key_id, "denials"],
                &page_query(page),
                session,
                None,
            )
            .await?;
        Ok(answer.value)
    }

    async fn audit(&self, session: &Secret, page: &PageQuery) -> Result<Vec<AuditRecord>> {
        let answer = self
            .call(
                Method::GET,
                &["v1", "audit"],
                &page_query(page),
                session,
                None,
            )
            .await?;
        Ok(answer.value)
    }

    async fn find_keys(&self, session: &Secret, prefix: &str) -> Result<Vec<SupportKey>> {
        let list: Metered<SupportKeyList> = self
            .call(
                Method::GET,
                &["v1", "support", "keys"],
                &[("prefix", prefix.to_string())],
                session,
                None,
            )
            .await?;
        Ok(list.value.keys)
    }

    async fn verify_key(
        &self,
        session: &Secret,
        request: &VerifyRequest,
    ) -> Result<VerifyResponse> {
        let answer = self
            .call(Method::POST, &["v1", "verify"], &[], session, Some(request))
            .await?;
        Ok(answer.value)
    }

    async fn ping(&self, key: &Secret, call: &PingCall) -> Result<Metered<PingResponse>> {
        let query: Vec<(&str, String)> = call.scope.iter().map(|s| ("scope", s.clone())).collect();
        let (url, mut builder) = self.request(Method::GET, &["v1", "ping"], &query, None)?;
        builder = builder.header("X-API-Key", secret_header("", key)?);
        if let Some(origin) = &call.origin {
            let value = HeaderValue::from_str(origin)
                .map_err(|_| Error::validation("origin", "cannot be sent in an HTTP header"))?;
            builder = builder.header(ORIGIN, value);
        }
        let response = self.send(&url, builder, AuthFailure::KeyRejected).await?;
        let ratelimit = ratelimit_info(response.headers());
        let value = self.json(&url, response).await?;
        Ok(Metered { value, ratelimit })
    }
}

/// `X-RateLimit-Limit`, `-Remaining` and `-Reset`, when all three are present and readable.
fn ratelimit_info(headers: &HeaderMap) -> Option<RateLimitInfo> {
    let number = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|s| s.trim().parse::<i64>().ok())
    };
    let limit = u32::try_from(number("x-ratelimit-limit")?).ok()?;
    let remaining = u32::try_from(number("x-ratelimit-remaining")?).ok()?;
    let reset = number("x-ratelimit-reset")?;
    Some(RateLimitInfo {
        limit,
        remaining,
        reset,
    })
}

/// `Retry-After` in seconds (the HTTP-date form is not used by key services and is ignored).
pub(super) fn retry_after(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|s| s.trim().parse::<u64>().ok())
}

/// A header value holding a secret, marked sensitive so that reqwest never shows it.
pub(super) fn secret_header(prefix: &str, secret: &Secret) -> Result<HeaderValue> {
    let text = Zeroizing::new(format!("{prefix}{}", secret.expose()));
    let mut value = HeaderValue::from_str(&text).map_err(|_| {
        Error::validation(
            "secret",
            "contains characters that cannot be sent in an HTTP header",
        )
    })?;
    value.set_sensitive(true);
    Ok(value)
}

/// Turns an error answer into the core's error, from the service's `{"error": {code, message}}`
/// and, for a 429, its `Retry-After`.
fn map_error_answer(
    url: &Url,
    status: StatusCode,
    body: &[u8],
    refused: AuthFailure,
    retry_after: Option<u64>,
) -> Error {
    let parsed: Option<ErrorBody> = serde_json::from_slice(body).ok();
    match parsed {
        Some(ErrorBody { error }) => {
            let message: String = error.message.chars().take(MAX_MESSAGE_CHARS).collect();
            match error.code {
                ErrorCode::Unauthorized => Error::Unauthorized { reason: refused },
                ErrorCode::Forbidden => Error::Forbidden { message },
                ErrorCode::KeyLimitReached => Error::KeyLimitReached { message },
                code @ (ErrorCode::RateLimited
                | ErrorCode::DailyCapReached
                | ErrorCode::IpLockedOut) => Error::RateLimited {
                    code,
                    retry_after,
                    message,
                },
                code => Error::Service { code, message },
            }
        }
        None if status == StatusCode::UNAUTHORIZED => Error::Unauthorized { reason: refused },
        None if status == StatusCode::TOO_MANY_REQUESTS => Error::RateLimited {
            code: ErrorCode::RateLimited,
            retry_after,
            message: "too many requests".to_string(),
        },
        None => Error::UnexpectedResponse {
            url: url.to_string(),
            status: status.as_u16(),
            problem: "the answer has no Keyhaven error body; is this a Keyhaven service?"
                .to_string(),
        },
    }
}

/// The innermost cause of an error, which names the actual failure (e.g. "Connection refused")
/// without the request's URL or headers.
pub(super) fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut current = e;
    while let Some(next) = current.source() {
        current = next;
    }
    current.to_string()
}

pub(super) trait ClassifyName {
    fn classify_name(&self) -> &'static str;
}

impl ClassifyName for serde_json::Error {
    fn classify_name(&self) -> &'static str {
        match self.classify() {
            serde_json::error::Category::Io => "read error",
            serde_json::error::Category::Syntax => "not JSON",
            serde_json::error::Category::Data => "fields missing or of the wrong type",
            serde_json::error::Category::Eof => "cut short",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url() -> Url {
        Url::parse("http://127.0.0.1:1/v1/keys").expect("url")
    }

    #[test]
    fn service_error_bodies_map_to_domain_errors() {
        let body = |code: &str, msg: &str| {
            serde_json::to_vec(&serde_json::json!({"error": {"code": code, "message": msg}}))
                .expect("json")
        };
        let e = map_error_answer(
            &url(),
            StatusCode::UNAUTHORIZED,
            &body("unauthorized", "no"),
            AuthFailure::SessionExpired,
            None,
        );
        assert!(
            matches!(
                e,
                Error::Unauthorized {
                    reason: AuthFailure::SessionExpired
                }
            ),
            "{e:?}"
        );
        let e = map_error_answer(
            &url(),
            StatusCode::UNAUTHORIZED,
            &body("unauthorized", "no"),
            AuthFailure::WrongCredentials,
            None,
        );
        assert!(
            matches!(
                e,
                Error::Unauthorized {
                    reason: AuthFailure::WrongCredentials
                }
            ),
            "{e:?}"
        );
        let e = map_error_answer(
            &url(),
            StatusCode::FORBIDDEN,
            &body("forbidden", "support is read-only"),
            AuthFailure::SessionExpired,
            None,
        );
        assert!(
            matches!(&e, Error::Forbidden { message } if message == "support is read-only"),
            "{e:?}"
        );
        let e = map_error_answer(
            &url(),
            StatusCode::CONFLICT,
            &body("key_limit_reached", "10 active keys"),
            AuthFailure::SessionExpired,
            None,
        );
        assert!(matches!(e, Error::KeyLimitReached { .. }), "{e:?}");
        let e = map_error_answer(
            &url(),
            StatusCode::UNPROCESSABLE_ENTITY,
            &body("validation_failed", "name: too long"),
            AuthFailure::SessionExpired,
            None,
        );
        assert!(
            matches!(
                e,
                Error::Service {
                    code: ErrorCode::ValidationFailed,
                    ..
                }
            ),
            "{e:?}"
        );
        assert_eq!(e.code(), crate::ErrorKind::Validation);
        assert!(e.to_string().contains("name: too long"));
        let long = "x".repeat(5000);
        let e = map_error_answer(
            &url(),
            StatusCode::INTERNAL_SERVER_ERROR,
            &body("internal", &long),
            AuthFailure::SessionExpired,
            None,
        );
        assert!(e.to_string().len() < 1000);
    }

    #[test]
    fn answers_without_an_error_body() {
        let e = map_error_answer(
            &url(),
            StatusCode::UNAUTHORIZED,
            b"",
            AuthFailure::KeyRejected,
            None,
        );
        assert!(matches!(
            e,
            Error::Unauthorized {
                reason: AuthFailure::KeyRejected
            }
        ));
        let e = map_error_answer(
            &url(),
            StatusCode::BAD_GATEWAY,
            b"<html>",
            AuthFailure::SessionExpired,
            None,
        );
        assert!(
            matches!(e, Error::UnexpectedResponse { status: 502, .. }),
            "{e:?}"
        );
    }

    #[test]
    fn too_many_requests_keep_their_retry_after() {
        let body = serde_json::to_vec(
            &serde_json::json!({"error": {"code": "daily_cap_reached", "message": "cap"}}),
        )
        .expect("json");
        let e = map_error_answer(
            &url(),
            StatusCode::TOO_MANY_REQUESTS,
            &body,
            AuthFailure::KeyRejected,
            Some(42),
        );
        assert!(
            matches!(
                e,
                Error::RateLimited {
                    code: ErrorCode::DailyCapReached,
                    retry_after: Some(42),
                    ..
                }
            ),
            "{e:?}"
        );
        assert_eq!(e.code(), crate::ErrorKind::RateLimited);
        assert_eq!(e.retry_after(), Some(42));
        let e = map_error_answer(
            &url(),
            StatusCode::TOO_MANY_REQUESTS,
            b"slow down",
            AuthFailure::SessionExpired,
            Some(3),
        );
        assert_eq!(e.retry_after(), Some(3));
        assert_eq!(e.code(), crate::ErrorKind::RateLimited);
    }

    #[test]
    fn rate_limit_headers_are_read() {
        let mut h = HeaderMap::new();
        assert_eq!(ratelimit_info(&h), None);
        h.insert("x-ratelimit-limit", HeaderValue::from_static("100"));
        h.insert("x-ratelimit-remaining", HeaderValue::from_static("7"));
        assert_eq!(ratelimit_info(&h), None, "all three or nothing");
        h.insert("x-ratelimit-reset", HeaderValue::from_static("1800"));
        assert_eq!(
            ratelimit_info(&h),
            Some(RateLimitInfo {
                limit: 100,
                remaining: 7,
                reset: 1800
            })
        );
        h.insert("x-ratelimit-remaining", HeaderValue::from_static("-1"));
        assert_eq!(ratelimit_info(&h), None);
        assert_eq!(retry_after(&h), None);
        h.insert(RETRY_AFTER, HeaderValue::from_static(" 12 "));
        assert_eq!(retry_after(&h), Some(12));
        h.insert(
            RETRY_AFTER,
            HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"),
        );
        assert_eq!(retry_after(&h), None);
    }

    #[test]
    fn queries_are_encoded() {
        let c = NativeConnector::new("http://127.0.0.1:8080").expect("connector");
        let q = UsageQuery {
            from: Some("2030-01-01T00:00:00Z".parse().expect("time")),
            to: None,
            granularity: Some(super::super::Granularity::Day),
            tenant_id: Some("ten a&b".into()),
        };
        assert_eq!(
            c.url(&["v1", "usage"], &usage_query(&q)).expect("url").as_str(),
            "http://127.0.0.1:8080/v1/usage?from=2030-01-01T00%3A00%3A00Z&granularity=day&tenant_id=ten+a%26b"
        );
        let p = PageQuery {
            limit: Some(5),
            tenant_id: None,
        };
        assert_eq!(
            c.url(&["v1", "audit"], &page_query(&p))
                .expect("url")
                .as_str(),
            "http://127.0.0.1:8080/v1/audit?limit=5"
        );
    }

    #[test]
    fn api_paths_join_onto_the_base() {
        let c = NativeConnector::new("http://127.0.0.1:8080/base").expect("connector");
        assert_eq!(
            c.url(&["v1", "keys", "a/b c"], &[]).expect("url").as_str(),
            "http://127.0.0.1:8080/base/v1/keys/a%2Fb%20c"
        );
        let c = NativeConnector::new("https://keys.example.com").expect("connector");
        assert_eq!(
            c.url(&["v1", "ping"], &[]).expect("url").as_str(),
            "https://keys.example.com/v1/ping"
        );
        assert!(matches!(
            NativeConnector::new("http://keys.example.com"),
            Err(Error::InsecureUrl { .. })
        ));
    }

    #[test]
    fn secret_headers_are_sensitive() {
        let h = secret_header("Bearer ", &Secret::new("tok".into())).expect("header");
        assert!(h.is_sensitive());
        assert!(!format!("{h:?}").contains("tok"));
        assert!(secret_header("", &Secret::new("a\nb".into())).is_err());
    }

    #[tokio::test]
    async fn a_closed_port_is_a_network_error_naming_the_url() {
        // Bind then drop a listener so that the port is (almost certainly) closed.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        drop(listener);
        let base = format!("http://127.0.0.1:{port}");
        let c = NativeConnector::new(&base).expect("connector");
        let e = c
            .ping(&Secret::new("kh_test_x".into()), &PingCall::default())
            .await
            .expect_err("closed");
        match &e {
            Error::Network { url, .. } => assert_eq!(url, &format!("{base}/")),
            other => panic!("expected a network error, got {other:?}"),
        }
        assert!(e.to_string().contains(&base), "{e}");
        assert!(!e.to_string().contains("kh_test_x"));
    }
}
