//! `keyhaven env import|check FILE`: moving secrets out of `.env` files. `import` turns every
//! secret this profile holds (and every key secret of its services it can verify and import)
//! into a `keyhaven:ACCOUNT/KEY` reference, rewriting the file atomically with every other byte
//! kept; `check` lists references that do not resolve and values that look like secrets. Neither
//! ever prints a secret.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use keyhaven_core::vault::names;
use keyhaven_core::{Account, Error, Keyhaven, RecordedReference, Secret};
use sha2::{Digest, Sha256};

use crate::envfile::{self, Value};
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
}

#[derive(Debug, Args)]
pub struct EnvCheck {
    /// The .env file.
    pub file: PathBuf,
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

fn hash(text: &str) -> [u8; 32] {
    Sha256::digest(text.as_bytes()).into()
}

/// The key a held secret belongs to: account id and key name (or id, when the service does
/// not answer).
async fn held(core: &Keyhaven) -> Result<HashMap<[u8; 32], (String, String)>, Error> {
    let profile = core.profile();
    let mut out = HashMap::new();
    for account in core.accounts() {
        let keys = core.list_keys(&account.id).await.unwrap_or_default();
        for key in keys.iter().filter(|k| k.stored_locally) {
            let name = names::key(&account.id, &key.meta.id);
            if let Some(secret) = core.vault().get(&profile, &name).await? {
                out.insert(
                    hash(secret.expose()),
                    (account.id.clone(), key.meta.name.clone()),
                );
            }
        }
    }
    Ok(out)
}

/// A reference as written in a file: quoted when the key's name holds a space or a `#`.
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
    let accounts = core.accounts();
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
    if let Err(e) = core.record_env_file(path, references) {
        eprintln!(
            "note: cannot remember what {} references: {e}",
            path.display()
        );
    }
}

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
    let held = held(core).await?;
    let mut replaced: HashMap<usize, String> = HashMap::new();
    let mut report = String::new();
    for entry in &entries {
        let Value::Plain(value) = &entry.value else {
            continue;
        };
        let named = args.secret_vars.iter().any(|v| v == &entry.name);
        if let Some((account, key)) = held.get(&hash(value)) {
            replaced.insert(entry.line, reference(account, key));
            report.push_str(&format!(
                "{} (line {}): now a reference to \"{key}\" of account {account}, whose secret this computer holds\n",
                entry.name, entry.line
            ));
        } else if named || looks_like_key(value).is_some() {
            let account = account_of(core, args.account.clone())?;
            match core
                .import_key(&account.id, Secret::new(value.clone()))
                .await
            {
                Ok(meta) => {
                    replaced.insert(entry.line, reference(&account.id, &meta.name));
                    report.push_str(&format!(
                        "{} (line {}): imported \"{}\" ({}…) into the keychain; now a reference to it\n",
                        entry.name, entry.line, meta.name, meta.prefix
                    ));
                }
                Err(e) => report.push_str(&format!(
                    "{} (line {}): left as it is: it looks like a key, but {e}\n",
                    entry.name, entry.line
                )),
            }
        }
    }
    if replaced.is_empty() {
        record(core, &args.file, &entries);
        report.push_str(&format!("{}: nothing to change.\n", args.file.display()));
        return Ok(Done::from(report));
    }
    let rewritten = rewrite(&text, &entries, &replaced);
    write_atomically(&args.file, &rewritten)?;
    if let Ok(now) = envfile::parse(&args.file, &rewritten) {
        record(core, &args.file, &now);
    }
    report.push_str(&format!(
        "{}: {} value(s) replaced; everything else is as it was.\n",
        args.file.display(),
        replaced.len()
    ));
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
    let held = held(core).await?;
    let mut out = String::new();
    let place = |line: usize| format!("{}:{line}", args.file.display());
    for entry in &entries {
        match &entry.value {
            Value::Reference { account, key } => {
                let accounts = core.accounts();
                let found = referenced_account(&accounts, account);
                let problem = match found {
                    None => Some(format!("no account '{account}' in this profile")),
                    Some(a) => match crate::resolve_key(core, a, key).await {
                        Err(e) => Some(e.to_string()),
                        Ok(id) => core
                            .key_secret(&a.id, &id)
                            .await
                            .err()
                            .map(|e| e.to_string()),
                    },
                };
                if let Some(problem) = problem {
                    out.push_str(&format!(
                        "{} {}: the reference does not resolve: {problem}\n",
                        place(entry.line),
                        entry.name
                    ));
                }
            }
            Value::Plain(value) => {
                if held.contains_key(&hash(value)) {
                    out.push_str(&format!(
                        "{} {}: holds a secret this profile keeps; `keyhaven env import {}` makes it a reference\n",
                        place(entry.line),
                        entry.name,
                        args.file.display()
                    ));
                } else if let Some(prefix) = looks_like_key(value) {
                    out.push_str(&format!(
                        "{} {}: looks like a key ({prefix}…); `keyhaven env import {}` moves it to the keychain\n",
                        place(entry.line),
                        entry.name,
                        args.file.display()
                    ));
                }
            }
        }
    }
    let exit = u8::from(!out.is_empty());
    if out.is_empty() {
        out = format!(
            "{}: every reference resolves, and no value looks like a secret.\n",
            args.file.display()
        );
    }
    Ok(Done { stdout: out, exit })
}
