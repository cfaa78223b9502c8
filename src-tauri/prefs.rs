//! What the window remembers for each profile: the keys table's sort and column widths, the last
//! tab and account, the usage chart's granularity. Kept with `tauri-plugin-store` in the
//! profile's own folder (`profiles/NAME/ui.json`), so that it follows the profile when it is
//! renamed and goes when it is deleted. Typed and checked here: no field can hold a secret, and
//! the window never gets the store plugin's own commands (it asks through [`crate::ipc`]).
//! Settings the CLI needs stay in the core (`Settings`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use tauri::{AppHandle, Runtime};
use tauri_plugin_store::StoreBuilder;
use ts_rs::TS;

use keyhaven_core::{ErrorKind, Granularity};

use crate::state::AppState;
use crate::wire::IpcError;

type Result<T> = std::result::Result<T, IpcError>;

/// The store's file name in the profile's folder.
pub const FILE: &str = "ui.json";
/// The one key in the store: the preferences as a whole, written at once.
const KEY: &str = "prefs";
/// Column widths the window may keep, in CSS pixels.
pub const MIN_COLUMN_WIDTH: u16 = 48;
pub const MAX_COLUMN_WIDTH: u16 = 960;

/// A column of the keys table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum KeyColumn {
    Name,
    Prefix,
    Scopes,
    Status,
    LastUsed,
    Expires,
    Limit,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum SortDirection {
    Asc,
    Desc,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct KeySort {
    pub column: KeyColumn,
    pub direction: SortDirection,
}

/// A tab of an account's workspace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum WorkspaceTab {
    Keys,
    Usage,
    Audit,
}

/// What the window remembers for the active profile. Every field is optional: a new profile, or
/// one whose file was unreadable, starts from the defaults.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, TS)]
#[serde(default, deny_unknown_fields)]
pub struct UiPrefs {
    /// The keys table's sort; none is the default order.
    pub sort: Option<KeySort>,
    /// Column widths the person dragged, by column.
    pub column_widths: BTreeMap<KeyColumn, u16>,
    pub tab: Option<WorkspaceTab>,
    /// The account last shown.
    pub account_id: Option<String>,
    /// The usage chart's buckets.
    pub granularity: Option<Granularity>,
}

impl UiPrefs {
    /// Checks what the window sends, naming the first field that is wrong.
    pub fn check(&self) -> Result<()> {
        for (column, width) in &self.column_widths {
            if !(MIN_COLUMN_WIDTH..=MAX_COLUMN_WIDTH).contains(width) {
                return Err(invalid(
                    "column_widths",
                    format!(
                        "the {column:?} column's width {width} is not between {MIN_COLUMN_WIDTH} and {MAX_COLUMN_WIDTH} pixels"
                    ),
                ));
            }
        }
        if let Some(id) = &self.account_id {
            let plain = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
            if id.is_empty() || id.len() > 64 || !id.chars().all(plain) {
                return Err(invalid(
                    "account_id",
                    "an account id is 1 to 64 letters, digits, '_' or '-'",
                ));
            }
        }
        Ok(())
    }
}

fn invalid(field: &str, message: impl Into<String>) -> IpcError {
    IpcError {
        code: ErrorKind::Validation,
        message: message.into(),
        field: Some(field.to_string()),
    }
}

fn store_error(e: tauri_plugin_store::Error) -> IpcError {
    IpcError {
        code: ErrorKind::Internal,
        message: format!("the window's preferences could not be kept: {e}"),
        field: None,
    }
}

/// Reads the preferences kept in `dir` (a profile's folder). A file that is missing gives the
/// defaults; one that no longer reads as preferences (an older or damaged file) too, with a
/// warning: losing a column width is better than a window that does not open.
pub fn read<R: Runtime>(app: &AppHandle<R>, dir: &std::path::Path) -> Result<UiPrefs> {
    let store = open(app, dir)?;
    let kept = store.get(KEY);
    store.close_resource();
    Ok(match kept {
        None => UiPrefs::default(),
        Some(value) => serde_json::from_value(value).unwrap_or_else(|e| {
            tracing::warn!(error = %e, "the window's kept preferences were not readable; starting afresh");
            UiPrefs::default()
        }),
    })
}

/// Checks `prefs` and writes them to `dir` at once.
pub fn write<R: Runtime>(app: &AppHandle<R>, dir: &std::path::Path, prefs: &UiPrefs) -> Result<()> {
    prefs.check()?;
    let value = serde_json::to_value(prefs).map_err(|e| invalid("prefs", e.to_string()))?;
    let store = open(app, dir)?;
    store.set(KEY, value);
    let saved = store.save();
    store.close_resource();
    saved.map_err(store_error)
}

