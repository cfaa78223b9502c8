//! `keyhaven env import|check FILE`: moving secrets out of `.env` files. `import` turns every
//! secret this profile holds (and every key secret of its services it can verify and import)
//! into a `keyhaven:ACCOUNT/KEY` reference, rewriting the file atomically with every other byte
//! kept; `check` lists references that do not resolve and values that look like secrets. Neither
//! ever prints a secret.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use keyhaven_core::{Account, Error, Keyhaven, RecordedReference, Secret};
use serde::Serialize;

use crate::envfile::{self, Value};
use crate::held::{hash, held_hashes, Held};
use crate::{account_of, Done};

#[derive(Debug, Subcommand)]
pub enum EnvCommand {
    /// Replace the secrets of a .env file with references to their keys: those this profile
    /// holds, and key secrets of the account's service (verified, then imported into the
    /// keychain). Rewrites the file atomically, keeping everything else byte for byte.
    Import(EnvImport),
    /// List the references of a .env file that do not resolve, and the values that look like
    /// secrets; exits 1 if there are any.
    Check(EnvCheck),
}

#[derive(Debug, Args)]
pub struct EnvImport {
    /// The .env file.
    pub file: PathBuf,
    /// The account to import unknown key secrets into (its id); default: the active account.
    #[arg(long, value_name = "ID")]
    pub account: Option<String>,
    /// Also treat this variable's value as a secret, whatever it looks like; repeat for several.
    #[arg(long = "secret", value_name = "NAME")]
    pub secret_vars: Vec<String>,
    /// Print what changed as JSON: `file`, `replaced` (how many values) and `changes`, each
    /// with `variable`, `line`, `action` (referenced, imported or left), `account_id`,
    /// `key_name`, `key_prefix` (imported) and, for a value left as it was, `reason`.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct EnvCheck {
    /// The .env file.
    pub file: PathBuf,
    /// Print the problems as JSON: `file` and `problems`, each with `variable`, `line`, `kind`
    /// (unresolved, held_secret or looks_like_key) and `message`.
    #[arg(long)]
    pub json: bool,
}

/// What `env import` did with one value. Never the value.
#[derive(Debug, Serialize)]
struct Change {
    variable: String,
    line: usize,
    action: &'static str,
    account_id: Option<String>,
    key_name: Option<String>,
    /// The start of an imported key's secret, as the service shows it.
    key_prefix: Option<String>,
    reason: Option<String>,
}

impl Change {
    fn text(&self) -> String {
        let (name, account) = (
            self.key_name.as_deref().unwrap_or_default(),
            self.account_id.as_deref().unwrap_or_default(),
        );
        let what = match self.action {
            "referenced" => format!(
                "now a reference to \"{name}\" of account {account}, whose secret this computer holds"
            ),
            "imported" => {
                let prefix = self.key_prefix.as_deref().unwrap_or_default();
                format!("imported \"{name}\" ({prefix}…) into the keychain of account {account}; now a reference to it")
            }
            _ => format!(
                "left as it is: it looks like a key, but {}",
                self.reason.as_deref().unwrap_or_default()
            ),
        };
        format!("{} (line {}): {what}\n", self.variable, self.line)
    }
}

/// What `env check` found wrong with one line. Never the value.
#[derive(Debug, Serialize)]
struct Problem {
    variable: String,
    line: usize,
    kind: &'static str,
    message: String,
}

/// Prefixes of the API keys of the services Keyhaven knows (its own, and the seeds').
const KEY_PREFIXES: [&str; 6] = [
    "kh_live_", "kh_test_", "ak_live_", "ak_test_", "anm_", "tk_",
];

fn looks_like_key(value: &str) -> Option<&'static str> {
    KEY_PREFIXES
        .iter()
        .find(|p| value.starts_with(**p) && value.len() >= p.len() + 16)
        .copied()
}

/// The account a reference names: by id, then email, then label.
pub(crate) fn referenced_account<'a>(accounts: &'a [Account], text: &str) -> Option<&'a Account> {
    accounts
        .iter()
        .find(|a| a.id == text)
        .or_else(|| accounts.iter().find(|a| a.email.eq_ignore_ascii_case(text)))
        .or_else(|| accounts.iter().find(|a| a.label == text))
}

