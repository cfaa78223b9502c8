//! Profiles and their passphrase lock against the real Secret Service (gnome-keyring), the real
//! key service on loopback, and `secret-tool` reading the keychain as any other program would.
//! Run in the sandbox (`scripts/test --exec cargo nextest run -p keyhaven-core`) or with
//! `crates/core/with-secret-service.sh`.
//!
//! Every test uses its own keychain namespace under `dev.keyhaven.test` and removes what it
//! stored. Secret values read from the keychain are never printed, not even in a failed assertion.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use keyhaven_api::Role;
use keyhaven_core::vault::{names, KdfParams, ManualClock, Migration, DEFAULT_AUTO_LOCK};
use keyhaven_core::{
    CoreConfig, Error, ErrorKind, Keyhaven, OpenOptions, ProfileMeta, Secret, Vault, VaultChoice,
};

mod common;

use common::{files_containing, files_under, key_request, unique, HOW_TO_RUN, PASSWORD};

const PASSPHRASE: &str = "a long passphrase for ann";

struct Env {
    data: tempfile::TempDir,
    namespace: String,
    clock: ManualClock,
}

impl Env {
    fn new() -> Env {
        let namespace = unique("dev.keyhaven.test");
        // Fails (not skips) with how to run when the keychain is missing.
        common::real_keychain(&namespace);
        Env {
            data: tempfile::tempdir().expect("tempdir"),
            namespace,
            clock: ManualClock::new(),
        }
    }

    fn config(&self, vault: VaultChoice) -> CoreConfig {
        CoreConfig {
            data_dir: self.data.path().to_path_buf(),
            keychain_namespace: self.namespace.clone(),
            vault,
        }
    }

    fn options(&self, profile: Option<&str>) -> OpenOptions {
        OpenOptions {
            profile: profile.map(str::to_string),
            kdf: KdfParams::INSECURE_FOR_TESTS,
            clock: Arc::new(self.clock.clone()),
        }
    }

    /// A core on the real keychain, on the active profile.
    async fn core(&self) -> Keyhaven {
        Keyhaven::open_with(self.config(VaultChoice::SecretService), self.options(None))
            .await
            .expect("core opens")
    }

    /// A second process's view of `profile`.
    async fn core_on(&self, profile: &str) -> Keyhaven {
        Keyhaven::open_with(
            self.config(VaultChoice::SecretService),
            self.options(Some(profile)),
        )
        .await
        .expect("core opens the profile")
    }

    fn service(&self, profile: &str) -> String {
        format!("{}/{profile}", self.namespace)
    }

    /// The entry names `secret-tool` finds for `profile`.
    fn keychain_names(&self, profile: &str) -> Vec<String> {
        let out = secret_tool(&["search", "--all", "service", &self.service(profile)]);
        let mut names: Vec<String> = out
            .lines()
            .filter_map(|l| l.strip_prefix("attribute.username = "))
            .map(str::to_string)
            .collect();
        names.sort();
        names
    }

    /// The value as stored in the keychain, read by `secret-tool`.
    fn raw(&self, profile: &str, name: &str) -> Option<Secret> {
        let out = Command::new("secret-tool")
            .args([
                "lookup",
                "service",
                &self.service(profile),
                "username",
                name,
            ])
            .output()
            .unwrap_or_else(|e| panic!("secret-tool did not run ({e}).\n{HOW_TO_RUN}"));
        out.status
            .success()
            .then(|| Secret::new(String::from_utf8(out.stdout).expect("utf-8")))
    }

    /// Stores `value` as it is with `secret-tool`, as another program could.
    fn store_raw(&self, profile: &str, name: &str, value: &Secret) {
        use std::io::Write;
        let mut child = Command::new("secret-tool")
            .args([
                "store",
                "--label=test",
                "service",
                &self.service(profile),
                "username",
                name,
            ])
            .stdin(std::process::Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("secret-tool did not run ({e}).\n{HOW_TO_RUN}"));
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(value.expose().as_bytes())
            .expect("write");
        assert!(child.wait().expect("wait").success(), "secret-tool store");
    }

    fn meta(&self, profile: &str) -> ProfileMeta {
        let path = self
            .data
            .path()
            .join("profiles")
            .join(profile)
            .join("profile.json");
        match std::fs::read_to_string(path) {
            Ok(text) => serde_json::from_str(&text).expect("profile.json"),
            Err(_) => ProfileMeta::default(),
        }
    }

    /// Removes whatever a test left in the keychain.
    fn cleanup(&self, profiles: &[&str]) {
        let vault = Vault::secret_service(&self.namespace).expect("keychain");
        for profile in profiles {
            for name in self.keychain_names(profile) {
                let _ = vault.delete_blocking(profile, &name);
            }
        }
    }
}

