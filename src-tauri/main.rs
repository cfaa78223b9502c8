// Keep a console window from opening on Windows release builds.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

fn main() {
    // A crash must not write the window's memory, secrets and all, to a core file.
    keyhaven_core::hardening::forbid_core_dumps();
    keyhaven_app::run();
}
