//! Writes the UI's typed IPC bindings (`ui/src/ipc/bindings.ts`) from `src-tauri/ipc.rs`.
//! `--check` exits non-zero when the committed file differs.

fn main() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/ui/src/ipc/bindings.ts");
    let fresh = keyhaven_app::ipc::typescript_bindings();
    let check = std::env::args().any(|a| a == "--check");
    let current = std::fs::read_to_string(path).unwrap_or_default();
    if check {
        if current != fresh {
            eprintln!(
                "ui/src/ipc/bindings.ts is out of date: run `cargo run --bin keyhaven-bindings`"
            );
            std::process::exit(1);
        }
        return;
    }
    if current != fresh {
        if let Err(e) = std::fs::write(path, fresh) {
            eprintln!("could not write ui/src/ipc/bindings.ts: {e}");
            std::process::exit(1);
        }
    }
    println!("ui/src/ipc/bindings.ts written");
}
