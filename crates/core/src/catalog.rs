//! Non-secret data: which profile is active, and each profile's accounts. JSON files under the
//! data folder, written atomically (temporary file in the same folder, fsync, rename). Never a
//! secret: sessions, passwords and keys live in the [vault](crate::vault).
//!
//! ```text
//! {data_dir}/state.json                         {"active_profile": "ann"}
//! {data_dir}/profiles/{profile}/catalog.json    {"accounts": [...], "active_account": "acc_…"}
//! ```

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use keyhaven_api::Role;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::error::{Error, Result};

/// Longest profile name, in characters.
pub const MAX_PROFILE_CHARS: usize = 32;
/// The profile used when the OS user name gives nothing usable.
pub const FALLBACK_PROFILE: &str = "default";

/// Where an account's key service is.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, TS)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ServiceRef {
    /// A key service at a fixed URL.
    Url {
        url: String,
        /// The person allowed plain `http://` to a host other than this computer for this
        /// account (SECURITY 18). Absent in catalogs written before the override existed.
        #[serde(default)]
        allow_http: bool,
    },
    /// The key service running inside the desktop app; its URL changes at each launch and the
    /// app tells the core (`Keyhaven::set_embedded_url`).
    Embedded,
}

impl ServiceRef {
    /// A service at `url`, under the URL rule (no override).
    pub fn url(url: impl Into<String>) -> ServiceRef {
        ServiceRef::Url {
            url: url.into(),
            allow_http: false,
        }
    }
}

/// Which connector speaks to an account's service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum ConnectorKind {
    /// The Keyhaven service API.
    Native,
    /// TokenKit (`docs/connectors.md`): sign-in with a user name or email and password, plus an
    /// API key of the account's for the calls that change keys.
    Tokenkit,
    /// Animus: the session token (JWT) of a signed-in session, pasted; keys listed, renamed,
    /// rescoped and revoked with it, made in the Animus app and imported.
    Animus,
    /// AniKura: keys made in its dashboard, imported, checked with one GraphQL call.
    Anikura,
    /// Ananke Labs: keys made in its Console, imported; a 401 (broken key) told apart from a 403
    /// (quota or suspension).
    Ananke,
    /// WaniKani: personal access tokens made in its web settings, imported.
    Wanikani,
    /// Keys of any other service: imported with the header they are sent in.
    Generic,
}

impl ConnectorKind {
    /// Every kind, in the order the UI offers them.
    pub const ALL: [ConnectorKind; 7] = [
        ConnectorKind::Native,
        ConnectorKind::Tokenkit,
        ConnectorKind::Animus,
        ConnectorKind::Anikura,
        ConnectorKind::Ananke,
        ConnectorKind::Wanikani,
        ConnectorKind::Generic,
    ];

    /// The name the CLI takes (`--kind`); Keyhaven's own service is `keyhaven`.
    pub fn cli_name(self) -> &'static str {
        match self {
            ConnectorKind::Native => "keyhaven",
            ConnectorKind::Tokenkit => "tokenkit",
            ConnectorKind::Animus => "animus",
            ConnectorKind::Anikura => "anikura",
            ConnectorKind::Ananke => "ananke",
            ConnectorKind::Wanikani => "wanikani",
            ConnectorKind::Generic => "generic",
        }
    }

    /// The kind a CLI name (or the serialised name, `native`) stands for.
    pub fn parse(text: &str) -> Result<ConnectorKind> {
        let text = text.trim();
        ConnectorKind::ALL
            .into_iter()
            .find(|k| k.cli_name() == text)
            .or((text == "native").then_some(ConnectorKind::Native))
            .ok_or_else(|| {
                Error::validation(
                    "kind",
                    format!(
                        "must be one of {}",
                        ConnectorKind::ALL.map(|k| k.cli_name()).join(", ")
                    ),
                )
            })
    }

    /// Whether accounts of this kind sign in (else they are added, and their keys imported).
    pub fn signs_in(self) -> bool {
        matches!(
            self,
            ConnectorKind::Native | ConnectorKind::Tokenkit | ConnectorKind::Animus
        )
    }

    /// Whether signing in takes a session token copied from the service's own app (Animus)
    /// instead of a password: the account is named by the person, and a refused token is
    /// replaced by signing in again, never renewed.
    pub fn signs_in_with_session_token(self) -> bool {
        self == ConnectorKind::Animus
    }
}

/// An AniKura account's plan, which sets its daily cap and how often a key may call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum Tier {
    /// 2,000 requests a day, one every 2 seconds.
    #[default]
    Free,
    /// Unlimited a day, one a second.
    Indie,
    /// Unlimited a day, one a second.
    Commercial,
}