/// Remembers which keys a file references, for the keys' "Used by" in the app. Not being able to
/// remember is said on standard error and does not stop the command.
pub(crate) fn record(core: &Keyhaven, path: &Path, entries: &[envfile::Entry]) {
    let accounts = core.accounts().list();
    let references = entries
        .iter()
        .filter_map(|entry| match &entry.value {
            Value::Reference { account, key } => {
                referenced_account(&accounts, account).map(|a| RecordedReference {
                    variable: entry.name.clone(),
                    line: entry.line,
                    account_id: a.id.clone(),
                    key: key.clone(),
                })
            }
            Value::Plain(_) => None,
        })
        .collect();
    if let Err(e) = core.keys().record_env_file(path, references) {
        eprintln!(
            "note: cannot remember what {} references: {e}",
            path.display()
        );
    }
}

/// A reference as written in a file: quoted when the key's name holds a space or a `#`.
fn reference(account: &str, key: &str) -> String {
    let text = format!("{}{account}/{key}", envfile::SCHEME);
    if text.contains([' ', '#', '"', '\'']) {
        format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
    } else {
        text
    }
}

pub async fn run(core: &Keyhaven, command: EnvCommand) -> Result<Done, Error> {
    match command {
        EnvCommand::Import(args) => import(core, args).await,
        EnvCommand::Check(args) => check(core, args).await,
    }
}

async fn import(core: &Keyhaven, args: EnvImport) -> Result<Done, Error> {
    let text = std::fs::read_to_string(&args.file).map_err(|e| Error::Validation {
        field: args.file.display().to_string(),
        message: format!("cannot be read: {e}"),
    })?;
    let entries = envfile::parse(&args.file, &text)?;
    let held = held_hashes(core).await?;
    let mut replaced: HashMap<usize, String> = HashMap::new();
    let mut changes = Vec::new();
    let terminal = std::io::stderr().is_terminal();
    for entry in &entries {
        let Value::Plain(value) = &entry.value else {
            continue;
        };
        let named = args.secret_vars.iter().any(|v| v == &entry.name);
        let change = |action, account: &str, key: &str, reason: Option<String>| Change {
            variable: entry.name.clone(),
            line: entry.line,
            action,
            account_id: Some(account.to_string()),
            key_name: (!key.is_empty()).then(|| key.to_string()),
            key_prefix: None,
            reason,
        };
        if let Some(Held { account, name, .. }) = held.get(&hash(value)) {
            replaced.insert(entry.line, reference(account, name));
            changes.push(change("referenced", account, name, None));
        } else if named || looks_like_key(value).is_some() {
            let account = account_of(core, args.account.clone())?;
            if terminal {
                eprintln!("env import: verifying {} with the service…", entry.name);
            }
            match core
                .keys()
                .import(&account.id, Secret::new(value.clone()))
                .await
            {
                Ok(meta) => {
                    replaced.insert(entry.line, reference(&account.id, &meta.name));
                    changes.push(Change {
                        key_prefix: Some(meta.prefix.clone()),
                        ..change("imported", &account.id, &meta.name, None)
                    });
                }
                Err(e) => changes.push(change("left", &account.id, "", Some(e.to_string()))),
            }
        }
    }
    let file = args.file.display().to_string();
    if replaced.is_empty() {
        record(core, &args.file, &entries);
    } else {
        let rewritten = rewrite(&text, &entries, &replaced);
        write_atomically(&args.file, &rewritten)?;
        if let Ok(now) = envfile::parse(&args.file, &rewritten) {
            record(core, &args.file, &now);
        }
    }
    if args.json {
        return Ok(Done::from(crate::output::json(&serde_json::json!({
            "file": file,
            "replaced": replaced.len(),
            "changes": changes,
        }))));
    }
    let mut report: String = changes.iter().map(Change::text).collect();
    if replaced.is_empty() {
        report.push_str(&format!("{file}: nothing to change.\n"));
    } else {
        report.push_str(&format!(
            "{file}: {} value(s) replaced; everything else is as it was.\n",
            replaced.len()
        ));
    }
    Ok(Done::from(report))
}

