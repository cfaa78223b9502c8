//! `keyhaven keys create|show|revoke`: making and retiring keys from the terminal, with the
//! same checks as the app (the core's, which are the service's rules).

use std::io::{IsTerminal, Write};

use chrono::{Duration, Utc};
use clap::Args;
use keyhaven_core::local_keys::Presentation;
use keyhaven_core::{
    kind_info, new_key_request, suggest_kinds, update_key_request, Account, ConnectorKind, Error,
    Granularity, ImportOptions, Keyhaven, Secret, UsageQuery,
};

use crate::{account_of, output, resolve_key, resume_quietly, Done};

#[derive(Debug, Args)]
pub struct KeysCreate {
    /// The key's name (1 to 100 characters).
    #[arg(long)]
    pub name: String,
    /// Its scopes, comma-separated (default: read, on a service whose keys have scopes).
    #[arg(long, value_delimiter = ',')]
    pub scopes: Option<Vec<String>>,
    /// When it expires: a number of days (`30d`), a date (`2030-01-31`) or a time
    /// (`2030-01-31T12:00:00Z`); default: never.
    #[arg(long, value_name = "WHEN")]
    pub expires: Option<String>,
    /// An origin allowed to use it (`https://app.example.com`); repeat for several.
    #[arg(long = "origin", value_name = "ORIGIN")]
    pub origins: Vec<String>,
    /// An IP address or CIDR block allowed to use it; repeat for several.
    #[arg(long = "ip", value_name = "CIDR")]
    pub ips: Vec<String>,
    /// Most calls an hour.
    #[arg(long, value_name = "N")]
    pub hourly_limit: Option<u32>,
    /// The account (its id); default: the profile's active account.
    #[arg(long, value_name = "ID")]
    pub account: Option<String>,
    /// Also print the secret (once): to a terminal, or with --allow-pipe to a pipe or a file.
    #[arg(long)]
    pub show_secret: bool,
    /// With --show-secret: print it even when standard output is not a terminal.
    #[arg(long)]
    pub allow_pipe: bool,
    /// Print the key's metadata as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct KeysShow {
    /// The key: its id, its name, or the start of its prefix.
    pub key: String,
    /// The account (its id); default: the profile's active account.
    #[arg(long, value_name = "ID")]
    pub account: Option<String>,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct KeysRevoke {
    /// The key: its id, its name, or the start of its prefix.
    pub key: String,
    /// The key's name again, to confirm: revoking cannot be undone.
    #[arg(long, value_name = "NAME")]
    pub confirm: String,
    /// The account (its id); default: the profile's active account.
    #[arg(long, value_name = "ID")]
    pub account: Option<String>,
    /// Print the revoked key's metadata as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct KeysUpdate {
    /// The key: its id, its name, or the start of its prefix.
    pub key: String,
    /// A new name.
    #[arg(long)]
    pub name: Option<String>,
    /// New scopes, comma-separated (they replace the old ones).
    #[arg(long, value_delimiter = ',')]
    pub scopes: Option<Vec<String>>,
    /// A new expiry (30d, a date or a time), or `never`.
    #[arg(long, value_name = "WHEN")]
    pub expires: Option<String>,
    /// The allowed origins (they replace the old ones); repeat for several.
    #[arg(long = "origin", value_name = "ORIGIN", conflicts_with = "no_origins")]
    pub origins: Vec<String>,
    /// Allow every origin again.
    #[arg(long)]
    pub no_origins: bool,
    /// The allowed IPs or CIDR blocks (they replace the old ones); repeat for several.
    #[arg(long = "ip", value_name = "CIDR", conflicts_with = "no_ips")]
    pub ips: Vec<String>,
    /// Allow every IP again.
    #[arg(long)]
    pub no_ips: bool,
    /// A new hourly limit, or `none`.
    #[arg(long, value_name = "N|none")]
    pub hourly_limit: Option<String>,
    /// The account (its id); default: the profile's active account.
    #[arg(long, value_name = "ID")]
    pub account: Option<String>,
    /// Print the key's metadata as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct KeysImport {
    /// The key's name. For a service that names its keys (keyhaven), the service's own name is
    /// kept and a different one is said; for animus it says which listed key the secret is; for
    /// the others (anikura, ananke, wanikani, generic) it is needed.
    #[arg(long)]
    pub name: Option<String>,
    /// An animus key: its id, to say which key the secret is when several have its name
    /// (`keyhaven keys list`).
    #[arg(long, value_name = "ID")]
    pub key: Option<String>,
    /// The account (its id). Default: the profile's account of --kind; without --kind, the
    /// account of the kind the key's prefix names, else the active account.
    #[arg(long, value_name = "ID")]
    pub account: Option<String>,
    /// The kind of service the key is for, to choose the account (`ak_live_` keys are both
    /// AniKura's and Ananke Labs': say which).
    #[arg(long)]
    pub kind: Option<String>,
    /// A permission or scope the key was given (WaniKani's permissions); repeat for several.
    #[arg(long = "scope", value_name = "SCOPE")]
    pub scopes: Vec<String>,
    /// When the key expires, if its service said: days (`30d`), a date or a time.
    #[arg(long, value_name = "WHEN")]
    pub expires: Option<String>,
    /// A generic key: the HTTP header it is sent in (e.g. Authorization).
    #[arg(long)]
    pub header: Option<String>,
    /// A generic key: text sent before it in that header (e.g. "Bearer ").
    #[arg(long, default_value = "")]
    pub value_prefix: String,
    /// A generic key: a URL that answers 2xx to a working key (and 401 or 403 to a refused one).
    #[arg(long, value_name = "URL")]
    pub verify_url: Option<String>,
    /// Store the key without checking it with its service first.
    #[arg(long)]
    pub unverified: bool,
    /// Print the key as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct KeysCheck {
    /// The key: its id, its name, or the start of its prefix.
    pub key: String,
    /// The account (its id); default: the profile's active account.
    #[arg(long, value_name = "ID")]
    pub account: Option<String>,
    /// Print the check as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct KeysForget {
    /// The key: its id, its name, or the start of its prefix.
    pub key: String,
    /// The key's name again, to confirm.
    #[arg(long, value_name = "NAME")]
    pub confirm: String,
    /// The account (its id); default: the profile's active account.
    #[arg(long, value_name = "ID")]
    pub account: Option<String>,
    /// Print the forgotten key as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct KeysUsage {
    /// The key: its id, its name, or the start of its prefix.
    pub key: String,
    /// Buckets of an hour (the last 24) or a day (the last 30).
    #[arg(long, default_value = "hour", value_parser = ["hour", "day"])]
    pub by: String,
    /// The account (its id); default: the profile's active account.
    #[arg(long, value_name = "ID")]
    pub account: Option<String>,
    /// Print JSON instead of a chart.
    #[arg(long)]
    pub json: bool,
}

/// `30d`, `2030-01-31` or an RFC 3339 time, as the RFC 3339 time the core takes.
fn expiry(text: &str) -> Result<String, Error> {
    let text = text.trim();
    let bad = || {
        Error::Validation {
        field: "expires".into(),
        message: format!(
            "'{text}' is not a number of days (30d), a date (2030-01-31) or a time (2030-01-31T12:00:00Z)"
        ),
    }
    };
    if let Some(days) = text.strip_suffix('d') {
        let days: i64 = days
            .parse()
            .ok()
            .filter(|d| (1..=3650).contains(d))
            .ok_or_else(bad)?;
        return Ok((Utc::now() + Duration::days(days)).to_rfc3339());
    }
    if let Ok(date) = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        let end = date.and_hms_opt(0, 0, 0).ok_or_else(bad)?.and_utc();
        return Ok(end.to_rfc3339());
    }
    chrono::DateTime::parse_from_rfc3339(text).map_err(|_| bad())?;
    Ok(text.to_string())
}

