//! Copying a secret to the clipboard so that it does not stay there (SECURITY 15).
//!
//! [`ClipboardGuard::copy_secret`] puts the text on the clipboard marked as a password where the
//! platform allows (KDE's `x-kde-passwordManagerHint: secret` on Linux, the history exclusions on
//! macOS and Windows, through arboard's `exclude_from_history`), and clears it after a delay
//! only if the clipboard still holds that secret. [`ClipboardGuard::clear_now_if_ours`] does the
//! same at once (on quit). The guard keeps its clipboard handle alive while it holds a secret
//! (on X11 the clipboard's content lives in its owner) and closes it once the secret is gone:
//! the X11 connection's buffers, which carried the secret to whoever pasted it, are freed (and
//! wiped by the app's allocator) instead of kept for the next copy (SECURITY 24).
//!
//! The delay runs on a [`Timer`]: a thread that sleeps, or in tests a `ManualTimer` the test
//! moves, so that no test waits on the wall clock for the clearing.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::secret::Secret;

/// The clipboard operations the guard needs; arboard in the app, a map in tests.
trait Backend: Send {
    fn set_secret_text(&mut self, text: &str) -> Result<()>;
    fn text(&mut self) -> Option<Zeroizing<String>>;
    fn clear(&mut self) -> Result<()>;
}

struct Arboard(arboard::Clipboard);

fn clipboard_error(e: arboard::Error) -> Error {
    // arboard's messages describe the failure and never contain the clipboard's content.
    Error::Clipboard {
        reason: e.to_string(),
    }
}

impl Backend for Arboard {
    fn set_secret_text(&mut self, text: &str) -> Result<()> {
        #[cfg(target_os = "macos")]
        use arboard::SetExtApple as _;
        #[cfg(all(
            unix,
            not(any(target_os = "macos", target_os = "android", target_os = "emscripten"))
        ))]
        use arboard::SetExtLinux as _;
        #[cfg(target_os = "windows")]
        use arboard::SetExtWindows as _;
        self.0
            .set()
            .exclude_from_history()
            .text(text)
            .map_err(clipboard_error)
    }

    fn text(&mut self) -> Option<Zeroizing<String>> {
        self.0.get_text().ok().map(Zeroizing::new)
    }

    fn clear(&mut self) -> Result<()> {
        self.0.clear().map_err(clipboard_error)
    }
}

/// Runs something after a delay.
pub trait Timer: Send + Sync {
    fn after(&self, delay: Duration, run: Box<dyn FnOnce() + Send>) -> Result<()>;
}

/// The real delay: a thread that sleeps, then runs.
#[derive(Debug, Default, Clone, Copy)]
pub struct ThreadTimer;

impl Timer for ThreadTimer {
    fn after(&self, delay: Duration, run: Box<dyn FnOnce() + Send>) -> Result<()> {
        std::thread::Builder::new()
            .name("keyhaven-clipboard-clear".into())
            .spawn(move || {
                std::thread::sleep(delay);
                run();
            })
            .map(|_| ())
            .map_err(|e| Error::Clipboard {
                reason: format!("could not start the clearing timer ({e})"),
            })
    }
}

/// A timer whose time moves only when a test says ([`ManualTimer::advance`]).
#[cfg(any(test, feature = "test-support"))]
#[derive(Default)]
pub struct ManualTimer {
    state: Mutex<ManualState>,
}

#[cfg(any(test, feature = "test-support"))]
#[derive(Default)]
struct ManualState {
    now: Duration,
    due: Vec<(Duration, Box<dyn FnOnce() + Send>)>,
}

#[cfg(any(test, feature = "test-support"))]
impl ManualTimer {
    /// Moves the time on by `by` and runs, in order, what fell due.
    pub fn advance(&self, by: Duration) {
        let ready = {
            let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
            state.now += by;
            let now = state.now;
            let (mut ready, later): (Vec<_>, Vec<_>) = std::mem::take(&mut state.due)
                .into_iter()
                .partition(|(at, _)| *at <= now);
            state.due = later;
            ready.sort_by_key(|(at, _)| *at);
            ready
        };
        for (_, run) in ready {
            run();
        }
    }
}