impl Tier {
    pub fn daily_cap(self) -> Option<u32> {
        match self {
            Tier::Free => Some(2_000),
            Tier::Indie | Tier::Commercial => None,
        }
    }

    pub fn parse(text: &str) -> Result<Tier> {
        match text.trim() {
            "free" => Ok(Tier::Free),
            "indie" => Ok(Tier::Indie),
            "commercial" => Ok(Tier::Commercial),
            _ => Err(Error::validation(
                "tier",
                "must be free, indie or commercial",
            )),
        }
    }
}

/// A login on one key service. Holds no secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct Account {
    pub id: String,
    /// What the person sees, e.g. `ann@example.com @ keys.example.com`.
    pub label: String,
    pub service: ServiceRef,
    pub email: String,
    pub user_id: String,
    pub role: Role,
    pub tenant_id: String,
    pub connector: ConnectorKind,
    #[ts(type = "string")]
    pub created_at: DateTime<Utc>,
    /// Whether the keychain holds this account's password, so that an expired session is renewed
    /// without asking.
    #[serde(default)]
    pub remember_password: bool,
    /// An AniKura account's plan (the person says which; the API does not tell).
    #[ts(optional)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tier: Option<Tier>,
}

/// `state.json`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    pub active_profile: Option<String>,
}

/// `profiles/{profile}/catalog.json`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProfileCatalog {
    #[serde(default)]
    pub accounts: Vec<Account>,
    #[serde(default)]
    pub active_account: Option<String>,
}

impl ProfileCatalog {
    pub fn account(&self, id: &str) -> Option<&Account> {
        self.accounts.iter().find(|a| a.id == id)
    }

    pub fn active(&self) -> Option<&Account> {
        self.active_account
            .as_deref()
            .and_then(|id| self.account(id))
    }

    /// Adds the account, or replaces the one with the same id.
    pub fn upsert(&mut self, account: Account) {
        match self.accounts.iter_mut().find(|a| a.id == account.id) {
            Some(existing) => *existing = account,
            None => self.accounts.push(account),
        }
    }
}

/// The catalog files under one data folder.
#[derive(Debug, Clone)]
pub struct CatalogStore {
    data_dir: PathBuf,
}

impl CatalogStore {
    pub fn new(data_dir: impl Into<PathBuf>) -> CatalogStore {
        CatalogStore {
            data_dir: data_dir.into(),
        }
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    pub fn state_path(&self) -> PathBuf {
        self.data_dir.join("state.json")
    }

    pub fn profile_dir(&self, profile: &str) -> Result<PathBuf> {
        validate_profile_name(profile)?;
        Ok(self.data_dir.join("profiles").join(profile))
    }

    pub fn catalog_path(&self, profile: &str) -> Result<PathBuf> {
        Ok(self.profile_dir(profile)?.join("catalog.json"))
    }

    pub fn load_state(&self) -> Result<State> {
        Ok(read_json(&self.state_path())?.unwrap_or_default())
    }

    pub fn save_state(&self, state: &State) -> Result<()> {
        write_json_atomic(&self.state_path(), state)
    }

    pub fn profile_exists(&self, profile: &str) -> Result<bool> {
        Ok(self.catalog_path(profile)?.is_file())
    }

    /// The profile's catalog; empty if the profile has none yet.
    pub fn load_profile(&self, profile: &str) -> Result<ProfileCatalog> {
        Ok(read_json(&self.catalog_path(profile)?)?.unwrap_or_default())
    }

    pub fn save_profile(&self, profile: &str, catalog: &ProfileCatalog) -> Result<()> {
        write_json_atomic(&self.catalog_path(profile)?, catalog)
    }

    /// Profiles that have a catalog, sorted by name.
    pub fn profiles(&self) -> Result<Vec<String>> {
        let dir = self.data_dir.join("profiles");
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => {
                return Err(Error::Catalog {
                    action: "read",
                    path: dir,
                    source,
                })
            }
        };
        let mut names = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|source| Error::Catalog {
                action: "read",
                path: dir.clone(),
                source,
            })?;
            if let Some(name) = entry.file_name().to_str() {
                if validate_profile_name(name).is_ok()
                    && entry.path().join("catalog.json").is_file()
                {
                    names.push(name.to_string());
                }
            }
        }
        names.sort();
        Ok(names)
    }
}

/// A profile name: 1 to 32 characters of `[a-z0-9_-]`, starting with a letter or digit.
pub fn validate_profile_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= MAX_PROFILE_CHARS
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
        && name.as_bytes()[0].is_ascii_alphanumeric();
    if ok {
        Ok(())
    } else {
        Err(Error::validation(
            "profile name",
            format!(
                "use 1 to {MAX_PROFILE_CHARS} lowercase letters, digits, '_' or '-', starting with a letter or digit"
            ),
        ))
    }
}

