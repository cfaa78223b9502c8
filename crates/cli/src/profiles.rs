//! `keyhaven profile list|create|rename|delete|switch|lock|unlock`, and reading passphrases.
//!
//! A passphrase is only ever read from standard input (one line each; from a terminal without
//! echo), never from the command line, where other users and the shell history would see it.
//! The CLI has no agent that keeps a profile unlocked between commands: `lock` sets (or with
//! `--change` changes) the profile's passphrase, `unlock` checks it (or with `--remove` removes
//! it), and `--passphrase-stdin` unlocks a locked profile for the one command it is given to.

use std::io::{BufRead, IsTerminal, Write};

use clap::Subcommand;
use keyhaven_core::{Error, Keyhaven, Secret};

use crate::output;

#[derive(Debug, Subcommand)]
pub enum ProfileAdmin {
    /// The profiles on this computer, which one is active and which are locked.
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Create an empty profile.
    Create {
        name: String,
        /// Print the new profile as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Rename a profile, with its accounts and secrets.
    Rename {
        from: String,
        to: String,
        /// Print the renamed profile as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Delete a profile with its accounts and every secret it holds. Not the active one.
    Delete {
        name: String,
        /// The profile's name again, to confirm.
        #[arg(long, value_name = "NAME")]
        confirm: String,
        /// Print the profiles left as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Make a profile the active one, for the app and the CLI.
    Switch {
        name: String,
        /// Print the profile as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Protect the profile's secrets with a passphrase, read from standard input.
    Lock {
        /// Change the passphrase: reads the current one, then the new one.
        #[arg(long)]
        change: bool,
        /// Print the profile as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Check the profile's passphrase, read from standard input.
    Unlock {
        /// Remove the passphrase: the secrets are stored as the keychain keeps them.
        #[arg(long)]
        remove: bool,
        /// Print the profile as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// With `--json`, the profile `name` as `profile list` shows it; otherwise `said`.
fn said_or_profile(core: &Keyhaven, json: bool, name: &str, said: String) -> Result<String, Error> {
    if !json {
        return Ok(said);
    }
    let profile = core
        .profiles()
        .list()?
        .into_iter()
        .find(|p| p.name == name)
        .ok_or_else(|| Error::NotFound {
            what: format!("profile {name}"),
        })?;
    Ok(output::json(&profile))
}

pub async fn run(core: &Keyhaven, command: ProfileAdmin) -> Result<String, Error> {
    match command {
        ProfileAdmin::List { json } => {
            let profiles = core.profiles().list()?;
            Ok(if json {
                output::json(&profiles)
            } else {
                output::profiles_table(&profiles)
            })
        }
        ProfileAdmin::Create { name, json } => {
            core.profiles().create(&name).await?;
            said_or_profile(core, json, &name, format!("Created profile {name}.\n"))
        }
        ProfileAdmin::Rename { from, to, json } => {
            core.profiles().rename(&from, &to).await?;
            said_or_profile(
                core,
                json,
                &to,
                format!("Renamed profile {from} to {to}.\n"),
            )
        }
        ProfileAdmin::Delete {
            name,
            confirm,
            json,
        } => {
            core.profiles().delete(&name, &confirm).await?;
            if json {
                return Ok(output::json(&core.profiles().list()?));
            }
            Ok(format!("Deleted profile {name} and its secrets.\n"))
        }
        ProfileAdmin::Switch { name, json } => {
            if !core.profiles().list()?.iter().any(|p| p.name == name) {
                return Err(Error::NotFound {
                    what: format!("profile {name} (create it with `keyhaven profile create`)"),
                });
            }
            core.profiles().switch(&name)?;
            said_or_profile(
                core,
                json,
                &name,
                format!("Profile {name} is now active.\n"),
            )
        }
        ProfileAdmin::Lock {
            change: false,
            json,
        } => {
            let passphrase = read_new_passphrase("New passphrase")?;
            core.profiles().set_passphrase(passphrase).await?;
            let name = core.profile();
            let said = format!("Profile {name} is protected by its passphrase.\n");
            said_or_profile(core, json, &name, said)
        }
        ProfileAdmin::Lock { change: true, json } => {
            let mut lines = Lines::new();
            let old = lines.read("Current passphrase")?;
            let new = read_confirmed(&mut lines, "New passphrase")?;
            core.profiles().change_passphrase(old, new).await?;
            let name = core.profile();
            let said = format!("Passphrase of profile {name} changed.\n");
            said_or_profile(core, json, &name, said)
        }
        ProfileAdmin::Unlock { remove, json } => {
            let passphrase = Lines::new().read("Passphrase")?;
            let name = core.profile();
            let said = if remove {
                core.profiles().remove_passphrase(passphrase).await?;
                format!("Profile {name} no longer has a passphrase.\n")
            } else {
                core.profiles().unlock(passphrase).await?;
                format!("The passphrase of profile {name} is correct.\n")
            };
            said_or_profile(core, json, &name, said)
        }
    }
}

/// Unlocks `core`'s profile with a passphrase from standard input, if it has one.
pub async fn unlock_from_stdin(core: &Keyhaven) -> Result<(), Error> {
    if core.profiles().has_passphrase() && core.profiles().is_locked() {
        let passphrase = Lines::new().read("Passphrase")?;
        core.profiles().unlock(passphrase).await?;
    }
    Ok(())
}

fn read_new_passphrase(prompt: &str) -> Result<Secret, Error> {
    read_confirmed(&mut Lines::new(), prompt)
}

/// From a terminal, asks twice and compares; from a pipe, reads one line.
fn read_confirmed(lines: &mut Lines, prompt: &str) -> Result<Secret, Error> {
    let first = lines.read(prompt)?;
    if lines.terminal {
        let again = lines.read(&format!("{prompt} (again)"))?;
        if !first.constant_time_eq(&again) {
            return Err(Error::Validation {
                field: "passphrase".into(),
                message: "the two entries differ".into(),
            });
        }
    }
    Ok(first)
}

/// Lines of standard input: passphrases and passwords, never arguments.
pub(crate) struct Lines {
    terminal: bool,
}

impl Lines {
    pub(crate) fn new() -> Lines {
        Lines {
            terminal: std::io::stdin().is_terminal(),
        }
    }

    /// A passphrase: [`Lines::read_as`] for the field `passphrase`.
    fn read(&mut self, prompt: &str) -> Result<Secret, Error> {
        self.read_as("passphrase", prompt)
    }

    /// One line of standard input, without its line ending, as the secret named `field`. From a
    /// terminal, prompts on standard error and turns echo off while the line is typed.
    pub(crate) fn read_as(&mut self, field: &str, prompt: &str) -> Result<Secret, Error> {
        // Echo goes off before the prompt shows: what is typed (or pasted) as soon as it appears
        // is never shown.
        let echo_off = self.terminal && set_echo(false);
        if self.terminal {
            eprint!("{prompt}: ");
            let _ = std::io::stderr().flush();
        }
        let mut line = String::new();
        let read = std::io::stdin().lock().read_line(&mut line);
        if echo_off {
            set_echo(true);
            eprintln!();
        }
        let stdin_error = |message: String| Error::Validation {
            field: field.into(),
            message,
        };
        match read {
            Ok(0) => {
                return Err(stdin_error(format!(
                    "nothing on standard input: pipe the {field} in, one line"
                )))
            }
            Ok(_) => {}
            Err(e) => {
                return Err(stdin_error(format!(
                    "standard input could not be read: {e}"
                )))
            }
        }
        while line.ends_with(['\n', '\r']) {
            line.pop();
        }
        Ok(Secret::new(line))
    }
}

impl Lines {
    /// Waits for one line (Enter at a terminal, after `prompt` on standard error); false when
    /// standard input has ended.
    pub(crate) fn wait_for_enter(&mut self, prompt: &str) -> bool {
        if self.terminal {
            eprint!("{prompt} ");
            let _ = std::io::stderr().flush();
        }
        let mut line = String::new();
        matches!(std::io::stdin().lock().read_line(&mut line), Ok(n) if n > 0)
    }
}

/// Turns the terminal's echo on or off with `stty`; false if that is not possible.
#[cfg(unix)]
fn set_echo(on: bool) -> bool {
    std::process::Command::new("stty")
        .arg(if on { "echo" } else { "-echo" })
        .stdin(std::process::Stdio::inherit())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

#[cfg(not(unix))]
fn set_echo(_on: bool) -> bool {
    false
}
