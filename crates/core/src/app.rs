//! [`Keyhaven`]: the facade the desktop app and the CLI use. It ties the catalog (accounts), the
//! vault (secrets) and the connectors (key services) together for the active profile.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};

mod imported;
mod listed;
mod profiles;
mod search;
pub use profiles::{ProfileInfo, ProfileMeta, MAX_AUTO_LOCK};

use chrono::Utc;
use keyhaven_api::{CreateKeyRequest, KeyMeta, PingResponse};
use serde::Serialize;
use ts_rs::TS;

use crate::catalog::{
    default_profile_name, validate_profile_name, Account, CatalogStore, ConnectorKind,
    ProfileCatalog, ServiceRef, State,
};
use crate::connector::{
    check_service_url_with, http_client, is_loopback, AnyConnector, Connector, Credentials,
    HttpPolicy, PingCall,
};
use crate::error::{Error, Result};
use crate::secret::Secret;
use crate::vault::{
    names, validate_namespace, Clock, KdfParams, SystemClock, Vault, DEFAULT_NAMESPACE,
};

/// Environment variable naming the data folder (default: the platform's data folder + `keyhaven`).
pub const ENV_DATA_DIR: &str = "KEYHAVEN_DATA_DIR";
/// Environment variable naming the keychain namespace (default: `dev.keyhaven.app`).
pub const ENV_KEYCHAIN_NAMESPACE: &str = "KEYHAVEN_KEYCHAIN_NAMESPACE";
/// Environment variable choosing where secrets are kept: `keychain` (the default) or `file`
/// (a passphrase-encrypted file per profile, for machines without a keychain).
pub const ENV_VAULT: &str = "KEYHAVEN_VAULT";

mod manage;

pub(crate) use imported::shown_prefix;
pub use imported::{ImportOptions, NewAccount};
pub use manage::{capabilities_for_role, update_key_request, VerifyOptions};
pub use search::{FoundKey, KeySearch, UnreadAccount};

const MAX_EMAIL_CHARS: usize = 254;

/// Where secrets are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VaultChoice {
    /// The OS keychain: Secret Service on Linux, the Keychain on macOS, Credential Manager on
    /// Windows.
    SecretService,
    /// This process's memory, for tests.
    InMemory,
    /// A passphrase-encrypted file per profile, only when the person opts in
    /// (`KEYHAVEN_VAULT=file`) because no keychain is available.
    EncryptedFile,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoreConfig {
    pub data_dir: PathBuf,
    pub keychain_namespace: String,
    pub vault: VaultChoice,
}

impl CoreConfig {
    /// `KEYHAVEN_DATA_DIR` (else the platform data folder + `keyhaven`) and
    /// `KEYHAVEN_KEYCHAIN_NAMESPACE` (else `dev.keyhaven.app`), with the OS keychain.
    pub fn from_env() -> Result<CoreConfig> {
        let data_dir = match std::env::var_os(ENV_DATA_DIR) {
            Some(dir) if !dir.is_empty() => PathBuf::from(dir),
            _ => match dirs::data_dir() {
                Some(dir) => dir.join("keyhaven"),
                None => {
                    return Err(Error::NoDataDir {
                        problem: "this system reports no data folder".to_string(),
                    })
                }
            },
        };
        let keychain_namespace = match std::env::var(ENV_KEYCHAIN_NAMESPACE) {
            Ok(ns) if !ns.is_empty() => ns,
            _ => DEFAULT_NAMESPACE.to_string(),
        };
        validate_namespace(&keychain_namespace)?;
        let vault = match std::env::var(ENV_VAULT).as_deref() {
            Err(_) | Ok("") | Ok("keychain") => VaultChoice::SecretService,
            Ok("file") => VaultChoice::EncryptedFile,
            Ok(_) => {
                return Err(Error::validation(
                    ENV_VAULT,
                    "use 'keychain' (the default) or 'file' (a passphrase-encrypted file)",
                ))
            }
        };
        Ok(CoreConfig {
            data_dir,
            keychain_namespace,
            vault,
        })
    }
}

/// A key as the UI lists it: the service's metadata, and whether this machine holds its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct KeyView {
    pub meta: KeyMeta,
    pub stored_locally: bool,
    /// The last check of a key this profile records itself (an imported key of a service that
    /// does not list keys); absent when it was never checked (stored unverified) or the service
    /// lists the key.
    #[ts(optional)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub check: Option<crate::local_keys::KeyCheck>,
}

/// A key just created. `secret` is shown once; when the keychain refused it,
/// `stored_in_keychain` is false and `keychain_error` says why, so the person can save it now.
#[derive(Debug)]
pub struct CreatedKeyView {
    pub meta: KeyMeta,
    pub secret: Secret,
    pub stored_in_keychain: bool,
    pub keychain_error: Option<Error>,
}

struct Loaded {
    profile: String,
    catalog: ProfileCatalog,
}

/// How [`Keyhaven::open_with`] opens the core.
#[derive(Clone)]
pub struct OpenOptions {
    /// Open this profile for this process only, without making it active for others (what
    /// [`Keyhaven::open_profile`] does); `None`: the active profile.
    pub profile: Option<String>,
    /// Argon2id cost for new passphrases. The default is OWASP's; tests lower it.
    pub kdf: KdfParams,
    /// The clock auto-lock measures idle time with; tests inject a
    /// [`ManualClock`](crate::vault::ManualClock).
    pub clock: Arc<dyn Clock>,
}

impl Default for OpenOptions {
    fn default() -> OpenOptions {
        OpenOptions {
            profile: None,
            kdf: KdfParams::default(),
            clock: Arc::new(SystemClock),
        }
    }
}

