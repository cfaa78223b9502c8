//! A profile's first account: a profile with no account at all (the first, at first run, and each
//! one made later, once it is active) gets an owner account on the key service the app embeds,
//! so that Keyhaven works out of the box. [`Accounts::ensure_first`](crate::Accounts::ensure_first) makes it through a
//! [`LocalAccounts`], which the app implements over its `keyhaven_service::Service` (the core
//! does not depend on the service).

use std::future::Future;

use rand::distributions::{Alphanumeric, DistString};

use crate::catalog::{Account, ServiceRef};
use crate::error::Result;
use crate::secret::Secret;

/// Where a profile's first account is made: the key service the app embeds.
pub trait LocalAccounts: Sync {
    /// Adds the owner `email`, with `password`, in a new tenant named `tenant`.
    fn add_owner(
        &self,
        email: &str,
        tenant: &str,
        password: &Secret,
    ) -> impl Future<Output = Result<()>> + Send;
}

impl crate::app::Accounts<'_> {
    /// Gives the active profile an owner account on the embedded service (whose URL must be set,
    /// [`Keyhaven::set_embedded_url`](crate::Keyhaven::set_embedded_url)) if the profile has no account at all and is not locked: in
    /// a tenant of its own (a profile made again under an old name does not see the keys of the
    /// one deleted before it), with a random password that only the keychain knows, signed in
    /// and active. Returns the account made, or `None` when the profile needed none.
    pub async fn ensure_first(&self, local: &impl LocalAccounts) -> Result<Option<Account>> {
        if self.core.profiles().is_locked() || !self.core.accounts().list().is_empty() {
            return Ok(None);
        }
        let profile = self.core.profile();
        let tag = Alphanumeric
            .sample_string(&mut rand::thread_rng(), 6)
            .to_lowercase();
        let email = format!("{profile}+{tag}@keyhaven.local");
        let password = Secret::new(Alphanumeric.sample_string(&mut rand::thread_rng(), 32));
        local
            .add_owner(&email, &format!("{profile} (local {tag})"), &password)
            .await?;
        let account = self
            .core
            .accounts()
            .sign_in(ServiceRef::Embedded, &email, password, true)
            .await?;
        tracing::info!("signed the profile in to the local key service");
        Ok(Some(account))
    }
}
