//! The operating system's keychain, per platform, and how its failures read to a person.

use std::collections::HashMap;
use std::sync::Arc;

use keyring_core::api::CredentialStore;
use keyring_core::Entry;

use crate::error::{Error, KeychainOp, Result};

/// What to do when no Secret Service answers on the session bus.
pub const FIX_NO_SECRET_SERVICE: &str = "No Secret Service is running: start gnome-keyring-daemon or KeePassXC's Secret Service integration, or unlock your login keyring. Keyhaven never falls back to storing secrets in a file on its own; to keep them in a passphrase-encrypted file instead, start Keyhaven with KEYHAVEN_VAULT=file.";

/// What to do when the keyring is locked or its unlock prompt was dismissed.
pub const FIX_LOCKED: &str = "The keyring is locked or its unlock prompt was dismissed: unlock your login keyring (in Passwords and Keys, KeePassXC or your desktop's keyring tool) and try again.";

#[cfg(target_os = "macos")]
const FIX_MACOS: &str = "The macOS Keychain refused access: unlock your login keychain in Keychain Access and allow Keyhaven when macOS asks.";

#[cfg(target_os = "windows")]
const FIX_WINDOWS: &str = "Windows Credential Manager is not available: sign in to Windows with your own account (not a service account) and try again.";

#[cfg(any(target_os = "linux", target_os = "freebsd", target_os = "openbsd"))]
pub(super) fn connect() -> Result<Arc<CredentialStore>> {
    match zbus_secret_service_keyring_store::Store::new() {
        Ok(store) => Ok(store),
        Err(e) => Err(map_error(e, KeychainOp::Read)),
    }
}

#[cfg(target_os = "macos")]
pub(super) fn connect() -> Result<Arc<CredentialStore>> {
    match apple_native_keyring_store::keychain::Store::new() {
        Ok(store) => Ok(store),
        Err(e) => Err(map_error(e, KeychainOp::Read)),
    }
}

#[cfg(target_os = "windows")]
pub(super) fn connect() -> Result<Arc<CredentialStore>> {
    match windows_native_keyring_store::Store::new() {
        Ok(store) => Ok(store),
        Err(e) => Err(map_error(e, KeychainOp::Read)),
    }
}

#[cfg(not(any(
    target_os = "linux",
    target_os = "freebsd",
    target_os = "openbsd",
    target_os = "macos",
    target_os = "windows"
)))]
pub(super) fn connect() -> Result<Arc<CredentialStore>> {
    Err(Error::KeychainUnavailable {
        fix: "Keyhaven has no keychain support for this operating system yet.".to_string(),
    })
}

/// Builds the entry for `service`/`user`, with a label a person recognises in their keyring tool.
pub(super) fn build_entry(
    store: &Arc<CredentialStore>,
    service: &str,
    user: &str,
    label: &str,
) -> keyring_core::Result<Entry> {
    if cfg!(any(
        target_os = "linux",
        target_os = "freebsd",
        target_os = "openbsd"
    )) {
        let modifiers = HashMap::from([("label", label)]);
        store.build(service, user, Some(&modifiers))
    } else {
        store.build(service, user, None)
    }
}

/// The names ("user"s) of the entries whose service is exactly `service`.
pub(super) fn entry_names(
    store: &Arc<CredentialStore>,
    service: &str,
) -> keyring_core::Result<Vec<String>> {
    // Each store has its own search vocabulary; Windows takes a pattern over every credential's
    // target name, so it is asked for all of them and filtered here like the others.
    let spec: HashMap<&str, &str> = if cfg!(target_os = "windows") {
        HashMap::new()
    } else {
        HashMap::from([("service", service)])
    };
    let found = store.search(&spec)?;
    Ok(found
        .iter()
        .filter_map(Entry::get_specifiers)
        .filter(|(s, _)| s == service)
        .map(|(_, user)| user)
        .collect())
}

