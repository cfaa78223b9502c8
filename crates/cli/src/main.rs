//! `keyhaven`: see [`keyhaven_cli`].

fn main() -> std::process::ExitCode {
    keyhaven_cli::main_with_args(std::env::args_os())
}