/// Turns any text (an OS user name) into a valid profile name, or `None` if nothing is left.
pub fn sanitize_profile_name(raw: &str) -> Option<String> {
    let mapped: String = raw
        .trim()
        .chars()
        .filter_map(|c| {
            let c = c.to_ascii_lowercase();
            match c {
                'a'..='z' | '0'..='9' | '_' | '-' => Some(c),
                ' ' | '.' => Some('-'),
                _ => None,
            }
        })
        .collect();
    let trimmed = mapped.trim_start_matches(['_', '-']);
    let name: String = trimmed.chars().take(MAX_PROFILE_CHARS).collect();
    validate_profile_name(&name).ok().map(|()| name)
}

/// The default profile: the user's name as `USER` (else `USERNAME`) gives it, else as the OS
/// account says (getpwuid on Unix), sanitised; `default` only when none of them makes a name.
pub fn default_profile_name() -> String {
    profile_name_from(
        ["USER", "USERNAME"]
            .iter()
            .filter_map(|var| std::env::var(var).ok()),
        whoami::fallible::username().ok(),
    )
}

fn profile_name_from(env: impl IntoIterator<Item = String>, os_account: Option<String>) -> String {
    env.into_iter()
        .chain(os_account)
        .find_map(|raw| sanitize_profile_name(&raw))
        .unwrap_or_else(|| FALLBACK_PROFILE.to_string())
}

/// Reads a JSON file; `None` if it does not exist.
pub(crate) fn read_json<T: DeserializeOwned>(path: &Path) -> Result<Option<T>> {
    let text = match fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(Error::Catalog {
                action: "read",
                path: path.to_path_buf(),
                source,
            })
        }
    };
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| Error::CatalogCorrupt {
            path: path.to_path_buf(),
            problem: e.to_string(),
        })
}

/// Writes `value` as JSON to `path` so that a reader sees the old file or the new one, never a
/// part: a temporary file in the same folder, flushed to disk, renamed over the old one, and the
/// folder synced.
pub fn write_json_atomic<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let io_err = |action: &'static str, path: &Path| {
        let path = path.to_path_buf();
        move |source| Error::Catalog {
            action,
            path,
            source,
        }
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    create_private_dir(dir)?;
    let mut json = serde_json::to_vec_pretty(value).map_err(|e| Error::CatalogCorrupt {
        path: path.to_path_buf(),
        problem: e.to_string(),
    })?;
    json.push(b'\n');
    let mut tmp = tempfile::Builder::new()
        .prefix(".tmp-")
        .suffix(".json")
        .tempfile_in(dir)
        .map_err(io_err("create a file in", dir))?;
    tmp.write_all(&json).map_err(io_err("write", tmp.path()))?;
    tmp.as_file()
        .sync_all()
        .map_err(io_err("flush", tmp.path()))?;
    tmp.persist(path).map_err(|e| Error::Catalog {
        action: "replace",
        path: path.to_path_buf(),
        source: e.error,
    })?;
    sync_dir(dir)?;
    Ok(())
}

/// Creates `dir` and its parents; new folders are private to the user on Unix.
pub(crate) fn create_private_dir(dir: &Path) -> Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir).map_err(|source| Error::Catalog {
        action: "create the folder",
        path: dir.to_path_buf(),
        source,
    })
}

#[cfg(unix)]
fn sync_dir(dir: &Path) -> Result<()> {
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|source| Error::Catalog {
            action: "flush the folder",
            path: dir.to_path_buf(),
            source,
        })
}