/// What `secret-tool` prints (it writes attributes to standard error). Never printed by the
/// tests: `search` shows the secrets.
fn secret_tool(args: &[&str]) -> String {
    let out = Command::new("secret-tool")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("secret-tool did not run ({e}).\n{HOW_TO_RUN}"));
    let mut text = String::from_utf8(out.stdout).expect("utf-8");
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    text
}

/// Asserts that no file under `dir` holds `secret` (without printing it).
fn assert_no_file_holds(dir: &Path, secret: &Secret, what: &str) {
    let holding = files_containing(dir, secret.expose());
    assert!(holding.is_empty(), "{holding:?} hold {what}");
}

/// The real key service on loopback, with an owner account in tenant Acme for each address.
async fn service_with(users: &[&str]) -> common::Svc {
    let svc = common::Svc::start(|_| {}).await;
    for email in users {
        svc.user(email, Role::Owner, "Acme").await;
    }
    svc
}

#[tokio::test]
async fn profiles_are_isolated_in_the_keychain() {
    let env = Env::new();
    let svc = service_with(&["ann@example.com", "bob@example.com"]).await;
    let core = env.core().await;
    core.profiles().create("ann").await.expect("create ann");
    core.profiles().create("bob").await.expect("create bob");

    // Ann signs in and creates a key in her profile.
    core.profiles().switch("ann").expect("switch to ann");
    let ann = core
        .accounts()
        .sign_in(
            svc.service_ref(),
            "ann@example.com",
            Secret::new(PASSWORD.into()),
            true,
        )
        .await
        .expect("ann signs in");
    let created = core
        .keys()
        .create(&ann.id, key_request("ann's key"))
        .await
        .expect("create key");
    assert!(created.stored_in_keychain);
    let anns_secret = created.secret.clone();

    // Bob's profile sees none of it: no account, no secret, not even by name.
    core.profiles().switch("bob").expect("switch to bob");
    assert_eq!(core.profile(), "bob");
    assert!(core.accounts().list().is_empty());
    assert!(core.accounts().active().is_none());
    let err = core
        .keys()
        .secret(&ann.id, &created.meta.id)
        .await
        .expect_err("not bob's");
    assert_eq!(err.code(), ErrorKind::NotFound);
    assert!(!err.to_string().contains(anns_secret.expose()));
    for name in [
        names::session(&ann.id),
        names::password(&ann.id),
        names::key(&ann.id, &created.meta.id),
    ] {
        assert_eq!(core.vault().get("bob", &name).await.expect("get"), None);
    }
    // In the keychain, as any program sees it: Ann's entries under her service only.
    let anns = env.keychain_names("ann");
    assert_eq!(
        anns,
        vec![
            names::key(&ann.id, &created.meta.id),
            names::password(&ann.id),
            names::session(&ann.id),
        ]
    );
    assert!(env.keychain_names("bob").is_empty());

    // Bob signs in to his own account: his entries are his.
    let bob = core
        .accounts()
        .sign_in(
            svc.service_ref(),
            "bob@example.com",
            Secret::new(PASSWORD.into()),
            false,
        )
        .await
        .expect("bob signs in");
    assert_eq!(env.keychain_names("bob"), vec![names::session(&bob.id)]);
    assert_eq!(env.keychain_names("ann").len(), 3);

    // Ann's profile, opened by another process, still has everything.
    let anns_core = env.core_on("ann").await;
    assert_eq!(anns_core.accounts().list().len(), 1);
    assert_eq!(
        anns_core
            .keys()
            .secret(&ann.id, &created.meta.id)
            .await
            .expect("ann's secret"),
        anns_secret
    );
    assert!(anns_core
        .keys()
        .list(&ann.id)
        .await
        .expect("list")
        .iter()
        .all(|k| k.stored_locally));

    // The list shows both, with the active one marked.
    let listed = core.profiles().list().expect("profiles");
    let names: Vec<&str> = listed.iter().map(|p| p.name.as_str()).collect();
    assert!(
        names.contains(&"ann") && names.contains(&"bob"),
        "{names:?}"
    );
    assert!(listed.iter().all(|p| p.active == (p.name == "bob")));
    assert!(listed.iter().all(|p| !p.has_passphrase && !p.locked));

    assert_no_file_holds(env.data.path(), &anns_secret, "a key's secret");
    env.cleanup(&["ann", "bob"]);
}