impl std::fmt::Debug for OpenOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenOptions")
            .field("profile", &self.profile)
            .field("kdf", &self.kdf)
            .finish_non_exhaustive()
    }
}

struct Inner {
    store: CatalogStore,
    vault: Vault,
    http: reqwest::Client,
    loaded: RwLock<Loaded>,
    embedded_url: RwLock<Option<String>>,
    /// Serialises catalog read-modify-write cycles in this process.
    catalog_writes: Mutex<()>,
    /// One transparent re-login at a time.
    renewing: tokio::sync::Mutex<()>,
    /// Keys being rotated by this process, and the rotation test hook.
    rotations: crate::rotation::runtime::RotationRuntime,
    /// Argon2id cost for new passphrases.
    kdf: KdfParams,
    /// One profile operation (create, rename, delete, passphrase) at a time.
    profile_ops: tokio::sync::Mutex<()>,
}

/// The core, for one profile at a time. Cheap to clone; clones share state.
#[derive(Clone)]
pub struct Keyhaven {
    inner: Arc<Inner>,
}

/// Handles on one area of the core, each a view of the same shared state: `core.keys().create(…)`,
/// `core.rotation().resume(…)`. Cheap (a reference); made for each call.
macro_rules! handles {
    ($( $(#[$doc:meta])* $accessor:ident -> $handle:ident; )*) => {
        $(
            $(#[$doc])*
            #[derive(Clone, Copy)]
            pub struct $handle<'a> {
                pub(crate) core: &'a Keyhaven,
            }

            impl std::fmt::Debug for $handle<'_> {
                fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                    f.debug_tuple(stringify!($handle)).field(&self.core.profile()).finish()
                }
            }
        )*

        impl Keyhaven {
            $(
                $(#[$doc])*
                pub fn $accessor(&self) -> $handle<'_> {
                    $handle { core: self }
                }
            )*
        }
    };
}

handles! {
    /// Profiles: create, rename, delete and switch them; the passphrase lock; the settings.
    profiles -> Profiles;
    /// The active profile's accounts: sign-in, accounts added by name, what each allows, their
    /// usage and audit log.
    accounts -> Accounts;
    /// Keys: list, create, import, read the secret, update, revoke, check, find.
    keys -> Keys;
    /// Rotations, native and guided, and resuming those a stop interrupted.
    rotation -> Rotation;
    /// The usage watcher, its cached usage and the broken-key checks.
    watch -> Watch;
}

impl std::fmt::Debug for Keyhaven {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keyhaven")
            .field("data_dir", &self.inner.store.data_dir())
            .field("profile", &self.profile())
            .field("vault", &self.inner.vault)
            .finish()
    }
}

impl Keyhaven {
    /// Opens the active profile (creating the default one, named after the OS user, on first
    /// run). Does not need the keychain: vault errors surface on the calls that use it.
    pub async fn open(config: CoreConfig) -> Result<Keyhaven> {
        Keyhaven::open_with(config, OpenOptions::default()).await
    }

    /// [`Keyhaven::open`] with a vault the caller made (its `config.vault` is ignored): lets a
    /// test open a second core on the same keychain, as a restarted process would.
    pub async fn open_with_vault(config: CoreConfig, vault: Vault) -> Result<Keyhaven> {
        Keyhaven::open_inner(config, OpenOptions::default(), Some(vault)).await
    }

    /// Opens `profile` for this process without changing which profile is active for others.
    /// Fails with `NotFound` if the profile does not exist.
    pub async fn open_profile(config: CoreConfig, profile: &str) -> Result<Keyhaven> {
        let options = OpenOptions {
            profile: Some(profile.to_string()),
            ..OpenOptions::default()
        };
        Keyhaven::open_with(config, options).await
    }

    /// [`Keyhaven::open`] or [`Keyhaven::open_profile`] with a chosen passphrase cost and clock.
    pub async fn open_with(config: CoreConfig, options: OpenOptions) -> Result<Keyhaven> {
        Keyhaven::open_inner(config, options, None).await
    }

    async fn open_inner(
        config: CoreConfig,
        options: OpenOptions,
        vault: Option<Vault>,
    ) -> Result<Keyhaven> {
        let vault = match (vault, config.vault) {
            (Some(vault), _) => vault,
            (None, VaultChoice::SecretService) => {
                Vault::secret_service_deferred(&config.keychain_namespace)?
            }
            (None, VaultChoice::InMemory) => Vault::in_memory(),
            (None, VaultChoice::EncryptedFile) => {
                Vault::encrypted_file(&config.keychain_namespace, config.data_dir.clone())?
            }
        };
        vault.set_clock(options.clock.clone());
        let store = CatalogStore::new(config.data_dir);
        let profile = match options.profile.as_deref() {
            Some(name) => {
                validate_profile_name(name)?;
                if !store.profile_exists(name)? {
                    return Err(Error::not_found(format!("profile {name}")));
                }
                name.to_string()
            }
            None => {
                let state = store.load_state()?;
                let profile = state
                    .active_profile
                    .filter(|p| validate_profile_name(p).is_ok())
                    .unwrap_or_else(default_profile_name);
                create_profile_if_missing(&store, &profile)?;
                if store.load_state()?.active_profile.as_deref() != Some(profile.as_str()) {
                    store.save_state(&State {
                        active_profile: Some(profile.clone()),
                    })?;
                }
                profile
            }
        };
        let catalog = store.load_profile(&profile)?;
        tracing::debug!(profile = %profile, accounts = catalog.accounts.len(), "core opened");
        let core = Keyhaven {
            inner: Arc::new(Inner {
                store,
                vault,
                http: http_client()?,
                loaded: RwLock::new(Loaded {
                    profile: profile.clone(),
                    catalog,
                }),
                embedded_url: RwLock::new(None),
                catalog_writes: Mutex::new(()),
                renewing: tokio::sync::Mutex::new(()),
                rotations: Default::default(),
                kdf: options.kdf,
                profile_ops: tokio::sync::Mutex::new(()),
            }),
        };
        let data_dir = core.data_dir().to_path_buf();
        core.inner
            .vault
            .set_protection_source(Arc::new(move |profile: &str| {
                profiles::load_meta(&data_dir, profile).map(|meta| meta.protection())
            }));
        core.configure_vault(&profile)?;
        Ok(core)
    }