#[cfg(any(test, feature = "test-support"))]
impl Timer for ManualTimer {
    fn after(&self, delay: Duration, run: Box<dyn FnOnce() + Send>) -> Result<()> {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let at = state.now + delay;
        state.due.push((at, run));
        Ok(())
    }
}

/// Opens the clipboard, at each copy.
type Open = Box<dyn Fn() -> Result<Box<dyn Backend>> + Send + Sync>;

struct Held {
    open: Open,
    /// Open while a copied secret may be on the clipboard.
    backend: Option<Box<dyn Backend>>,
    secret: Option<Secret>,
    /// Bumped at each copy, so that a timer only clears the copy it was started for.
    generation: u64,
}

impl Held {
    /// Clears the clipboard if it still holds the secret copied last, then closes the handle.
    fn clear_if_ours(&mut self) -> bool {
        let Some(secret) = self.secret.take() else {
            return false;
        };
        let Some(mut backend) = self.backend.take() else {
            return false;
        };
        let ours = backend
            .text()
            .is_some_and(|current| Secret::new(current.to_string()).constant_time_eq(&secret));
        if !ours {
            return false;
        }
        match backend.clear() {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!("could not clear the clipboard: {e}");
                false
            }
        }
    }
}

/// Holds the clipboard while a copied secret may be on it.
pub struct ClipboardGuard {
    held: Arc<Mutex<Held>>,
    timer: Arc<dyn Timer>,
}

impl std::fmt::Debug for ClipboardGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClipboardGuard")
            .field("holds_secret", &self.holds_secret())
            .finish()
    }
}

impl ClipboardGuard {
    /// Opens the system clipboard.
    pub fn new() -> Result<ClipboardGuard> {
        ClipboardGuard::with_timer(Arc::new(ThreadTimer))
    }

    /// [`ClipboardGuard::new`] whose clearing delays run on `timer`.
    pub fn with_timer(timer: Arc<dyn Timer>) -> Result<ClipboardGuard> {
        let open = || -> Result<Box<dyn Backend>> {
            let clipboard = arboard::Clipboard::new().map_err(clipboard_error)?;
            Ok(Box::new(Arboard(clipboard)))
        };
        // Opened once now, so that a desktop without a clipboard says so at once.
        drop(open()?);
        Ok(ClipboardGuard::with_backend(Box::new(open), timer))
    }