pub async fn create(core: &Keyhaven, args: KeysCreate) -> Result<Done, Error> {
    let to_terminal = std::io::stdout().is_terminal();
    let print_secret = args.show_secret && (to_terminal || args.allow_pipe);
    if args.show_secret && !print_secret {
        return Err(Error::Validation {
            field: "output".into(),
            message: "standard output is not a terminal, so the secret is not printed; add --allow-pipe to print it to a pipe or a file".into(),
        });
    }
    let expires = args.expires.as_deref().map(expiry).transpose()?;
    let list = |v: Vec<String>| (!v.is_empty()).then_some(v);
    let account = account_of(core, args.account)?;
    let scopes = match args.scopes {
        Some(scopes) => scopes,
        None if core.accounts().capabilities(&account.id)?.key_scopes => vec!["read".to_string()],
        None => Vec::new(),
    };
    let request = new_key_request(
        args.name,
        scopes,
        expires.as_deref(),
        list(args.origins),
        list(args.ips),
        args.hourly_limit,
    )?;
    let created = core.keys().create(&account.id, request).await?;
    if !created.stored_in_keychain && !print_secret {
        // The secret would be lost with this process: no key is left that nobody holds.
        let problem = created
            .keychain_error
            .as_ref()
            .map(|e| e.to_string())
            .unwrap_or_default();
        let undone = core.keys().revoke(&account.id, &created.meta.id).await;
        return Err(Error::Validation {
            field: "keychain".into(),
            message: format!(
                "the keychain did not store the new key's secret ({problem}); the key was {}. Fix the keychain, or run again with --show-secret to copy the secret yourself",
                if undone.is_ok() { "revoked again" } else { "NOT revoked: revoke it in the app" }
            ),
        });
    }
    let mut stdout = if args.json {
        output::json(&created.meta)
    } else {
        format!(
            "Created {} ({}…) with {}; its secret is {}.\n",
            created.meta.name,
            created.meta.prefix,
            created.meta.scopes.join(", "),
            if created.stored_in_keychain {
                "in this computer's keychain"
            } else {
                "NOT in the keychain (it refused): keep the one printed here"
            }
        )
    };
    if print_secret {
        // The secret goes straight to standard output, not through the answer kept in memory.
        let mut out = std::io::stdout().lock();
        out.write_all(stdout.as_bytes())
            .and_then(|()| out.write_all(created.secret.expose().as_bytes()))
            .and_then(|()| out.write_all(b"\n"))
            .and_then(|()| out.flush())
            .map_err(|e| Error::Validation {
                field: "output".into(),
                message: format!("the secret could not be written: {e}"),
            })?;
        stdout = String::new();
    }
    Ok(Done::from(stdout))
}

