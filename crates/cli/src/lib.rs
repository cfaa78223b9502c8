//! The `keyhaven` command, on the same core as the desktop app.
//!
//! ```text
//! keyhaven account add --url URL --email EMAIL [--kind keyhaven] [--allow-http] [--no-remember]
//! keyhaven account list|use ID|sign-in ID|sign-out ID|remove ID --confirm ID
//! keyhaven keys list [--profile P] [--account ID] [--json]
//! keyhaven keys get KEY [--account ID] [--allow-pipe]
//! keyhaven keys rotate KEY [--account ID] [--grace none|1h|24h|7d] [--method auto|roll|replace] [--json]
//! keyhaven keys resume [--json]
//! keyhaven run --key KEY [--env NAME] [--account ID] -- COMMAND [ARGS...]
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
//! `KEY` is a key's id, its name, or the start of its prefix. A rotated key's old id leads to
//! its replacement.
//!
//! Environment: `KEYHAVEN_DATA_DIR`, `KEYHAVEN_KEYCHAIN_NAMESPACE` (as the app), `KEYHAVEN_LOG`
//! (a tracing filter, default `warn`; logs go to standard error).

mod accounts;
mod env;
mod envfile;
mod find;
mod guided;
mod held;
mod manage;
mod output;
mod profiles;
mod run;
mod scan;

use std::ffi::OsString;
use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use keyhaven_api::KeyStatus;
use keyhaven_core::vault::names;
use keyhaven_core::{
    Account, CoreConfig, Error, ErrorKind, Grace, Keyhaven, RotateOptions, RotationMethod,
    RotationOutcome, RotationProgress, RotationStep, StepStatus,
};

#[derive(Debug, Parser)]
#[command(
    name = "keyhaven",
    version,
    about = "Keyhaven: your API keys, from the terminal",
    after_help = "Exit codes: 0 done; 1 another failure; 2 bad input (a field, a URL, a \
                  confirmation); 3 no such account or key; 4 refused by the key service (sign \
                  in again, or not allowed); 5 the keychain; 6 the network, or the app's \
                  built-in service not running; 7 the profile is locked or the passphrase wrong. \
                  `run` exits with its command's status."
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
    /// Accounts on key services: sign in, list, choose the active one, sign out, remove.
    #[command(subcommand)]
    Account(accounts::AccountCommand),
    /// API keys of an account.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Profiles on this computer.
    #[command(subcommand)]
    Profile(ProfileCommand),
    /// Run a command with a key's secret in its environment (`--env`, default KEYHAVEN_API_KEY)
    /// and nowhere else; exits with the command's status.
    Run(run::RunArgs),
    /// Move secrets out of .env files: `env import FILE` turns them into references,
    /// `env check FILE` lists what does not resolve or looks like a secret.
    #[command(subcommand)]
    Env(env::EnvCommand),
    /// Find the secrets this profile holds in files, in a git repository's history (--git) or
    /// in the changes staged for the next commit (--staged, for a pre-commit hook); exits 1 when
    /// it finds any, naming each place, the key and how to rotate it.
    Scan(scan::ScanArgs),
    /// Print shell completions: `keyhaven completions bash > /etc/bash_completion.d/keyhaven`.
    Completions {
        /// The shell.
        #[arg(value_parser = ["bash", "zsh", "fish"])]
        shell: String,
    },
    /// Print the manual page (roff): `keyhaven man > keyhaven.1`.
    Man,
}