#[tokio::test]
async fn names_are_checked_and_clear_errors_name_the_problem() {
    let env = Env::new();
    let core = env.core().await;
    let first = core.profile();
    core.profiles().create("ann").await.expect("create");
    let err = core.profiles().create("ann").await.expect_err("duplicate");
    assert_eq!(err.code(), ErrorKind::ProfileExists);
    assert!(err.to_string().contains("ann"), "{err}");
    for bad in ["", "Ann", "../x", "a b", "-a", &"a".repeat(33)] {
        let err = core.profiles().create(bad).await.expect_err(bad);
        assert_eq!(err.code(), ErrorKind::Validation, "{bad}");
        let err = core.profiles().rename("ann", bad).await.expect_err(bad);
        assert_eq!(err.code(), ErrorKind::Validation, "{bad}");
    }
    let err = core
        .profiles()
        .rename("ann", &first)
        .await
        .expect_err("taken");
    assert_eq!(err.code(), ErrorKind::ProfileExists);
    let err = core
        .profiles()
        .rename("nobody", "somebody")
        .await
        .expect_err("missing");
    assert_eq!(err.code(), ErrorKind::NotFound);

    // Delete: confirmed by the name, never the active profile, never the last one.
    let err = core
        .profiles()
        .delete("ann", "an")
        .await
        .expect_err("not confirmed");
    assert_eq!(err.code(), ErrorKind::Validation);
    let err = core
        .profiles()
        .delete(&first, &first)
        .await
        .expect_err("active");
    assert_eq!(err.code(), ErrorKind::ProfileInUse);
    core.profiles().switch("ann").expect("switch");
    core.profiles()
        .delete(&first, &first)
        .await
        .expect("delete");
    let err = core
        .profiles()
        .delete("ann", "ann")
        .await
        .expect_err("last");
    assert_eq!(err.code(), ErrorKind::LastProfile);
    assert_eq!(
        core.profiles()
            .list()
            .expect("profiles")
            .iter()
            .map(|p| p.name.as_str())
            .collect::<Vec<_>>(),
        vec!["ann"]
    );
    // The deleted profile's name is free again, and the new profile is empty.
    let info = core.profiles().create(&first).await.expect("re-create");
    assert!(!info.active && !info.locked && !info.has_passphrase);
    assert_eq!(
        info.auto_lock_seconds,
        Some(DEFAULT_AUTO_LOCK.as_secs() as u32)
    );
}

#[tokio::test]
async fn rename_keeps_accounts_and_secrets_and_delete_removes_them() {
    let env = Env::new();
    let svc = service_with(&["ann@example.com"]).await;
    let core = env.core().await;
    let first = core.profile();
    core.profiles().create("ann").await.expect("create");
    core.profiles().switch("ann").expect("switch");
    let account = core
        .accounts()
        .sign_in(
            svc.service_ref(),
            "ann@example.com",
            Secret::new(PASSWORD.into()),
            false,
        )
        .await
        .expect("sign in");
    let created = core
        .keys()
        .create(&account.id, key_request("k"))
        .await
        .expect("create key");
    let before = env.keychain_names("ann");
    assert_eq!(before.len(), 2);

    // Renaming the active profile: same accounts, same secrets, entries moved.
    core.profiles().rename("ann", "anne").await.expect("rename");
    assert_eq!(core.profile(), "anne");
    assert_eq!(core.accounts().list(), vec![account.clone()]);
    assert_eq!(
        core.keys()
            .secret(&account.id, &created.meta.id)
            .await
            .expect("secret after rename"),
        created.secret
    );
    assert_eq!(env.keychain_names("anne"), before);
    assert!(env.keychain_names("ann").is_empty());
    assert!(!env.data.path().join("profiles/ann").exists());
    // It is remembered as the active profile.
    assert_eq!(env.core().await.profile(), "anne");
    // The service still takes the session that was moved.
    assert_eq!(core.keys().list(&account.id).await.expect("list").len(), 1);

    // A rename that fails half way (the disk refuses the folder) leaves everything as it was.
    std::fs::write(env.data.path().join("profiles/blocked"), b"not a folder").expect("file");
    let err = core
        .profiles()
        .rename("anne", "blocked")
        .await
        .expect_err("folder refused");
    assert_eq!(err.code(), ErrorKind::Catalog, "{err}");
    assert_eq!(core.profile(), "anne");
    assert!(env.keychain_names("blocked").is_empty(), "copies undone");
    assert_eq!(env.keychain_names("anne"), before);
    assert_eq!(
        core.keys()
            .secret(&account.id, &created.meta.id)
            .await
            .expect("secret still there"),
        created.secret
    );
    std::fs::remove_file(env.data.path().join("profiles/blocked")).expect("rm");

    // Delete: every entry and file of the profile goes, nothing of the others.
    core.profiles().switch(&first).expect("switch away");
    core.profiles()
        .delete("anne", "anne")
        .await
        .expect("delete");
    assert!(env.keychain_names("anne").is_empty());
    assert!(!env.data.path().join("profiles/anne").exists());
    assert!(core
        .profiles()
        .list()
        .expect("list")
        .iter()
        .all(|p| p.name != "anne"));
    assert!(files_under(&env.data.path().join("profiles"))
        .iter()
        .all(|f| !f.to_string_lossy().contains("anne")));
    let err = Keyhaven::open_profile(env.config(VaultChoice::SecretService), "anne")
        .await
        .expect_err("gone");
    assert_eq!(err.code(), ErrorKind::NotFound);
    env.cleanup(&["ann", "anne", "blocked"]);
}

