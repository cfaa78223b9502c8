//! The window's web view, watched: when WebKit's web process ends under a page (it crashed, or
//! went over WebKit's memory limit), the window would stay blank. Keyhaven logs why and loads the
//! page again; what the page showed is all in the core and the service, so nothing is lost but
//! the page's own state (a half-typed filter). A page that keeps failing is not reloaded forever.

use std::time::{Duration, Instant};

/// At most this many reloads within [`WINDOW`]; after that the window is left as it is.
const MOST_RELOADS: usize = 3;
const WINDOW: Duration = Duration::from_secs(60);

/// Whether one more reload is allowed, given when the earlier ones happened (oldest first).
/// Forgets reloads older than [`WINDOW`].
fn may_reload(reloads: &mut Vec<Instant>, now: Instant) -> bool {
    reloads.retain(|t| now.duration_since(*t) < WINDOW);
    if reloads.len() >= MOST_RELOADS {
        return false;
    }
    reloads.push(now);
    true
}

/// Reloads the page of `window` whenever its web process ends, within [`MOST_RELOADS`].
#[cfg(target_os = "linux")]
pub fn reload_when_the_page_process_ends<R: tauri::Runtime>(window: &tauri::WebviewWindow<R>) {
    use std::{cell::RefCell, rc::Rc};
    use webkit2gtk::{WebProcessTerminationReason as Reason, WebViewExt};

    let result = window.with_webview(|webview| {
        let reloads = Rc::new(RefCell::new(Vec::new()));
        webview
            .inner()
            .connect_web_process_terminated(move |view, reason| {
                let reason = match reason {
                    Reason::Crashed => "it crashed",
                    Reason::ExceededMemoryLimit => "it went over WebKit's memory limit",
                    Reason::TerminatedByApi => "the app ended it",
                    _ => "for a reason WebKit did not name",
                };
                if may_reload(&mut reloads.borrow_mut(), Instant::now()) {
                    tracing::error!(
                        reason,
                        "the window's page process ended: loading the page again"
                    );
                    view.reload();
                } else {
                    tracing::error!(
                        reason,
                        reloads = MOST_RELOADS,
                        "the window's page process ended again: not reloading it"
                    );
                }
            });
    });
    if let Err(e) = result {
        tracing::warn!(error = %e, "could not watch the window's page process");
    }
}

#[cfg(not(target_os = "linux"))]
pub fn reload_when_the_page_process_ends<R: tauri::Runtime>(_window: &tauri::WebviewWindow<R>) {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reloads_are_limited_within_a_minute_and_allowed_again_after_it() {
        let start = Instant::now();
        let mut reloads = Vec::new();
        for i in 0..MOST_RELOADS {
            assert!(
                may_reload(&mut reloads, start + Duration::from_secs(i as u64)),
                "reload {i}"
            );
        }
        assert!(!may_reload(&mut reloads, start + Duration::from_secs(10)));
        assert_eq!(
            reloads.len(),
            MOST_RELOADS,
            "a refused reload is not counted"
        );
        // A minute after the first, one more is allowed.
        assert!(may_reload(&mut reloads, start + WINDOW));
        assert!(!may_reload(
            &mut reloads,
            start + WINDOW + Duration::from_millis(500)
        ));
    }
}