/// The store of one profile, opened for one call and closed after it: a profile renamed or
/// deleted meanwhile leaves no store behind that would write its old folder again.
fn open<R: Runtime>(
    app: &AppHandle<R>,
    dir: &std::path::Path,
) -> Result<std::sync::Arc<tauri_plugin_store::Store<R>>> {
    StoreBuilder::new(app, dir.join(FILE))
        .disable_auto_save()
        .build()
        .map_err(store_error)
}

pub async fn ui_prefs(state: &AppState) -> Result<UiPrefs> {
    let (app, dir) = where_kept(state)?;
    read(&app, &dir)
}

pub async fn save_ui_prefs(state: &AppState, req: UiPrefs) -> Result<UiPrefs> {
    let (app, dir) = where_kept(state)?;
    write(&app, &dir, &req)?;
    Ok(req)
}

fn where_kept(state: &AppState) -> Result<(AppHandle, std::path::PathBuf)> {
    let core = state.core()?;
    let app = state.keys.app.get().cloned().ok_or_else(|| IpcError {
        code: ErrorKind::Internal,
        message: "the window is still starting".into(),
        field: None,
    })?;
    Ok((app, core.profile_dir()?))
}

/// The types above, for the bindings, in dependency order.
pub fn declarations() -> Vec<String> {
    vec![
        KeyColumn::decl(),
        SortDirection::decl(),
        KeySort::decl(),
        WorkspaceTab::decl(),
        UiPrefs::decl(),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefs_are_checked_field_by_field() {
        let mut prefs = UiPrefs::default();
        assert!(prefs.check().is_ok());
        prefs.column_widths.insert(KeyColumn::Name, 12);
        let e = prefs.check().expect_err("refused");
        assert_eq!(e.field.as_deref(), Some("column_widths"));
        assert!(e.message.contains("Name"), "{}", e.message);
        prefs.column_widths.insert(KeyColumn::Name, 240);
        prefs.account_id = Some("../../etc".into());
        assert_eq!(
            prefs.check().expect_err("refused").field.as_deref(),
            Some("account_id")
        );
        prefs.account_id = Some("acc_01".into());
        assert!(prefs.check().is_ok());
    }

    #[test]
    fn unknown_fields_are_refused_so_nothing_else_can_be_kept() {
        let sent = serde_json::json!({ "tab": "usage", "secret": "kh_live_x" });
        let e = serde_json::from_value::<UiPrefs>(sent).expect_err("refused");
        assert!(e.to_string().contains("unknown field `secret`"), "{e}");
        let sent = serde_json::json!({ "tab": "usage", "sort": { "column": "last_used", "direction": "desc" } });
        let prefs: UiPrefs = serde_json::from_value(sent).expect("prefs");
        assert_eq!(prefs.tab, Some(WorkspaceTab::Usage));
        assert_eq!(prefs.sort.map(|s| s.column), Some(KeyColumn::LastUsed));
    }

    #[test]
    fn a_profiles_preferences_are_written_to_its_folder_and_read_back() {
        let app = tauri::test::mock_builder()
            .plugin(tauri_plugin_store::Builder::new().build())
            .build(tauri::test::mock_context(tauri::test::noop_assets()))
            .expect("app");
        let dir = tempfile::tempdir().expect("dir");
        assert_eq!(
            read(app.handle(), dir.path()).expect("read"),
            UiPrefs::default()
        );
        let mut prefs = UiPrefs {
            tab: Some(WorkspaceTab::Audit),
            granularity: Some(Granularity::Day),
            account_id: Some("acc_1".into()),
            ..UiPrefs::default()
        };
        prefs.column_widths.insert(KeyColumn::Scopes, 300);
        write(app.handle(), dir.path(), &prefs).expect("write");
        assert!(dir.path().join(FILE).is_file());
        assert_eq!(read(app.handle(), dir.path()).expect("read again"), prefs);

        let other = tempfile::tempdir().expect("other profile");
        assert_eq!(
            read(app.handle(), other.path()).expect("read"),
            UiPrefs::default()
        );

        std::fs::write(dir.path().join(FILE), "{\"prefs\": {\"tab\": 7}}").expect("damage");
        assert_eq!(
            read(app.handle(), dir.path()).expect("damaged reads"),
            UiPrefs::default()
        );
    }
}
