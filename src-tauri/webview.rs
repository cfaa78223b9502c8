//! The window's web view settings. On Linux (WebKitGTK) the web view uses the cache model of a
//! local document viewer: Keyhaven shows lists and forms from its own bundled files and has
//! nothing remote to cache, so WebKit's page and resource caches stay small.

/// Applies the settings to a window's web view; a failure is logged, never fatal.
pub fn tune<R: tauri::Runtime>(window: &tauri::WebviewWindow<R>) {
    #[cfg(target_os = "linux")]
    {
        let applied = window.with_webview(|webview| {
            use webkit2gtk::{CacheModel, WebContextExt, WebViewExt};
            if let Some(context) = webview.inner().context() {
                context.set_cache_model(CacheModel::DocumentViewer);
            }
        });
        if let Err(e) = applied {
            tracing::warn!(error = %e, "could not apply the web view settings");
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = window;
}
