//! Connectors: the clients for each kind of key service, behind one trait.
//!
//! [`Connector`] uses `async fn`-style methods (no `async_trait`); [`AnyConnector`] is the enum the
//! core dispatches through, one variant per [`ConnectorKind`]. A connector says in
//! [`Capabilities`] what its service lets it do, so the UI offers only that, and the core
//! refuses what is not offered before any request.
//!
//! Every connector maps its service's refusals to the core's [`crate::Error`] (never a raw
//! status or message string to match on) and a failed connection to `Error::Network` naming
//! the service URL.

mod animus;
mod exchange;
mod imported;
mod native;
mod tokenkit;
mod url_rule;

use std::future::Future;
use std::time::Duration;

use chrono::{DateTime, Utc};
use keyhaven_api::{
    AuditRecord, CreateKeyRequest, DenialRecord, KeyMeta, KeyUsage, PingResponse, RateLimitInfo,
    SupportKey, TenantUsage, UpdateKeyRequest, User, VerifyRequest, VerifyResponse,
};
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::catalog::ConnectorKind;
use crate::error::Result;
use crate::secret::Secret;

pub(crate) use self::animus::scopes_fit as animus_scopes_fit;
pub use self::animus::AnimusConnector;
pub use self::imported::{Checked, ImportedConnector};
pub use self::native::{http_client, NativeConnector};
pub use self::tokenkit::TokenkitConnector;
pub use self::url_rule::{
    check_endpoint_url, check_service_url, check_service_url_with, is_loopback, HttpPolicy,
};

/// How long any call to a key service may take, connection included.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// What a connector can do, for the UI to offer only what works. [`Accounts::capabilities`](crate::Accounts::capabilities)
/// narrows this to what the account's role may do.
///
/// [`Accounts::capabilities`](crate::Accounts::capabilities): crate::Accounts::capabilities
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
pub struct Capabilities {
    /// Password sign-in with a session.
    pub login: bool,
    pub list_keys: bool,
    /// Read one key's metadata by id.
    pub get_key: bool,
    pub create_key: bool,
    /// Change name, scopes, expiry, origins, IPs or hourly limit without a new secret.
    pub update_key: bool,
    /// Replace the secret while the old one keeps working for a grace period.
    pub roll_key: bool,
    /// The longest grace period a roll can give the old key, in seconds (0 without rolls).
    pub max_roll_grace_seconds: u32,
    pub revoke_key: bool,
    /// Use a key once to check that the service accepts it.
    pub ping: bool,
    /// Ask the service whether a key may make a given call (`POST /v1/verify`).
    pub verify_key: bool,
    /// The service tells a key's settings (scopes, expiry, origins, IPs, hourly limit) when it
    /// lists it, so that a replacement can copy them.
    pub key_settings: bool,
    /// Which settings a key can carry.
    pub key_scopes: bool,
    pub key_expiry: bool,
    pub allowed_origins: bool,
    pub allowed_ips: bool,
    pub rate_limit_per_hour: bool,
    /// Calls by hour or day for one key.
    pub key_usage: bool,
    /// Calls by hour or day for every key of the account, in one request.
    pub account_usage: bool,
    /// A key's recent refused calls with their reasons.
    pub denials: bool,
    /// Who changed what, when.
    pub audit: bool,
    /// Support's search for keys by prefix across tenants.
    pub support_search: bool,
    /// Support's reads of another tenant's keys, usage, denials and audit.
    pub tenant_reads: bool,
    /// A key someone already holds can be added by pasting its secret.
    pub import_keys: bool,
    /// The service cannot list keys: Keyhaven lists the ones imported into this profile, and
    /// removing one forgets it here (the service's own page deletes it there).
    pub local_keys: bool,
    /// Keys are rotated by a guided rotation: the new key is made on the service's own page and
    /// pasted (`crate::rotation::GuidedRotation`).
    pub guided_rotation: bool,
}