/// What the command definitions generate, without opening a profile: completions and the
/// manual page.
fn generated(command: &Command) -> Option<Result<Done, Error>> {
    use clap::CommandFactory;
    let mut cli = Cli::command();
    let mut out = Vec::new();
    match command {
        Command::Completions { shell } => {
            let shell = match shell.as_str() {
                "zsh" => clap_complete::Shell::Zsh,
                "fish" => clap_complete::Shell::Fish,
                _ => clap_complete::Shell::Bash,
            };
            clap_complete::generate(shell, &mut cli, "keyhaven", &mut out);
        }
        Command::Man => {
            if let Err(e) = clap_mangen::Man::new(cli).render(&mut out) {
                return Some(Err(Error::Validation {
                    field: "man".into(),
                    message: format!("the manual page could not be written: {e}"),
                }));
            }
        }
        _ => return None,
    }
    Some(Ok(Done::from(String::from_utf8_lossy(&out).into_owned())))
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// List the keys of the active account (metadata only, never a secret).
    List(KeysList),
    /// Create a key: its secret goes to the keychain, its metadata to standard output. The
    /// secret itself only with --show-secret (to a terminal, or with --allow-pipe).
    Create(manage::KeysCreate),
    /// A key's metadata (never its secret).
    Show(manage::KeysShow),
    /// Revoke a key at once, for every program that uses it; its name is typed again to confirm.
    Revoke(manage::KeysRevoke),
    /// Change a key's name, scopes, expiry, origins, IPs or hourly limit; its secret stays.
    Update(manage::KeysUpdate),
    /// Import a key whose secret you hold (from standard input, never an argument): verified
    /// with the account's service, then stored in the keychain.
    Import(manage::KeysImport),
    /// Check that a key still works, with one cheap call to its service.
    Check(manage::KeysCheck),
    /// Find a key by part of its name or the start of its prefix, in every account of the
    /// profile. Exits 1 when an account could not be searched (signed out, offline).
    Find(find::KeysFind),
    /// Remove a key of a service Keyhaven cannot delete keys on (AniKura, Ananke Labs,
    /// WaniKani, generic) from Keyhaven: its record and its secret here. Its name is typed again
    /// to confirm.
    Forget(manage::KeysForget),
    /// A key's calls by hour (the last 24) or day (the last 30): a chart, or JSON.
    Usage(manage::KeysUsage),
    /// Print a key's secret from the keychain: to a terminal, or with --allow-pipe to a pipe
    /// or a file.
    Get(KeysGet),
    /// Rotate a key: the new secret is stored, verified and in use before the old key is
    /// retired. Progress goes to standard error.
    Rotate(KeysRotate),
    /// Finish or undo rotations that did not complete (after a crash, or without network).
    Resume {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Args)]
pub struct KeysGet {
    /// The key: its id, its name, or the start of its prefix.
    pub key: String,
    /// The account (its id); default: the profile's active account.
    #[arg(long, value_name = "ID")]
    pub account: Option<String>,
    /// Print the secret even when standard output is not a terminal (a pipe or a file).
    #[arg(long)]
    pub allow_pipe: bool,
}