    /// The active profile's name.
    pub fn profile(&self) -> String {
        self.read().profile.clone()
    }

    pub fn data_dir(&self) -> &Path {
        self.inner.store.data_dir()
    }

    /// The vault this core uses.
    pub fn vault(&self) -> &Vault {
        &self.inner.vault
    }

    /// The URL of the app's embedded key service, which changes at every launch.
    pub fn set_embedded_url(&self, url: Option<String>) {
        let mut slot = self
            .inner
            .embedded_url
            .write()
            .unwrap_or_else(|p| p.into_inner());
        *slot = url;
    }

    /// Adds what this profile's rotations know of which key replaced which to keys read from
    /// the service. Only a hint for the person: a links file that cannot be read is logged and
    /// the keys are shown as the service describes them.
    pub(crate) fn annotate_replacements(&self, account_id: &str, metas: &mut [KeyMeta]) {
        if let Err(e) = self
            .link_store()
            .and_then(|links| links.annotate(account_id, metas))
        {
            tracing::warn!(account = %account_id, "the key links were not read: {e}");
        }
    }

    /// Runs `call` with the account's session; on a refused session, renews it once with the
    /// remembered password (if any) and runs `call` again.
    pub(crate) async fn with_session<T, F, Fut>(&self, account_id: &str, call: F) -> Result<T>
    where
        F: Fn(AnyConnector, Secret) -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let account = self.accounts().get(account_id)?;
        let connector = self.connector_for(&account)?;
        let profile = self.profile();
        let stored = self
            .inner
            .vault
            .get(&profile, &names::session(&account.id))
            .await?;
        let token = match stored {
            Some(token) => token,
            None => {
                self.renew_session(&profile, &account, &connector, None)
                    .await?
            }
        };
        match call(connector.clone(), token.clone()).await {
            Err(e) if e.is_unauthorized() => {
                let token = self
                    .renew_session(&profile, &account, &connector, Some(&token))
                    .await?;
                call(connector, token).await
            }
            other => other,
        }
    }

    /// Signs in again with the remembered password; `Unauthorized` (sign in again) without one.
    async fn renew_session(
        &self,
        profile: &str,
        account: &Account,
        connector: &AnyConnector,
        refused: Option<&Secret>,
    ) -> Result<Secret> {
        let _one_at_a_time = self.inner.renewing.lock().await;
        let vault = &self.inner.vault;
        // Another task may have renewed the session while this one waited.
        if let Some(current) = vault.get(profile, &names::session(&account.id)).await? {
            if refused.is_some_and(|old| !old.constant_time_eq(&current)) {
                return Ok(current);
            }
        }
        let expired = || {
            if account.connector.signs_in_with_session_token() {
                Error::Unauthorized {
                    reason: crate::error::AuthFailure::SessionTokenRefused,
                }
            } else {
                Error::session_expired()
            }
        };
        let password = vault
            .get(profile, &names::password(&account.id))
            .await?
            .ok_or_else(expired)?;
        let account_key = vault.get(profile, &names::account_key(&account.id)).await?;
        let session = connector
            .login(Credentials {
                user: &account.email,
                password: &password,
                account_key: account_key.as_ref(),
            })
            .await
            .map_err(|e| if e.is_unauthorized() { expired() } else { e })?;
        vault
            .put(profile, &names::session(&account.id), &session.token)
            .await?;
        tracing::info!(account = %account.id, "session renewed with the remembered password");
        Ok(session.token)
    }

    pub(crate) fn connector_for(&self, account: &Account) -> Result<AnyConnector> {
        self.connector(&account.service, account.connector)
    }

    fn connector(&self, service: &ServiceRef, kind: ConnectorKind) -> Result<AnyConnector> {
        let (url, policy) = match service {
            ServiceRef::Url { url, allow_http } => {
                (url.clone(), HttpPolicy::from_override(*allow_http))
            }
            ServiceRef::Embedded => self
                .inner
                .embedded_url
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .clone()
                .ok_or(Error::EmbeddedServiceNotRunning)
                .map(|url| (url, HttpPolicy::LoopbackOnly))?,
        };
        AnyConnector::new(kind, &url, policy, self.inner.http.clone())
    }

    /// Re-reads the profile's catalog from disk (another process may have changed it), applies
    /// `change`, writes it atomically and keeps it in memory.
    fn update_catalog<R>(
        &self,
        change: impl FnOnce(&mut ProfileCatalog) -> Result<R>,
    ) -> Result<R> {
        let _writing = self.catalog_lock();
        let profile = self.profile();
        let _other_processes = crate::file_lock::FileLock::exclusive(
            &crate::file_lock::lock_path_for(&self.inner.store.catalog_path(&profile)?),
        )?;
        let mut catalog = self.inner.store.load_profile(&profile)?;
        let result = change(&mut catalog)?;
        self.inner.store.save_profile(&profile, &catalog)?;
        let mut loaded = self.write();
        if loaded.profile == profile {
            loaded.catalog = catalog;
        }
        Ok(result)
    }

    pub(crate) fn rotation_runtime(&self) -> &crate::rotation::runtime::RotationRuntime {
        &self.inner.rotations
    }

    /// The active profile's folder (catalog, rotation journals, key links, usage cache).
    /// The active profile's folder, where its catalog, journals and local records live (and the
    /// app's window preferences).
    pub fn profile_dir(&self) -> Result<PathBuf> {
        self.inner.store.profile_dir(&self.profile())
    }

    fn read(&self) -> RwLockReadGuard<'_, Loaded> {
        self.inner.loaded.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, Loaded> {
        self.inner.loaded.write().unwrap_or_else(|p| p.into_inner())
    }

    fn catalog_lock(&self) -> MutexGuard<'_, ()> {
        self.inner
            .catalog_writes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }
}

