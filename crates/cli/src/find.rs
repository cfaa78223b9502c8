//! `keyhaven keys find TEXT`: a key by name or prefix, in every account of the profile.

use clap::Args;
use keyhaven_core::{Error, Keyhaven};

use crate::{output, Done};

#[derive(Debug, Args)]
pub struct KeysFind {
    /// Part of a key's name, or the start of its prefix (case does not matter).
    pub text: String,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

pub async fn find(core: &Keyhaven, args: KeysFind) -> Result<Done, Error> {
    let search = core.keys().find(&args.text).await?;
    let exit = u8::from(!search.unread.is_empty());
    if args.json {
        return Ok(Done {
            stdout: output::json(&search),
            exit,
        });
    }
    let mut out = String::new();
    if search.found.is_empty() {
        out.push_str(&format!(
            "No key of profile {}'s accounts is named like '{}' or has that prefix.\n",
            core.profile(),
            args.text.trim()
        ));
    }
    for found in &search.found {
        let meta = &found.key.meta;
        out.push_str(&format!(
            "{}  {} ({}…)  {}  {}\n",
            found.account_label,
            meta.name,
            meta.prefix,
            meta.status.as_str(),
            meta.id
        ));
    }
    for unread in &search.unread {
        eprintln!(
            "account {} was not searched: {}",
            unread.account_id, unread.reason.message
        );
    }
    Ok(Done { stdout: out, exit })
}