#[tokio::test]
async fn a_passphrase_encrypts_entries_and_locked_profiles_refuse_secret_reads() {
    let env = Env::new();
    let svc = service_with(&["ann@example.com"]).await;
    let core = env.core().await;
    core.profiles().create("ann").await.expect("create");
    core.profiles().switch("ann").expect("switch");
    let account = core
        .accounts()
        .sign_in(
            svc.service_ref(),
            "ann@example.com",
            Secret::new(PASSWORD.into()),
            true,
        )
        .await
        .expect("sign in");
    let created = core
        .keys()
        .create(&account.id, key_request("k"))
        .await
        .expect("create key");
    let key_name = names::key(&account.id, &created.meta.id);
    let secret = created.secret.clone();
    assert_eq!(
        env.raw("ann", &key_name).as_ref(),
        Some(&secret),
        "plain before"
    );

    // Too short a passphrase is refused and changes nothing.
    let err = core
        .profiles()
        .set_passphrase(Secret::new("short".into()))
        .await
        .expect_err("short");
    assert_eq!(err.code(), ErrorKind::Validation);
    assert!(!core.profiles().has_passphrase());

    // Setting one encrypts every existing entry in place.
    core.profiles()
        .set_passphrase(Secret::new(PASSPHRASE.into()))
        .await
        .expect("set passphrase");
    assert!(core.profiles().has_passphrase());
    assert!(
        !core.profiles().is_locked(),
        "stays unlocked after setting it"
    );
    let names_before = env.keychain_names("ann");
    assert_eq!(names_before.len(), 3);
    let mut stored = Vec::new();
    for name in &names_before {
        let raw = env.raw("ann", name).expect("stored");
        assert!(raw.expose().starts_with("khv1:"), "{name} is encrypted");
        stored.push(raw);
    }
    let raw_key = env.raw("ann", &key_name).expect("key entry");
    assert!(!raw_key.expose().contains(secret.expose()));
    assert!(!raw_key.expose().contains(&secret.expose()[8..20]));
    let raw_password = env.raw("ann", &names::password(&account.id)).expect("pw");
    assert!(!raw_password.expose().contains(PASSWORD));
    // profile.json has the salt, the cost and the wrapped key: never the passphrase.
    let meta_text = std::fs::read_to_string(env.data.path().join("profiles/ann/profile.json"))
        .expect("profile.json");
    assert!(!meta_text.contains(PASSPHRASE));
    let meta = env.meta("ann");
    assert!(meta.lock.is_some() && meta.migration.is_none());
    assert_no_file_holds(env.data.path(), &secret, "the key's secret");

    // Unlocked, everything works as before, and new secrets are encrypted too.
    assert_eq!(
        core.keys()
            .secret(&account.id, &created.meta.id)
            .await
            .expect("read"),
        secret
    );
    assert_eq!(core.keys().list(&account.id).await.expect("list").len(), 1);
    let second = core
        .keys()
        .create(&account.id, key_request("k2"))
        .await
        .expect("create while unlocked");
    let second_raw = env
        .raw("ann", &names::key(&account.id, &second.meta.id))
        .expect("stored");
    assert!(second_raw.expose().starts_with("khv1:"));
    assert!(!second_raw.expose().contains(second.secret.expose()));

    // Locked: secret reads fail with `locked`; the accounts are still listed.
    core.profiles().lock().expect("lock");
    assert!(core.profiles().is_locked());
    let err = core
        .keys()
        .secret(&account.id, &created.meta.id)
        .await
        .expect_err("locked");
    assert_eq!(err.code(), ErrorKind::Locked);
    assert!(err.to_string().contains("passphrase"), "{err}");
    let err = core.keys().list(&account.id).await.expect_err("locked");
    assert_eq!(err.code(), ErrorKind::Locked);
    assert_eq!(core.accounts().list().len(), 1);
    let listed = core.profiles().list().expect("profiles");
    let ann = listed.iter().find(|p| p.name == "ann").expect("ann");
    assert!(ann.has_passphrase && ann.locked && ann.active);

    // A wrong passphrase is a clear error and loses nothing.
    let err = core
        .profiles()
        .unlock(Secret::new("not the passphrase".into()))
        .await
        .expect_err("wrong");
    assert_eq!(err.code(), ErrorKind::WrongPassphrase);
    assert!(!err.to_string().contains("not the passphrase"));
    assert!(core.profiles().is_locked());
    for (name, before) in names_before.iter().zip(&stored) {
        assert_eq!(
            env.raw("ann", name).as_ref(),
            Some(before),
            "{name} unchanged"
        );
    }

    // Another process opening the profile finds it locked too.
    let other = env.core_on("ann").await;
    assert!(other.profiles().is_locked());
    other
        .profiles()
        .unlock(Secret::new(PASSPHRASE.into()))
        .await
        .expect("unlock elsewhere");
    assert_eq!(
        other
            .keys()
            .secret(&account.id, &created.meta.id)
            .await
            .expect("read"),
        secret
    );

    // Change the passphrase: the entries stay exactly as stored, only the record changes.
    core.profiles()
        .unlock(Secret::new(PASSPHRASE.into()))
        .await
        .expect("unlock");
    let err = core
        .profiles()
        .change_passphrase(
            Secret::new("wrong old passphrase".into()),
            Secret::new("the new passphrase".into()),
        )
        .await
        .expect_err("wrong old");
    assert_eq!(err.code(), ErrorKind::WrongPassphrase);
    core.profiles()
        .change_passphrase(
            Secret::new(PASSPHRASE.into()),
            Secret::new("the new passphrase".into()),
        )
        .await
        .expect("change");
    for (name, before) in names_before.iter().zip(&stored) {
        assert_eq!(
            env.raw("ann", name).as_ref(),
            Some(before),
            "{name} untouched"
        );
    }
    core.profiles().lock().expect("lock");
    let err = core
        .profiles()
        .unlock(Secret::new(PASSPHRASE.into()))
        .await
        .expect_err("old one no longer works");
    assert_eq!(err.code(), ErrorKind::WrongPassphrase);
    core.profiles()
        .unlock(Secret::new("the new passphrase".into()))
        .await
        .expect("new one works");

    // Remove it: entries are plain again and readable by a core that never had the passphrase.
    core.profiles().lock().expect("lock");
    let err = core
        .profiles()
        .remove_passphrase(Secret::new(PASSPHRASE.into()))
        .await
        .expect_err("old passphrase");
    assert_eq!(err.code(), ErrorKind::WrongPassphrase);
    core.profiles()
        .remove_passphrase(Secret::new("the new passphrase".into()))
        .await
        .expect("remove");
    assert!(!core.profiles().has_passphrase() && !core.profiles().is_locked());
    assert_eq!(env.raw("ann", &key_name).as_ref(), Some(&secret));
    assert_eq!(env.meta("ann"), ProfileMeta::default());
    let err = core.profiles().lock().expect_err("nothing to lock");
    assert_eq!(err.code(), ErrorKind::NoPassphrase);
    assert_eq!(
        env.core_on("ann")
            .await
            .keys()
            .secret(&account.id, &created.meta.id)
            .await
            .expect("plain read"),
        secret
    );
    env.cleanup(&["ann"]);
}

