//! The tray icon (a StatusNotifierItem on Linux, the menu bar on macOS, the notification area on
//! Windows) and its menu: open the window, lock the profile, switch profile, copy one of the keys
//! copied recently, quit. The menu is made again from [`TrayModel`] whenever what it shows
//! changes (a profile switched, locked or unlocked, a key copied). With "keep watching in the
//! tray" on in Settings, closing the window hides it and the usage watcher goes on.

use std::sync::Mutex;

use tauri::menu::{Menu, MenuEvent, MenuItem, PredefinedMenuItem, Submenu};
use tauri::tray::TrayIconBuilder;
use tauri::{AppHandle, Manager};

use crate::recent::RecentKey;
use crate::state::{started, AppState};
use crate::wire::KeyRef;

/// The tray icon's id.
const TRAY: &str = "main";

/// What the menu shows, read from the state; the menu is made again only when it changes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TrayModel {
    /// Every profile, with whether it is the active one.
    pub profiles: Vec<(String, bool)>,
    /// Whether "Lock" can be used: the active profile has a passphrase and is unlocked.
    pub can_lock: bool,
    /// Keys to copy: offered only while the active profile is unlocked.
    pub recent: Vec<RecentKey>,
}

impl TrayModel {
    pub fn of(state: &AppState) -> TrayModel {
        let Ok(core) = state.core() else {
            return TrayModel::default();
        };
        let profile = core.profile();
        let profiles = core.profiles();
        let locked = profiles.is_locked();
        TrayModel {
            profiles: profiles
                .list()
                .unwrap_or_default()
                .into_iter()
                .map(|p| (p.name, p.active))
                .collect(),
            can_lock: profiles.has_passphrase() && !locked,
            recent: if locked {
                Vec::new()
            } else {
                state.recent.of(&profile)
            },
        }
    }
}

/// The menu's item ids. Profile names and key ids are plain (letters, digits, `-`, `_`, `.`), so
/// a `/` separates them safely.
mod ids {
    pub const OPEN: &str = "open";
    pub const LOCK: &str = "lock";
    pub const QUIT: &str = "quit";
    pub const PROFILE: &str = "profile/";
    pub const COPY: &str = "copy/";
}

/// What a menu item asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum TrayAction {
    Open,
    Lock,
    Quit,
    Switch(String),
    Copy(KeyRef),
}

impl TrayAction {
    pub fn parse(id: &str) -> Option<TrayAction> {
        match id {
            ids::OPEN => Some(TrayAction::Open),
            ids::LOCK => Some(TrayAction::Lock),
            ids::QUIT => Some(TrayAction::Quit),
            _ => {
                if let Some(name) = id.strip_prefix(ids::PROFILE) {
                    return Some(TrayAction::Switch(name.to_string()));
                }
                let (account_id, key_id) = id.strip_prefix(ids::COPY)?.split_once('/')?;
                Some(TrayAction::Copy(KeyRef {
                    account_id: account_id.to_string(),
                    key_id: key_id.to_string(),
                }))
            }
        }
    }
}

fn menu(app: &AppHandle, model: &TrayModel) -> tauri::Result<Menu<tauri::Wry>> {
    let menu = Menu::new(app)?;
    menu.append(&MenuItem::with_id(
        app,
        ids::OPEN,
        "Open Keyhaven",
        true,
        None::<&str>,
    )?)?;
    menu.append(&PredefinedMenuItem::separator(app)?)?;
    let copy = Submenu::with_id(app, "copy", "Copy key", !model.recent.is_empty())?;
    for key in &model.recent {
        let id = format!("{}{}/{}", ids::COPY, key.account_id, key.key_id);
        copy.append(&MenuItem::with_id(app, id, &key.label, true, None::<&str>)?)?;
    }
    menu.append(&copy)?;
    menu.append(&MenuItem::with_id(
        app,
        ids::LOCK,
        "Lock profile",
        model.can_lock,
        None::<&str>,
    )?)?;
    let switch = Submenu::with_id(app, "profiles", "Switch profile", model.profiles.len() > 1)?;
    for (name, active) in &model.profiles {
        let label = if *active {
            format!("{name} (active)")
        } else {
            name.clone()
        };
        let id = format!("{}{name}", ids::PROFILE);
        switch.append(&MenuItem::with_id(app, id, label, !active, None::<&str>)?)?;
    }
    menu.append(&switch)?;
    menu.append(&PredefinedMenuItem::separator(app)?)?;
    menu.append(&MenuItem::with_id(
        app,
        ids::QUIT,
        "Quit Keyhaven",
        true,
        None::<&str>,
    )?)?;
    Ok(menu)
}

/// The menu last set, so that an unchanged model does not make it again.
#[derive(Default)]
pub struct TrayState {
    shown: Mutex<Option<TrayModel>>,
}

/// Whether this desktop shows tray icons. On Linux, a StatusNotifierWatcher on the session bus
/// (KDE, GNOME's AppIndicator extension, Xfce, Waybar…); without one, libayatana-appindicator
/// falls back to an XEmbed icon that no current desktop shows, and replacing its menu stalled the
/// window's drawing under Xvfb: no icon is made then.
#[cfg(target_os = "linux")]
pub fn desktop_has_a_tray() -> bool {
    use gio::prelude::*;
    let Ok(bus) = gio::bus_get_sync(gio::BusType::Session, gio::Cancellable::NONE) else {
        return false;
    };
    let asked = bus.call_sync(
        Some("org.freedesktop.DBus"),
        "/org/freedesktop/DBus",
        "org.freedesktop.DBus",
        "NameHasOwner",
        Some(&("org.kde.StatusNotifierWatcher",).to_variant()),
        gio::glib::VariantTy::new("(b)").ok(),
        gio::DBusCallFlags::NONE,
        1000,
        gio::Cancellable::NONE,
    );
    asked
        .ok()
        .and_then(|reply| reply.get::<(bool,)>())
        .is_some_and(|(owned,)| owned)
}

