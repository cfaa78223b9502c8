//! The window's web view, watched: when WebKit's web process ends under a page (it crashed, or
//! went over WebKit's memory limit), the window would stay blank. Keyhaven logs why and loads the
//! page again; what the page showed is all in the core and the service, so nothing is lost but
//! the page's own state (a half-typed filter). A page that keeps failing is not reloaded forever.
//!
//! It also fits WebKit to what the window is: one page from the app itself, never a browser.

use std::time::{Duration, Instant};

/// Set to `1` to have WebKit composite the page on the GPU (see [`choose_compositing`]).
const GPU_VARIABLE: &str = "KEYHAVEN_WEBVIEW_GPU";

/// Whether the page is composited on the GPU, given [`GPU_VARIABLE`]'s value.
fn gpu_wanted(value: Option<&std::ffi::OsStr>) -> bool {
    value.is_some_and(|v| v == "1")
}

/// WebKitGTK's own switch for drawing pages without GPU compositing.
const WEBKIT_NO_COMPOSITING: &str = "WEBKIT_DISABLE_COMPOSITING_MODE";

/// Call first thing, before the window opens (and before any thread starts): unless
/// [`GPU_VARIABLE`] asks for the GPU, WebKit draws the page without GPU compositing from its first
/// frame on.
///
/// Measured with the app bench (release, 1,000 keys, under Xvfb): compositing kept a second copy
/// of the page's layers in the web process (225 MB PSS there, 128 MB without) and made each filter
/// keystroke slower to reach the screen (p50 42 ms, 20–27 ms without), while the table, the
/// dialogs and the charts need no composited layers. Where the GPU does better (a large window on
/// a fast GPU), `KEYHAVEN_WEBVIEW_GPU=1` turns it back on; a `WEBKIT_DISABLE_COMPOSITING_MODE`
/// already set is left as it is.
pub fn choose_compositing() {
    if gpu_wanted(std::env::var_os(GPU_VARIABLE).as_deref())
        || std::env::var_os(WEBKIT_NO_COMPOSITING).is_some()
    {
        return;
    }
    // Read by WebKit in this process when the web view is made, and by the page's process.
    std::env::set_var(WEBKIT_NO_COMPOSITING, "1");
}

/// Fits WebKit to one page from the app that never navigates: no browser caches (WebKit's
/// "document viewer" model) and no back-forward cache.
#[cfg(target_os = "linux")]
pub fn fit_to_one_page<R: tauri::Runtime>(window: &tauri::WebviewWindow<R>) {
    use webkit2gtk::{CacheModel, SettingsExt, WebContextExt, WebViewExt};

    let result = window.with_webview(|webview| {
        let view = webview.inner();
        if let Some(context) = view.context() {
            context.set_cache_model(CacheModel::DocumentViewer);
        }
        if let Some(settings) = view.settings() {
            settings.set_enable_page_cache(false);
        }
    });
    if let Err(e) = result {
        tracing::warn!(error = %e, "could not fit the web view to one page");
    }
}

#[cfg(not(target_os = "linux"))]
pub fn fit_to_one_page<R: tauri::Runtime>(_window: &tauri::WebviewWindow<R>) {}

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
    fn the_gpu_is_used_only_when_asked_for_with_1() {
        use std::ffi::OsStr;
        assert!(gpu_wanted(Some(OsStr::new("1"))));
        for value in ["", "0", "yes", "true", " 1"] {
            assert!(!gpu_wanted(Some(OsStr::new(value))), "{value:?}");
        }
        assert!(!gpu_wanted(None));
    }

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