#[tokio::test]
async fn a_locked_profile_can_be_renamed_and_switching_locks_the_others() {
    let env = Env::new();
    let core = env.core().await;
    let first = core.profile();
    core.profiles().create("ann").await.expect("create");
    core.profiles().switch("ann").expect("switch");
    let name = names::key("acc_1", "key_1");
    let secret = Secret::new(unique("kh_test_renamed"));
    core.vault().put("ann", &name, &secret).await.expect("put");
    core.profiles()
        .set_passphrase(Secret::new(PASSPHRASE.into()))
        .await
        .expect("set");

    // Switching away locks Ann's profile: the next person does not inherit it unlocked.
    core.profiles().switch(&first).expect("switch away");
    let err = core.vault().get("ann", &name).await.expect_err("locked");
    assert_eq!(err.code(), ErrorKind::Locked);

    // A locked profile renames without its passphrase: the ciphertext moves as it is.
    let raw = env.raw("ann", &name).expect("stored");
    core.profiles().rename("ann", "anne").await.expect("rename");
    assert_eq!(env.raw("anne", &name).as_ref(), Some(&raw));
    assert!(env.keychain_names("ann").is_empty());
    core.profiles().switch("anne").expect("switch");
    assert!(core.profiles().is_locked());
    core.profiles()
        .unlock(Secret::new(PASSPHRASE.into()))
        .await
        .expect("unlock after rename");
    assert_eq!(
        core.vault().get("anne", &name).await.expect("get"),
        Some(secret)
    );
    // An entry copied to another name does not open there (the name is authenticated).
    env.store_raw("anne", "key:acc_1:other", &raw);
    let err = core
        .vault()
        .get("anne", "key:acc_1:other")
        .await
        .expect_err("moved value");
    assert_eq!(err.code(), ErrorKind::VaultCorrupt);
    env.cleanup(&["ann", "anne"]);
}

