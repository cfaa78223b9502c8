//! Keyhaven's core: profiles and accounts ([`catalog`]), secrets at rest ([`vault`]), key
//! services ([`connector`]), the clipboard ([`clipboard`]) and the [`Keyhaven`] facade that the
//! desktop app and the CLI share. No Tauri dependency.
//!
//! Secrets are [`Secret`]s: wiped on drop, never printable or serialisable. They live in the OS
//! keychain (through [`Vault`]) and nowhere else on disk.

mod app;
pub mod catalog;
pub mod clipboard;
pub mod connector;
pub mod env_refs;
pub mod error;
pub mod file_lock;
pub mod first_run;
pub mod hardening;
pub mod local_keys;
pub mod rotation;
pub mod secret;
pub mod settings;
pub mod validate;
pub mod vault;
pub mod watch;

pub use app::{
    capabilities_for_role, new_key_request, update_key_request, validate_create_request, Accounts,
    CoreConfig, CreatedKeyView, ImportOptions, KeyView, Keyhaven, Keys, NewAccount, OpenOptions,
    ProfileInfo, ProfileMeta, Profiles, Rotation, VaultChoice, VerifyOptions, Watch, ENV_DATA_DIR,
    ENV_KEYCHAIN_NAMESPACE, ENV_VAULT, MAX_AUTO_LOCK,
};
pub use app::{FoundKey, KeySearch, UnreadAccount};
pub use catalog::{Account, ConnectorKind, ServiceRef, Tier};
pub use clipboard::ClipboardGuard;
pub use connector::{
    documented_url, kind_info, suggest_kinds, AnyConnector, Capabilities, Checked, Connector,
    Credentials, Granularity, ImportedConnector, KindInfo, NativeConnector, PageQuery,
    TokenkitConnector, UsageQuery, KINDS,
};
pub use env_refs::{EnvReference, Recorded as RecordedReference};
pub use error::{AuthFailure, Error, ErrorKind, ErrorPayload, KeychainOp, Result};
pub use first_run::LocalAccounts;
pub use rotation::{
    Grace, GuidedOutcome, GuidedRotation, GuidedStep, Method, PendingRotation, RotateOptions,
    RotationMethod, RotationOutcome, RotationProgress, RotationStep, StepStatus,
};
pub use secret::Secret;
pub use settings::Settings;
pub use vault::Vault;
pub use watch::{
    Alert, AlertKind, AlertSettings, AlertSeverity, KeyCheckConfig, UsageSnapshot, UsageWatch,
    WatchConfig, WatchEvent, WatchRuntime, WatchSettings,
};
