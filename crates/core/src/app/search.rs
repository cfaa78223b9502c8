//! Finding a key by name or prefix across every account of the profile (the app's header search,
//! `keyhaven keys find`).

use serde::Serialize;
use ts_rs::TS;

use super::KeyView;
use crate::error::{ErrorPayload, Result};

/// Longest search text.
const MAX_QUERY_CHARS: usize = 100;

/// A key found, with the account it is in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct FoundKey {
    pub account_id: String,
    pub account_label: String,
    pub key: KeyView,
}

/// What a search found, and the accounts it could not read (signed out, offline), each with why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct KeySearch {
    pub found: Vec<FoundKey>,
    pub unread: Vec<UnreadAccount>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct UnreadAccount {
    pub account_id: String,
    pub reason: ErrorPayload,
}

/// Whether a key matches `query` (already lower-cased): its name contains it, or its prefix
/// starts with it.
fn matches(key: &KeyView, query: &str) -> bool {
    key.meta.name.to_lowercase().contains(query)
        || key.meta.prefix.to_lowercase().starts_with(query)
}

impl crate::app::Keys<'_> {
    /// The keys of every account of the profile whose name contains `query` or whose prefix
    /// starts with it (case does not matter), accounts in their order, keys as each lists them.
    /// An account that cannot be read is named with the reason; the others are still searched.
    pub async fn find(&self, query: &str) -> Result<KeySearch> {
        let query = query.trim().to_lowercase();
        if query.is_empty() || query.chars().count() > MAX_QUERY_CHARS {
            return Err(crate::Error::validation(
                "query",
                format!("give 1 to {MAX_QUERY_CHARS} characters of a key's name or prefix"),
            ));
        }
        let mut search = KeySearch {
            found: Vec::new(),
            unread: Vec::new(),
        };
        for account in self.core.accounts().list() {
            match self.core.keys().list(&account.id).await {
                Ok(keys) => {
                    search
                        .found
                        .extend(keys.into_iter().filter(|k| matches(k, &query)).map(|key| {
                            FoundKey {
                                account_id: account.id.clone(),
                                account_label: account.label.clone(),
                                key,
                            }
                        }))
                }
                Err(e) => search.unread.push(UnreadAccount {
                    account_id: account.id.clone(),
                    reason: e.payload(),
                }),
            }
        }
        Ok(search)
    }
}
