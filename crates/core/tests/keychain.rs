//! The vault against the real Secret Service and against the in-memory store: one test body,
//! run on both.
//!
//! The real-keychain test needs a Secret Service on the session bus. It FAILS (it does not skip)
//! when there is none, and says how to run it:
//!
//! ```sh
//! dbus-run-session -- sh -c 'echo -n pass | gnome-keyring-daemon --unlock --components=secrets >/dev/null; exec cargo test -p keyhaven-core'
//! ```

use keyhaven_core::vault::{names, MAX_SECRET_BYTES};
use keyhaven_core::{Error, Secret, Vault};

const HOW_TO_RUN: &str = "This test needs a real Secret Service (an unlocked gnome-keyring) on a D-Bus session bus. Install gnome-keyring, dbus-x11 and libsecret-tools, then run:\n  dbus-run-session -- sh -c 'echo -n pass | gnome-keyring-daemon --unlock --components=secrets >/dev/null; exec cargo test -p keyhaven-core'\n(with XDG_DATA_HOME, XDG_CACHE_HOME and XDG_CONFIG_HOME pointed at a temporary folder)";

fn unique(tag: &str) -> String {
    format!("{tag}-{:012x}", rand_u64() & 0xffff_ffff_ffff)
}

fn rand_u64() -> u64 {
    use std::collections::hash_map::RandomState;
    use std::hash::{BuildHasher, Hasher};
    let mut h = RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .elapsed()
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    h.write_u32(std::process::id());
    h.finish()
}

/// A vault on the real Secret Service, checked by a write: panics with how to run the test
/// when the keychain is missing or locked.
fn real_vault(namespace: &str) -> Vault {
    let vault = match Vault::secret_service(namespace) {
        Ok(vault) => vault,
        Err(e) => panic!("No Secret Service reachable ({e}).\n{HOW_TO_RUN}"),
    };
    let probe = Secret::new("probe".into());
    let written = vault
        .put_blocking("probe", "probe", &probe)
        .and_then(|()| vault.delete_blocking("probe", "probe"));
    if let Err(e) = written {
        panic!("The Secret Service refused a write ({e}).\n{HOW_TO_RUN}");
    }
    vault
}

/// The behaviour every vault must have. `reopen` gives a second vault on the same storage
/// (for the real keychain, a fresh connection), to show that values are really stored.
async fn vault_behaviour(vault: &Vault, reopen: impl Fn() -> Vault) {
    let name = names::key(&unique("acc"), "key_1");
    let secret = Secret::new(format!("kh_test_{}", unique("value")));

    // Missing entries read as None and delete cleanly.
    assert_eq!(vault.get("alice", &name).await.expect("get missing"), None);
    assert!(!vault
        .contains("alice", &name)
        .await
        .expect("contains missing"));
    vault
        .delete("alice", &name)
        .await
        .expect("delete missing is fine");

    // Store, read back, and read through a second connection.
    vault.put("alice", &name, &secret).await.expect("put");
    assert_eq!(
        vault.get("alice", &name).await.expect("get"),
        Some(secret.clone())
    );
    assert!(vault.contains("alice", &name).await.expect("contains"));
    assert_eq!(
        reopen()
            .get("alice", &name)
            .await
            .expect("get via a new vault"),
        Some(secret.clone())
    );

    // Profiles are isolated: the same name in another profile is another entry.
    assert_eq!(vault.get("bob", &name).await.expect("other profile"), None);
    let bobs = Secret::new("bobs-own-value".into());
    vault.put("bob", &name, &bobs).await.expect("put bob");
    assert_eq!(
        vault.get("alice", &name).await.expect("alice"),
        Some(secret.clone())
    );
    assert_eq!(vault.get("bob", &name).await.expect("bob"), Some(bobs));

    // Replacing a value keeps one entry with the new value.
    let replaced = Secret::new(format!("{}-rolled", secret.expose()));
    vault.put("alice", &name, &replaced).await.expect("replace");
    assert_eq!(
        vault.get("alice", &name).await.expect("get replaced"),
        Some(replaced)
    );

    // Blocking and async paths agree; non-ASCII survives.
    let text_name = names::password(&unique("acc"));
    let unicode = Secret::new("pässwörd ✓".into());
    vault
        .put_blocking("alice", &text_name, &unicode)
        .expect("put blocking");
    assert_eq!(
        vault.get("alice", &text_name).await.expect("get"),
        Some(unicode)
    );

    // Too long for every platform's keychain: refused before anything is written.
    let long_name = names::key("acc", &unique("long"));
    let long = Secret::new("x".repeat(MAX_SECRET_BYTES + 1));
    let err = vault
        .put("alice", &long_name, &long)
        .await
        .expect_err("too long");
    assert!(matches!(err, Error::SecretTooLong { .. }), "{err:?}");
    assert_eq!(
        vault
            .get("alice", &long_name)
            .await
            .expect("nothing stored"),
        None
    );

    // Delete removes exactly the one entry.
    vault.delete("alice", &name).await.expect("delete");
    assert_eq!(vault.get("alice", &name).await.expect("gone"), None);
    assert_eq!(
        reopen().get("alice", &name).await.expect("gone everywhere"),
        None
    );
    assert!(vault.get("bob", &name).await.expect("bob stays").is_some());

    vault.delete("bob", &name).await.expect("cleanup");
    vault.delete("alice", &text_name).await.expect("cleanup");
}

#[tokio::test]
async fn in_memory_vault_behaves() {
    let vault = Vault::in_memory();
    let same = vault.clone();
    vault_behaviour(&vault, move || same.clone()).await;
}

#[tokio::test]
async fn secret_service_vault_behaves() {
    let namespace = unique("dev.keyhaven.test");
    let vault = real_vault(&namespace);
    let ns = namespace.clone();
    vault_behaviour(&vault, move || real_vault(&ns)).await;
}

#[tokio::test]
async fn secret_service_namespaces_are_isolated() {
    let app = real_vault(&unique("dev.keyhaven.test"));
    let other = real_vault(&unique("dev.keyhaven.test"));
    let name = names::session(&unique("acc"));
    let secret = Secret::new("session-token-for-one-namespace".into());
    app.put("alice", &name, &secret).await.expect("put");
    assert_eq!(
        other.get("alice", &name).await.expect("other namespace"),
        None
    );
    other
        .delete("alice", &name)
        .await
        .expect("delete in the other namespace is a no-op");
    assert_eq!(
        app.get("alice", &name).await.expect("still there"),
        Some(secret)
    );
    app.delete("alice", &name).await.expect("cleanup");
}
