//! Importing a key of a service that lists its keys but, when the key is used, does not say
//! which key it is (Animus): the person names the key as the service lists it, the secret is
//! checked with one call, and it is stored under that key's id.

use keyhaven_api::KeyMeta;

use crate::catalog::ConnectorKind;
use crate::connector::{animus_scopes_fit, kind_info, Connector, PingCall};
use crate::error::{Error, Result};
use crate::secret::Secret;
use crate::vault::names;

impl crate::app::Keys<'_> {
    /// Imports `secret` as the account's listed key named `name`, or the one with id `key_id`
    /// (needed when several keys have that name). The key is chosen from the service's list
    /// before the secret is used; the secret is then checked with its service (a refused one is
    /// not stored), must not be held here already as another key, and, where the check tells
    /// something of the key's scopes, must fit the chosen key's. Stored in the keychain under
    /// that key (read back and compared).
    pub async fn import_listed(
        &self,
        account_id: &str,
        secret: Secret,
        name: Option<&str>,
        key_id: Option<&str>,
    ) -> Result<KeyMeta> {
        let account = self.core.accounts().get(account_id)?;
        let caps = self.core.accounts().capabilities(&account.id)?;
        if !(caps.import_keys && caps.list_keys && !caps.local_keys) {
            return Err(Error::validation(
                "account",
                "its service does not list keys to match an imported one against",
            ));
        }
        let secret = Secret::new(secret.expose().trim().to_string());
        if secret.is_empty() {
            return Err(Error::validation("secret", "is empty"));
        }
        let name = name.map(str::trim).filter(|n| !n.is_empty());
        let key_id = key_id.map(str::trim).filter(|k| !k.is_empty());
        if name.is_none() && key_id.is_none() {
            return Err(Error::validation(
                "name",
                "say which key the secret is: its name as the service lists it, or its id",
            ));
        }
        let label = kind_info(account.connector).label;
        let listed = self
            .core
            .with_session(&account.id, |c, token| async move {
                c.list_keys(&token, None).await
            })
            .await?;
        let mut chosen = choose(&listed, name, key_id, label)?.clone();

        let profile = self.core.profile();
        for other in listed.iter().filter(|k| k.id != chosen.id) {
            if let Some(held) = self
                .core
                .vault()
                .get(&profile, &names::key(&account.id, &other.id))
                .await?
            {
                if held.constant_time_eq(&secret) {
                    return Err(Error::validation(
                        "secret",
                        format!(
                            "is already in this account as \"{}\" ({})",
                            other.name, other.id
                        ),
                    ));
                }
            }
        }

        let answer = self
            .core
            .connector_for(&account)?
            .ping(&secret, &PingCall::default())
            .await?
            .value;
        if account.connector == ConnectorKind::Animus
            && !animus_scopes_fit(&chosen.scopes, &answer.scopes)
        {
            return Err(Error::validation(
                "secret",
                format!(
                    "works, but not as \"{}\" ({}): that key has scopes {} and this secret's \
                     check says otherwise. It is another key: name that one",
                    chosen.name,
                    chosen.id,
                    if chosen.scopes.is_empty() {
                        "none".to_string()
                    } else {
                        chosen.scopes.join(", ")
                    }
                ),
            ));
        }

        let vault_name = names::key(&account.id, &chosen.id);
        self.core
            .vault()
            .put(&profile, &vault_name, &secret)
            .await?;
        match self.core.vault().get(&profile, &vault_name).await? {
            Some(back) if back.constant_time_eq(&secret) => {}
            _ => return Err(Error::KeychainWrite),
        }
        tracing::info!(account = %account.id, key_id = %chosen.id, "key imported");
        self.core
            .annotate_replacements(&account.id, std::slice::from_mut(&mut chosen));
        Ok(chosen)
    }
}

/// The listed key a secret is imported as: the one with `key_id` (whose name, if given too,
/// must be `name`), or the only one named `name`.
fn choose<'a>(
    listed: &'a [KeyMeta],
    name: Option<&str>,
    key_id: Option<&str>,
    label: &str,
) -> Result<&'a KeyMeta> {
    if let Some(id) = key_id {
        let key = listed.iter().find(|k| k.id == id).ok_or_else(|| {
            Error::not_found(format!("key {id} among the account's keys on {label}"))
        })?;
        return match name {
            Some(name) if name != key.name => Err(Error::validation(
                "key",
                format!(
                    "key {id} is named \"{}\" on {label}, not \"{name}\"",
                    key.name
                ),
            )),
            _ => Ok(key),
        };
    }
    let name = name.unwrap_or_default();
    let named: Vec<&KeyMeta> = listed.iter().filter(|k| k.name == name).collect();
    match named[..] {
        [one] => Ok(one),
        [] => Err(Error::validation(
            "name",
            format!(
                "no key of this account on {label} is named \"{name}\"{}; make the key there \
                 first, or give its name as {label} lists it",
                if listed.is_empty() {
                    " (it lists none)".to_string()
                } else {
                    format!(
                        " (it lists {})",
                        listed
                            .iter()
                            .map(|k| format!("\"{}\"", k.name))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                }
            ),
        )),
        _ => Err(Error::validation(
            "key",
            format!(
                "several keys on {label} are named \"{name}\" ({}): say which with its id \
                 (--key ID)",
                named
                    .iter()
                    .map(|k| k.id.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )),
    }
}
