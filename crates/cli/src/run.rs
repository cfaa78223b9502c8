//! `keyhaven run [--key KEY [--env NAME]] [--env-file .env]... -- COMMAND [ARGS…]`: runs a command
//! with keys' secrets in its environment, and nowhere else: not in its arguments, not on any
//! output, not in this process's own environment. An env file's references
//! (`keyhaven:ACCOUNT/KEY`) are resolved to the secrets of the keys they name; its plain values
//! pass through. Exits with the command's exit status; when the command fails (an exit status
//! from 1 to 125, not a signal), the keys it was given are checked with their services, and one
//! that is refused is named on standard error.

use std::ffi::OsString;

use clap::Args;
use keyhaven_core::{Error, Keyhaven};

use crate::{account_of, envfile, resolve_key, resume_quietly, Done};

/// The variable the secret goes into unless `--env` names another.
pub const DEFAULT_ENV: &str = "KEYHAVEN_API_KEY";

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The key: its id, its name, or the start of its prefix.
    #[arg(long, value_name = "KEY", required_unless_present = "env_files")]
    pub key: Option<String>,
    /// A .env file whose `keyhaven:ACCOUNT/KEY` references become the keys' secrets (ACCOUNT:
    /// an account's id, email or label; KEY: a key's name, id or prefix) and whose other values
    /// pass through; repeat for several (a later file wins).
    #[arg(long = "env-file", value_name = "PATH")]
    pub env_files: Vec<std::path::PathBuf>,
    /// The environment variable of the command that holds the secret.
    #[arg(long = "env", value_name = "NAME", default_value = DEFAULT_ENV)]
    pub env: String,
    /// The account (its id); default: the profile's active account.
    #[arg(long, value_name = "ID")]
    pub account: Option<String>,
    /// The command and its arguments, after `--`.
    #[arg(last = true, required = true, value_name = "COMMAND")]
    pub command: Vec<OsString>,
}

fn valid_env_name(name: &str) -> bool {
    envfile::valid_name(name)
}

pub async fn run(core: &Keyhaven, args: RunArgs) -> Result<Done, Error> {
    if !valid_env_name(&args.env) {
        return Err(Error::Validation {
            field: "--env".into(),
            message: "an environment variable name: a letter or '_', then letters, digits and '_'"
                .into(),
        });
    }
    let Some((program, rest)) = args.command.split_first() else {
        return Err(Error::Validation {
            field: "COMMAND".into(),
            message: "give the command to run after `--`".into(),
        });
    };
    // Every file is read before any secret is: a mistake in one stops the run at once.
    let mut entries = Vec::new();
    let mut files = Vec::new();
    for path in &args.env_files {
        files.push((path, envfile::read(path)?));
    }
    for (path, file) in &files {
        crate::env::record(core, path, file);
    }
    for (path, file) in files {
        for entry in file {
            entries.retain(|(_, e): &(std::path::PathBuf, envfile::Entry)| e.name != entry.name);
            entries.push((path.to_path_buf(), entry));
        }
    }
    resume_quietly(core).await?;
    let mut command = tokio::process::Command::new(program);
    command.args(rest);
    let mut secrets = Vec::new();
    // The keys given to the command, checked with their services should it fail.
    let mut given = Vec::new();
    for (path, entry) in &entries {
        match &entry.value {
            envfile::Value::Plain(value) => {
                command.env(&entry.name, value);
            }
            envfile::Value::Reference { account, key } => {
                // The error keeps its kind (and exit code); where it came from goes first.
                let (key, secret) = referenced(core, account, key).await.inspect_err(|_| {
                    eprintln!(
                        "{}:{}: keyhaven:{account}/{key} does not resolve",
                        path.display(),
                        entry.line
                    );
                })?;
                command.env(&entry.name, secret.expose());
                secrets.push(secret);
                given.push(key);
            }
        }
    }
    if let Some(key) = &args.key {
        let account = account_of(core, args.account)?;
        let id = resolve_key(core, &account, key).await?;
        let secret = core.keys().secret(&account.id, &id).await?;
        command.env(&args.env, secret.expose());
        secrets.push(secret);
        given.push((account.id, id));
    }
    let child = command.spawn();
    // Our copies go as soon as the child has its own: the command's environment and the secrets
    // (wiped as they are freed, see keyhaven_core::hardening), not when the child ends.
    drop(command);
    drop(secrets);
    let status = match child {
        Ok(mut child) => child.wait().await,
        Err(e) => Err(e),
    };
    let status = match status {
        Ok(status) => status,
        Err(e) => {
            // As a shell does: 127 when there is no such command, 126 when it cannot run.
            let exit = if e.kind() == std::io::ErrorKind::NotFound {
                127
            } else {
                126
            };
            eprintln!("error: cannot run {}: {e}", program.to_string_lossy());
            return Ok(Done {
                stdout: String::new(),
                exit,
            });
        }
    };
    let exit = exit_status(status);
    // The command failed by itself (not stopped by a signal, such as Ctrl+C: 128 and more): a key
    // it was given that its service now refuses is a likely cause, and one people rarely think of
    // (the key was regenerated elsewhere).
    if (1..=125).contains(&exit) {
        for alert in core.watch().check_keys_now(&given).await {
            eprintln!("keyhaven: {}", alert.message);
        }
    }
    Ok(Done {
        stdout: String::new(),
        exit,
    })
}

/// The secret of the key a reference names: the account by id, email or label, then the key by
/// name, id or prefix (after rotations, the one in use).
async fn referenced(
    core: &Keyhaven,
    account: &str,
    key: &str,
) -> Result<((String, String), keyhaven_core::Secret), Error> {
    let accounts = core.accounts().list();
    let found =
        crate::env::referenced_account(&accounts, account).ok_or_else(|| Error::NotFound {
            what: format!("an account '{account}' in profile {}", core.profile()),
        })?;
    let id = resolve_key(core, found, key).await?;
    let secret = core.keys().secret(&found.id, &id).await?;
    Ok(((found.id.clone(), id), secret))
}

/// The command's exit code; killed by a signal, 128 + the signal's number, as a shell reports it.
fn exit_status(status: std::process::ExitStatus) -> u8 {
    if let Some(code) = status.code() {
        return u8::try_from(code).unwrap_or(1);
    }
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(signal) = status.signal() {
            return u8::try_from(128 + signal).unwrap_or(1);
        }
    }
    1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_names() {
        for ok in ["API_KEY", "_X", "a1", DEFAULT_ENV] {
            assert!(valid_env_name(ok), "{ok}");
        }
        for bad in ["", "1A", "A-B", "A=B", "A B", "É"] {
            assert!(!valid_env_name(bad), "{bad}");
        }
    }
}