#[cfg(not(target_os = "linux"))]
pub fn desktop_has_a_tray() -> bool {
    true
}

/// Puts the icon in the tray with its menu, if the desktop has a tray. Without one the window is
/// the only way in, and it is never hidden (see [`keeps_running`]).
pub fn create(app: &AppHandle) -> tauri::Result<()> {
    if !desktop_has_a_tray() {
        tracing::info!("this desktop shows no tray icons: no tray icon");
        return Ok(());
    }
    app.manage(TrayState::default());
    let mut builder = TrayIconBuilder::with_id(TRAY)
        .tooltip("Keyhaven")
        .menu(&menu(app, &TrayModel::default())?)
        .show_menu_on_left_click(true)
        .on_menu_event(on_menu_event);
    if let Some(icon) = app.default_window_icon() {
        builder = builder.icon(icon.clone());
    }
    builder.build(app)?;
    Ok(())
}

/// The commands after which the menu may show something else; the others leave it alone.
const CHANGES_THE_MENU: &[&str] = &[
    "create_profile",
    "switch_profile",
    "rename_profile",
    "delete_profile",
    "lock_profile",
    "unlock_profile",
    "set_passphrase",
    "remove_passphrase",
    "copy_secret",
    "revoke_key",
    "forget_key",
    "touch_activity",
];

/// Called after every IPC command: refreshes the menu after those in [`CHANGES_THE_MENU`].
pub fn after_command(state: &AppState, command: &str) {
    if CHANGES_THE_MENU.contains(&command) {
        if let Some(app) = state.keys.app.get() {
            refresh(app);
        }
    }
}

/// Makes the menu again if what it shows changed. Cheap when nothing did.
pub fn refresh(app: &AppHandle) {
    let Some(state) = started(app) else {
        return;
    };
    let model = TrayModel::of(state);
    let Some(tray_state) = app.try_state::<TrayState>() else {
        return;
    };
    let mut shown = tray_state.shown.lock().unwrap_or_else(|p| p.into_inner());
    if shown.as_ref() == Some(&model) {
        return;
    }
    let Some(tray) = app.tray_by_id(TRAY) else {
        return;
    };
    match menu(app, &model).and_then(|m| tray.set_menu(Some(m))) {
        Ok(()) => *shown = Some(model),
        Err(e) => tracing::warn!(error = %e, "could not update the tray's menu"),
    }
}

fn on_menu_event(app: &AppHandle, event: MenuEvent) {
    let Some(action) = TrayAction::parse(event.id().as_ref()) else {
        return;
    };
    tracing::info!(action = ?std::mem::discriminant(&action), "tray menu");
    let app = app.clone();
    tauri::async_runtime::spawn(async move {
        if let Err(e) = run(&app, action).await {
            tracing::warn!(code = ?e.code, "a tray action failed: {}", e.message);
            crate::ops_keys::notify_problem(&app, &e.message);
        }
        refresh(&app);
    });
}

async fn run(app: &AppHandle, action: TrayAction) -> Result<(), crate::wire::IpcError> {
    if let TrayAction::Open = action {
        crate::show_main_window(app);
        return Ok(());
    }
    if let TrayAction::Quit = action {
        app.exit(0);
        return Ok(());
    }
    let Some(state) = started(app) else {
        return Ok(());
    };
    match action {
        TrayAction::Lock => crate::ops_profiles::lock_profile(state).await?,
        TrayAction::Switch(name) => {
            crate::ops_profiles::switch_profile(state, crate::ops_profiles::ProfileName { name })
                .await?;
            crate::show_main_window(app);
        }
        TrayAction::Copy(key) => {
            crate::ops::copy_secret(state, key).await?;
        }
        TrayAction::Open | TrayAction::Quit => {}
    }
    // The window shows the profile as it now is.
    crate::events::emit(app, crate::events::PROFILE_CHANGED_EVENT, ());
    Ok(())
}

/// Whether closing the window leaves the app running in the tray: the active profile's setting,
/// and a tray to come back through.
pub fn keeps_running(app: &AppHandle) -> bool {
    let Some(state) = started(app) else {
        return false;
    };
    app.tray_by_id(TRAY).is_some()
        && state
            .core()
            .ok()
            .and_then(|core| core.profiles().settings().ok())
            .is_some_and(|settings| settings.keep_watching_in_tray)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn menu_ids_name_their_action() {
        assert_eq!(TrayAction::parse("open"), Some(TrayAction::Open));
        assert_eq!(
            TrayAction::parse("profile/work"),
            Some(TrayAction::Switch("work".into()))
        );
        assert_eq!(
            TrayAction::parse("copy/acc_1/key_2"),
            Some(TrayAction::Copy(KeyRef {
                account_id: "acc_1".into(),
                key_id: "key_2".into()
            }))
        );
        assert_eq!(TrayAction::parse("copy/acc_1"), None);
        assert_eq!(TrayAction::parse("profiles"), None);
    }
}