impl Capabilities {
    /// A connector that can do nothing; the starting point of a narrowed set.
    pub const NONE: Capabilities = Capabilities {
        login: false,
        list_keys: false,
        get_key: false,
        create_key: false,
        update_key: false,
        roll_key: false,
        max_roll_grace_seconds: 0,
        revoke_key: false,
        ping: false,
        verify_key: false,
        key_settings: false,
        key_scopes: false,
        key_expiry: false,
        allowed_origins: false,
        allowed_ips: false,
        rate_limit_per_hour: false,
        key_usage: false,
        account_usage: false,
        denials: false,
        audit: false,
        support_search: false,
        tenant_reads: false,
        import_keys: false,
        local_keys: false,
        guided_rotation: false,
    };
}

/// Bucket size of a usage series.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum Granularity {
    #[default]
    Hour,
    Day,
}

impl Granularity {
    pub fn as_str(self) -> &'static str {
        match self {
            Granularity::Hour => "hour",
            Granularity::Day => "day",
        }
    }

    /// The bucket length in seconds.
    pub fn seconds(self) -> i64 {
        match self {
            Granularity::Hour => 3_600,
            Granularity::Day => 86_400,
        }
    }
}

/// What a usage read covers. Absent bounds take the service's defaults (the last 24 hours by
/// hour, the last 30 days by day). `tenant_id` reads another tenant's usage (support, admin).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct UsageQuery {
    #[ts(optional, type = "string")]
    #[serde(default)]
    pub from: Option<DateTime<Utc>>,
    #[ts(optional, type = "string")]
    #[serde(default)]
    pub to: Option<DateTime<Utc>>,
    #[ts(optional)]
    #[serde(default)]
    pub granularity: Option<Granularity>,
    #[ts(optional)]
    #[serde(default)]
    pub tenant_id: Option<String>,
}

/// A page of denials or audit rows: at most `limit` (1 to 1000; the service's default when
/// absent), of `tenant_id` when support reads another tenant.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct PageQuery {
    #[ts(optional)]
    #[serde(default)]
    pub limit: Option<u32>,
    #[ts(optional)]
    #[serde(default)]
    pub tenant_id: Option<String>,
}

/// How a key is presented for a ping: the scope the call needs and the `Origin` it comes from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PingCall {
    pub scope: Option<String>,
    pub origin: Option<String>,
}

/// An answer and the rate-limit window the service reported with it (`X-RateLimit-*`), if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Metered<T> {
    pub value: T,
    pub ratelimit: Option<RateLimitInfo>,
}

/// What signing in takes: who, the password, and for a service whose calls also carry an API key
/// of the account's (TokenKit), that key.
#[derive(Debug, Clone, Copy)]
pub struct Credentials<'a> {
    /// The email, or for services that take one, the user name.
    pub user: &'a str,
    pub password: &'a Secret,
    pub account_key: Option<&'a Secret>,
}

/// A signed-in session.
#[derive(Debug)]
pub struct Session {
    pub token: Secret,
    pub expires_at: DateTime<Utc>,
    pub user: User,
}

/// A key just created or rolled: its metadata and its secret, which the service shows this once.
#[derive(Debug)]
pub struct NewKey {
    pub meta: KeyMeta,
    pub secret: Secret,
}

