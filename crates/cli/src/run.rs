//! `keyhaven run --key KEY [--env NAME] -- COMMAND [ARGS…]`: runs a command with a key's secret
//! in one environment variable of that command, and nowhere else: not in its arguments, not on
//! any output, not in this process's own environment. Exits with the command's exit status.

use std::ffi::OsString;

use clap::Args;
use keyhaven_core::{Error, Keyhaven};

use crate::{account_of, resolve_key, resume_quietly, Done};

/// The variable the secret goes into unless `--env` names another.
pub const DEFAULT_ENV: &str = "KEYHAVEN_API_KEY";

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The key: its id, its name, or the start of its prefix.
    #[arg(long, value_name = "KEY")]
    pub key: String,
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

/// A portable environment variable name: a letter or `_`, then letters, digits and `_`.
fn valid_env_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
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
    let account = account_of(core, args.account)?;
    resume_quietly(core).await?;
    let id = resolve_key(core, &account, &args.key).await?;
    let secret = core.key_secret(&account.id, &id).await?;
    let mut command = tokio::process::Command::new(program);
    command.args(rest).env(&args.env, secret.expose());
    let status = command.status().await;
    // Our copy goes now; the child's environment is the only place left that holds it.
    drop(command);
    drop(secret);
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
    Ok(Done {
        stdout: String::new(),
        exit: exit_status(status),
    })
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
