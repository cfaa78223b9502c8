//! The one list of IPC commands. `ipc!` turns each line into a Tauri command that delegates to
//! one function in [`crate::ops`], into the invoke handler, and into a typed TypeScript wrapper
//! written by the `keyhaven-bindings` binary to `ui/src/ipc/bindings.ts`.

use ts_rs::TS;

use keyhaven_api::KeyMeta;
use keyhaven_core::{Account, ErrorKind, KeyView, ServiceRef};

use crate::state::{AppState, Shell};

use crate::wire::{
    AccountRef, AppStatus, Copied, CreatedKeyOnce, IpcError, IsolationRefusal, KeyRef,
    LocalService, NewKeyRequest, SignInRequest,
};

/// Calls that a plugin's own script makes on every page load, refused like any other but not worth
/// a warning each launch: tauri-plugin-notification replaces `window.Notification` and asks
/// whether notifications are allowed. The page itself never calls it (notifications come from
/// Rust), and the window is not given that permission.
const PLUGIN_PAGE_CALLS: &[&str] = &["plugin:notification|is_permission_granted"];

async fn refuse(_: &AppState, req: IsolationRefusal) -> Result<(), IpcError> {
    let command: String = req.command.chars().take(100).collect();
    let problem: String = req.problem.chars().take(300).collect();
    if PLUGIN_PAGE_CALLS.contains(&command.as_str()) {
        tracing::debug!(%command, %problem, "the IPC check refused a plugin's own page script");
    } else {
        tracing::warn!(%command, %problem, "the IPC check refused a call from the window");
    }
    Err(IpcError {
        code: ErrorKind::Forbidden,
        message: format!("Keyhaven refused the call to {command}: {problem}."),
        field: None,
    })
}

