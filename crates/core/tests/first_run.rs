//! A profile's first account, on the real key service standing in for the one the app embeds: a
//! profile with no account gets an owner account there, signed in and working, once; every
//! profile in a tenant of its own; a locked profile and a profile with an account get none; a
//! service that refuses leaves the profile as it was.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};

use keyhaven_api::Role;
use keyhaven_core::{Error, LocalAccounts, Secret, ServiceRef};
use keyhaven_service::Service;

use common::Svc;

/// The service as the app adapts it, counting the accounts it was asked for.
struct Local<'a> {
    service: &'a Service,
    asked: AtomicUsize,
}

impl<'a> Local<'a> {
    fn new(service: &'a Service) -> Self {
        Local {
            service,
            asked: AtomicUsize::new(0),
        }
    }

    fn asked(&self) -> usize {
        self.asked.load(Ordering::SeqCst)
    }
}

impl LocalAccounts for Local<'_> {
    async fn add_owner(
        &self,
        email: &str,
        tenant: &str,
        password: &Secret,
    ) -> keyhaven_core::Result<()> {
        self.asked.fetch_add(1, Ordering::SeqCst);
        self.service
            .add_user(email, Role::Owner, tenant, password.expose())
            .await
            .map(|_| ())
            .map_err(|e| Error::Service {
                code: e.code(),
                message: e.to_string(),
            })
    }
}

/// A service that refuses every account.
struct Refusing;

impl LocalAccounts for Refusing {
    async fn add_owner(&self, _: &str, _: &str, _: &Secret) -> keyhaven_core::Result<()> {
        Err(Error::Service {
            code: keyhaven_api::ErrorCode::Internal,
            message: "the database is read-only".into(),
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_profile_with_no_account_gets_a_working_owner_account_once() {
    let svc = Svc::start(|_| {}).await;
    let data = tempfile::tempdir().expect("tempdir");
    let core = common::core(data.path()).await;
    core.set_embedded_url(Some(svc.url()));
    let local = Local::new(&svc.service);

    let account = core
        .accounts()
        .ensure_first(&local)
        .await
        .expect("made")
        .expect("an account");
    assert_eq!(account.service, ServiceRef::Embedded);
    assert_eq!(account.role, Role::Owner);
    assert!(
        account.remember_password,
        "its password is kept in the keychain"
    );
    assert!(account.email.starts_with(&format!("{}+", core.profile())));
    assert_eq!(core.accounts().list().len(), 1);
    // Signed in: it makes a key on the service.
    let created = core
        .keys()
        .create(&account.id, common::key_request("first"))
        .await
        .expect("a key on the new account");
    assert_eq!(
        common::ping_status(&svc.url(), created.secret.expose()).await,
        200
    );

    // Again: the profile has an account now, nothing is made.
    assert!(core
        .accounts()
        .ensure_first(&local)
        .await
        .expect("ok")
        .is_none());
    assert_eq!(local.asked(), 1);
    assert_eq!(core.accounts().list().len(), 1);

    // A second profile, once active, gets one of its own, in another tenant.
    core.profiles().create("anne").await.expect("profile");
    core.profiles().switch("anne").expect("switched");
    let other = core
        .accounts()
        .ensure_first(&local)
        .await
        .expect("made")
        .expect("an account");
    assert_ne!(other.tenant_id, account.tenant_id);
    assert!(
        core.keys()
            .list(&other.id)
            .await
            .expect("listed")
            .is_empty(),
        "the first profile's key is not in its tenant"
    );
    assert_eq!(local.asked(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_locked_profile_gets_none_and_a_refusal_changes_nothing() {
    let svc = Svc::start(|_| {}).await;
    let data = tempfile::tempdir().expect("tempdir");
    let core = common::core(data.path()).await;
    core.set_embedded_url(Some(svc.url()));

    let refused = core.accounts().ensure_first(&Refusing).await;
    assert!(matches!(refused, Err(Error::Service { .. })), "{refused:?}");
    assert!(core.accounts().list().is_empty());

    core.profiles()
        .set_passphrase(Secret::new("a long passphrase here".into()))
        .await
        .expect("passphrase");
    core.profiles().lock().expect("locked");
    let local = Local::new(&svc.service);
    assert!(core
        .accounts()
        .ensure_first(&local)
        .await
        .expect("ok")
        .is_none());
    assert_eq!(
        local.asked(),
        0,
        "nothing is asked of the service for a locked profile"
    );
}
