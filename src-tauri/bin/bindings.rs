//! Writes the UI's typed IPC bindings (`ui/src/ipc/bindings.ts`) and the isolation
//! application's command list (`ui/isolation/commands.js`) from `src-tauri/ipc.rs`.
//! `--check` exits non-zero when a committed file differs.

fn main() {
    let root = env!("CARGO_MANIFEST_DIR");
    let files = keyhaven_app::ipc::generated_files();
    let check = std::env::args().any(|a| a == "--check");
    let mut stale = false;
    for (name, fresh) in files {
        let path = format!("{root}/{name}");
        let current = std::fs::read_to_string(&path).unwrap_or_default();
        if current == fresh {
            continue;
        }
        if check {
            eprintln!("{name} is out of date: run `cargo run --bin keyhaven-bindings`");
            stale = true;
        } else if let Err(e) = std::fs::write(&path, fresh) {
            eprintln!("could not write {name}: {e}");
            std::process::exit(1);
        } else {
            println!("{name} written");
        }
    }
    if stale {
        std::process::exit(1);
    }
}
