//! `keyhaven account ...`: signing in to key services from the terminal. A password is read from
//! standard input (one line), or asked for without echo at a terminal; never from an argument.

use clap::{Args, Subcommand};
use keyhaven_core::{
    documented_url, kind_info, Account, ConnectorKind, Error, Keyhaven, NewAccount, ServiceRef,
    Tier,
};
use serde::Serialize;

use crate::output;
use crate::profiles::Lines;

#[derive(Debug, Subcommand)]
pub enum AccountCommand {
    /// Sign in to a key service and add the account to the profile; it becomes the active one.
    /// The password comes from standard input (one line), or is asked for without echo.
    Add(AccountAdd),
    /// The profile's accounts; `*` marks the active one.
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Make an account the active one (what `keys` and `run` use without --account).
    Use {
        /// The account's id (`keyhaven account list`).
        id: String,
        /// Print the account as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Sign in again with the account's password (from standard input): a new session.
    SignIn {
        /// The account's id.
        id: String,
        /// Do not keep the password in the keychain (sessions then end for good when they
        /// expire, until the next sign-in).
        #[arg(long)]
        no_remember: bool,
        /// Print the account as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Sign out: the session and any remembered password are forgotten; the account and its
    /// stored key secrets stay.
    SignOut {
        /// The account's id.
        id: String,
        /// Print the account as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Remove the account from the profile, with its session and the secrets of its keys in the
    /// keychain. Its keys on the service are not touched.
    Remove {
        /// The account's id.
        id: String,
        /// The account's id again, to confirm.
        #[arg(long, value_name = "ID")]
        confirm: String,
        /// Print the removed account as JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Args)]
pub struct AccountAdd {
    /// The key service's URL: https://, or http:// on this computer (see --allow-http). A kind
    /// with a documented host (tokenkit) defaults to it.
    #[arg(long)]
    pub url: Option<String>,
    /// The email you sign in with (for tokenkit, the user name or email; for animus, a name
    /// for the account, as its sign-in is a session token). Kinds without a sign-in take --name
    /// instead.
    #[arg(long, required_unless_present = "name", conflicts_with = "name")]
    pub email: Option<String>,
    /// For kinds without a sign-in (anikura, ananke, wanikani, generic): what you call the
    /// account ("personal", "work"). Its keys are then added with `keys import`.
    #[arg(long)]
    pub name: Option<String>,
    /// The kind of service (its connector): keyhaven; tokenkit (whose calls also carry one of
    /// the account's API keys: after the password, standard input's next line, or a prompt
    /// without echo, gives one made in TokenKit's dashboard); animus (standard input gives the
    /// session token of a signed-in Animus session instead of a password); or anikura, ananke,
    /// wanikani and generic, whose keys are made on their own pages and imported.
    #[arg(long, default_value = "keyhaven", value_parser = kind_names())]
    pub kind: String,
    /// An AniKura account's plan: free (2,000 calls a day), indie or commercial.
    #[arg(long, value_parser = ["free", "indie", "commercial"])]
    pub tier: Option<String>,
    /// Allow plain http:// to a host other than this computer (the password and the session
    /// cross the network unencrypted).
    #[arg(long)]
    pub allow_http: bool,
    /// Do not keep the password in the keychain.
    #[arg(long)]
    pub no_remember: bool,
    /// Print the account as JSON.
    #[arg(long)]
    pub json: bool,
}

/// An account as `account list --json` shows it: never a secret.
#[derive(Debug, Serialize)]
struct Listed<'a> {
    #[serde(flatten)]
    account: &'a Account,
    active: bool,
}

/// The `--kind` names, from the one list of kinds.
fn kind_names() -> clap::builder::PossibleValuesParser {
    clap::builder::PossibleValuesParser::new(ConnectorKind::ALL.map(ConnectorKind::cli_name))
}

/// What signs in: a password, or for a kind signed in with a session token (Animus), that token.
fn read_password(lines: &mut Lines, kind: ConnectorKind) -> Result<keyhaven_core::Secret, Error> {
    if kind.signs_in_with_session_token() {
        lines.read_as(
            "session token",
            &format!(
                "Session token (the JWT of a signed-in {} session; keys are managed with it)",
                kind_info(kind).label
            ),
        )
    } else {
        lines.read_as("password", "Password")
    }
}

/// `account add` of a kind without sign-in: nothing is read from standard input.
async fn add_without_sign_in(
    core: &Keyhaven,
    kind: ConnectorKind,
    args: AccountAdd,
) -> Result<String, Error> {
    let info = kind_info(kind);
    let Some(name) = args.name else {
        return Err(Error::validation(
            "name",
            format!(
                "{} accounts have no sign-in: name the account with --name (e.g. --name personal)",
                info.label
            ),
        ));
    };
    let tier = args.tier.as_deref().map(Tier::parse).transpose()?;
    let account = core
        .accounts()
        .add(NewAccount {
            kind,
            name,
            url: args.url,
            allow_http: args.allow_http,
            tier,
        })
        .await?;
    Ok(if args.json {
        output::json(&account)
    } else {
        format!(
            "Added account {} ({}), now the active account. Make keys in {}, then add each with \
             `keyhaven keys import --name NAME` (the secret from standard input).\n",
            account.id, account.label, info.key_page
        )
    })
}

pub async fn run(core: &Keyhaven, command: AccountCommand) -> Result<String, Error> {
    match command {
        AccountCommand::Add(args) => {
            let kind = ConnectorKind::parse(&args.kind)?;
            if !kind.signs_in() {
                return add_without_sign_in(core, kind, args).await;
            }
            let Some(email) = args.email.as_deref() else {
                return Err(Error::validation(
                    "email",
                    format!("{} accounts sign in: give --email", kind_info(kind).label),
                ));
            };
            let url =
                match (args.url.as_deref(), documented_url(kind)) {
                    (Some(url), _) => url.trim().to_string(),
                    (None, Some(url)) => url.to_string(),
                    (None, None) => return Err(Error::Validation {
                        field: "url".into(),
                        message:
                            "give the key service's URL with --url (e.g. https://keys.example.com)"
                                .into(),
                    }),
                };
            let mut lines = Lines::new();
            let password = read_password(&mut lines, kind)?;
            let account_key = match kind {
                ConnectorKind::Tokenkit => Some(lines.read_as(
                    "api key",
                    "An API key of this account (TokenKit's dashboard: Settings → API Keys)",
                )?),
                _ => None,
            };
            let service = ServiceRef::Url {
                url,
                allow_http: args.allow_http,
            };
            let account = core
                .accounts()
                .sign_in_to(
                    kind,
                    service,
                    email,
                    password,
                    account_key,
                    !args.no_remember,
                )
                .await?;
            Ok(if args.json {
                output::json(&account)
            } else {
                let mut done = format!(
                    "Signed in: account {} ({}), now the active account.\n",
                    account.id, account.label
                );
                if kind.signs_in_with_session_token() {
                    done.push_str(&format!(
                        "Keys are made in {}; add each with `keyhaven keys import --name NAME` \
                         (the secret from standard input). When the session token stops \
                         working, sign in again with a new one (`keyhaven account sign-in {}`).\n",
                        kind_info(kind).key_page,
                        account.id
                    ));
                }
                done
            })
        }
        AccountCommand::List { json } => {
            let active = core.accounts().active().map(|a| a.id);
            let accounts = core.accounts().list();
            if json {
                let listed: Vec<Listed> = accounts
                    .iter()
                    .map(|account| Listed {
                        active: active.as_deref() == Some(account.id.as_str()),
                        account,
                    })
                    .collect();
                return Ok(output::json(&listed));
            }
            if accounts.is_empty() {
                return Ok(format!(
                    "No accounts in profile {}: add one with `keyhaven account add --url URL --email EMAIL`.\n",
                    core.profile()
                ));
            }
            let mut out = String::new();
            for a in &accounts {
                let mark = if active.as_deref() == Some(a.id.as_str()) {
                    "*"
                } else {
                    " "
                };
                out.push_str(&format!(
                    "{mark} {}  {}  {}\n",
                    a.id,
                    a.label,
                    a.role.as_str()
                ));
            }
            Ok(out)
        }
        AccountCommand::Use { id, json } => {
            core.accounts().set_active(id.trim())?;
            if json {
                return Ok(output::json(&core.accounts().get(id.trim())?));
            }
            Ok(format!("Account {} is now the active one.\n", id.trim()))
        }
        AccountCommand::SignIn {
            id,
            no_remember,
            json,
        } => {
            let account = core.accounts().get(id.trim())?;
            let password = read_password(&mut Lines::new(), account.connector)?;
            let account = core
                .accounts()
                .sign_in_again(&account.id, password, !no_remember)
                .await?;
            if json {
                return Ok(output::json(&account));
            }
            Ok(format!("Signed in again: account {}.\n", account.id))
        }
        AccountCommand::SignOut { id, json } => {
            core.accounts().sign_out(id.trim()).await?;
            if json {
                return Ok(output::json(&core.accounts().get(id.trim())?));
            }
            Ok(format!(
                "Signed out of account {}; it stays in the profile.\n",
                id.trim()
            ))
        }
        AccountCommand::Remove { id, confirm, json } => {
            let account = core.accounts().remove(id.trim(), &confirm).await?;
            if json {
                return Ok(output::json(&account));
            }
            Ok(format!(
                "Removed account {} ({}) and its secrets from this computer.\n",
                account.id, account.label
            ))
        }
    }
}
