//! With no keychain at all, the passphrase-encrypted file vault works, but only when the person
//! chose it (`KEYHAVEN_VAULT=file`); an unknown choice is refused rather than guessed. Its own
//! test binary, because it changes the process's environment.

use std::path::Path;

use keyhaven_core::vault::{names, KdfParams};
use keyhaven_core::{CoreConfig, ErrorKind, Keyhaven, OpenOptions, Secret, VaultChoice, ENV_VAULT};

const SECRET: &str = "kh_test_FileOptInSecretValue0123456789abcdef";

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
    out
}

#[tokio::test]
async fn without_a_keychain_the_file_vault_is_an_explicit_choice() {
    let home = tempfile::tempdir().expect("tempdir");
    std::env::set_var(
        "DBUS_SESSION_BUS_ADDRESS",
        format!("unix:path={}", home.path().join("no-such-bus").display()),
    );
    let data = home.path().join("data");
    std::env::set_var("KEYHAVEN_DATA_DIR", &data);
    std::env::remove_var("KEYHAVEN_KEYCHAIN_NAMESPACE");

    // Not chosen: the keychain, which is missing.
    std::env::remove_var(ENV_VAULT);
    assert_eq!(
        CoreConfig::from_env().expect("config").vault,
        VaultChoice::SecretService
    );
    std::env::set_var(ENV_VAULT, "plaintext");
    let err = CoreConfig::from_env().expect_err("unknown choice");
    assert_eq!(err.code(), ErrorKind::Validation);
    assert!(err.to_string().contains("file"), "{err}");

    std::env::set_var(ENV_VAULT, "file");
    let mut config = CoreConfig::from_env().expect("config");
    assert_eq!(config.vault, VaultChoice::EncryptedFile);
    config.keychain_namespace = "dev.keyhaven.test".into();
    let options = OpenOptions {
        kdf: KdfParams::INSECURE_FOR_TESTS,
        ..OpenOptions::default()
    };
    let core = Keyhaven::open_with(config, options).await.expect("open");
    let profile = core.profile();
    let name = names::key("acc_file", "key_1");
    let secret = Secret::new(SECRET.into());
    let err = core
        .vault()
        .put(&profile, &name, &secret)
        .await
        .expect_err("no passphrase yet");
    assert_eq!(err.code(), ErrorKind::NoPassphrase);
    core.profiles()
        .set_passphrase(Secret::new("a passphrase for the file".into()))
        .await
        .expect("set");
    core.vault()
        .put(&profile, &name, &secret)
        .await
        .expect("put");
    assert_eq!(
        core.vault().get(&profile, &name).await.expect("get"),
        Some(secret)
    );
    let files = files_under(&data);
    assert!(files.iter().any(|f| f.ends_with("vault.khv")), "{files:?}");
    for file in files {
        let bytes = std::fs::read(&file).expect("read");
        assert!(
            !bytes.windows(SECRET.len()).any(|w| w == SECRET.as_bytes()),
            "{} holds the secret",
            file.display()
        );
    }
    std::env::remove_var(ENV_VAULT);
}