/// The client for one kind of key service. `tenant` arguments name another tenant for
/// support's reads; `None` is the caller's own. What a connector does not implement answers
/// `unsupported` (the defaults), and its [`Capabilities`] say so beforehand.
pub trait Connector: Send + Sync {
    fn kind(&self) -> ConnectorKind;
    fn capabilities(&self) -> Capabilities;
    /// Password → session. Wrong credentials are `Unauthorized { WrongCredentials }`. The
    /// session's token is whatever the connector needs on later calls (TokenKit's holds the
    /// account's API key too).
    fn login(&self, credentials: Credentials<'_>) -> impl Future<Output = Result<Session>> + Send;
    fn logout(&self, session: &Secret) -> impl Future<Output = Result<()>> + Send;
    fn me(&self, session: &Secret) -> impl Future<Output = Result<User>> + Send;
    fn list_keys(
        &self,
        _session: &Secret,
        _tenant: Option<&str>,
    ) -> impl Future<Output = Result<Vec<KeyMeta>>> + Send {
        std::future::ready(Err(unsupported(self.kind(), "list keys")))
    }
    fn get_key(
        &self,
        _session: &Secret,
        _key_id: &str,
        _tenant: Option<&str>,
    ) -> impl Future<Output = Result<KeyMeta>> + Send {
        std::future::ready(Err(unsupported(self.kind(), "read a key")))
    }
    fn create_key(
        &self,
        _session: &Secret,
        _request: &CreateKeyRequest,
    ) -> impl Future<Output = Result<NewKey>> + Send {
        std::future::ready(Err(unsupported(self.kind(), "create keys")))
    }
    /// Changes the fields sent; the secret stays.
    fn update_key(
        &self,
        _session: &Secret,
        _key_id: &str,
        _request: &UpdateKeyRequest,
    ) -> impl Future<Output = Result<KeyMeta>> + Send {
        std::future::ready(Err(unsupported(self.kind(), "change a key")))
    }
    /// A new secret with the same settings; the old key works for `grace_seconds` more.
    fn roll_key(
        &self,
        _session: &Secret,
        _key_id: &str,
        _grace_seconds: u64,
    ) -> impl Future<Output = Result<NewKey>> + Send {
        std::future::ready(Err(unsupported(self.kind(), "roll a key")))
    }
    fn revoke_key(
        &self,
        _session: &Secret,
        _key_id: &str,
    ) -> impl Future<Output = Result<()>> + Send {
        std::future::ready(Err(unsupported(self.kind(), "revoke keys")))
    }
    fn key_usage(
        &self,
        _session: &Secret,
        _key_id: &str,
        _query: &UsageQuery,
    ) -> impl Future<Output = Result<KeyUsage>> + Send {
        std::future::ready(Err(unsupported(self.kind(), "report a key's usage")))
    }
    /// Every key's usage in one request.
    fn account_usage(
        &self,
        _session: &Secret,
        _query: &UsageQuery,
    ) -> impl Future<Output = Result<Metered<TenantUsage>>> + Send {
        std::future::ready(Err(unsupported(self.kind(), "report usage")))
    }
    fn denials(
        &self,
        _session: &Secret,
        _key_id: &str,
        _page: &PageQuery,
    ) -> impl Future<Output = Result<Vec<DenialRecord>>> + Send {
        std::future::ready(Err(unsupported(self.kind(), "list refused calls")))
    }
    fn audit(
        &self,
        _session: &Secret,
        _page: &PageQuery,
    ) -> impl Future<Output = Result<Vec<AuditRecord>>> + Send {
        std::future::ready(Err(unsupported(self.kind(), "show an audit log")))
    }
    /// Support: keys of every tenant whose prefix starts with `prefix`.
    fn find_keys(
        &self,
        _session: &Secret,
        _prefix: &str,
    ) -> impl Future<Output = Result<Vec<SupportKey>>> + Send {
        std::future::ready(Err(unsupported(self.kind(), "search keys across accounts")))
    }
    fn verify_key(
        &self,
        _session: &Secret,
        _request: &VerifyRequest,
    ) -> impl Future<Output = Result<VerifyResponse>> + Send {
        std::future::ready(Err(unsupported(self.kind(), "verify a key for a backend")))
    }
    /// Uses an API key once; a refused key is `Unauthorized { KeyRejected }`.
    fn ping(
        &self,
        key: &Secret,
        call: &PingCall,
    ) -> impl Future<Output = Result<Metered<PingResponse>>> + Send;
}

/// What a service cannot do through its API, said the same way for every kind: the operations a
/// connector does not implement answer this (the trait's defaults).
pub(crate) fn unsupported(kind: ConnectorKind, what: &str) -> crate::error::Error {
    let info = kind_info(kind);
    crate::error::Error::Forbidden {
        message: format!(
            "{} cannot {what} through its API (see {}).",
            info.label, info.key_page
        ),
    }
}

/// Every connector kind, for dispatch.
#[derive(Debug, Clone)]
pub enum AnyConnector {
    Native(NativeConnector),
    Tokenkit(TokenkitConnector),
    Animus(AnimusConnector),
    Imported(ImportedConnector),
}

/// What Keyhaven knows of a kind of service, for the app and the CLI to show and offer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
pub struct KindInfo {
    pub kind: ConnectorKind,
    /// The service's name as people write it.
    pub label: &'static str,
    /// The documented host; `None` for Keyhaven's own service and generic keys (the person
    /// names the URL).
    #[ts(type = "string | null")]
    pub documented_url: Option<&'static str>,
    /// Whether accounts sign in (else they are added and their keys imported).
    pub signs_in: bool,
    /// Where keys of this service are made and deleted, as its document names it.
    pub key_page: &'static str,
    /// How many active keys an account may hold, when the document says.
    #[ts(type = "number | null")]
    pub key_limit: Option<u32>,
    /// Prefixes its keys start with, when documented.
    #[ts(type = "string[]")]
    pub key_prefixes: &'static [&'static str],
}