    fn with_backend(open: Open, timer: Arc<dyn Timer>) -> ClipboardGuard {
        ClipboardGuard {
            held: Arc::new(Mutex::new(Held {
                open,
                backend: None,
                secret: None,
                generation: 0,
            })),
            timer,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Held> {
        lock(&self.held)
    }

    /// Puts `secret` on the clipboard and clears it after `clear_after`, if it is still there.
    pub fn copy_secret(&self, secret: &Secret, clear_after: Duration) -> Result<()> {
        let generation = {
            let mut held = self.lock();
            if held.backend.is_none() {
                held.backend = Some((held.open)()?);
            }
            if let Some(backend) = held.backend.as_mut() {
                backend.set_secret_text(secret.expose())?;
            }
            held.secret = Some(secret.clone());
            held.generation += 1;
            held.generation
        };
        let shared = Arc::clone(&self.held);
        self.timer.after(
            clear_after,
            Box::new(move || {
                let mut held = lock(&shared);
                if held.generation == generation && held.clear_if_ours() {
                    tracing::debug!("cleared a copied secret from the clipboard");
                }
            }),
        )
    }

    /// Clears the clipboard now if it still holds the secret this guard put there (on quit).
    /// Returns whether it cleared it.
    pub fn clear_now_if_ours(&self) -> bool {
        self.lock().clear_if_ours()
    }

    /// Whether a secret this guard copied may still be on the clipboard.
    pub fn holds_secret(&self) -> bool {
        self.lock().secret.is_some()
    }
}

impl Drop for ClipboardGuard {
    fn drop(&mut self) {
        self.clear_now_if_ours();
    }
}

fn lock(held: &Mutex<Held>) -> MutexGuard<'_, Held> {
    held.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A clipboard shared between the guard and "another application" in the test.
    #[derive(Clone, Default)]
    struct Fake(Arc<Mutex<Option<String>>>);

    impl Backend for Fake {
        fn set_secret_text(&mut self, text: &str) -> Result<()> {
            *self.0.lock().expect("lock") = Some(text.to_string());
            Ok(())
        }
        fn text(&mut self) -> Option<Zeroizing<String>> {
            self.0.lock().expect("lock").clone().map(Zeroizing::new)
        }
        fn clear(&mut self) -> Result<()> {
            *self.0.lock().expect("lock") = None;
            Ok(())
        }
    }

    fn guard(fake: &Fake) -> (ClipboardGuard, Arc<ManualTimer>) {
        let timer = Arc::new(ManualTimer::default());
        (
            ClipboardGuard::with_backend(
                Box::new({
                    let fake = fake.clone();
                    move || Ok(Box::new(fake.clone()) as Box<dyn Backend>)
                }),
                timer.clone(),
            ),
            timer,
        )
    }

    #[test]
    fn clears_after_the_delay_when_still_ours() {
        let fake = Fake::default();
        let (guard, timer) = guard(&fake);
        guard
            .copy_secret(&Secret::new("kh_test_abc".into()), Duration::from_secs(30))
            .expect("copy");
        assert_eq!(fake.0.lock().expect("lock").as_deref(), Some("kh_test_abc"));
        timer.advance(Duration::from_secs(29));
        assert!(guard.holds_secret(), "not before its time");
        timer.advance(Duration::from_secs(1));
        assert_eq!(*fake.0.lock().expect("lock"), None, "cleared at 30 s");
        assert!(!guard.holds_secret());
    }

    #[test]
    fn leaves_what_someone_else_copied() {
        let fake = Fake::default();
        let (guard, timer) = guard(&fake);
        guard
            .copy_secret(&Secret::new("kh_test_abc".into()), Duration::from_secs(30))
            .expect("copy");
        *fake.0.lock().expect("lock") = Some("a shopping list".into());
        timer.advance(Duration::from_secs(30));
        assert!(!guard.holds_secret(), "the timer ran");
        assert_eq!(
            fake.0.lock().expect("lock").as_deref(),
            Some("a shopping list")
        );
        assert!(!guard.clear_now_if_ours());
        assert_eq!(
            fake.0.lock().expect("lock").as_deref(),
            Some("a shopping list")
        );
    }

    #[test]
    fn an_old_timer_does_not_clear_a_newer_copy_early() {
        let fake = Fake::default();
        let (guard, timer) = guard(&fake);
        guard
            .copy_secret(&Secret::new("first".into()), Duration::from_secs(20))
            .expect("copy");
        guard
            .copy_secret(&Secret::new("second".into()), Duration::from_secs(60))
            .expect("copy");
        timer.advance(Duration::from_secs(20));
        assert_eq!(fake.0.lock().expect("lock").as_deref(), Some("second"));
        timer.advance(Duration::from_secs(40));
        assert_eq!(
            *fake.0.lock().expect("lock"),
            None,
            "its own timer clears it"
        );
    }

    #[test]
    fn quitting_clears_a_copy_at_once() {
        let fake = Fake::default();
        let (guard, _timer) = guard(&fake);
        guard
            .copy_secret(&Secret::new("kh_test_abc".into()), Duration::from_secs(60))
            .expect("copy");
        assert!(guard.clear_now_if_ours(), "quit clears it");
        assert_eq!(*fake.0.lock().expect("lock"), None);
    }

    #[test]
    fn the_guard_can_live_in_shared_state() {
        fn send_sync<T: Send + Sync>() {}
        send_sync::<std::sync::Mutex<Option<ClipboardGuard>>>();
        send_sync::<ClipboardGuard>();
    }

    #[test]
    fn dropping_the_guard_clears_its_secret() {
        let fake = Fake::default();
        let (guard, _timer) = guard(&fake);
        guard
            .copy_secret(&Secret::new("kh_test_abc".into()), Duration::from_secs(60))
            .expect("copy");
        drop(guard);
        assert_eq!(*fake.0.lock().expect("lock"), None);
    }
}
