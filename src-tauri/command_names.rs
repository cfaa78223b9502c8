// The app's IPC commands, by name. `build.rs` includes this file to generate a permission per
// command, and a test in `ipc.rs` checks that it names exactly the commands `ipc!` declares.
pub const COMMANDS: &[&str] = &[
    "app_status",
    // Profiles, support, audit and settings
    "list_profiles",
    "create_profile",
    "switch_profile",
    "rename_profile",
    "delete_profile",
    "lock_profile",
    "unlock_profile",
    "set_passphrase",
    "change_passphrase",
    "remove_passphrase",
    "touch_activity",
    "set_auto_lock",
    "support_find_keys",
    "support_key_detail",
    "audit_log",
    "sign_in",
    "sign_out",
    "select_account",
    "list_keys",
    "create_key",
    "revoke_key",
    "copy_secret",
];