pub async fn show(core: &Keyhaven, args: KeysShow) -> Result<String, Error> {
    let account = account_of(core, args.account)?;
    resume_quietly(core).await?;
    let id = resolve_key(core, &account, &args.key).await?;
    let meta = core.keys().get(&account.id, &id, None).await?;
    if args.json {
        return Ok(output::json(&meta));
    }
    let list = |l: &[String]| {
        if l.is_empty() {
            "any".to_string()
        } else {
            l.join(", ")
        }
    };
    let time = |t: Option<chrono::DateTime<Utc>>, none: &str| {
        t.map_or_else(|| none.to_string(), |t| t.to_rfc3339())
    };
    let mut out = format!(
        "{} ({}…)  {}\n  id           {}\n  scopes       {}\n  created      {}\n  last used    {}\n  expires      {}\n  origins      {}\n  IPs          {}\n  hourly limit {}\n",
        meta.name,
        meta.prefix,
        meta.status.as_str(),
        meta.id,
        meta.scopes.join(", "),
        meta.created_at.to_rfc3339(),
        time(meta.last_used_at, "never"),
        time(meta.expires_at, "never"),
        list(&meta.allowed_origins),
        list(&meta.allowed_ips),
        meta.rate_limit_per_hour
            .map_or_else(|| "none".to_string(), |n| n.to_string()),
    );
    if let Some(next) = &meta.replaced_by {
        out.push_str(&format!("  replaced by  {next}\n"));
    }
    if let Some(previous) = &meta.replaces {
        out.push_str(&format!("  replaces     {previous}\n"));
    }
    Ok(out)
}