/// `text` with the values of the lines in `replaced` changed, every other byte kept (line
/// endings, comments, quotes, the order).
fn rewrite(text: &str, entries: &[envfile::Entry], replaced: &HashMap<usize, String>) -> String {
    let mut out = String::with_capacity(text.len());
    for (i, line) in text.split_inclusive('\n').enumerate() {
        let number = i + 1;
        let Some(new) = replaced.get(&number) else {
            out.push_str(line);
            continue;
        };
        let ending = &line[line.trim_end_matches(['\n', '\r']).len()..];
        let body = &line[..line.len() - ending.len()];
        let name = entries
            .iter()
            .find(|e| e.line == number)
            .map(|e| e.name.as_str())
            .unwrap_or_default();
        // Keep what stands before the value: indentation, `export `, the name, `=`.
        let before = body.find('=').map_or(body, |i| &body[..=i]);
        debug_assert!(before.contains(name));
        out.push_str(before);
        out.push_str(new);
        out.push_str(ending);
    }
    out
}

fn write_atomically(path: &Path, text: &str) -> Result<(), Error> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let fail = |e: std::io::Error| Error::Validation {
        field: path.display().to_string(),
        message: format!("cannot be rewritten: {e}"),
    };
    let mut temp = tempfile::NamedTempFile::new_in(dir).map_err(fail)?;
    if let Ok(meta) = std::fs::metadata(path) {
        let _ = std::fs::set_permissions(temp.path(), meta.permissions());
    }
    std::io::Write::write_all(&mut temp, text.as_bytes()).map_err(fail)?;
    temp.as_file().sync_all().map_err(fail)?;
    temp.persist(path).map_err(|e| fail(e.error))?;
    Ok(())
}

async fn check(core: &Keyhaven, args: EnvCheck) -> Result<Done, Error> {
    let entries = envfile::read(&args.file)?;
    let held = held_hashes(core).await?;
    let file = args.file.display().to_string();
    let mut problems = Vec::new();
    for entry in &entries {
        let problem = |kind, message: String| Problem {
            variable: entry.name.clone(),
            line: entry.line,
            kind,
            message,
        };
        match &entry.value {
            Value::Reference { account, key } => {
                let accounts = core.accounts().list();
                let found = referenced_account(&accounts, account);
                let unresolved = match found {
                    None => Some(format!("no account '{account}' in this profile")),
                    Some(a) => match crate::resolve_key(core, a, key).await {
                        Err(e) => Some(e.to_string()),
                        Ok(id) => core
                            .keys()
                            .secret(&a.id, &id)
                            .await
                            .err()
                            .map(|e| e.to_string()),
                    },
                };
                if let Some(why) = unresolved {
                    problems.push(problem(
                        "unresolved",
                        format!("the reference does not resolve: {why}"),
                    ));
                }
            }
            Value::Plain(value) => {
                if held.contains_key(&hash(value)) {
                    problems.push(problem(
                        "held_secret",
                        format!("holds a secret this profile keeps; `keyhaven env import {file}` makes it a reference"),
                    ));
                } else if let Some(prefix) = looks_like_key(value) {
                    problems.push(problem(
                        "looks_like_key",
                        format!("looks like a key ({prefix}…); `keyhaven env import {file}` moves it to the keychain"),
                    ));
                }
            }
        }
    }
    let exit = u8::from(!problems.is_empty());
    let stdout = if args.json {
        crate::output::json(&serde_json::json!({ "file": file, "problems": problems }))
    } else if problems.is_empty() {
        format!("{file}: every reference resolves, and no value looks like a secret.\n")
    } else {
        problems
            .iter()
            .map(|p| format!("{file}:{} {}: {}\n", p.line, p.variable, p.message))
            .collect()
    };
    Ok(Done { stdout, exit })
}