impl Accounts<'_> {
    pub fn list(&self) -> Vec<Account> {
        self.core.read().catalog.accounts.clone()
    }

    pub fn active(&self) -> Option<Account> {
        self.core.read().catalog.active().cloned()
    }

    pub fn get(&self, id: &str) -> Result<Account> {
        self.core
            .read()
            .catalog
            .account(id)
            .cloned()
            .ok_or_else(|| {
                Error::not_found(format!("account {id} in profile {}", self.core.profile()))
            })
    }

    pub fn set_active(&self, id: &str) -> Result<()> {
        let profile = self.core.profile();
        self.core.update_catalog(|catalog| {
            if catalog.account(id).is_none() {
                return Err(Error::not_found(format!(
                    "account {id} in profile {profile}"
                )));
            }
            catalog.active_account = Some(id.to_string());
            Ok(())
        })
    }

    /// Signs in to a Keyhaven service, keeps the session token in the keychain (and the
    /// password, if asked), records the account (the same service and email update the existing
    /// one) and makes it active.
    pub async fn sign_in(
        &self,
        service: ServiceRef,
        email: &str,
        password: Secret,
        remember_password: bool,
    ) -> Result<Account> {
        self.core
            .accounts()
            .sign_in_to(
                ConnectorKind::Native,
                service,
                email,
                password,
                None,
                remember_password,
            )
            .await
    }

    /// [`Accounts::sign_in`](crate::Accounts::sign_in) to a service of `kind`. `user` is an email, or a user name where the
    /// service takes one (TokenKit), or the name the person gives the account where `password`
    /// is a session token copied from the service's app (Animus: never remembered, as a new
    /// token is the only renewal); `account_key` is the account's own API key for a service
    /// that wants one on its calls (TokenKit), kept in the keychain with the session.
    pub async fn sign_in_to(
        &self,
        kind: ConnectorKind,
        service: ServiceRef,
        user: &str,
        password: Secret,
        account_key: Option<Secret>,
        remember_password: bool,
    ) -> Result<Account> {
        let email = user.trim();
        let user_name_allowed =
            kind == ConnectorKind::Tokenkit || kind.signs_in_with_session_token();
        let remember_password = remember_password && !kind.signs_in_with_session_token();
        if email.is_empty()
            || email.chars().count() > MAX_EMAIL_CHARS
            || email.chars().any(char::is_control)
            || !(user_name_allowed || email.contains('@'))
        {
            return Err(Error::validation(
                if user_name_allowed { "user" } else { "email" },
                if kind.signs_in_with_session_token() {
                    "give the account a name (e.g. personal or work)"
                } else if user_name_allowed {
                    "enter the user name or email address you sign in with"
                } else {
                    "enter the email address you sign in with"
                },
            ));
        }
        if password.is_empty() {
            return Err(Error::validation("password", "is empty"));
        }
        let service = normalize_service(service)?;
        let connector = self.core.connector(&service, kind)?;
        let session = connector
            .login(Credentials {
                user: email,
                password: &password,
                account_key: account_key.as_ref(),
            })
            .await?;
        let profile = self.core.profile();
        let existing = self
            .core
            .read()
            .catalog
            .accounts
            .iter()
            .find(|a| a.service == service && a.email.eq_ignore_ascii_case(email))
            .cloned();
        let id = existing
            .as_ref()
            .map(|a| a.id.clone())
            .unwrap_or_else(new_account_id);
        let vault = &self.core.inner.vault;
        let stored = async {
            vault
                .put(&profile, &names::session(&id), &session.token)
                .await?;
            if let Some(key) = &account_key {
                vault.put(&profile, &names::account_key(&id), key).await?;
            }
            if remember_password {
                vault.put(&profile, &names::password(&id), &password).await
            } else {
                vault.delete(&profile, &names::password(&id)).await
            }
        }
        .await;
        if let Err(e) = stored {
            if connector.logout(&session.token).await.is_err() {
                tracing::debug!("could not end the session the keychain refused to keep");
            }
            return Err(e);
        }
        let account = Account {
            id: id.clone(),
            label: account_label(&service, email),
            service,
            email: email.to_string(),
            user_id: session.user.id.clone(),
            role: session.user.role,
            tenant_id: session.user.tenant_id.clone(),
            connector: kind,
            created_at: existing.map(|a| a.created_at).unwrap_or_else(Utc::now),
            remember_password,
            tier: None,
        };
        let saved = account.clone();
        self.core.update_catalog(move |catalog| {
            catalog.upsert(saved);
            catalog.active_account = Some(id);
            Ok(())
        })?;
        tracing::info!(account = %account.id, role = account.role.as_str(), "signed in");
        Ok(account)
    }

    /// Signs in again to an account (a new session), with its kind and the API key kept with it.
    pub async fn sign_in_again(
        &self,
        account_id: &str,
        password: Secret,
        remember_password: bool,
    ) -> Result<Account> {
        let account = self.core.accounts().get(account_id)?;
        let key = self
            .core
            .inner
            .vault
            .get(&self.core.profile(), &names::account_key(&account.id))
            .await?;
        self.core
            .accounts()
            .sign_in_to(
                account.connector,
                account.service,
                &account.email,
                password,
                key,
                remember_password,
            )
            .await
    }

    /// Ends the session on the service (best effort) and forgets the session token and any
    /// remembered password. The account stays in the profile, signed out.
    pub async fn sign_out(&self, account_id: &str) -> Result<()> {
        let account = self.core.accounts().get(account_id)?;
        let profile = self.core.profile();
        let vault = &self.core.inner.vault;
        if let Some(token) = vault.get(&profile, &names::session(&account.id)).await? {
            match self.core.connector_for(&account) {
                Ok(connector) => {
                    if let Err(e) = connector.logout(&token).await {
                        tracing::debug!(code = ?e.code(), "logout on the service failed; the local session is removed anyway");
                    }
                }
                Err(e) => tracing::debug!(code = ?e.code(), "service unreachable for logout"),
            }
        }
        vault.delete(&profile, &names::session(&account.id)).await?;
        vault
            .delete(&profile, &names::password(&account.id))
            .await?;
        tracing::info!(account = %account.id, "signed out");
        Ok(())
    }

    /// Removes an account from the profile, after its id is typed again: signs it out (best
    /// effort), deletes its session, remembered password and every key secret of it from the
    /// keychain, then the account itself. The keys on the service stay as they are. The keychain
    /// goes first: should it refuse, the account is still listed and the removal can be tried
    /// again.
    pub async fn remove(&self, account_id: &str, confirm: &str) -> Result<Account> {
        let account = self.core.accounts().get(account_id)?;
        if confirm.trim() != account.id {
            return Err(Error::validation(
                "confirm",
                format!("type the account's id ({}) to remove it", account.id),
            ));
        }
        self.core.accounts().sign_out(&account.id).await?;
        let profile = self.core.profile();
        let vault = self.core.inner.vault.clone();
        let (names_profile, names_vault) = (profile.clone(), vault.clone());
        let names =
            tokio::task::spawn_blocking(move || names_vault.entry_names_blocking(&names_profile))
                .await
                .map_err(|_| Error::TaskFailed {
                    during: "listing the keychain's entries",
                })??;
        let keys_of = format!("key:{}:", account.id);
        for name in names.iter().filter(|n| n.starts_with(&keys_of)) {
            vault.delete(&profile, name).await?;
        }
        vault
            .delete(&profile, &names::account_key(&account.id))
            .await?;
        self.core.local_key_store()?.remove_account(&account.id)?;
        self.core.update_catalog(|catalog| {
            catalog.accounts.retain(|a| a.id != account.id);
            if catalog.active_account.as_deref() == Some(account.id.as_str()) {
                catalog.active_account = catalog.accounts.first().map(|a| a.id.clone());
            }
            Ok(())
        })?;
        tracing::info!(account = %account.id, "account removed");
        Ok(account)
    }
}

