//! Checks of the shipped configuration that a reviewer would otherwise do by eye: the content
//! security policy stays strict, every capability names its windows, and unsafe code stays where
//! it was allowed.

use std::path::Path;

fn read_json(relative: &str) -> serde_json::Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(relative);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{relative}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{relative}: {e}"))
}

#[test]
fn the_content_security_policy_is_strict() {
    let config = read_json("tauri.conf.json");
    let csp = config["app"]["security"]["csp"]
        .as_object()
        .expect("app.security.csp is an object of directives");
    let directive = |name: &str| {
        csp.get(name)
            .and_then(|v| v.as_str())
            .unwrap_or_else(|| panic!("the CSP has no {name}"))
    };
    assert_eq!(directive("default-src"), "'self'");
    assert_eq!(directive("script-src"), "'self'");
    assert_eq!(directive("style-src"), "'self'");
    assert_eq!(directive("object-src"), "'none'");
    assert_eq!(directive("base-uri"), "'none'");
    assert_eq!(directive("frame-ancestors"), "'none'");
    for (name, value) in csp {
        let value = value.as_str().unwrap_or_default();
        // Only the app itself, Tauri's IPC, `'none'`, and data: images; never `unsafe-*`,
        // a wildcard or a remote origin.
        for source in value.split_whitespace() {
            let allowed = matches!(
                source,
                "'self'" | "'none'" | "ipc:" | "http://ipc.localhost"
            ) || (name == "img-src" && source == "data:");
            assert!(allowed, "CSP {name} allows {source}");
        }
    }
    assert_ne!(
        config["app"]["security"]["dangerousDisableAssetCspModification"],
        serde_json::Value::Bool(true)
    );
    assert_eq!(
        config["app"]["withGlobalTauri"],
        serde_json::Value::Bool(false)
    );
}

#[test]
fn capabilities_name_their_windows_and_allow_no_remote_urls() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("capabilities");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).expect("capabilities/") {
        let path = entry.expect("a capability file").path();
        if path.extension().and_then(|e| e.to_str()) != Some("json") {
            continue;
        }
        seen += 1;
        let name = path
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        let cap = read_json(&format!("capabilities/{name}"));
        let windows = cap["windows"]
            .as_array()
            .expect("a capability lists its windows");
        assert!(!windows.is_empty(), "{name} names no window");
        for w in windows {
            let w = w.as_str().unwrap_or_default();
            assert!(
                !w.is_empty() && !w.contains('*'),
                "{name} names window {w:?}"
            );
        }
        assert!(cap.get("remote").is_none(), "{name} grants remote URLs");
        assert!(
            cap.get("webviews").is_none(),
            "{name} names webviews by pattern"
        );
        for p in cap["permissions"].as_array().expect("permissions") {
            let p = p.as_str().expect("permissions are plain identifiers here");
            assert!(!p.contains('*'), "{name} grants {p}");
        }
    }
    assert!(seen > 0, "no capability files");
}

#[test]
fn the_main_window_may_call_the_declared_commands_and_two_plugin_calls() {
    // The command permissions are generated from the `ipc!` list (`keyhaven-bindings`); the
    // plugin permissions are written by hand, and are the two the UI's IPC folder uses.
    let cap = read_json(crate::codegen::CAPABILITY);
    assert_eq!(cap["windows"], serde_json::json!(["main"]));
    let granted: Vec<&str> = cap["permissions"]
        .as_array()
        .expect("permissions")
        .iter()
        .map(|p| p.as_str().expect("a permission's name"))
        .collect();
    let mut expected = vec![
        "core:event:default".to_string(),
        "deep-link:allow-get-current".to_string(),
    ];
    expected.extend(
        crate::ipc::specs()
            .iter()
            .map(|s| crate::codegen::command_permission(s.name)),
    );
    assert_eq!(granted, expected, "run `cargo run --bin keyhaven-bindings`");
    let fresh = crate::codegen::main_capability(
        &std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("capabilities/main.json"),
        )
        .expect("capabilities/main.json"),
    )
    .expect("the capability is rewritten");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&fresh).expect("JSON"),
        cap
    );
}

/// Every Rust source file under `folder` (recursively), skipping build output.
fn rust_files(folder: &Path, found: &mut Vec<std::path::PathBuf>) {
    let entries = std::fs::read_dir(folder).unwrap_or_else(|e| panic!("{}: {e}", folder.display()));
    for entry in entries {
        let path = entry.expect("folder entry").path();
        if path.is_dir() {
            if path
                .file_name()
                .is_some_and(|n| n != "target" && n != "node_modules")
            {
                rust_files(&path, found);
            }
        } else if path.extension().is_some_and(|e| e == "rs") {
            found.push(path);
        }
    }
}

#[test]
fn unsafe_code_is_allowed_in_two_places_only() {
    // The workspace denies unsafe code; the exceptions are the app's call to glibc's mallopt and
    // the core's hardening (the wiping allocator, setrlimit for no core dumps).
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    for folder in ["src-tauri", "crates", "fuzz"] {
        rust_files(&root.join(folder), &mut files);
    }
    assert!(files.len() > 50, "found only {} Rust files", files.len());
    let mut allowing: Vec<String> = files
        .iter()
        .filter(|path| {
            let text = std::fs::read_to_string(path).expect("source file");
            text.contains(&["allow(", "unsafe_code)"].concat())
        })
        .map(|path| {
            path.strip_prefix(root)
                .expect("under the root")
                .display()
                .to_string()
        })
        .collect();
    allowing.sort();
    assert_eq!(
        allowing,
        ["crates/core/src/hardening.rs", "src-tauri/memory.rs"]
    );
}