/// One command's shape, for the bindings generator.
pub struct CommandSpec {
    pub name: &'static str,
    pub arg: Option<(&'static str, String)>,
    pub ret: String,
}

macro_rules! ipc {
    ($( $(#[$doc:meta])* $name:ident ( $($arg:ident : $argty:ty)? ) -> $ret:ty => $target:path; )*) => {
        pub mod handlers {
            #[allow(unused_imports)]
            use super::*;
            $(
                $(#[$doc])*
                #[tauri::command]
                #[tracing::instrument(name = "ipc", skip_all, fields(command = stringify!($name)))]
                pub async fn $name(
                    shell: tauri::State<'_, Shell>,
                    $($arg: $argty)?
                ) -> Result<$ret, IpcError> {
                    let state = shell.wait().await;
                    let done = $target(state, $($arg)?).await.map_err(IpcError::from);
                    crate::tray::after_command(state, stringify!($name));
                    done
                }
            )*
        }

        /// The invoke handler for every declared command.
        pub fn handler<R: tauri::Runtime>() -> impl Fn(tauri::ipc::Invoke<R>) -> bool + Send + Sync + 'static {
            tauri::generate_handler![$(handlers::$name),*]
        }

        /// Every declared command, in order.
        pub fn specs() -> Vec<CommandSpec> {
            vec![$(CommandSpec {
                name: stringify!($name),
                arg: ipc!(@arg $($arg : $argty)?),
                ret: <$ret as TS>::name(),
            }),*]
        }
    };
    (@arg) => { None };
    (@arg $arg:ident : $argty:ty) => { Some((stringify!($arg), <$argty as TS>::name())) };
}

ipc! {
    /// Profile, accounts and the state of the local service.
    app_status() -> AppStatus => crate::ops::app_status;
    // Profiles, support, audit and settings
    /// The profiles on this computer, with their lock state.
    list_profiles() -> Vec<keyhaven_core::ProfileInfo> => crate::ops_profiles::list_profiles;
    /// Creates an empty profile (it does not become active).
    create_profile(req: crate::ops_profiles::ProfileName) -> keyhaven_core::ProfileInfo => crate::ops_profiles::create_profile;
    /// Makes a profile the active one and locks every other.
    switch_profile(req: crate::ops_profiles::ProfileName) -> () => crate::ops_profiles::switch_profile;
    /// Renames a profile with its accounts and keychain entries.
    rename_profile(req: crate::ops_profiles::RenameProfileRequest) -> () => crate::ops_profiles::rename_profile;
    /// Deletes a profile, its accounts and its secrets, after its name is typed again.
    delete_profile(req: crate::ops_profiles::DeleteProfileRequest) -> () => crate::ops_profiles::delete_profile;
    /// Locks the active profile now.
    lock_profile() -> () => crate::ops_profiles::lock_profile;
    /// Unlocks the active profile with its passphrase.
    unlock_profile(req: crate::ops_profiles::PassphraseRequest) -> () => crate::ops_profiles::unlock_profile;
    /// Protects the active profile's secrets with a passphrase.
    set_passphrase(req: crate::ops_profiles::PassphraseRequest) -> () => crate::ops_profiles::set_passphrase;
    /// Replaces the active profile's passphrase.
    change_passphrase(req: crate::ops_profiles::ChangePassphraseRequest) -> () => crate::ops_profiles::change_passphrase;
    /// Removes the active profile's passphrase.
    remove_passphrase(req: crate::ops_profiles::PassphraseRequest) -> () => crate::ops_profiles::remove_passphrase;
    /// Records the person's activity, postponing auto-lock.
    touch_activity() -> () => crate::ops_profiles::touch_activity;
    /// Sets the active profile's auto-lock idle time.
    set_auto_lock(req: crate::ops_profiles::AutoLockRequest) -> () => crate::ops_profiles::set_auto_lock;
    /// Support: keys of every tenant whose prefix starts with the given text.
    support_find_keys(req: crate::ops_profiles::SupportSearchRequest) -> Vec<keyhaven_api::SupportKey> => crate::ops_profiles::support_find_keys;
    /// Support: one key's metadata, usage, denials and its tenant's audit log, read-only.
    support_key_detail(req: crate::ops_profiles::SupportKeyRequest) -> crate::ops_profiles::SupportKeyDetail => crate::ops_profiles::support_key_detail;
    /// The account's audit log, newest first.
    audit_log(req: crate::ops_profiles::AuditRequest) -> Vec<keyhaven_api::AuditRecord> => crate::ops_profiles::audit_log;
    /// The active profile's settings.
    get_settings() -> keyhaven_core::Settings => crate::ops_profiles::get_settings;
    /// Checks and saves the active profile's settings.
    save_settings(req: keyhaven_core::Settings) -> keyhaven_core::Settings => crate::ops_profiles::save_settings;
    /// What the window remembers for the active profile: sort, column widths, tab, account, chart.
    ui_prefs() -> crate::prefs::UiPrefs => crate::prefs::ui_prefs;
    /// Checks and keeps what the window remembers for the active profile.
    save_ui_prefs(req: crate::prefs::UiPrefs) -> crate::prefs::UiPrefs => crate::prefs::save_ui_prefs;
    /// Signs in to a key service and makes the account active.
    sign_in(req: SignInRequest) -> Account => crate::ops::sign_in;
    // Kinds of service, accounts without sign-in and imported keys
    /// Every kind of service, with its label, documented host, key page and key prefixes.
    kinds() -> Vec<keyhaven_core::KindInfo> => crate::ops_kinds::kinds;
    /// Adds an account of a kind without sign-in (its keys are imported) and makes it active.
    add_account(req: keyhaven_core::NewAccount) -> Account => crate::ops_kinds::add_account;
    /// Checks a pasted key with its service (unless asked not to) and stores it in the keychain.
    import_key(req: crate::ops_kinds::ImportKeyRequest) -> KeyView => crate::ops_kinds::import_key;
    /// Checks a held key with its service now, and records what was found.
    check_key(req: KeyRef) -> keyhaven_core::local_keys::KeyCheck => crate::ops_kinds::check_key;
    /// Forgets an imported key here: its record and its secret (the service's page deletes it).
    forget_key(req: KeyRef) -> () => crate::ops_kinds::forget_key;
    /// Signs out and forgets the account's session.
    sign_out(req: AccountRef) -> () => crate::ops::sign_out;
    /// Makes an account the active one.
    select_account(req: AccountRef) -> () => crate::ops::select_account;
    /// The keys of an account, metadata only.
    list_keys(req: AccountRef) -> Vec<KeyView> => crate::ops::list_keys;
    /// Keys of every account of the profile by part of the name or the start of the prefix.
    find_keys(req: crate::ops::FindKeysRequest) -> keyhaven_core::KeySearch => crate::ops::find_keys;
    /// Creates a key, stores its secret in the keychain and returns it this once.
    create_key(req: NewKeyRequest) -> CreatedKeyOnce => crate::ops::create_key;
    /// Revokes a key on its service and deletes its local secret.
    revoke_key(req: KeyRef) -> () => crate::ops::revoke_key;
    /// Copies a key's secret from the keychain to the clipboard, which clears itself.
    copy_secret(req: KeyRef) -> Copied => crate::ops::copy_secret;
    // Key detail, rotation and usage
    /// What an account's service and role allow, for the UI to offer only what works.
    key_capabilities(req: AccountRef) -> keyhaven_core::Capabilities => crate::ops_keys::key_capabilities;
    /// One key's metadata.
    get_key(req: KeyRef) -> KeyMeta => crate::ops_keys::get_key;
    /// Changes a key's name, scopes, expiry, origins, IPs or hourly limit; the secret stays.
    update_key(req: crate::ops_keys::UpdateKeyInput) -> KeyMeta => crate::ops_keys::update_key;
    /// One key's calls by hour or day, with denials by reason.
    key_usage(req: crate::ops_keys::KeyUsageRequest) -> keyhaven_api::KeyUsage => crate::ops_keys::key_usage;
    /// A key's recent refused calls, newest first.
    key_denials(req: KeyRef) -> Vec<keyhaven_api::DenialRecord> => crate::ops_keys::key_denials;
    /// The env files known to reference a key (recorded by `keyhaven run` and `env import`).
    env_references(req: crate::ops_keys::EnvReferencesRequest) -> Vec<keyhaven_core::EnvReference> => crate::ops_keys::env_references;
    /// Rotates a key, sending each step to the window as a `rotation-progress` event.
    rotate_key(req: crate::ops_keys::RotateRequest) -> keyhaven_core::RotationOutcome => crate::ops_keys::rotate_key;
    // Guided rotation, for keys made on their service's own page
    /// The guided rotations in progress, with what to do next in each.
    guided_rotations() -> Vec<crate::ops_guided::GuidedView> => crate::ops_guided::guided_rotations;
    /// Starts a guided rotation of a key, or gives the one in progress for it.
    begin_guided_rotation(req: KeyRef) -> crate::ops_guided::GuidedView => crate::ops_guided::begin_guided_rotation;
    /// Takes a guided rotation's new key, pasted: checked (unless asked not to), stored, put in use.
    guided_new_key(req: crate::ops_guided::GuidedNewKeyRequest) -> crate::ops_guided::GuidedView => crate::ops_guided::guided_new_key;
    /// Confirms the old key is gone: done only once its service refuses it (Animus: revoked here).
    guided_confirm_deleted(req: crate::ops_guided::GuidedConfirmRequest) -> keyhaven_core::GuidedOutcome => crate::ops_guided::guided_confirm_deleted;
    /// Stops a guided rotation; a new key already in use stays, and so does the old one.
    cancel_guided_rotation(req: crate::ops_guided::GuidedRotationRef) -> keyhaven_core::GuidedRotation => crate::ops_guided::cancel_guided_rotation;
    /// The account's last usage seen by the watcher (offline too).
    cached_usage(req: AccountRef) -> Option<keyhaven_core::UsageSnapshot> => crate::ops_keys::cached_usage;
    /// The account's usage read now.
    refresh_usage(req: AccountRef) -> keyhaven_core::UsageSnapshot => crate::ops_keys::refresh_usage;
    /// The watcher's settings, recent alerts, and resumed or pending rotations.
    watch_status() -> crate::ops_keys::WatchStatus => crate::ops_keys::watch_status;
    /// Answers a call the isolation application (ui/isolation) refused, with its reason.
    isolation_refused(req: IsolationRefusal) -> () => refuse;
}

/// Every type the bindings declare, in dependency order.
pub fn declarations() -> Vec<String> {
    let mut decls = vec![
        keyhaven_api::Role::decl(),
        keyhaven_api::KeyStatus::decl(),
        KeyMeta::decl(),
        ErrorKind::decl(),
        ServiceRef::decl(),
        keyhaven_core::ConnectorKind::decl(),
        keyhaven_core::Tier::decl(),
        Account::decl(),
        keyhaven_core::local_keys::Verdict::decl(),
        keyhaven_core::local_keys::Quota::decl(),
        keyhaven_core::local_keys::KeyCheck::decl(),
        KeyView::decl(),
        keyhaven_core::FoundKey::decl(),
        keyhaven_core::UnreadAccount::decl(),
        keyhaven_core::KeySearch::decl(),
        crate::ops::FindKeysRequest::decl(),
        IpcError::decl(),
        LocalService::decl(),
        AppStatus::decl(),
        SignInRequest::decl(),
        AccountRef::decl(),
        KeyRef::decl(),
        NewKeyRequest::decl(),
        CreatedKeyOnce::decl(),
        Copied::decl(),
        IsolationRefusal::decl(),
        // Key detail, rotation and usage
        keyhaven_core::Capabilities::decl(),
        keyhaven_core::Granularity::decl(),
        keyhaven_api::UsagePoint::decl(),
        keyhaven_api::KeyUsage::decl(),
        keyhaven_api::DenialRecord::decl(),
        keyhaven_core::EnvReference::decl(),
        keyhaven_core::ErrorPayload::decl(),
        keyhaven_core::Grace::decl(),
        keyhaven_core::RotationStep::decl(),
        keyhaven_core::StepStatus::decl(),
        keyhaven_core::RotationProgress::decl(),
        keyhaven_core::Method::decl(),
        keyhaven_core::RotationOutcome::decl(),
        keyhaven_core::PendingRotation::decl(),
        keyhaven_core::watch::QuotaProjection::decl(),
        keyhaven_core::watch::KeySnapshot::decl(),
        keyhaven_core::UsageSnapshot::decl(),
        keyhaven_core::AlertSeverity::decl(),
        keyhaven_core::watch::LimitKind::decl(),
        keyhaven_core::AlertKind::decl(),
        keyhaven_core::Alert::decl(),
        keyhaven_core::WatchEvent::decl(),
        crate::ops_keys::WatchSettings::decl(),
        crate::ops_keys::UpdateKeyInput::decl(),
        crate::ops_keys::HourlyLimit::decl(),
        crate::ops_keys::KeyUsageRequest::decl(),
        crate::ops_keys::EnvReferencesRequest::decl(),
        crate::ops_keys::RotateRequest::decl(),
        crate::ops_keys::WatchStatus::decl(),
    ];
    decls.extend(crate::ops_profiles::declarations());
    decls.extend(crate::ops_kinds::declarations());
    decls.extend(crate::ops_guided::declarations());
    decls.extend(crate::prefs::declarations());
    decls
}

/// The TypeScript module the UI imports: every type, and one typed function per command.
pub fn typescript_bindings() -> String {
    let mut out = String::from(
        "// Generated by `cargo run --bin keyhaven-bindings` from src-tauri/ipc.rs. Do not edit.\n\
         import { invoke } from \"@tauri-apps/api/core\";\n\n",
    );
    for decl in declarations() {
        out.push_str("export ");
        out.push_str(&decl);
        out.push_str("\n\n");
    }
    out.push_str("export const commands = {\n");
    for spec in specs() {
        let camel = camel_case(spec.name);
        match &spec.arg {
            Some((arg, ty)) => out.push_str(&format!(
                "  {camel}: ({arg}: {ty}) => invoke<{ret}>(\"{name}\", {{ {arg} }}),\n",
                ret = spec.ret,
                name = spec.name
            )),
            None => out.push_str(&format!(
                "  {camel}: () => invoke<{ret}>(\"{name}\"),\n",
                ret = spec.ret,
                name = spec.name
            )),
        }
    }
    out.push_str("};\n");
    out.push_str(&kinds_table());
    out
}

/// The core's kinds table (`keyhaven_core::KINDS`) as a constant, for the UI's tests to use the
/// table the `kinds` command answers instead of a copy kept by hand.
pub fn kinds_table() -> String {
    let table = serde_json::to_string_pretty(&keyhaven_core::KINDS.to_vec())
        .unwrap_or_else(|e| panic!("the kinds table does not serialize: {e}"));
    format!(
        "\n/** Every kind of service, as the `kinds` command answers (keyhaven_core::KINDS). */\n\
         export const KINDS: KindInfo[] = {table};\n"
    )
}

/// The files generated from this module, by their path from the repository's root: the UI's
/// bindings and the isolation application's command list.
pub fn generated_files() -> [(&'static str, String); 2] {
    [
        ("ui/src/ipc/bindings.ts", typescript_bindings()),
        ("ui/isolation/commands.js", isolation_commands()),
    ]
}

/// The isolation application's list of commands (`ui/isolation/commands.js`): each command and
/// the name of its one argument, or null. A plain script, as the isolation frame loads no modules.
pub fn isolation_commands() -> String {
    let mut out = String::from(
        "// Generated by `cargo run --bin keyhaven-bindings` from src-tauri/ipc.rs. Do not edit.\n\
         // Each command the window may call, with the name of its one argument (null: none).\n\
         var KEYHAVEN_COMMANDS = Object.freeze({\n",
    );
    for spec in specs() {
        match &spec.arg {
            Some((arg, _)) => out.push_str(&format!("  {}: \"{arg}\",\n", spec.name)),
            None => out.push_str(&format!("  {}: null,\n", spec.name)),
        }
    }
    out.push_str("});\n");
    out.push_str(&crate::events::isolation_events());
    out
}

fn camel_case(snake: &str) -> String {
    let mut out = String::with_capacity(snake.len());
    let mut upper = false;
    for c in snake.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permission_list_names_exactly_the_declared_commands() {
        let declared: Vec<&str> = specs().iter().map(|s| s.name).collect();
        assert_eq!(declared, crate::command_names::COMMANDS);
    }

    #[test]
    fn committed_generated_files_match_the_declarations() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        for (name, fresh) in crate::codegen::generated_files(root).expect("generated") {
            let path = format!("{}/{name}", env!("CARGO_MANIFEST_DIR"));
            let committed = std::fs::read_to_string(path).unwrap_or_default();
            assert!(
                committed == fresh,
                "{name} is out of date: run `cargo run --bin keyhaven-bindings`"
            );
        }
    }

    #[test]
    fn camel_case_converts_command_names() {
        assert_eq!(camel_case("list_keys"), "listKeys");
        assert_eq!(camel_case("app_status"), "appStatus");
    }
}
