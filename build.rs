include!("src-tauri/command_names.rs");

fn main() {
    // The isolation application (tauri.conf.json, app.security.pattern) is embedded at compile time.
    println!("cargo:rerun-if-changed=ui/isolation");
    let attributes = tauri_build::Attributes::new()
        .app_manifest(tauri_build::AppManifest::new().commands(COMMANDS));
    if let Err(e) = tauri_build::try_build(attributes) {
        panic!("tauri build step failed: {e:#}");
    }
}