#[tokio::test]
async fn an_interrupted_passphrase_change_finishes_at_the_next_unlock() {
    let env = Env::new();
    let core = env.core().await;
    core.profiles().create("ann").await.expect("create");
    core.profiles().switch("ann").expect("switch");
    let (a, b) = (names::key("acc_1", "a"), names::key("acc_1", "b"));
    let (sa, sb) = (
        Secret::new(unique("kh_test_first")),
        Secret::new(unique("kh_test_second")),
    );
    core.vault().put("ann", &a, &sa).await.expect("put");
    core.profiles()
        .set_passphrase(Secret::new(PASSPHRASE.into()))
        .await
        .expect("set");

    // As if the process died while setting the passphrase: the record says so, one entry is
    // still plain (written by a process that knew nothing of the passphrase).
    let mut meta = env.meta("ann");
    meta.migration = Some(Migration::Wrap);
    std::fs::write(
        env.data.path().join("profiles/ann/profile.json"),
        serde_json::to_vec(&meta).expect("json"),
    )
    .expect("write");
    let raw_vault = Vault::secret_service(&env.namespace).expect("keychain");
    raw_vault.put_blocking("ann", &b, &sb).expect("plain put");
    assert_eq!(env.raw("ann", &b).as_ref(), Some(&sb));

    // A fresh start: locked; unlocking finishes the job and both values read back.
    let core = env.core_on("ann").await;
    assert!(core.profiles().is_locked());
    core.profiles()
        .unlock(Secret::new(PASSPHRASE.into()))
        .await
        .expect("unlock");
    assert!(env.meta("ann").migration.is_none());
    for name in [&a, &b] {
        assert!(env
            .raw("ann", name)
            .expect("stored")
            .expose()
            .starts_with("khv1:"));
    }
    assert_eq!(
        core.vault().get("ann", &a).await.expect("a"),
        Some(sa.clone())
    );
    assert_eq!(
        core.vault().get("ann", &b).await.expect("b"),
        Some(sb.clone())
    );

    // The same for an interrupted removal: one entry already plain, one still encrypted.
    let mut meta = env.meta("ann");
    meta.migration = Some(Migration::Unwrap);
    std::fs::write(
        env.data.path().join("profiles/ann/profile.json"),
        serde_json::to_vec(&meta).expect("json"),
    )
    .expect("write");
    raw_vault.put_blocking("ann", &a, &sa).expect("plain put");
    let core = env.core_on("ann").await;
    core.profiles()
        .unlock(Secret::new(PASSPHRASE.into()))
        .await
        .expect("unlock");
    assert_eq!(env.meta("ann"), ProfileMeta::default());
    assert!(!core.profiles().has_passphrase());
    assert_eq!(env.raw("ann", &a).as_ref(), Some(&sa));
    assert_eq!(env.raw("ann", &b).as_ref(), Some(&sb));
    env.cleanup(&["ann"]);
}

#[tokio::test]
async fn an_idle_profile_locks_itself() {
    let env = Env::new();
    let core = env.core().await;
    core.profiles()
        .set_passphrase(Secret::new(PASSPHRASE.into()))
        .await
        .expect("set");
    let profile = core.profile();
    let name = names::session("acc_idle");
    core.vault()
        .put(&profile, &name, &Secret::new("session-token-value".into()))
        .await
        .expect("put");
    assert_eq!(core.profiles().auto_lock(), Some(DEFAULT_AUTO_LOCK));
    let err = core
        .profiles()
        .set_auto_lock(Some(Duration::from_millis(10)))
        .expect_err("too short");
    assert_eq!(err.code(), ErrorKind::Validation);
    core.profiles()
        .set_auto_lock(Some(Duration::from_secs(60)))
        .expect("set auto-lock");
    assert_eq!(env.meta(&profile).auto_lock_seconds, Some(60));

    env.clock.advance(Duration::from_secs(59));
    assert!(!core.profiles().is_locked());
    core.profiles().touch();
    env.clock.advance(Duration::from_secs(59));
    assert!(core
        .vault()
        .get(&profile, &name)
        .await
        .expect("read")
        .is_some());
    env.clock.advance(Duration::from_secs(1));
    let err = core
        .vault()
        .get(&profile, &name)
        .await
        .expect_err("idle for a minute");
    assert_eq!(err.code(), ErrorKind::Locked);
    assert!(core.profiles().is_locked());
    // Activity after the fact does not bring it back.
    core.profiles().touch();
    assert!(core.profiles().is_locked());

    // Never: stays unlocked however long it is idle.
    core.profiles()
        .unlock(Secret::new(PASSPHRASE.into()))
        .await
        .expect("unlock");
    core.profiles().set_auto_lock(None).expect("never");
    env.clock.advance(Duration::from_secs(365 * 24 * 3600));
    assert!(!core.profiles().is_locked());
    assert_eq!(
        core.profiles()
            .list()
            .expect("profiles")
            .iter()
            .find(|p| p.active)
            .expect("active")
            .auto_lock_seconds,
        None
    );
    env.cleanup(&[&profile]);
}