#[derive(Debug, Args)]
pub struct KeysRotate {
    /// The key: its id, its name, or the start of its prefix.
    pub key: String,
    /// The account (its id); default: the profile's active account.
    #[arg(long, value_name = "ID")]
    pub account: Option<String>,
    /// How long the old key keeps working once the new one is in use.
    #[arg(long, default_value = "none", value_parser = ["none", "1h", "24h", "7d"])]
    pub grace: String,
    /// auto and replace: a new key with the same settings, the old one retired once the new one
    /// is in use; roll: the service's roll (needs a grace period).
    #[arg(long, default_value = "auto", value_parser = ["auto", "roll", "replace"])]
    pub method: String,
    /// A guided rotation (services Keyhaven cannot make keys on): take the new key without
    /// checking it with the service.
    #[arg(long)]
    pub unverified: bool,
    /// A guided rotation of a key its service cannot check (a generic key without a check URL):
    /// take your word that the old key is deleted.
    #[arg(long)]
    pub deleted: bool,
    /// Print the outcome as JSON.
    #[arg(long)]
    pub json: bool,
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
        Ok(done) => {
            let mut stdout = std::io::stdout().lock();
            // A closed pipe (`keyhaven keys list | head`) is not an error.
            let _ = stdout
                .write_all(done.stdout.as_bytes())
                .and_then(|()| stdout.flush());
            ExitCode::from(done.exit)
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

/// What a command printed on standard output (besides a secret, which `keys get` writes
/// itself), and its exit status.
#[derive(Debug)]
pub struct Done {
    pub stdout: String,
    pub exit: u8,
}

impl From<String> for Done {
    fn from(stdout: String) -> Done {
        Done { stdout, exit: 0 }
    }
}

/// Runs a parsed command.
pub async fn run(cli: Cli) -> Result<Done, Error> {
    if let Some(done) = generated(&cli.command) {
        return done;
    }
    let config = CoreConfig::from_env()?;
    let core = match &cli.profile {
        Some(profile) => Keyhaven::open_profile(config, profile).await?,
        None => Keyhaven::open(config).await?,
    };
    match cli.command {
        Command::Account(command) => {
            if cli.passphrase_stdin {
                profiles::unlock_from_stdin(&core).await?;
            }
            accounts::run(&core, command).await.map(Done::from)
        }
        Command::Keys(command) => {
            if cli.passphrase_stdin {
                profiles::unlock_from_stdin(&core).await?;
            }
            match command {
                KeysCommand::List(args) => keys_list(&core, args).await.map(Done::from),
                KeysCommand::Create(args) => manage::create(&core, args).await,
                KeysCommand::Show(args) => manage::show(&core, args).await.map(Done::from),
                KeysCommand::Revoke(args) => manage::revoke(&core, args).await.map(Done::from),
                KeysCommand::Update(args) => manage::update(&core, args).await.map(Done::from),
                KeysCommand::Import(args) => manage::import(&core, args).await.map(Done::from),
                KeysCommand::Check(args) => manage::check(&core, args).await.map(Done::from),
                KeysCommand::Find(args) => find::find(&core, args).await,
                KeysCommand::Forget(args) => manage::forget(&core, args).await.map(Done::from),
                KeysCommand::Usage(args) => manage::usage(&core, args).await.map(Done::from),
                KeysCommand::Get(args) => keys_get(&core, args).await,
                KeysCommand::Rotate(args) => keys_rotate(&core, args).await,
                KeysCommand::Resume { json } => keys_resume(&core, json).await,
            }
        }
        Command::Env(command) => {
            if cli.passphrase_stdin {
                profiles::unlock_from_stdin(&core).await?;
            }
            resume_quietly(&core).await?;
            env::run(&core, command).await
        }
        Command::Scan(args) => {
            if cli.passphrase_stdin {
                profiles::unlock_from_stdin(&core).await?;
            }
            scan::run(&core, args).await
        }
        Command::Run(args) => {
            if cli.passphrase_stdin {
                profiles::unlock_from_stdin(&core).await?;
            }
            run::run(&core, args).await
        }
        Command::Profile(ProfileCommand::Show { json }) => {
            Ok(Done::from(output::profile(&core, json)))
        }
        Command::Profile(ProfileCommand::Admin(command)) => {
            profiles::run(&core, command).await.map(Done::from)
        }
        Command::Completions { .. } | Command::Man => {
            unreachable!("generated() answers these before a profile is opened")
        }
    }
}

pub(crate) fn account_of(core: &Keyhaven, id: Option<String>) -> Result<Account, Error> {
    match id {
        Some(id) => core.accounts().get(&id),
        None => core.accounts().active().ok_or_else(|| Error::NoAccount {
            profile: core.profile(),
        }),
    }
}

async fn keys_list(core: &Keyhaven, args: KeysList) -> Result<String, Error> {
    let account = account_of(core, args.account)?;
    let keys = core.keys().list(&account.id).await?;
    if args.json {
        Ok(output::json(&keys))
    } else {
        Ok(output::keys_table(&keys))
    }
}

/// Finishes what an earlier run left unfinished, so that a key read or rotated now is the one
/// in use. Reports on standard error.
pub(crate) async fn resume_quietly(core: &Keyhaven) -> Result<(), Error> {
    if core.rotation().pending()?.is_empty() {
        return Ok(());
    }
    for outcome in core.rotation().resume(&|_| {}).await? {
        eprintln!("{}", output::rotation_line(&outcome).trim_end());
    }
    Ok(())
}

/// The id a person's `KEY` means: a key this computer holds (by id, after rotations), or one of
/// the account's keys by id, by name (the live one; the newest if several) or by the start of
/// its prefix (when only one matches).
pub(crate) async fn resolve_key(
    core: &Keyhaven,
    account: &Account,
    key: &str,
) -> Result<String, Error> {
    let key = key.trim();
    if key.is_empty() {
        return Err(Error::Validation {
            field: "KEY".into(),
            message: "give a key's id, name or prefix".into(),
        });
    }
    let current = core.keys().current_id(&account.id, key)?;
    if core
        .vault()
        .contains(&core.profile(), &names::key(&account.id, &current))
        .await
        .unwrap_or(false)
    {
        return Ok(current);
    }
    let keys = core.keys().list(&account.id).await?;
    let live = |status: KeyStatus| matches!(status, KeyStatus::Active | KeyStatus::Expiring);
    if let Some(k) = keys.iter().find(|k| k.meta.id == key) {
        return core.keys().current_id(&account.id, &k.meta.id);
    }
    let mut named: Vec<_> = keys
        .iter()
        .filter(|k| k.meta.name == key && live(k.meta.status))
        .collect();
    named.sort_by_key(|k| (k.meta.status == KeyStatus::Active, k.meta.created_at));
    if let Some(k) = named.last() {
        return Ok(k.meta.id.clone());
    }
    let prefixed: Vec<_> = keys
        .iter()
        .filter(|k| k.meta.prefix.starts_with(key) && live(k.meta.status))
        .collect();
    match prefixed[..] {
        [k] => Ok(k.meta.id.clone()),
        [] => Err(Error::NotFound {
            what: format!(
                "a key with the id, name or prefix '{key}' in account {}",
                account.id
            ),
        }),
        _ => Err(Error::Validation {
            field: "KEY".into(),
            message: format!(
                "'{key}' starts the prefix of {} keys ({}); give more of it, or the id",
                prefixed.len(),
                prefixed
                    .iter()
                    .map(|k| k.meta.id.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }),
    }
}

async fn keys_get(core: &Keyhaven, args: KeysGet) -> Result<Done, Error> {
    let to_terminal = std::io::stdout().is_terminal();
    if !to_terminal && !args.allow_pipe {
        return Err(Error::Validation {
            field: "output".into(),
            message: "standard output is not a terminal, so the secret is not printed; add --allow-pipe to print it to a pipe or a file".into(),
        });
    }
    let account = account_of(core, args.account)?;
    resume_quietly(core).await?;
    let id = resolve_key(core, &account, &args.key).await?;
    let secret = core.keys().secret(&account.id, &id).await?;
    let mut stdout = std::io::stdout().lock();
    let written = stdout
        .write_all(secret.expose().as_bytes())
        .and_then(|()| stdout.write_all(b"\n"))
        .and_then(|()| stdout.flush());
    if let Err(e) = written {
        // A closed pipe is the reader's choice; anything else is worth saying.
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            eprintln!("error: could not write the secret: {e}");
            return Ok(Done {
                stdout: String::new(),
                exit: 1,
            });
        }
    }
    Ok(Done::from(String::new()))
}

/// One rotation step on standard error, as it happens.
fn report(p: &RotationProgress) {
    let n = RotationStep::ALL
        .iter()
        .position(|s| *s == p.step)
        .map_or(0, |i| i + 1);
    let total = RotationStep::ALL.len();
    let line = match p.status {
        StepStatus::Started => format!("[{n}/{total}] {}…", p.step.label()),
        StepStatus::Done => format!("[{n}/{total}] {}: done", p.step.label()),
        StepStatus::Failed | StepStatus::Recovering => format!("[{n}/{total}] {}", p.message),
    };
    eprintln!("{line}");
}

fn exit_of(outcome: &RotationOutcome) -> u8 {
    match outcome {
        RotationOutcome::Completed { .. } => 0,
        RotationOutcome::RolledBack { reason, .. } | RotationOutcome::Pending { reason, .. } => {
            exit_number(reason.code).max(1)
        }
    }
}

async fn keys_rotate(core: &Keyhaven, args: KeysRotate) -> Result<Done, Error> {
    let options = RotateOptions {
        grace: Grace::parse(&args.grace)?,
        method: RotationMethod::parse(&args.method)?,
    };
    let account = account_of(core, args.account)?;
    resume_quietly(core).await?;
    let id = resolve_key(core, &account, &args.key).await?;
    if core.accounts().capabilities(&account.id)?.guided_rotation {
        return guided::rotate(
            core,
            &account.id,
            &id,
            args.unverified,
            args.deleted,
            args.json,
        )
        .await;
    }
    let outcome = core
        .rotation()
        .rotate(&account.id, &id, options, &report)
        .await?;
    let stdout = if args.json {
        output::json(&outcome)
    } else {
        output::rotation_line(&outcome)
    };
    Ok(Done {
        stdout,
        exit: exit_of(&outcome),
    })
}

async fn keys_resume(core: &Keyhaven, json: bool) -> Result<Done, Error> {
    let outcomes = core.rotation().resume(&report).await?;
    let guided = guided::resume(core).await?;
    let exit = outcomes
        .iter()
        .map(exit_of)
        .chain(guided.iter().map(guided::Shown::exit))
        .max()
        .unwrap_or(0);
    let stdout = if json {
        let all: Vec<serde_json::Value> = outcomes
            .iter()
            .map(serde_json::to_value)
            .chain(guided.iter().map(serde_json::to_value))
            .collect::<Result<_, _>>()
            .unwrap_or_default();
        output::json(&all)
    } else if outcomes.is_empty() && guided.is_empty() {
        "No unfinished rotations.\n".to_string()
    } else {
        outcomes
            .iter()
            .map(output::rotation_line)
            .chain(guided.iter().map(|g| format!("{}\n", g.message())))
            .collect()
    };
    Ok(Done { stdout, exit })
}

fn hint(e: &Error) -> Option<&'static str> {
    match e.code() {
        ErrorKind::Unauthorized => {
            Some("sign in again: `keyhaven account sign-in ID` (password on standard input).")
        }
        ErrorKind::EmbeddedServiceNotRunning => {
            Some("start the Keyhaven app: this account is on its built-in key service.")
        }
        ErrorKind::NotFound => Some("`keyhaven account list` lists the profile's accounts."),
        ErrorKind::NoAccount => Some(
            "add one: `keyhaven account add --url URL --email EMAIL` (password on standard input).",
        ),
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
    ExitCode::from(exit_number(kind))
}

fn exit_number(kind: ErrorKind) -> u8 {
    match kind {
        ErrorKind::Validation | ErrorKind::InsecureUrl => 2,
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
    }
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
