//! `CoreConfig::from_env`. Its own test binary, because it changes the process's environment.

use std::path::PathBuf;

use keyhaven_core::{CoreConfig, ErrorKind, VaultChoice};

#[test]
fn config_comes_from_the_environment() {
    std::env::set_var("KEYHAVEN_DATA_DIR", "/tmp/keyhaven-config-test");
    std::env::set_var("KEYHAVEN_KEYCHAIN_NAMESPACE", "dev.keyhaven.test");
    let config = CoreConfig::from_env().expect("config");
    assert_eq!(config.data_dir, PathBuf::from("/tmp/keyhaven-config-test"));
    assert_eq!(config.keychain_namespace, "dev.keyhaven.test");
    assert_eq!(config.vault, VaultChoice::SecretService);

    std::env::set_var("KEYHAVEN_KEYCHAIN_NAMESPACE", "not a/namespace");
    let err = CoreConfig::from_env().expect_err("bad namespace");
    assert_eq!(err.code(), ErrorKind::Validation);

    std::env::remove_var("KEYHAVEN_DATA_DIR");
    std::env::remove_var("KEYHAVEN_KEYCHAIN_NAMESPACE");
    std::env::set_var("XDG_DATA_HOME", "/tmp/keyhaven-xdg-data");
    let config = CoreConfig::from_env().expect("defaults");
    assert_eq!(config.keychain_namespace, "dev.keyhaven.app");
    if cfg!(target_os = "linux") {
        assert_eq!(
            config.data_dir,
            PathBuf::from("/tmp/keyhaven-xdg-data/keyhaven")
        );
    }
}
