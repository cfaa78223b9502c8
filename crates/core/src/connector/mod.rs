//! Connectors: the clients for each kind of key service, behind one trait.
//!
//! [`Connector`] uses `async fn`-style methods (no `async_trait`); [`AnyConnector`] is the enum the
//! core dispatches through, one variant per [`ConnectorKind`]. A connector says in
//! [`Capabilities`] what its service lets it do, so the UI offers only that.
//!
//! Every connector maps its service's refusals to the core's [`crate::Error`] (never a raw
//! status or message string to match on) and a failed connection to `Error::Network` naming
//! the service URL.

mod native;
mod url_rule;

use std::future::Future;
use std::time::Duration;

use chrono::{DateTime, Utc};
use keyhaven_api::{CreateKeyRequest, KeyMeta, PingResponse, User};
use serde::Serialize;
use ts_rs::TS;

use crate::catalog::ConnectorKind;
use crate::error::Result;
use crate::secret::Secret;

pub use self::native::{http_client, NativeConnector};
pub use self::url_rule::{check_service_url, is_loopback};

/// How long any call to a key service may take, connection included.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// What a connector can do, for the UI to offer only what works.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
pub struct Capabilities {
    pub login: bool,
    pub list_keys: bool,
    pub create_key: bool,
    pub revoke_key: bool,
    pub ping: bool,
}

/// A signed-in session.
#[derive(Debug)]
pub struct Session {
    pub token: Secret,
    pub expires_at: DateTime<Utc>,
    pub user: User,
}

/// A key just created: its metadata and its secret, which the service shows this once.
#[derive(Debug)]
pub struct NewKey {
    pub meta: KeyMeta,
    pub secret: Secret,
}

/// The client for one kind of key service.
pub trait Connector: Send + Sync {
    fn kind(&self) -> ConnectorKind;
    fn capabilities(&self) -> Capabilities;
    /// Password → session. Wrong credentials are `Unauthorized { WrongCredentials }`.
    fn login(&self, email: &str, password: &Secret)
        -> impl Future<Output = Result<Session>> + Send;
    fn logout(&self, session: &Secret) -> impl Future<Output = Result<()>> + Send;
    fn me(&self, session: &Secret) -> impl Future<Output = Result<User>> + Send;
    fn list_keys(&self, session: &Secret) -> impl Future<Output = Result<Vec<KeyMeta>>> + Send;
    fn create_key(
        &self,
        session: &Secret,
        request: &CreateKeyRequest,
    ) -> impl Future<Output = Result<NewKey>> + Send;
    fn revoke_key(&self, session: &Secret, key_id: &str)
        -> impl Future<Output = Result<()>> + Send;
    /// Uses an API key once; a refused key is `Unauthorized { KeyRejected }`.
    fn ping(&self, key: &Secret) -> impl Future<Output = Result<PingResponse>> + Send;
}

/// Every connector kind, for dispatch.
#[derive(Debug, Clone)]
pub enum AnyConnector {
    Native(NativeConnector),
}

impl AnyConnector {
    /// The connector of `kind` for the service at `base_url` (checked by [`check_service_url`]).
    pub fn new(kind: ConnectorKind, base_url: &str, http: reqwest::Client) -> Result<AnyConnector> {
        match kind {
            ConnectorKind::Native => Ok(AnyConnector::Native(NativeConnector::with_client(
                base_url, http,
            )?)),
        }
    }
}

impl Connector for AnyConnector {
    fn kind(&self) -> ConnectorKind {
        match self {
            AnyConnector::Native(c) => c.kind(),
        }
    }

    fn capabilities(&self) -> Capabilities {
        match self {
            AnyConnector::Native(c) => c.capabilities(),
        }
    }

    async fn login(&self, email: &str, password: &Secret) -> Result<Session> {
        match self {
            AnyConnector::Native(c) => c.login(email, password).await,
        }
    }

    async fn logout(&self, session: &Secret) -> Result<()> {
        match self {
            AnyConnector::Native(c) => c.logout(session).await,
        }
    }

    async fn me(&self, session: &Secret) -> Result<User> {
        match self {
            AnyConnector::Native(c) => c.me(session).await,
        }
    }

    async fn list_keys(&self, session: &Secret) -> Result<Vec<KeyMeta>> {
        match self {
            AnyConnector::Native(c) => c.list_keys(session).await,
        }
    }

    async fn create_key(&self, session: &Secret, request: &CreateKeyRequest) -> Result<NewKey> {
        match self {
            AnyConnector::Native(c) => c.create_key(session, request).await,
        }
    }

    async fn revoke_key(&self, session: &Secret, key_id: &str) -> Result<()> {
        match self {
            AnyConnector::Native(c) => c.revoke_key(session, key_id).await,
        }
    }

    async fn ping(&self, key: &Secret) -> Result<PingResponse> {
        match self {
            AnyConnector::Native(c) => c.ping(key).await,
        }
    }
}