impl Keys<'_> {
    /// The account's keys, with whether this machine holds each secret.
    pub async fn list(&self, account_id: &str) -> Result<Vec<KeyView>> {
        let account = self.core.accounts().get(account_id)?;
        if self.core.accounts().capabilities(&account.id)?.local_keys {
            return self.core.list_local_keys(&account).await;
        }
        let mut metas = self
            .core
            .with_session(account_id, |c, token| async move {
                c.list_keys(&token, None).await
            })
            .await?;
        self.core.annotate_replacements(account_id, &mut metas);
        self.core.fill_settings(account_id, &mut metas);
        let names = metas
            .iter()
            .map(|m| names::key(account_id, &m.id))
            .collect();
        let stored = self
            .core
            .inner
            .vault
            .contains_each(&self.core.profile(), names)
            .await?;
        Ok(metas
            .into_iter()
            .zip(stored)
            .map(|(meta, stored_locally)| KeyView {
                meta,
                stored_locally,
                check: None,
            })
            .collect())
    }

    /// Creates a key on the service and stores its secret in the keychain (read back and
    /// compared). If the keychain refuses, the key is still returned with its secret, marked
    /// not stored, so it is not lost.
    pub async fn create(
        &self,
        account_id: &str,
        request: CreateKeyRequest,
    ) -> Result<CreatedKeyView> {
        let caps = self.core.accounts().capabilities(account_id)?;
        if !caps.create_key {
            let info = crate::connector::kind_info(self.core.accounts().get(account_id)?.connector);
            return Err(Error::Forbidden {
                message: format!(
                    "Keyhaven cannot create {} keys: make it in {}, then import it",
                    info.label, info.key_page
                ),
            });
        }
        crate::validate::create_request_for(&request, Utc::now(), caps.key_scopes)?;
        let new = self
            .core
            .with_session(account_id, |c, token| {
                let request = request.clone();
                async move { c.create_key(&token, &request).await }
            })
            .await?;
        if let Err(e) = self
            .core
            .remember_settings(&self.core.accounts().get(account_id)?, &new.meta)
        {
            tracing::warn!(key_id = %new.meta.id, "the new key's settings were not kept: {e}");
        }
        let name = names::key(account_id, &new.meta.id);
        let (stored_in_keychain, keychain_error) = match self
            .core
            .inner
            .vault
            .put(&self.core.profile(), &name, &new.secret)
            .await
        {
            Ok(()) => (true, None),
            Err(e) => {
                tracing::warn!(key_id = %new.meta.id, code = ?e.code(), "the keychain did not store a new key: {e}");
                (false, Some(e))
            }
        };
        Ok(CreatedKeyView {
            meta: new.meta,
            secret: new.secret,
            stored_in_keychain,
            keychain_error,
        })
    }

    /// Revokes the key on the service, then deletes its local secret.
    pub async fn revoke(&self, account_id: &str, key_id: &str) -> Result<()> {
        let account = self.core.accounts().get(account_id)?;
        if self.core.accounts().capabilities(&account.id)?.local_keys {
            let info = crate::connector::kind_info(account.connector);
            return Err(Error::Forbidden {
                message: format!(
                    "Keyhaven cannot delete {} keys: delete it in {}, then remove it from \
                     Keyhaven",
                    info.label, info.key_page
                ),
            });
        }
        let id = key_id.to_string();
        self.core
            .with_session(account_id, |c, token| {
                let id = id.clone();
                async move { c.revoke_key(&token, &id).await }
            })
            .await?;
        self.core.forget_settings(account_id, key_id);
        self.core
            .inner
            .vault
            .delete(&self.core.profile(), &names::key(account_id, key_id))
            .await
    }

    /// The key's secret from the keychain; `NotFound` if this machine does not hold it. A key
    /// that was rotated leads to its replacement: whatever reads the old id gets the new secret.
    pub async fn secret(&self, account_id: &str, key_id: &str) -> Result<Secret> {
        let account = self.core.accounts().get(account_id)?;
        let chain = self.core.link_store()?.chain(&account.id, key_id)?;
        let profile = self.core.profile();
        for id in chain.iter().rev() {
            if let Some(secret) = self
                .core
                .inner
                .vault
                .get(&profile, &names::key(&account.id, id))
                .await?
            {
                return Ok(secret);
            }
        }
        Err(Error::not_found(format!(
            "a stored secret for key {key_id} on this computer"
        )))
    }

    /// The id of the key that `key_id` leads to after any rotations (`key_id` itself if none).
    pub fn current_id(&self, account_id: &str, key_id: &str) -> Result<String> {
        let chain = self.core.link_store()?.chain(account_id, key_id)?;
        Ok(chain.last().cloned().unwrap_or_else(|| key_id.to_string()))
    }

    /// Imports a key someone already holds the secret of: the secret is verified against the
    /// account's service first (one call with it), must belong to the account's tenant, and is
    /// then stored in the keychain under the key the service names (read back and compared).
    /// Nothing is stored for a secret the service refuses.
    pub async fn import(&self, account_id: &str, secret: Secret) -> Result<KeyMeta> {
        let account = self.core.accounts().get(account_id)?;
        if secret.expose().trim().is_empty() {
            return Err(Error::validation("secret", "is empty"));
        }
        if account.connector.signs_in_with_session_token() {
            return Err(Error::validation(
                "name",
                "its service does not say which key a secret is: name the key as the service \
                 lists it (`keys import --name NAME`)",
            ));
        }
        let answer = self
            .core
            .connector_for(&account)?
            .ping(&secret, &PingCall::default())
            .await?
            .value;
        if answer.tenant_id != account.tenant_id {
            return Err(Error::validation(
                "secret",
                format!(
                    "belongs to another tenant than account {}'s; import it into an account of that tenant",
                    account.id
                ),
            ));
        }
        let name = names::key(&account.id, &answer.key_id);
        let profile = self.core.profile();
        self.core.inner.vault.put(&profile, &name, &secret).await?;
        match self.core.inner.vault.get(&profile, &name).await? {
            Some(back) if back.constant_time_eq(&secret) => {}
            _ => return Err(Error::KeychainWrite),
        }
        tracing::info!(account = %account.id, key_id = %answer.key_id, "key imported");
        let key_id = answer.key_id;
        let mut meta = self
            .core
            .with_session(&account.id, |c, token| {
                let key_id = key_id.clone();
                async move { c.get_key(&token, &key_id, None).await }
            })
            .await?;
        self.core
            .annotate_replacements(&account.id, std::slice::from_mut(&mut meta));
        Ok(meta)
    }

    /// Uses the key's stored secret once against its service (`GET /v1/ping`).
    pub async fn ping(&self, account_id: &str, key_id: &str) -> Result<PingResponse> {
        let secret = self.core.keys().secret(account_id, key_id).await?;
        let account = self.core.accounts().get(account_id)?;
        let answer = self
            .core
            .connector_for(&account)?
            .ping(&secret, &PingCall::default())
            .await?;
        // A window longer than an hour is the tenant's daily one: its limit is the daily cap,
        // which the usage projections need and the service reports nowhere else.
        if let Some(window) = answer.ratelimit.filter(|w| w.reset > 3_600) {
            self.core.note_daily_cap(&account.id, window.limit);
        }
        Ok(answer.value)
    }
}

