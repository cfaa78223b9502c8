// Keep a console window from opening on Windows release builds.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

/// Freed memory is wiped: the keychain's D-Bus messages and the clipboard's buffers that carried
/// a secret leave no copy behind (SECURITY 24; tests/e2e/test_memory.py).
#[global_allocator]
static ALLOCATOR: keyhaven_core::hardening::WipingAllocator =
    keyhaven_core::hardening::WipingAllocator;

fn main() {
    // A crash must not write the window's memory, secrets and all, to a core file.
    keyhaven_core::hardening::forbid_core_dumps();
    keyhaven_app::run();
}
