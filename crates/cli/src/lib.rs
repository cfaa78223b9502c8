//! The `keyhaven` command, on the same core as the desktop app.
//!
//! ```text
//! keyhaven keys list [--profile P] [--account ID] [--json]
//! keyhaven profile show [--profile P] [--json]
//! keyhaven profile list [--json]
//! keyhaven profile create|switch NAME
//! keyhaven profile rename OLD NEW
//! keyhaven profile delete NAME --confirm NAME
//! keyhaven profile lock [--change]        (passphrases from standard input)
//! keyhaven profile unlock [--remove]
//! keyhaven --passphrase-stdin keys list   (a locked profile, unlocked for this command)
//! ```
//!
//! Environment: `KEYHAVEN_DATA_DIR`, `KEYHAVEN_KEYCHAIN_NAMESPACE` (as the app), `KEYHAVEN_LOG`
//! (a tracing filter, default `warn`; logs go to standard error).

mod output;
mod profiles;

use std::ffi::OsString;
use std::io::Write;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use keyhaven_core::{CoreConfig, Error, ErrorKind, Keyhaven};

#[derive(Debug, Parser)]
#[command(
    name = "keyhaven",
    version,
    about = "Keyhaven: your API keys, from the terminal"
)]
pub struct Cli {
    /// Use this profile instead of the active one (it is not made active).
    #[arg(long, global = true, value_name = "PROFILE")]
    pub profile: Option<String>,

    /// Unlock a locked profile with a passphrase read from standard input (one line) for this
    /// command. Never pass a passphrase as an argument.
    #[arg(long, global = true)]
    pub passphrase_stdin: bool,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// API keys of an account.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Profiles on this computer.
    #[command(subcommand)]
    Profile(ProfileCommand),
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// List the keys of the active account (metadata only, never a secret).
    List(KeysList),
}

#[derive(Debug, Args)]
pub struct KeysList {
    /// The account (its id, from `keyhaven profile show`); default: the profile's active account.
    #[arg(long, value_name = "ID")]
    pub account: Option<String>,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum ProfileCommand {
    /// The profile and its accounts.
    Show {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    #[command(flatten)]
    Admin(profiles::ProfileAdmin),
}

/// Runs the command line given by `args` (the program name first) and returns the exit code.
pub fn main_with_args(args: impl IntoIterator<Item = OsString>) -> ExitCode {
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            // Help and version go to stdout with success; usage errors to stderr with 2.
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    init_tracing();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: could not start: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(text) => {
            let mut stdout = std::io::stdout().lock();
            // A closed pipe (`keyhaven keys list | head`) is not an error.
            let _ = stdout
                .write_all(text.as_bytes())
                .and_then(|()| stdout.flush());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            if let Some(hint) = hint(&e) {
                eprintln!("hint: {hint}");
            }
            exit_code(e.code())
        }
    }
}

/// Runs a parsed command and returns what it prints on standard output.
pub async fn run(cli: Cli) -> Result<String, Error> {
    let config = CoreConfig::from_env()?;
    let core = match &cli.profile {
        Some(profile) => Keyhaven::open_profile(config, profile).await?,
        None => Keyhaven::open(config).await?,
    };
    match cli.command {
        Command::Keys(KeysCommand::List(args)) => {
            if cli.passphrase_stdin {
                profiles::unlock_from_stdin(&core).await?;
            }
            keys_list(&core, args).await
        }
        Command::Profile(ProfileCommand::Show { json }) => Ok(output::profile(&core, json)),
        Command::Profile(ProfileCommand::Admin(command)) => profiles::run(&core, command).await,
    }
}

async fn keys_list(core: &Keyhaven, args: KeysList) -> Result<String, Error> {
    let account = match args.account {
        Some(id) => core.account(&id)?,
        None => core.active_account().ok_or_else(|| Error::NoAccount {
            profile: core.profile(),
        })?,
    };
    let keys = core.list_keys(&account.id).await?;
    if args.json {
        Ok(output::json(&keys))
    } else {
        Ok(output::keys_table(&keys))
    }
}

fn hint(e: &Error) -> Option<&'static str> {
    match e.code() {
        ErrorKind::Unauthorized => Some("sign in again in the Keyhaven app."),
        ErrorKind::EmbeddedServiceNotRunning => {
            Some("start the Keyhaven app: this account is on its built-in key service.")
        }
        ErrorKind::NotFound => Some("`keyhaven profile show` lists the profile's accounts."),
        ErrorKind::Locked => Some(
            "give the passphrase on standard input: `keyhaven --passphrase-stdin ...` (one line).",
        ),
        ErrorKind::NoPassphrase => Some("set one with `keyhaven profile lock`."),
        ErrorKind::ProfileInUse => Some("`keyhaven profile switch OTHER` first."),
        _ => None,
    }
}

/// Exit codes scripts can rely on.
pub fn exit_code(kind: ErrorKind) -> ExitCode {
    ExitCode::from(match kind {
        ErrorKind::Validation => 2,
        ErrorKind::NoAccount | ErrorKind::NotFound => 3,
        ErrorKind::Unauthorized | ErrorKind::Forbidden => 4,
        ErrorKind::KeychainUnavailable | ErrorKind::Keychain | ErrorKind::SecretTooLong => 5,
        ErrorKind::Network | ErrorKind::EmbeddedServiceNotRunning => 6,
        ErrorKind::Locked | ErrorKind::WrongPassphrase => 7,
        ErrorKind::ProfileExists
        | ErrorKind::ProfileInUse
        | ErrorKind::LastProfile
        | ErrorKind::NoPassphrase => 2,
        _ => 1,
    })
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("KEYHAVEN_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .without_time()
        .try_init();
}