fn normalize_service(service: ServiceRef) -> Result<ServiceRef> {
    match service {
        ServiceRef::Url { url, allow_http } => {
            let checked = check_service_url_with(&url, HttpPolicy::from_override(allow_http))?;
            // The override is kept only where it is needed: https:// and this computer need none.
            let allow_http = allow_http && checked.scheme() == "http" && !is_loopback(&checked);
            Ok(ServiceRef::Url {
                url: checked.to_string(),
                allow_http,
            })
        }
        ServiceRef::Embedded => Ok(ServiceRef::Embedded),
    }
}

fn account_label(service: &ServiceRef, email: &str) -> String {
    match service {
        ServiceRef::Embedded => format!("{email} (this computer)"),
        ServiceRef::Url { url, .. } => match url::Url::parse(url) {
            Ok(u) => match (u.host_str(), u.port()) {
                (Some(host), Some(port)) => format!("{email} @ {host}:{port}"),
                (Some(host), None) => format!("{email} @ {host}"),
                _ => email.to_string(),
            },
            Err(_) => email.to_string(),
        },
    }
}

fn new_account_id() -> String {
    format!("acc_{:016x}", rand::random::<u64>())
}

/// Checks a create request before it is sent (the service checks again).
pub fn validate_create_request(request: &CreateKeyRequest) -> Result<()> {
    crate::validate::create_request(request, Utc::now())
}

