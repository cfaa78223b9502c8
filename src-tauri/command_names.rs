// The app's IPC commands, by name. `build.rs` includes this file to generate a permission per
// command, and a test in `ipc.rs` checks that it names exactly the commands `ipc!` declares.
pub const COMMANDS: &[&str] = &[
    "app_status",
    "sign_in",
    "sign_out",
    "select_account",
    "list_keys",
    "create_key",
    "revoke_key",
    "copy_secret",
    // Key detail, rotation and usage
    "key_capabilities",
    "get_key",
    "update_key",
    "key_usage",
    "key_denials",
    "rotate_key",
    "cached_usage",
    "refresh_usage",
    "watch_status",
];
