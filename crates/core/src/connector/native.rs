//! The native connector: the Keyhaven service API (`shared/API.md`) over HTTP with reqwest.

use reqwest::header::{HeaderValue, AUTHORIZATION};
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde::de::DeserializeOwned;
use url::Url;
use zeroize::Zeroizing;

use keyhaven_api::{
    CreateKeyRequest, CreatedKey, ErrorBody, ErrorCode, KeyList, KeyMeta, LoginRequest,
    LoginResponse, PingResponse, User,
};

use super::{check_service_url, Capabilities, Connector, NewKey, Session, REQUEST_TIMEOUT};
use crate::catalog::ConnectorKind;
use crate::error::{AuthFailure, Error, Result};
use crate::secret::Secret;

/// Longest service error message passed on to the person, in characters.
const MAX_MESSAGE_CHARS: usize = 300;

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
        Ok(NativeConnector {
            base: check_service_url(base_url)?,
            http,
        })
    }

    pub fn base_url(&self) -> &Url {
        &self.base
    }

    fn url(&self, segments: &[&str]) -> Result<Url> {
        let mut url = self.base.clone();
        {
            let mut path = url.path_segments_mut().map_err(|()| {
                Error::validation("service URL", "cannot be used as a base for API paths")
            })?;
            path.pop_if_empty();
            path.extend(segments);
        }
        Ok(url)
    }

    fn request(
        &self,
        method: Method,
        segments: &[&str],
        session: Option<&Secret>,
    ) -> Result<(Url, RequestBuilder)> {
        let url = self.url(segments)?;
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
        let body = response.bytes().await.map_err(|e| self.network_error(&e))?;
        Err(map_error_answer(url, status, &body, refused))
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

    fn network_error(&self, e: &reqwest::Error) -> Error {
        let reason = if e.is_timeout() {
            format!("no answer within {} seconds", REQUEST_TIMEOUT.as_secs())
        } else if e.is_connect() {
            format!("could not connect ({})", root_cause(e))
        } else {
            root_cause(e)
        };
        Error::Network {
            url: self.base.to_string(),
            reason,
        }
    }
}

impl Connector for NativeConnector {
    fn kind(&self) -> ConnectorKind {
        ConnectorKind::Native
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            login: true,
            list_keys: true,
            create_key: true,
            revoke_key: true,
            ping: true,
        }
    }

    async fn login(&self, email: &str, password: &Secret) -> Result<Session> {
        let (url, builder) = self.request(Method::POST, &["v1", "auth", "login"], None)?;
        let body = LoginRequest {
            email: email.to_string(),
            password: password.to_wire(),
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
            self.request(Method::POST, &["v1", "auth", "logout"], Some(session))?;
        self.send(&url, builder, AuthFailure::SessionExpired)
            .await?;
        Ok(())
    }

    async fn me(&self, session: &Secret) -> Result<User> {
        let (url, builder) = self.request(Method::GET, &["v1", "me"], Some(session))?;
        let response = self
            .send(&url, builder, AuthFailure::SessionExpired)
            .await?;
        self.json(&url, response).await
    }

    async fn list_keys(&self, session: &Secret) -> Result<Vec<KeyMeta>> {
        let (url, builder) = self.request(Method::GET, &["v1", "keys"], Some(session))?;
        let response = self
            .send(&url, builder, AuthFailure::SessionExpired)
            .await?;
        let list: KeyList = self.json(&url, response).await?;
        Ok(list.keys)
    }

    async fn create_key(&self, session: &Secret, request: &CreateKeyRequest) -> Result<NewKey> {
        let (url, builder) = self.request(Method::POST, &["v1", "keys"], Some(session))?;
        let response = self
            .send(&url, builder.json(request), AuthFailure::SessionExpired)
            .await?;
        let created: CreatedKey = self.json(&url, response).await?;
        Ok(NewKey {
            meta: created.meta,
            secret: Secret::from_wire(created.key),
        })
    }

    async fn revoke_key(&self, session: &Secret, key_id: &str) -> Result<()> {
        if key_id.is_empty() {
            return Err(Error::validation("key id", "is empty"));
        }
        let (url, builder) =
            self.request(Method::DELETE, &["v1", "keys", key_id], Some(session))?;
        self.send(&url, builder, AuthFailure::SessionExpired)
            .await?;
        Ok(())
    }

    async fn ping(&self, key: &Secret) -> Result<PingResponse> {
        let (url, builder) = self.request(Method::GET, &["v1", "ping"], None)?;
        let builder = builder.header("X-API-Key", secret_header("", key)?);
        let response = self.send(&url, builder, AuthFailure::KeyRejected).await?;
        self.json(&url, response).await
    }
}

/// A header value holding a secret, marked sensitive so that reqwest never shows it.
fn secret_header(prefix: &str, secret: &Secret) -> Result<HeaderValue> {
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

/// Turns an error answer into the core's error, from the service's `{"error": {code, message}}`.
fn map_error_answer(url: &Url, status: StatusCode, body: &[u8], refused: AuthFailure) -> Error {
    let parsed: Option<ErrorBody> = serde_json::from_slice(body).ok();
    match parsed {
        Some(ErrorBody { error }) => {
            let message: String = error.message.chars().take(MAX_MESSAGE_CHARS).collect();
            match error.code {
                ErrorCode::Unauthorized => Error::Unauthorized { reason: refused },
                ErrorCode::Forbidden => Error::Forbidden { message },
                ErrorCode::KeyLimitReached => Error::KeyLimitReached { message },
                code => Error::Service { code, message },
            }
        }
        None if status == StatusCode::UNAUTHORIZED => Error::Unauthorized { reason: refused },
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
fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut current = e;
    while let Some(next) = current.source() {
        current = next;
    }
    current.to_string()
}

trait ClassifyName {
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
        );
        assert!(matches!(e, Error::KeyLimitReached { .. }), "{e:?}");
        let e = map_error_answer(
            &url(),
            StatusCode::UNPROCESSABLE_ENTITY,
            &body("validation_failed", "name: too long"),
            AuthFailure::SessionExpired,
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
        );
        assert!(
            matches!(e, Error::UnexpectedResponse { status: 502, .. }),
            "{e:?}"
        );
    }

    #[test]
    fn api_paths_join_onto_the_base() {
        let c = NativeConnector::new("http://127.0.0.1:8080/base").expect("connector");
        assert_eq!(
            c.url(&["v1", "keys", "a/b c"]).expect("url").as_str(),
            "http://127.0.0.1:8080/base/v1/keys/a%2Fb%20c"
        );
        let c = NativeConnector::new("https://keys.example.com").expect("connector");
        assert_eq!(
            c.url(&["v1", "ping"]).expect("url").as_str(),
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
            .ping(&Secret::new("kh_test_x".into()))
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