pub async fn revoke(core: &Keyhaven, args: KeysRevoke) -> Result<String, Error> {
    let account = account_of(core, args.account)?;
    resume_quietly(core).await?;
    let id = resolve_key(core, &account, &args.key).await?;
    let meta = core.keys().get(&account.id, &id, None).await?;
    if args.confirm.trim() != meta.name {
        return Err(Error::Validation {
            field: "confirm".into(),
            message: format!(
                "type the key's name ('{}') to revoke it; nothing was revoked",
                meta.name
            ),
        });
    }
    core.keys().revoke(&account.id, &meta.id).await?;
    if args.json {
        // A service that deletes revoked keys (TokenKit) no longer has it to show.
        let revoked = match core.keys().get(&account.id, &meta.id, None).await {
            Ok(revoked) => revoked,
            Err(e) if e.code() == keyhaven_core::ErrorKind::NotFound => keyhaven_api::KeyMeta {
                status: keyhaven_api::KeyStatus::Revoked,
                revoked_at: Some(chrono::Utc::now()),
                ..meta
            },
            Err(e) => return Err(e),
        };
        return Ok(output::json(&revoked));
    }
    Ok(format!(
        "Revoked {} ({}…): it stops working at once, and its secret left this computer.\n",
        meta.name, meta.prefix
    ))
}

pub async fn update(core: &Keyhaven, args: KeysUpdate) -> Result<String, Error> {
    let expires = match args.expires.as_deref().map(str::trim) {
        None => None,
        Some("never") => Some(String::new()),
        Some(when) => Some(expiry(when)?),
    };
    let hourly_limit = match args.hourly_limit.as_deref().map(str::trim) {
        None => None,
        Some("none") => Some(None),
        Some(n) => Some(Some(n.parse::<u32>().map_err(|_| Error::Validation {
            field: "hourly-limit".into(),
            message: format!("'{n}' is not a number of calls, or `none`"),
        })?)),
    };
    let list = |values: Vec<String>, none: bool| {
        if none {
            Some(Vec::new())
        } else {
            (!values.is_empty()).then_some(values)
        }
    };
    let request = update_key_request(
        args.name,
        args.scopes,
        expires.as_deref(),
        list(args.origins, args.no_origins),
        list(args.ips, args.no_ips),
        hourly_limit,
    )?;
    let account = account_of(core, args.account)?;
    resume_quietly(core).await?;
    let id = resolve_key(core, &account, &args.key).await?;
    let meta = core.keys().update(&account.id, &id, request).await?;
    Ok(if args.json {
        output::json(&meta)
    } else {
        format!(
            "Updated {} ({}…); its secret did not change.\n",
            meta.name, meta.prefix
        )
    })
}

/// The widest bar of the usage chart, in characters.
const BAR: u64 = 40;