#[tokio::test]
async fn the_file_vault_needs_a_passphrase_and_detects_tampering() {
    let env = Env::new();
    let open = |profile: Option<&str>| {
        let options = OpenOptions {
            // The product's own cost, once, to show it works as shipped.
            kdf: KdfParams::default(),
            ..env.options(profile)
        };
        Keyhaven::open_with(env.config(VaultChoice::EncryptedFile), options)
    };
    let core = open(None).await.expect("open");
    let profile = core.profile();
    let name = names::key("acc_file", "key_1");
    let secret = Secret::new(unique("kh_test_FileVaultSecret"));

    // No passphrase yet: nothing can be stored, and the error says what to do.
    let err = core
        .vault()
        .put(&profile, &name, &secret)
        .await
        .expect_err("needs a passphrase");
    assert_eq!(err.code(), ErrorKind::NoPassphrase);
    assert!(err.to_string().contains("KEYHAVEN_VAULT=file"), "{err}");

    core.profiles()
        .set_passphrase(Secret::new(PASSPHRASE.into()))
        .await
        .expect("set");
    core.vault()
        .put(&profile, &name, &secret)
        .await
        .expect("put");
    assert_eq!(
        core.vault().get(&profile, &name).await.expect("get"),
        Some(secret.clone())
    );
    let file = env
        .data
        .path()
        .join("profiles")
        .join(&profile)
        .join("vault.khv");
    assert!(file.is_file());
    assert_no_file_holds(env.data.path(), &secret, "the secret");
    assert_no_file_holds(
        env.data.path(),
        &Secret::new(PASSPHRASE.into()),
        "the passphrase",
    );
    // Nothing went to the keychain.
    assert!(env.keychain_names(&profile).is_empty());
    let err = core
        .profiles()
        .remove_passphrase(Secret::new(PASSPHRASE.into()))
        .await
        .expect_err("the file always needs one");
    assert_eq!(err.code(), ErrorKind::Validation);

    // A new start: locked until the passphrase is given; a wrong one changes nothing.
    let again = open(None).await.expect("reopen");
    assert!(again.profiles().is_locked());
    let err = again
        .vault()
        .get(&profile, &name)
        .await
        .expect_err("locked");
    assert_eq!(err.code(), ErrorKind::Locked);
    let before = std::fs::read(&file).expect("read");
    let err = again
        .profiles()
        .unlock(Secret::new("not the passphrase".into()))
        .await
        .expect_err("wrong");
    assert_eq!(err.code(), ErrorKind::WrongPassphrase);
    again
        .profiles()
        .unlock(Secret::new(PASSPHRASE.into()))
        .await
        .expect("unlock");
    assert_eq!(
        again.vault().get(&profile, &name).await.expect("get"),
        Some(secret.clone())
    );
    assert_eq!(std::fs::read(&file).expect("read"), before);

    // One changed character of the ciphertext: refused as damaged, and the file is left alone.
    let mut doc: serde_json::Value = serde_json::from_slice(&before).expect("json");
    let sealed = doc["sealed"].as_str().expect("sealed").to_string();
    let mid = sealed.len() / 2;
    let flipped = if &sealed[mid..=mid] == "A" { "B" } else { "A" };
    doc["sealed"] = format!("{}{flipped}{}", &sealed[..mid], &sealed[mid + 1..]).into();
    let tampered = serde_json::to_vec(&doc).expect("json");
    std::fs::write(&file, &tampered).expect("tamper");
    for result in [
        again.vault().get(&profile, &name).await.map(|_| ()),
        again
            .vault()
            .put(&profile, &names::key("acc_file", "key_2"), &secret)
            .await,
    ] {
        let err = result.expect_err("tampered");
        assert_eq!(err.code(), ErrorKind::VaultCorrupt, "{err}");
        assert!(!err.to_string().contains(secret.expose()));
    }
    assert_eq!(std::fs::read(&file).expect("read"), tampered);
    std::fs::write(&file, &before).expect("restore");

    // Changing the passphrase keeps the secrets.
    again
        .profiles()
        .change_passphrase(
            Secret::new(PASSPHRASE.into()),
            Secret::new("the new passphrase".into()),
        )
        .await
        .expect("change");
    let third = open(Some(&profile)).await.expect("reopen");
    third
        .profiles()
        .unlock(Secret::new("the new passphrase".into()))
        .await
        .expect("unlock with the new one");
    assert_eq!(
        third.vault().get(&profile, &name).await.expect("get"),
        Some(secret.clone())
    );
    let err: Error = third
        .profiles()
        .unlock(Secret::new(PASSPHRASE.into()))
        .await
        .expect_err("old passphrase");
    assert_eq!(err.code(), ErrorKind::WrongPassphrase);

    // The file goes with the profile when it is renamed.
    third
        .profiles()
        .unlock(Secret::new("the new passphrase".into()))
        .await
        .expect("unlock");
    third
        .profiles()
        .rename(&profile, "renamed")
        .await
        .expect("rename");
    assert!(!file.exists());
    assert!(env.data.path().join("profiles/renamed/vault.khv").is_file());
    assert_eq!(
        third.vault().get("renamed", &name).await.expect("get"),
        Some(secret)
    );
}

