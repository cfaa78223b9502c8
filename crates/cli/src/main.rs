//! `keyhaven`: see [`keyhaven_cli`].

/// Every freed block wiped, so that copies of a secret libraries made go with them
/// (`keyhaven_core::hardening`).
#[global_allocator]
static WIPED: keyhaven_core::hardening::WipingAllocator = keyhaven_core::hardening::WipingAllocator;

fn main() -> std::process::ExitCode {
    keyhaven_core::hardening::forbid_core_dumps();
    keyhaven_cli::main_with_args(std::env::args_os())
}