pub async fn usage(core: &Keyhaven, args: KeysUsage) -> Result<String, Error> {
    let account = account_of(core, args.account)?;
    let id = resolve_key(core, &account, &args.key).await?;
    let (granularity, span) = match args.by.as_str() {
        "day" => (Granularity::Day, Duration::days(30)),
        _ => (Granularity::Hour, Duration::hours(24)),
    };
    let now = Utc::now();
    let query = UsageQuery {
        from: Some(now - span),
        to: Some(now),
        granularity: Some(granularity),
        tenant_id: None,
    };
    let usage = core.keys().usage(&account.id, &id, query).await?;
    if args.json {
        return Ok(output::json(&usage));
    }
    let refused = |p: &keyhaven_api::UsagePoint| p.denied.values().sum::<u64>();
    let most = usage
        .series
        .iter()
        .map(|p| p.allowed + refused(p))
        .max()
        .unwrap_or(0)
        .max(1);
    let label = if granularity == Granularity::Day {
        "%Y-%m-%d"
    } else {
        "%Y-%m-%d %H:00"
    };
    let mut out = format!(
        "Calls with {} by {} (UTC): █ accepted, ░ refused; last used {}.\n",
        args.key,
        args.by,
        usage
            .last_used_at
            .map_or_else(|| "never".to_string(), |t| t.to_rfc3339())
    );
    for point in &usage.series {
        let (ok, no) = (point.allowed, refused(point));
        let width = |n: u64| {
            usize::try_from(n * BAR / most).unwrap_or(0) + usize::from(n > 0 && n * BAR < most)
        };
        let reasons = point
            .denied
            .iter()
            .map(|(code, n)| format!("{code} {n}"))
            .collect::<Vec<_>>()
            .join(", ");
        out.push_str(&format!(
            "{}  {}{} {ok}{}\n",
            point.t.format(label),
            "█".repeat(width(ok)),
            "░".repeat(width(no)),
            if no > 0 {
                format!(" ({no} refused: {reasons})")
            } else {
                String::new()
            }
        ));
    }
    Ok(out)
}

pub async fn import(core: &Keyhaven, args: KeysImport) -> Result<String, Error> {
    let secret = crate::profiles::Lines::new().read_as("secret", "The key's secret")?;
    let account = import_account(core, &args, &secret)?;
    if account.connector.signs_in_with_session_token() {
        let meta = core
            .keys()
            .import_listed(
                &account.id,
                secret,
                args.name.as_deref(),
                args.key.as_deref(),
            )
            .await?;
        if args.json {
            return Ok(output::json(&meta));
        }
        return Ok(format!(
            "Imported \"{}\" ({}) of account {}: checked with its service and stored in the keychain.\n",
            meta.name, meta.id, account.id
        ));
    }
    if !core.accounts().capabilities(&account.id)?.local_keys {
        let meta = core.keys().import(&account.id, secret).await?;
        if args.json {
            return Ok(output::json(&meta));
        }
        let mut out = format!(
            "Imported \"{}\" ({}…) of account {}: verified with its service and stored in the keychain.\n",
            meta.name, meta.prefix, account.id
        );
        if let Some(name) = args.name.filter(|n| n.trim() != meta.name) {
            out.push_str(&format!(
                "Its service names it \"{}\", not \"{}\": use that name with `keys` and in references.\n",
                meta.name,
                name.trim()
            ));
        }
        return Ok(out);
    }
    let Some(name) = args.name else {
        return Err(Error::validation(
            "name",
            "give the key a name with --name (its service does not tell Keyhaven one)",
        ));
    };
    let presentation = args.header.map(|header| Presentation {
        header,
        value_prefix: args.value_prefix,
        verify_url: args.verify_url,
    });
    let options = ImportOptions {
        name,
        scopes: args.scopes,
        expires_at: args
            .expires
            .as_deref()
            .map(|when| {
                expiry(when).and_then(|t| {
                    chrono::DateTime::parse_from_rfc3339(&t)
                        .map(|t| t.to_utc())
                        .map_err(|_| Error::validation("expires", "is not a time"))
                })
            })
            .transpose()?,
        presentation,
        unverified: args.unverified,
    };
    let view = core
        .keys()
        .import_local(&account.id, secret, options)
        .await?;
    if args.json {
        return Ok(output::json(&view));
    }
    Ok(format!(
        "Imported \"{}\" ({}…) into account {} ({}) and stored it in the keychain. {}\n",
        view.meta.name,
        view.meta.prefix,
        account.id,
        account.label,
        view.check.as_ref().map_or_else(
            || "Not checked (stored unverified): `keyhaven keys check` checks it.".to_string(),
            |c| c.message.clone()
        )
    ))
}

