//! With no session bus, the vault refuses with KeychainUnavailable naming the fix, and nothing
//! is written anywhere: no fallback file. Its own test binary, because it changes the process's
//! environment.

use std::path::Path;

use keyhaven_core::vault::{names, FIX_NO_SECRET_SERVICE};
use keyhaven_core::{CoreConfig, Error, ErrorKind, Keyhaven, Secret, Vault, VaultChoice};

const SECRET: &str = "kh_test_NoBusSecretValue0123456789abcdefXYZ";

fn files_under(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("read dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

#[tokio::test]
async fn no_session_bus_means_keychain_unavailable_and_no_fallback() {
    let home = tempfile::tempdir().expect("tempdir");
    let data = home.path().join("data");
    // Point everything a keychain library could write to at the temporary folder.
    std::env::set_var("HOME", home.path());
    std::env::set_var("XDG_DATA_HOME", home.path().join("xdg-data"));
    std::env::set_var("XDG_CONFIG_HOME", home.path().join("xdg-config"));
    std::env::set_var("XDG_CACHE_HOME", home.path().join("xdg-cache"));
    std::env::set_var("XDG_RUNTIME_DIR", home.path().join("xdg-runtime"));
    std::env::set_var(
        "DBUS_SESSION_BUS_ADDRESS",
        format!(
            "unix:path={}",
            home.path().join("no-such-bus-socket").display()
        ),
    );

    // Connecting now fails with the fix.
    let err = Vault::secret_service("dev.keyhaven.test").expect_err("no bus");
    match &err {
        Error::KeychainUnavailable { fix } => assert_eq!(fix, FIX_NO_SECRET_SERVICE),
        other => panic!("expected KeychainUnavailable, got {other:?}"),
    }
    assert_eq!(err.code(), ErrorKind::KeychainUnavailable);
    let message = err.to_string();
    assert!(message.contains("gnome-keyring-daemon"), "{message}");
    assert!(message.contains("KeePassXC"), "{message}");
    assert!(
        message.contains("KEYHAVEN_VAULT=file"),
        "names the opt-in: {message}"
    );

    // The core still opens (the app shows the error), and every vault call reports the fix.
    let core = Keyhaven::open(CoreConfig {
        data_dir: data.clone(),
        keychain_namespace: "dev.keyhaven.test".into(),
        vault: VaultChoice::SecretService,
    })
    .await
    .expect("the core opens without a keychain");
    let profile = core.profile();
    let secret = Secret::new(SECRET.into());
    let name = names::key("acc_nobus", "key_1");
    for result in [
        core.vault().put(&profile, &name, &secret).await.map(|_| ()),
        core.vault().get(&profile, &name).await.map(|_| ()),
        core.vault().delete(&profile, &name).await,
    ] {
        let err = result.expect_err("no keychain");
        assert!(matches!(err, Error::KeychainUnavailable { .. }), "{err:?}");
        assert!(!err.to_string().contains(SECRET));
    }

    // Nothing was written but the (secret-free) catalog, beside its empty lock file between
    // processes: no fallback file anywhere.
    let files = files_under(home.path());
    let lock = data
        .join("profiles")
        .join(&profile)
        .join(".catalog.json.lock");
    let expected = vec![
        lock.clone(),
        data.join("profiles").join(&profile).join("catalog.json"),
        data.join("state.json"),
    ];
    assert_eq!(files, expected, "unexpected files were written");
    assert_eq!(
        std::fs::metadata(&lock).expect("lock").len(),
        0,
        "the lock file holds nothing"
    );
    for file in files {
        let bytes = std::fs::read(&file).expect("read");
        assert!(
            !bytes.windows(SECRET.len()).any(|w| w == SECRET.as_bytes()),
            "{} holds the secret",
            file.display()
        );
    }
}
