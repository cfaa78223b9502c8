//! The usage watcher as the app runs it ([`WatchRuntime`]), against the real key service: started
//! with the profile's saved settings, started again when saved settings change how it polls (and
//! only then), and left stopped once stopped.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use keyhaven_api::Role;
use keyhaven_core::{Settings, WatchEvent, WatchRuntime};

use common::Svc;

/// The accounts of the usage events seen so far, in order.
#[derive(Clone, Default)]
struct Usage(Arc<Mutex<Vec<String>>>);

impl Usage {
    fn sink(&self) -> impl Fn(WatchEvent) + Send + Sync + 'static {
        let seen = self.0.clone();
        move |e| {
            if let WatchEvent::Usage { account_id, .. } = e {
                seen.lock().expect("usage").push(account_id);
            }
        }
    }

    fn count(&self) -> usize {
        self.0.lock().expect("usage").len()
    }

    /// Waits until `n` usage events have come (each watcher polls its accounts as it starts).
    async fn wait_for(&self, n: usize) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.count() < n {
            assert!(
                Instant::now() < deadline,
                "{} usage events, not {n}",
                self.count()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn saved_settings_restart_the_watcher_only_when_they_change_its_polling() {
    let svc = Svc::start(|_| {}).await;
    svc.user("ann@acme.test", Role::Owner, "acme").await;
    let data = tempfile::tempdir().expect("tempdir");
    let core = common::core(data.path()).await;
    let account = common::sign_in(&core, &svc, "ann@acme.test").await;
    let usage = Usage::default();
    let runtime = WatchRuntime::new(usage.sink());

    // Settings saved before the start are kept, and start nothing.
    let mut settings = Settings {
        poll_interval_seconds: 600,
        ..Settings::default()
    };
    core.profiles().save_settings(settings).expect("saved");
    assert!(!runtime.apply(&core, &settings).await.expect("applied"));
    assert!(!runtime.is_running().await);
    assert_eq!(runtime.starts(), 0);

    // The start reads the profile's settings; the watcher polls the account at once.
    runtime.start(&core).await.expect("started");
    assert!(runtime.is_running().await);
    assert_eq!(runtime.settings().poll_interval_seconds, 600);
    usage.wait_for(1).await;
    assert_eq!(usage.0.lock().expect("usage")[0], account.id);

    // Notifications off: taken at once, the same watcher goes on.
    settings.notifications = false;
    assert!(!runtime.apply(&core, &settings).await.expect("applied"));
    assert!(!runtime.settings().notifications);
    assert_eq!(runtime.starts(), 1);

    // A new poll interval: a new watcher, which polls at once (the old one would wait 10 min).
    settings.poll_interval_seconds = 300;
    assert!(runtime.apply(&core, &settings).await.expect("applied"));
    assert_eq!(runtime.starts(), 2);
    usage.wait_for(2).await;

    // Broken-key checks turned on: a new watcher too.
    settings.key_checks = true;
    assert!(runtime.apply(&core, &settings).await.expect("applied"));
    assert_eq!(runtime.starts(), 3);
    assert!(runtime.is_running().await);

    // Stopped: saved settings no longer start it.
    runtime.stop().await;
    assert!(!runtime.is_running().await);
    settings.poll_interval_seconds = 60;
    assert!(!runtime.apply(&core, &settings).await.expect("applied"));
    assert!(!runtime.is_running().await);
    assert_eq!(runtime.starts(), 3);
    assert_eq!(runtime.settings().poll_interval_seconds, 60);
}