/// Builds and checks a create request from what a person typed: trims text, parses
/// `expires_at` (RFC 3339), drops empty list entries and empty lists.
pub fn new_key_request(
    name: String,
    scopes: Vec<String>,
    expires_at: Option<&str>,
    allowed_origins: Option<Vec<String>>,
    allowed_ips: Option<Vec<String>>,
    rate_limit_per_hour: Option<u32>,
) -> Result<CreateKeyRequest> {
    let clean = |list: Option<Vec<String>>| -> Option<Vec<String>> {
        let items: Vec<String> = list
            .unwrap_or_default()
            .into_iter()
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect();
        (!items.is_empty()).then_some(items)
    };
    let expires_at = match expires_at.map(str::trim).filter(|s| !s.is_empty()) {
        None => None,
        Some(text) => Some(
            chrono::DateTime::parse_from_rfc3339(text)
                .map_err(|_| {
                    Error::validation(
                        "expires_at",
                        "is not a date and time like 2030-01-31T12:00:00Z",
                    )
                })?
                .with_timezone(&Utc),
        ),
    };
    let mut scopes: Vec<String> = scopes
        .into_iter()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect();
    scopes.dedup();
    let request = CreateKeyRequest {
        name: name.trim().to_string(),
        scopes,
        expires_at,
        allowed_origins: clean(allowed_origins),
        allowed_ips: clean(allowed_ips),
        rate_limit_per_hour,
        domain: None,
    };
    validate_create_request(&request)?;
    Ok(request)
}

