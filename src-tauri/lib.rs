//! The desktop shell: it starts the embedded key service, opens the core, and exposes the core
//! to the web UI through the typed commands declared in [`ipc`]. No business logic lives here.

pub mod codegen;
#[cfg(test)]
mod command_names;
#[cfg(test)]
mod config_checks;
mod embedded;
pub mod events;
pub mod ipc;
mod keys_runtime;
mod memory;
mod ops;
mod ops_guided;
mod ops_keys;
mod ops_kinds;
pub mod ops_profiles;
pub mod prefs;
mod recent;
mod state;
mod tray;
mod webview;
pub mod wire;

use state::{AppState, Shell};

/// Starts the app. Errors at start-up are shown in the window, not as a panic: the window opens
/// in any case and `app_status` reports what failed.
pub fn run() {
    // Logging first, so that what the next two report is seen; none of the three starts a thread.
    init_tracing();
    memory::fit_the_allocator_to_a_window();
    webview::choose_compositing();
    let builder = tauri::Builder::default()
        // First, so that a second launch hands its arguments (a `keyhaven://` link) to the
        // running window and exits before it opens the core or starts a service of its own.
        // With the `deep-link` feature the plugin passes them to the deep-link plugin, which
        // emits them to the UI; the UI validates them and never acts without the person.
        .plugin(tauri_plugin_single_instance::init(|app, _argv, _cwd| {
            show_main_window(app);
        }))
        .plugin(tauri_plugin_deep_link::init())
        .plugin(tauri_plugin_notification::init())
        .plugin(tauri_plugin_store::Builder::new().build())
        .plugin(window_state())
        .setup(|app| {
            use tauri::Manager;
            app.manage(Shell::default());
            if let Some(window) = app.get_webview_window("main") {
                webview::fit_to_one_page(&window);
                webview::reload_when_the_page_process_ends(&window);
            }
            // The core and the local service start beside the window; then unfinished rotations
            // resume and the usage watcher starts, in the background.
            if let Err(e) = tray::create(app.handle()) {
                tracing::warn!(error = %e, "no tray icon: the window is the only way in");
            }
            let handle = app.handle().clone();
            tauri::async_runtime::spawn(async move {
                let state = AppState::start().await;
                handle.state::<Shell>().set(state);
                ops_keys::start(&handle);
                tray::refresh(&handle);
            });
            quit_on_signals(app.handle().clone());
            Ok(())
        })
        .invoke_handler(ipc::handler())
        .on_window_event(|window, event| {
            // With "keep watching in the tray" on, closing the window hides it: the usage
            // watcher goes on, and the tray's "Open Keyhaven" (or a second launch) shows it again.
            if let tauri::WindowEvent::CloseRequested { api, .. } = event {
                use tauri::Manager;
                if tray::keeps_running(window.app_handle()) {
                    api.prevent_close();
                    if let Err(e) = window.hide() {
                        tracing::warn!(error = %e, "could not hide the window");
                    }
                    return;
                }
            }
            if let tauri::WindowEvent::Destroyed = event {
                use tauri::Manager;
                if let Some(state) = state::started(window.app_handle()) {
                    state.on_quit();
                }
            }
        });
    let app = match builder.build(tauri::generate_context!()) {
        Ok(app) => app,
        Err(e) => {
            if let tauri::Error::PluginInitialization(plugin, problem) = &e {
                if plugin == "single-instance" {
                    relaunch_once(problem);
                }
            }
            tracing::error!(error = %e, "the app stopped with an error");
            std::process::exit(1);
        }
    };
    app.run(|handle, event| {
        // However the app ends (its window closed, a signal, a quit), the same last steps.
        if let tauri::RunEvent::Exit = event {
            if let Some(state) = state::started(handle) {
                state.on_quit();
            }
        }
    });
}

/// The window's size, place and maximised state, kept between launches in Keyhaven's data folder
/// (`window-state.json`), beside the profiles; restored when the window opens, saved as it closes.
fn window_state<R: tauri::Runtime>() -> tauri::plugin::TauriPlugin<R> {
    let builder = tauri_plugin_window_state::Builder::new();
    match keyhaven_core::CoreConfig::from_env() {
        Ok(config) => builder.with_filename(
            config
                .data_dir
                .join("window-state.json")
                .to_string_lossy()
                .into_owned(),
        ),
        Err(_) => builder,
    }
    .build()
}

/// SIGTERM (a session ending, `kill`) and SIGINT (Ctrl-C in a terminal) quit the app as closing
/// its window does: the clipboard is cleared at once if it holds a secret the app copied (before
/// anything else, so that it is cleared even if what follows is cut short), then the app exits
/// with status 0, the local service stopping with its usage written.
fn quit_on_signals(handle: tauri::AppHandle) {
    #[cfg(unix)]
    tauri::async_runtime::spawn(async move {
        use tokio::signal::unix::{signal, SignalKind};
        let (Ok(mut term), Ok(mut int)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) else {
            tracing::warn!("cannot listen for SIGTERM and SIGINT: they end the app abruptly");
            return;
        };
        let name = tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = int.recv() => "SIGINT",
        };
        tracing::info!(signal = name, "quitting on a signal");
        if let Some(state) = state::started(&handle) {
            state.clear_clipboard_if_ours();
        }
        handle.exit(0);
    });
    #[cfg(not(unix))]
    let _ = handle;
}

/// Set on the relaunch below, so that it happens once.
const RELAUNCHED: &str = "KEYHAVEN_RELAUNCHED";

/// A launch that found another Keyhaven running but could not hand it its arguments: that one was
/// closing (it still held its D-Bus name, then left without answering). Start again, once, after
/// a moment, as the person asked; by then this launch is the only one, or the forwarding works.
/// Returns only if the relaunch was already tried or could not start.
fn relaunch_once(problem: &str) {
    if std::env::var_os(RELAUNCHED).is_some() {
        return;
    }
    tracing::warn!(%problem, "the running Keyhaven did not take this launch's arguments: starting again");
    std::thread::sleep(std::time::Duration::from_millis(300));
    let program = match std::env::current_exe() {
        Ok(program) => program,
        Err(e) => {
            tracing::error!(error = %e, "could not find this program to start it again");
            return;
        }
    };
    let mut command = std::process::Command::new(program);
    command
        .args(std::env::args_os().skip(1))
        .env(RELAUNCHED, "1");
    #[cfg(unix)]
    let e = {
        use std::os::unix::process::CommandExt;
        command.exec()
    };
    #[cfg(not(unix))]
    let e = match command.spawn() {
        Ok(_) => std::process::exit(0),
        Err(e) => e,
    };
    tracing::error!(error = %e, "could not start again");
}

/// Brings the main window to the front, for a second launch that was forwarded to this one.
pub(crate) fn show_main_window<R: tauri::Runtime>(app: &tauri::AppHandle<R>) {
    use tauri::Manager;
    if let Some(window) = app.get_webview_window("main") {
        if window.is_minimized().unwrap_or(false) {
            let _ = window.unminimize();
        }
        if !window.is_visible().unwrap_or(true) {
            let _ = window.show();
        }
        let _ = window.set_focus();
    }
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("KEYHAVEN_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