/// The account a pasted key goes to: the one named, the profile's one of `--kind`, the one of
/// the kind its prefix names, or the active one. A prefix two kinds share is asked about.
fn import_account(core: &Keyhaven, args: &KeysImport, secret: &Secret) -> Result<Account, Error> {
    if let Some(id) = &args.account {
        return core.accounts().get(id.trim());
    }
    let of_kind = |kinds: &[ConnectorKind]| -> Vec<Account> {
        core.accounts()
            .list()
            .into_iter()
            .filter(|a| kinds.contains(&a.connector))
            .collect()
    };
    let ids = |accounts: &[Account]| {
        accounts
            .iter()
            .map(|a| format!("{} ({})", a.id, a.label))
            .collect::<Vec<_>>()
            .join(", ")
    };
    if let Some(kind) = &args.kind {
        let kind = ConnectorKind::parse(kind)?;
        let label = kind_info(kind).label;
        return match &of_kind(&[kind])[..] {
            [one] => Ok(one.clone()),
            [] => Err(Error::validation(
                "kind",
                format!(
                    "this profile has no {label} account: add one with `keyhaven account add --kind {}`",
                    kind.cli_name()
                ),
            )),
            several => Err(Error::validation(
                "account",
                format!("this profile has several {label} accounts: choose one with --account ({})", ids(several)),
            )),
        };
    }
    let suggested = suggest_kinds(secret);
    if suggested.is_empty() {
        return account_of(core, None);
    }
    let candidates = of_kind(&suggested);
    let mut kinds: Vec<ConnectorKind> = Vec::new();
    for account in &candidates {
        if !kinds.contains(&account.connector) {
            kinds.push(account.connector);
        }
    }
    let names = |kinds: &[ConnectorKind]| {
        kinds
            .iter()
            .map(|k| format!("{} (--kind {})", kind_info(*k).label, k.cli_name()))
            .collect::<Vec<_>>()
            .join(" or ")
    };
    if kinds.len() > 1 {
        return Err(Error::validation(
            "kind",
            format!(
                "a key starting this way may be {}: say which",
                names(&kinds)
            ),
        ));
    }
    let active = core.accounts().active();
    match &candidates[..] {
        [] => Err(Error::validation(
            "kind",
            format!(
                "the key looks like {} and this profile has no such account: add one first",
                names(&suggested)
            ),
        )),
        _ if active
            .as_ref()
            .is_some_and(|a| candidates.iter().any(|c| c.id == a.id)) =>
        {
            account_of(core, None)
        }
        [one] => Ok(one.clone()),
        several => Err(Error::validation(
            "account",
            format!("choose the account with --account ({})", ids(several)),
        )),
    }
}

pub async fn check(core: &Keyhaven, args: KeysCheck) -> Result<String, Error> {
    let account = account_of(core, args.account)?;
    let id = resolve_key(core, &account, &args.key).await?;
    let check = core.keys().check(&account.id, &id).await?;
    if args.json {
        return Ok(output::json(&check));
    }
    let mut out = format!("{}: {}\n", check.verdict.as_str(), check.message);
    if let Some(quota) = check.quota {
        out.push_str(&format!(
            "Quota: {} left today{}, resets {}.\n",
            quota
                .remaining
                .map_or_else(|| "no daily cap,".to_string(), |n| n.to_string()),
            quota.limit.map(|l| format!(" of {l}")).unwrap_or_default(),
            quota.resets_at.to_rfc3339()
        ));
    }
    Ok(out)
}

pub async fn forget(core: &Keyhaven, args: KeysForget) -> Result<String, Error> {
    let account = account_of(core, args.account)?;
    let id = resolve_key(core, &account, &args.key).await?;
    let meta = core.keys().get(&account.id, &id, None).await?;
    if args.confirm.trim() != meta.name {
        return Err(Error::validation(
            "confirm",
            format!(
                "type the key's name ('{}') to remove it from Keyhaven; nothing was removed",
                meta.name
            ),
        ));
    }
    core.keys().forget(&account.id, &meta.id).await?;
    if args.json {
        return Ok(output::json(&meta));
    }
    let info = kind_info(account.connector);
    Ok(format!(
        "Removed {} ({}…) and its secret from Keyhaven. The key itself is deleted in {}.\n",
        meta.name, meta.prefix, info.key_page
    ))
}