#[cfg(not(unix))]
fn sync_dir(_dir: &Path) -> Result<()> {
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn account(id: &str) -> Account {
        Account {
            id: id.to_string(),
            label: "ann@example.com @ 127.0.0.1".to_string(),
            service: ServiceRef::Url {
                url: "http://127.0.0.1:8080".to_string(),
                allow_http: false,
            },
            email: "ann@example.com".to_string(),
            user_id: "usr_1".to_string(),
            role: Role::Owner,
            tenant_id: "ten_1".to_string(),
            connector: ConnectorKind::Native,
            created_at: Utc::now(),
            remember_password: false,
            tier: None,
        }
    }

    #[test]
    fn catalog_round_trips_atomically() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = CatalogStore::new(dir.path().join("data"));
        assert_eq!(
            store.load_profile("ann").expect("empty"),
            ProfileCatalog::default()
        );
        assert!(!store.profile_exists("ann").expect("exists"));

        let mut catalog = ProfileCatalog::default();
        catalog.upsert(account("acc_1"));
        catalog.active_account = Some("acc_1".to_string());
        store.save_profile("ann", &catalog).expect("save");
        store
            .save_state(&State {
                active_profile: Some("ann".into()),
            })
            .expect("state");

        let reloaded = CatalogStore::new(dir.path().join("data"));
        assert_eq!(reloaded.load_profile("ann").expect("load"), catalog);
        assert_eq!(
            reloaded
                .load_state()
                .expect("state")
                .active_profile
                .as_deref(),
            Some("ann")
        );
        assert_eq!(
            reloaded.profiles().expect("profiles"),
            vec!["ann".to_string()]
        );
        assert_eq!(
            reloaded
                .load_profile("ann")
                .expect("load")
                .active()
                .map(|a| &a.id[..]),
            Some("acc_1")
        );

        // Replacing leaves exactly the one file: no temporary files behind.
        catalog.upsert(Account {
            label: "renamed".into(),
            ..account("acc_1")
        });
        store.save_profile("ann", &catalog).expect("save again");
        let files: Vec<_> = fs::read_dir(store.profile_dir("ann").expect("dir"))
            .expect("read dir")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(files, vec![std::ffi::OsString::from("catalog.json")]);
        let loaded = store.load_profile("ann").expect("load");
        assert_eq!(loaded.accounts.len(), 1);
        assert_eq!(loaded.accounts[0].label, "renamed");
    }

    #[test]
    fn catalog_json_has_the_documented_shape() {
        let mut catalog = ProfileCatalog::default();
        catalog.upsert(account("acc_1"));
        let mut embedded = account("acc_2");
        embedded.service = ServiceRef::Embedded;
        catalog.upsert(embedded);
        let v = serde_json::to_value(&catalog).expect("json");
        assert_eq!(v["accounts"][0]["service"]["kind"], "url");
        assert_eq!(v["accounts"][0]["service"]["url"], "http://127.0.0.1:8080");
        assert_eq!(
            v["accounts"][1]["service"],
            serde_json::json!({"kind": "embedded"})
        );
        assert_eq!(v["accounts"][0]["connector"], "native");
        assert_eq!(v["accounts"][0]["role"], "owner");
        assert!(v["active_account"].is_null());
    }

    #[test]
    fn a_damaged_file_is_reported_and_left_alone() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = CatalogStore::new(dir.path());
        let path = store.catalog_path("ann").expect("path");
        fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        fs::write(&path, "{not json").expect("write");
        let err = store.load_profile("ann").expect_err("damaged");
        assert!(matches!(err, Error::CatalogCorrupt { .. }), "{err:?}");
        assert_eq!(fs::read_to_string(&path).expect("still there"), "{not json");
    }

    #[test]
    fn profile_names_are_validated() {
        for good in ["ann", "a", "bob-2", "x_y", "0abc", &"a".repeat(32)] {
            assert!(validate_profile_name(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "Ann",
            "../etc",
            "a/b",
            "-x",
            "_x",
            "a b",
            "é",
            ".",
            &"a".repeat(33),
        ] {
            let err = validate_profile_name(bad).expect_err(bad);
            assert!(matches!(err, Error::Validation { .. }), "{bad}");
        }
        let store = CatalogStore::new("/tmp/x");
        assert!(store.catalog_path("../../etc").is_err());
    }

    #[test]
    fn os_user_names_are_sanitised() {
        assert_eq!(sanitize_profile_name("Ann").as_deref(), Some("ann"));
        assert_eq!(
            sanitize_profile_name("John Smith").as_deref(),
            Some("john-smith")
        );
        assert_eq!(
            sanitize_profile_name("DOMAIN\\Jo.Ng").as_deref(),
            Some("domainjo-ng")
        );
        assert_eq!(sanitize_profile_name("_svc").as_deref(), Some("svc"));
        assert_eq!(sanitize_profile_name("ééé"), None);
        assert_eq!(sanitize_profile_name(""), None);
        let long = sanitize_profile_name(&"b".repeat(80)).expect("long");
        assert_eq!(long.len(), MAX_PROFILE_CHARS);
    }

    #[test]
    fn the_first_profile_is_named_after_the_user_before_falling_back() {
        let env = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let os = Some("Os.Account".to_string());
        assert_eq!(profile_name_from(env(&["ann"]), os.clone()), "ann");
        // USER unset (or unusable): the OS account's name.
        assert_eq!(profile_name_from(env(&[]), os.clone()), "os-account");
        assert_eq!(profile_name_from(env(&["ééé"]), os), "os-account");
        assert_eq!(profile_name_from(env(&[]), None), FALLBACK_PROFILE);
        // This machine's own account is found without any variable.
        let here = whoami::fallible::username().expect("the OS names this process's user");
        assert_eq!(
            profile_name_from(env(&[]), Some(here.clone())),
            sanitize_profile_name(&here).expect("a usable name")
        );
    }
}