/// Every kind's [`KindInfo`], in [`ConnectorKind::ALL`]'s order.
pub const KINDS: [KindInfo; 7] = [
    KindInfo {
        kind: ConnectorKind::Native,
        label: "Keyhaven",
        documented_url: None,
        signs_in: true,
        key_page: "Keyhaven",
        key_limit: None,
        key_prefixes: &["kh_"],
    },
    KindInfo {
        kind: ConnectorKind::Tokenkit,
        label: "TokenKit",
        documented_url: Some(tokenkit::DEFAULT_URL),
        signs_in: true,
        key_page: "TokenKit's dashboard (Settings → API Keys)",
        key_limit: None,
        key_prefixes: &[],
    },
    KindInfo {
        kind: ConnectorKind::Animus,
        label: "Animus",
        documented_url: Some(animus::DEFAULT_URL),
        signs_in: true,
        key_page: animus::KEY_PAGE,
        key_limit: Some(10),
        key_prefixes: &["anm_"],
    },
    KindInfo {
        kind: ConnectorKind::Anikura,
        label: "AniKura",
        documented_url: Some("https://api.anikura.io"),
        signs_in: false,
        key_page: "AniKura's dashboard (Settings → API Keys)",
        key_limit: Some(5),
        key_prefixes: &["ak_live_"],
    },
    KindInfo {
        kind: ConnectorKind::Ananke,
        label: "Ananke Labs",
        documented_url: Some("https://api.anankelabs.net"),
        signs_in: false,
        key_page: "the Ananke Console (Settings → API Keys)",
        key_limit: None,
        key_prefixes: &["ak_live_"],
    },
    KindInfo {
        kind: ConnectorKind::Wanikani,
        label: "WaniKani",
        documented_url: Some("https://api.wanikani.com"),
        signs_in: false,
        key_page: "WaniKani's settings (API Tokens)",
        key_limit: None,
        key_prefixes: &[],
    },
    KindInfo {
        kind: ConnectorKind::Generic,
        label: "Other service",
        documented_url: None,
        signs_in: false,
        key_page: "the service's own settings",
        key_limit: None,
        key_prefixes: &[],
    },
];

/// What Keyhaven knows of `kind`.
pub fn kind_info(kind: ConnectorKind) -> &'static KindInfo {
    KINDS
        .iter()
        .find(|info| info.kind == kind)
        .unwrap_or(&KINDS[0])
}

/// The documented host of a kind whose service has one (every account of Keyhaven's own names
/// its service's URL).
pub fn documented_url(kind: ConnectorKind) -> Option<&'static str> {
    kind_info(kind).documented_url
}

/// The kinds a pasted secret may belong to, from its prefix: `ak_live_` is both AniKura's and
/// Ananke Labs', so both are named and the person chooses. Empty when the prefix says nothing.
pub fn suggest_kinds(secret: &Secret) -> Vec<ConnectorKind> {
    let text = secret.expose().trim_start();
    KINDS
        .iter()
        .filter(|info| info.key_prefixes.iter().any(|p| text.starts_with(p)))
        .map(|info| info.kind)
        .collect()
}

impl AnyConnector {
    /// The connector of `kind` for the service at `base_url` (checked by
    /// [`check_service_url_with`] under `policy`).
    pub fn new(
        kind: ConnectorKind,
        base_url: &str,
        policy: HttpPolicy,
        http: reqwest::Client,
    ) -> Result<AnyConnector> {
        match kind {
            ConnectorKind::Native => Ok(AnyConnector::Native(NativeConnector::with_policy(
                base_url, policy, http,
            )?)),
            ConnectorKind::Tokenkit => Ok(AnyConnector::Tokenkit(TokenkitConnector::with_policy(
                base_url, policy, http,
            )?)),
            ConnectorKind::Animus => Ok(AnyConnector::Animus(AnimusConnector::with_policy(
                base_url, policy, http,
            )?)),
            ConnectorKind::Anikura
            | ConnectorKind::Ananke
            | ConnectorKind::Wanikani
            | ConnectorKind::Generic => Ok(AnyConnector::Imported(ImportedConnector::with_policy(
                kind, base_url, policy, http,
            )?)),
        }
    }
}

