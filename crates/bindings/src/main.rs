//! Writes what is generated from the `ipc!` list (`src-tauri/ipc.rs`) and the events list
//! (`src-tauri/events.rs`): the UI's typed IPC bindings and event listeners, the isolation
//! application's command and event list, the command names `build.rs` reads, and the command
//! permissions of `capabilities/main.json` (see `keyhaven_app::codegen`). `--check` exits
//! non-zero when a committed file differs.

fn main() {
    // The repository's root: this package is crates/bindings.
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    let files = match keyhaven_app::codegen::generated_files(std::path::Path::new(root)) {
        Ok(files) => files,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    };
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
