//! Broken-key alerts against the contract fakes: held keys of services with no key API are
//! checked when due (AniKura's only when asked), and a key its service starts refusing raises
//! one alert naming the service and where a new key comes from; the usage watcher raises it.

mod common;

use std::time::Duration;

use chrono::Utc;
use keyhaven_core::{
    AlertKind, ConnectorKind, ImportOptions, KeyCheckConfig, Keyhaven, NewAccount, Secret, Vault,
    WatchConfig, WatchEvent,
};
use keyhaven_testkit::fake::Fake;
use keyhaven_testkit::record_secret;
use serde_json::json;

use common::core_on;

fn minted(fake: &Fake, args: serde_json::Value) -> Secret {
    let text = fake.control("mint", args)["secret"]
        .as_str()
        .expect("secret")
        .to_string();
    record_secret(&text);
    Secret::new(text)
}

async fn held(
    core: &Keyhaven,
    kind: ConnectorKind,
    url: &str,
    secret: &Secret,
    name: &str,
) -> (String, String) {
    let account = core
        .accounts()
        .add(NewAccount {
            kind,
            name: name.into(),
            url: Some(url.into()),
            allow_http: false,
            tier: None,
        })
        .await
        .expect("account")
        .id;
    let key = core
        .keys()
        .import_local(
            &account,
            secret.clone(),
            ImportOptions {
                name: name.into(),
                ..ImportOptions::default()
            },
        )
        .await
        .expect("imported")
        .meta
        .id;
    (account, key)
}

#[tokio::test]
async fn a_key_deleted_on_its_service_raises_one_alert_when_its_check_is_due() {
    let wanikani = Fake::start("wanikani");
    let anikura = Fake::start("anikura");
    let data = tempfile::tempdir().expect("tempdir");
    let core = core_on(data.path(), &Vault::in_memory()).await;
    let token = minted(&wanikani, json!({"user": "koichi", "name": "sync"}));
    let (wk, _) = held(
        &core,
        ConnectorKind::Wanikani,
        wanikani.url(),
        &token,
        "sync",
    )
    .await;
    let ak_secret = minted(&anikura, json!({"account": "ann"}));
    let (ak, ak_key) = held(
        &core,
        ConnectorKind::Anikura,
        anikura.url(),
        &ak_secret,
        "scraper",
    )
    .await;
    let hourly = KeyCheckConfig {
        interval: Duration::from_secs(3_600),
        anikura: false,
    };
    let now = Utc::now();

    // Both were checked when imported: nothing is due yet.
    assert!(core
        .watch()
        .check_due_keys(&hourly, now)
        .await
        .expect("checks")
        .is_empty());

    wanikani.control("delete", json!({"secret": token.expose()}));
    anikura.control("delete", json!({"secret": ak_secret.expose()}));
    let alerts = core
        .watch()
        .check_due_keys(&hourly, now + chrono::Duration::hours(2))
        .await
        .expect("checks");
    assert_eq!(
        alerts.len(),
        1,
        "AniKura's keys are not checked unless asked: {alerts:?}"
    );
    let alert = &alerts[0];
    assert_eq!(alert.account_id, wk);
    assert_eq!(alert.key_name.as_deref(), Some("sync"));
    assert!(matches!(&alert.kind, AlertKind::KeyRefused { service, .. } if service == "WaniKani"));
    assert!(
        alert.message.contains("WaniKani refuses the key \"sync\"")
            && alert.message.contains("WaniKani's settings"),
        "{}",
        alert.message
    );
    // AniKura's key was not called: its record still says it works.
    let listed = core.keys().list(&ak).await.expect("list");
    assert_eq!(
        listed[0].check.as_ref().map(|c| c.verdict.as_str()),
        Some("works")
    );

    // Refused again at the next check: no second alert.
    assert!(core
        .watch()
        .check_due_keys(&hourly, now + chrono::Duration::hours(4))
        .await
        .expect("checks")
        .is_empty());

    // Asked to include AniKura: its deleted key is found too.
    let with_anikura = KeyCheckConfig {
        anikura: true,
        ..hourly
    };
    let alerts = core
        .watch()
        .check_due_keys(&with_anikura, now + chrono::Duration::hours(6))
        .await
        .expect("checks");
    assert_eq!(
        alerts.iter().map(|a| a.key_id.clone()).collect::<Vec<_>>(),
        [Some(ak_key)]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_usage_watcher_raises_the_alert_of_a_broken_key() {
    let ananke = Fake::start("ananke");
    let data = tempfile::tempdir().expect("tempdir");
    let core = core_on(data.path(), &Vault::in_memory()).await;
    let secret = minted(&ananke, json!({"tenant": "acme"}));
    let account = core
        .accounts()
        .add(NewAccount {
            kind: ConnectorKind::Ananke,
            name: "acme".into(),
            url: Some(ananke.url().into()),
            allow_http: false,
            tier: None,
        })
        .await
        .expect("account")
        .id;
    // Stored without a check, then revoked in the Console: the first check finds it refused.
    core.keys()
        .import_local(
            &account,
            secret.clone(),
            ImportOptions {
                name: "templates".into(),
                unverified: true,
                ..ImportOptions::default()
            },
        )
        .await
        .expect("imported");
    ananke.control("revoke", json!({"secret": secret.expose()}));

    let (sender, mut events) = tokio::sync::mpsc::unbounded_channel();
    let watch = core
        .watch()
        .start(
            WatchConfig {
                key_checks: Some(KeyCheckConfig {
                    interval: Duration::from_secs(3_600),
                    anikura: false,
                }),
                ..WatchConfig::default()
            },
            move |event| {
                let _ = sender.send(event);
            },
        )
        .expect("watch");
    let alert = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            match events.recv().await.expect("events") {
                WatchEvent::Alert { alert } => return alert,
                _ => continue,
            }
        }
    })
    .await
    .expect("an alert within 20 s");
    assert!(
        matches!(alert.kind, AlertKind::KeyRefused { ref service, .. } if service == "Ananke Labs")
    );
    watch.stop().await;
}