/// Maps a keyring failure to the core's error. Never formats a keyring error with `Debug`, and
/// drops the bytes some variants carry (they may be secret material).
pub(super) fn map_error(err: keyring_core::Error, op: KeychainOp) -> Error {
    use keyring_core::Error as K;
    match err {
        K::NoStorageAccess(platform) => platform_error(platform.as_ref(), op, true),
        K::PlatformFailure(platform) => platform_error(platform.as_ref(), op, false),
        K::NoEntry => Error::Keychain {
            op,
            reason: "the item does not exist".to_string(),
        },
        K::BadEncoding(mut bytes) => {
            zeroize::Zeroize::zeroize(&mut bytes);
            Error::Keychain {
                op,
                reason: "the stored value is not valid UTF-8 text".to_string(),
            }
        }
        K::BadDataFormat(mut bytes, _) => {
            zeroize::Zeroize::zeroize(&mut bytes);
            Error::Keychain {
                op,
                reason: "the stored value is malformed".to_string(),
            }
        }
        K::BadStoreFormat(reason) => Error::Keychain { op, reason },
        K::TooLong(what, max) => Error::Keychain {
            op,
            reason: format!("the {what} is longer than this keychain's limit of {max}"),
        },
        K::Invalid(what, reason) => Error::Keychain {
            op,
            reason: format!("{what} {reason}"),
        },
        K::Ambiguous(items) => Error::Keychain {
            op,
            reason: format!(
                "{} keychain items match one name; remove the duplicates in your keyring tool",
                items.len()
            ),
        },
        K::NoDefaultStore => Error::Keychain {
            op,
            reason: "no keychain store is configured".to_string(),
        },
        K::NotSupportedByStore(what) => Error::Keychain { op, reason: what },
        _ => Error::Keychain {
            op,
            reason: "the keychain reported an unknown error".to_string(),
        },
    }
}

#[cfg(any(target_os = "linux", target_os = "freebsd", target_os = "openbsd"))]
fn platform_error(
    platform: &(dyn std::error::Error + Send + Sync + 'static),
    op: KeychainOp,
    no_access: bool,
) -> Error {
    use secret_service::Error as S;
    match platform.downcast_ref::<S>() {
        Some(S::Unavailable | S::Zbus(_) | S::ZbusFdo(_)) => Error::KeychainUnavailable {
            fix: FIX_NO_SECRET_SERVICE.to_string(),
        },
        Some(S::Locked | S::Prompt | S::PromptDisconnected | S::NoResult) => {
            Error::KeychainUnavailable {
                fix: FIX_LOCKED.to_string(),
            }
        }
        Some(other) => Error::Keychain {
            op,
            reason: other.to_string(),
        },
        None if no_access => Error::KeychainUnavailable {
            fix: FIX_LOCKED.to_string(),
        },
        None => Error::Keychain {
            op,
            reason: platform.to_string(),
        },
    }
}

#[cfg(target_os = "macos")]
fn platform_error(
    platform: &(dyn std::error::Error + Send + Sync + 'static),
    op: KeychainOp,
    no_access: bool,
) -> Error {
    if no_access {
        Error::KeychainUnavailable {
            fix: FIX_MACOS.to_string(),
        }
    } else {
        Error::Keychain {
            op,
            reason: platform.to_string(),
        }
    }
}

#[cfg(target_os = "windows")]
fn platform_error(
    platform: &(dyn std::error::Error + Send + Sync + 'static),
    op: KeychainOp,
    no_access: bool,
) -> Error {
    if no_access {
        Error::KeychainUnavailable {
            fix: FIX_WINDOWS.to_string(),
        }
    } else {
        Error::Keychain {
            op,
            reason: platform.to_string(),
        }
    }
}

#[cfg(not(any(
    target_os = "linux",
    target_os = "freebsd",
    target_os = "openbsd",
    target_os = "macos",
    target_os = "windows"
)))]
fn platform_error(
    platform: &(dyn std::error::Error + Send + Sync + 'static),
    op: KeychainOp,
    _no_access: bool,
) -> Error {
    Error::Keychain {
        op,
        reason: platform.to_string(),
    }
}