/// Writes an empty catalog for `profile` unless one exists, holding the catalog's lock between
/// processes: twelve commands started at once on a fresh data folder all find the profile
/// missing, and a late one must not write an empty catalog over the accounts the others added.
pub(crate) fn create_profile_if_missing(store: &CatalogStore, profile: &str) -> Result<()> {
    let _other_processes = crate::file_lock::FileLock::exclusive(
        &crate::file_lock::lock_path_for(&store.catalog_path(profile)?),
    )?;
    if !store.profile_exists(profile)? {
        store.save_profile(profile, &ProfileCatalog::default())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(dir: &Path) -> CoreConfig {
        CoreConfig {
            data_dir: dir.to_path_buf(),
            keychain_namespace: "dev.keyhaven.test".into(),
            vault: VaultChoice::InMemory,
        }
    }

    #[test]
    fn a_profile_made_by_another_process_meanwhile_is_not_written_over() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = CatalogStore::new(dir.path());
        // Another process holds the catalog's lock on a fresh data folder and adds an account.
        let held = crate::file_lock::FileLock::exclusive(&crate::file_lock::lock_path_for(
            &store.catalog_path("ann").expect("path"),
        ))
        .expect("lock");
        let (done, finished) = std::sync::mpsc::channel();
        let creating = {
            let store = CatalogStore::new(dir.path());
            std::thread::spawn(move || {
                let result = create_profile_if_missing(&store, "ann");
                let _ = done.send(());
                result
            })
        };
        assert!(
            finished
                .recv_timeout(std::time::Duration::from_millis(200))
                .is_err(),
            "the profile was created while another process held the catalog"
        );
        let mut catalog = ProfileCatalog::default();
        catalog.upsert(crate::catalog::tests::account("acc_other"));
        store.save_profile("ann", &catalog).expect("save");
        drop(held);
        creating.join().expect("thread").expect("create");
        let kept = store.load_profile("ann").expect("load");
        assert_eq!(
            kept.accounts.len(),
            1,
            "the other process's account was lost"
        );
    }

    #[tokio::test]
    async fn open_creates_the_default_profile_and_remembers_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let core = Keyhaven::open(config(dir.path())).await.expect("open");
        let profile = core.profile();
        assert!(validate_profile_name(&profile).is_ok());
        assert!(core.accounts().list().is_empty());
        assert!(core.accounts().active().is_none());
        assert!(dir
            .path()
            .join("profiles")
            .join(&profile)
            .join("catalog.json")
            .is_file());
        let state: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(dir.path().join("state.json")).expect("state"),
        )
        .expect("json");
        assert_eq!(state["active_profile"], profile.as_str());

        core.profiles().switch("work").expect("switch");
        assert_eq!(core.profile(), "work");
        let again = Keyhaven::open(config(dir.path())).await.expect("reopen");
        assert_eq!(again.profile(), "work");
        let listed = again.profiles().list().expect("profiles");
        assert_eq!(listed.len(), 2);
        assert!(listed.iter().any(|p| p.name == "work" && p.active));
        let other = Keyhaven::open_profile(config(dir.path()), &profile)
            .await
            .expect("other");
        assert_eq!(other.profile(), profile);
        assert!(matches!(
            Keyhaven::open_profile(config(dir.path()), "nobody").await,
            Err(Error::NotFound { .. })
        ));
        assert!(matches!(
            core.accounts().set_active("acc_missing"),
            Err(Error::NotFound { .. })
        ));
        assert!(matches!(
            core.keys().secret("acc_missing", "k").await,
            Err(Error::NotFound { .. })
        ));
    }

    /// The app keeps the core in shared state and awaits it from async commands on any thread.
    #[tokio::test]
    async fn the_core_and_its_futures_can_cross_threads() {
        fn send_sync<T: Send + Sync>(_: &T) {}
        fn send<T: Send>(_: &T) {}
        let dir = tempfile::tempdir().expect("tempdir");
        let core = Keyhaven::open(config(dir.path())).await.expect("open");
        send_sync(&core);
        send(&core.accounts().sign_in(
            ServiceRef::Embedded,
            "a@b.c",
            Secret::new("p".into()),
            false,
        ));
        send(&core.accounts().sign_out("a"));
        send(&core.keys().list("a"));
        send(&core.keys().create("a", CreateKeyRequest::default()));
        send(&core.keys().revoke("a", "k"));
        send(&core.keys().secret("a", "k"));
        send(&core.keys().ping("a", "k"));
        send(&Keyhaven::open(config(dir.path())));
    }

    #[tokio::test]
    async fn embedded_accounts_need_the_embedded_url() {
        let dir = tempfile::tempdir().expect("tempdir");
        let core = Keyhaven::open(config(dir.path())).await.expect("open");
        let err = core
            .accounts()
            .sign_in(
                ServiceRef::Embedded,
                "ann@example.com",
                Secret::new("pw".into()),
                false,
            )
            .await
            .expect_err("no url");
        assert!(matches!(err, Error::EmbeddedServiceNotRunning), "{err:?}");
        let err = core
            .accounts()
            .sign_in(
                ServiceRef::Url {
                    url: "http://keys.example.com".into(),
                    allow_http: false,
                },
                "ann@example.com",
                Secret::new("pw".into()),
                false,
            )
            .await
            .expect_err("insecure");
        assert!(matches!(err, Error::InsecureUrl { .. }), "{err:?}");
        let err = core
            .accounts()
            .sign_in(
                ServiceRef::Embedded,
                "not-an-email",
                Secret::new("pw".into()),
                false,
            )
            .await
            .expect_err("email");
        assert!(matches!(err, Error::Validation { .. }), "{err:?}");
    }

    #[test]
    fn key_requests_are_checked() {
        let ok = new_key_request(
            " ci deploy ".into(),
            vec!["read".into(), " write ".into(), String::new()],
            Some("2099-01-01T00:00:00Z"),
            Some(vec!["https://app.example.com".into(), " ".into()]),
            Some(vec![]),
            Some(100),
        )
        .expect("valid");
        assert_eq!(ok.name, "ci deploy");
        assert_eq!(ok.scopes, vec!["read", "write"]);
        assert!(ok.expires_at.is_some());
        assert_eq!(
            ok.allowed_origins,
            Some(vec!["https://app.example.com".to_string()])
        );
        assert_eq!(ok.allowed_ips, None);

        // The field refused, without a list entry's index (`scopes[0]`).
        let field = |r: Result<CreateKeyRequest>| match r {
            Err(Error::Validation { field, .. }) => {
                field.split('[').next().unwrap_or_default().to_owned()
            }
            other => panic!("expected a validation error, got {other:?}"),
        };
        let base = || ("k".to_string(), vec!["read".to_string()]);
        assert_eq!(
            field(new_key_request(
                " ".into(),
                base().1,
                None,
                None,
                None,
                None
            )),
            "name"
        );
        assert_eq!(
            field(new_key_request(
                "x".repeat(101),
                base().1,
                None,
                None,
                None,
                None
            )),
            "name"
        );
        // No scopes: for the service to say (TokenKit's keys have none; Keyhaven's need one).
        let unscoped = new_key_request(base().0, vec![], None, None, None, None).expect("valid");
        let now = Utc::now();
        assert!(crate::validate::create_request_for(&unscoped, now, false).is_ok());
        assert_eq!(
            field(
                crate::validate::create_request_for(&unscoped, now, true)
                    .map(|()| unscoped.clone())
            ),
            "scopes"
        );
        let scoped = new_key_request(base().0, base().1, None, None, None, None).expect("valid");
        assert_eq!(
            field(
                crate::validate::create_request_for(&scoped, now, false).map(|()| scoped.clone())
            ),
            "scopes"
        );
        assert_eq!(
            field(new_key_request(
                base().0,
                vec!["Read!".into()],
                None,
                None,
                None,
                None
            )),
            "scopes"
        );
        assert_eq!(
            field(new_key_request(
                base().0,
                base().1,
                Some("tomorrow"),
                None,
                None,
                None
            )),
            "expires_at"
        );
        assert_eq!(
            field(new_key_request(
                base().0,
                base().1,
                Some("2001-01-01T00:00:00Z"),
                None,
                None,
                None
            )),
            "expires_at"
        );
        assert_eq!(
            field(new_key_request(
                base().0,
                base().1,
                None,
                Some(vec!["example.com".into()]),
                None,
                None
            )),
            "allowed_origins"
        );
        assert_eq!(
            field(new_key_request(
                base().0,
                base().1,
                None,
                None,
                Some(vec!["10.0.0.0/33".into()]),
                None
            )),
            "allowed_ips"
        );
        assert_eq!(
            field(new_key_request(
                base().0,
                base().1,
                None,
                None,
                None,
                Some(0)
            )),
            "rate_limit_per_hour"
        );
        assert!(new_key_request(
            base().0,
            base().1,
            None,
            None,
            Some(vec!["10.0.0.0/8".into(), "::1".into(), "fd00::/64".into()]),
            None
        )
        .is_ok());
    }

    #[test]
    fn labels_name_the_host() {
        let url = ServiceRef::Url {
            url: "https://keys.example.com/".into(),
            allow_http: false,
        };
        assert_eq!(account_label(&url, "a@b.c"), "a@b.c @ keys.example.com");
        let url = ServiceRef::Url {
            url: "http://127.0.0.1:8080/".into(),
            allow_http: false,
        };
        assert_eq!(account_label(&url, "a@b.c"), "a@b.c @ 127.0.0.1:8080");
        assert_eq!(
            account_label(&ServiceRef::Embedded, "a@b.c"),
            "a@b.c (this computer)"
        );
    }
}