#[tokio::test]
async fn a_passphrase_set_by_another_process_is_seen_at_once() {
    let env = Env::new();
    let app = env.core().await;
    let profile = app.profile();
    let name = names::key("acc_x", "key_1");
    let secret = Secret::new(unique("kh_test_cross_process"));
    app.vault()
        .put(&profile, &name, &secret)
        .await
        .expect("put");
    assert!(!app.profiles().has_passphrase());

    // The CLI sets a passphrase while the app has the profile open.
    let cli = env.core_on(&profile).await;
    cli.profiles()
        .set_passphrase(Secret::new(PASSPHRASE.into()))
        .await
        .expect("set elsewhere");

    // The app sees it: locked, and it refuses to write a plain value into the profile.
    assert!(app.profiles().has_passphrase());
    assert!(app.profiles().is_locked());
    let other = names::key("acc_x", "key_2");
    let err = app
        .vault()
        .put(&profile, &other, &secret)
        .await
        .expect_err("locked");
    assert_eq!(err.code(), ErrorKind::Locked);
    assert_eq!(env.raw(&profile, &other), None, "nothing written in plain");
    app.profiles()
        .unlock(Secret::new(PASSPHRASE.into()))
        .await
        .expect("unlock");
    assert_eq!(
        app.vault().get(&profile, &name).await.expect("get"),
        Some(secret.clone())
    );

    // A passphrase changed elsewhere locks the app's copy: the old passphrase is no longer
    // enough to keep going.
    cli.profiles()
        .change_passphrase(
            Secret::new(PASSPHRASE.into()),
            Secret::new("changed by the cli".into()),
        )
        .await
        .expect("change elsewhere");
    assert!(app.profiles().is_locked());
    app.profiles()
        .unlock(Secret::new("changed by the cli".into()))
        .await
        .expect("unlock with the new one");
    assert_eq!(
        app.vault().get(&profile, &name).await.expect("get"),
        Some(secret)
    );
    env.cleanup(&[&profile]);
}

/// The keychain refuses part way through a rename, at each of its writes in turn: every secret
/// stays readable under the profile's name, old or new, and the rename can be done once the
/// keychain works again.
#[tokio::test]
async fn a_keychain_failing_at_any_point_of_a_rename_loses_nothing() {
    let data = tempfile::tempdir().expect("tempdir");
    let (vault, faults) = Vault::in_memory_with_faults();
    let core = common::core_on(data.path(), &vault).await;
    core.profiles().create("ann").await.expect("create");
    core.profiles().switch("ann").expect("switch");
    let account = core
        .accounts()
        .add(keyhaven_core::NewAccount {
            kind: keyhaven_core::ConnectorKind::Generic,
            name: "mine".into(),
            url: Some("https://api.example.com".into()),
            allow_http: false,
            tier: None,
        })
        .await
        .expect("account")
        .id;
    let mut held = Vec::new();
    for n in 0..4 {
        let secret = Secret::new(format!("rename-secret-{n}-{}", unique("v")));
        common::record_secret(secret.expose());
        let id = core
            .keys()
            .import_local(
                &account,
                secret.clone(),
                keyhaven_core::ImportOptions {
                    name: format!("key {n}"),
                    presentation: Some(keyhaven_core::local_keys::Presentation {
                        header: "X-Token".into(),
                        value_prefix: String::new(),
                        verify_url: None,
                    }),
                    unverified: true,
                    ..Default::default()
                },
            )
            .await
            .expect("import")
            .meta
            .id;
        held.push((id, secret));
    }
    let mut failed = 0;
    for writes in 0.. {
        faults.refuse_writes_after(writes);
        let result = core.profiles().rename("ann", "anne").await;
        faults.clear();
        let name = if result.is_ok() { "anne" } else { "ann" };
        assert_eq!(core.profile(), name, "after {writes} writes: {result:?}");
        for (id, secret) in &held {
            let kept = core
                .keys()
                .secret(&account, id)
                .await
                .expect("still readable");
            assert!(kept.constant_time_eq(secret), "after {writes} writes");
        }
        match result {
            Ok(()) => break,
            Err(e) => {
                assert!(
                    matches!(
                        e.code(),
                        ErrorKind::KeychainUnavailable | ErrorKind::Keychain
                    ),
                    "{e:?}"
                );
                failed += 1;
            }
        }
    }
    assert!(failed >= 4, "the rename failed at each copy: {failed}");
    let reopened = common::core_on(data.path(), &vault).await;
    assert_eq!(reopened.profile(), "anne");
    assert_eq!(reopened.keys().list(&account).await.expect("list").len(), 4);
}