/// Forwards a trait method to the variant's connector.
macro_rules! dispatch {
    ($self:ident, $c:ident => $call:expr) => {
        match $self {
            AnyConnector::Native($c) => $call,
            AnyConnector::Tokenkit($c) => $call,
            AnyConnector::Animus($c) => $call,
            AnyConnector::Imported($c) => $call,
        }
    };
}

impl Connector for AnyConnector {
    fn kind(&self) -> ConnectorKind {
        dispatch!(self, c => c.kind())
    }

    fn capabilities(&self) -> Capabilities {
        dispatch!(self, c => c.capabilities())
    }

    async fn login(&self, credentials: Credentials<'_>) -> Result<Session> {
        dispatch!(self, c => c.login(credentials).await)
    }

    async fn logout(&self, session: &Secret) -> Result<()> {
        dispatch!(self, c => c.logout(session).await)
    }

    async fn me(&self, session: &Secret) -> Result<User> {
        dispatch!(self, c => c.me(session).await)
    }

    async fn list_keys(&self, session: &Secret, tenant: Option<&str>) -> Result<Vec<KeyMeta>> {
        dispatch!(self, c => c.list_keys(session, tenant).await)
    }

    async fn get_key(
        &self,
        session: &Secret,
        key_id: &str,
        tenant: Option<&str>,
    ) -> Result<KeyMeta> {
        dispatch!(self, c => c.get_key(session, key_id, tenant).await)
    }

    async fn create_key(&self, session: &Secret, request: &CreateKeyRequest) -> Result<NewKey> {
        dispatch!(self, c => c.create_key(session, request).await)
    }

    async fn update_key(
        &self,
        session: &Secret,
        key_id: &str,
        request: &UpdateKeyRequest,
    ) -> Result<KeyMeta> {
        dispatch!(self, c => c.update_key(session, key_id, request).await)
    }

    async fn roll_key(&self, session: &Secret, key_id: &str, grace_seconds: u64) -> Result<NewKey> {
        dispatch!(self, c => c.roll_key(session, key_id, grace_seconds).await)
    }

    async fn revoke_key(&self, session: &Secret, key_id: &str) -> Result<()> {
        dispatch!(self, c => c.revoke_key(session, key_id).await)
    }

    async fn key_usage(
        &self,
        session: &Secret,
        key_id: &str,
        query: &UsageQuery,
    ) -> Result<KeyUsage> {
        dispatch!(self, c => c.key_usage(session, key_id, query).await)
    }

    async fn account_usage(
        &self,
        session: &Secret,
        query: &UsageQuery,
    ) -> Result<Metered<TenantUsage>> {
        dispatch!(self, c => c.account_usage(session, query).await)
    }

    async fn denials(
        &self,
        session: &Secret,
        key_id: &str,
        page: &PageQuery,
    ) -> Result<Vec<DenialRecord>> {
        dispatch!(self, c => c.denials(session, key_id, page).await)
    }

    async fn audit(&self, session: &Secret, page: &PageQuery) -> Result<Vec<AuditRecord>> {
        dispatch!(self, c => c.audit(session, page).await)
    }

    async fn find_keys(&self, session: &Secret, prefix: &str) -> Result<Vec<SupportKey>> {
        dispatch!(self, c => c.find_keys(session, prefix).await)
    }

    async fn verify_key(
        &self,
        session: &Secret,
        request: &VerifyRequest,
    ) -> Result<VerifyResponse> {
        dispatch!(self, c => c.verify_key(session, request).await)
    }

    async fn ping(&self, key: &Secret, call: &PingCall) -> Result<Metered<PingResponse>> {
        dispatch!(self, c => c.ping(key, call).await)
    }
}
