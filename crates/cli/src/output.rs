//! What the CLI prints. Never a secret: only metadata the service and the catalog hold.

use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use keyhaven_core::{Account, KeyView, Keyhaven, ProfileInfo, ServiceRef};
use serde::Serialize;

/// Pretty JSON with a final newline.
pub fn json<T: Serialize + ?Sized>(value: &T) -> String {
    match serde_json::to_string_pretty(value) {
        Ok(mut text) => {
            text.push('\n');
            text
        }
        // Serialising plain data types does not fail; keep the CLI total anyway.
        Err(e) => format!("{{\"error\": \"{e}\"}}\n"),
    }
}

/// The keys as an aligned table.
pub fn keys_table(keys: &[KeyView]) -> String {
    if keys.is_empty() {
        return "No keys.\n".to_string();
    }
    let header = [
        "NAME",
        "PREFIX",
        "SCOPES",
        "STATUS",
        "LAST USED",
        "EXPIRES",
        "LOCAL",
    ];
    let rows: Vec<[String; 7]> = keys
        .iter()
        .map(|k| {
            [
                printable(&k.meta.name),
                printable(&k.meta.prefix),
                printable(&k.meta.scopes.join(",")),
                k.meta.status.as_str().to_string(),
                when(k.meta.last_used_at, "never"),
                when(k.meta.expires_at, "never"),
                if k.stored_locally { "yes" } else { "no" }.to_string(),
            ]
        })
        .collect();
    table(&header, &rows)
}

#[derive(Serialize)]
struct ProfileJson<'a> {
    profile: String,
    active_account: Option<String>,
    accounts: &'a [Account],
}

/// The profile, its accounts and which one is active.
pub fn profile(core: &Keyhaven, as_json: bool) -> String {
    let accounts = core.accounts();
    let active = core.active_account().map(|a| a.id);
    if as_json {
        return json(&ProfileJson {
            profile: core.profile(),
            active_account: active,
            accounts: &accounts,
        });
    }
    let mut out = format!("Profile: {}\n", core.profile());
    if accounts.is_empty() {
        out.push_str("No accounts. Open the Keyhaven app to add one.\n");
        return out;
    }
    out.push('\n');
    let header = ["", "ACCOUNT", "EMAIL", "ROLE", "SERVICE"];
    let rows: Vec<[String; 5]> = accounts
        .iter()
        .map(|a| {
            [
                if active.as_deref() == Some(a.id.as_str()) {
                    "*"
                } else {
                    ""
                }
                .to_string(),
                printable(&a.id),
                printable(&a.email),
                a.role.as_str().to_string(),
                match &a.service {
                    ServiceRef::Url { url } => printable(url),
                    ServiceRef::Embedded => "built-in (Keyhaven app)".to_string(),
                },
            ]
        })
        .collect();
    out.push_str(&table(&header, &rows));
    out
}

/// The profiles as a table: the active one starred.
pub fn profiles_table(profiles: &[ProfileInfo]) -> String {
    let header = ["", "PROFILE", "PASSPHRASE", "AUTO-LOCK"];
    let rows: Vec<[String; 4]> = profiles
        .iter()
        .map(|p| {
            [
                if p.active { "*" } else { "" }.to_string(),
                p.name.clone(),
                match (p.has_passphrase, p.locked) {
                    (false, _) => "none".to_string(),
                    (true, true) => "yes (locked)".to_string(),
                    (true, false) => "yes (unlocked)".to_string(),
                },
                match p.auto_lock_seconds {
                    _ if !p.has_passphrase => "-".to_string(),
                    None => "never".to_string(),
                    Some(s) if s % 60 == 0 => format!("{} min", s / 60),
                    Some(s) => format!("{s} s"),
                },
            ]
        })
        .collect();
    table(&header, &rows)
}

fn when(at: Option<DateTime<Utc>>, none: &str) -> String {
    match at {
        Some(t) => t.format("%Y-%m-%d %H:%M UTC").to_string(),
        None => none.to_string(),
    }
}

/// Text from the network or a file, made safe for a terminal (no control sequences).
fn printable(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

fn table<const N: usize>(header: &[&str; N], rows: &[[String; N]]) -> String {
    let mut widths = header.map(|h| h.chars().count());
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: Vec<&str>| {
        let mut text = String::new();
        for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
            if i + 1 == N {
                text.push_str(cell);
            } else {
                let _ = write!(text, "{cell:<w$}  ");
            }
        }
        out.push_str(text.trim_end());
        out.push('\n');
    };
    line(header.to_vec());
    for row in rows {
        line(row.iter().map(String::as_str).collect());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use keyhaven_api::{KeyMeta, KeyStatus};

    fn key(name: &str, stored: bool) -> KeyView {
        KeyView {
            meta: KeyMeta {
                id: "key_1".into(),
                tenant_id: "ten_1".into(),
                name: name.into(),
                prefix: "kh_test_AbCd".into(),
                scopes: vec!["read".into(), "write".into()],
                status: KeyStatus::Active,
                created_at: Utc::now(),
                last_used_at: None,
                expires_at: DateTime::parse_from_rfc3339("2030-01-31T12:00:00Z")
                    .ok()
                    .map(|t| t.with_timezone(&Utc)),
                revoked_at: None,
                allowed_origins: vec![],
                allowed_ips: vec![],
                rate_limit_per_hour: None,
                created_by: "usr_1".into(),
            },
            stored_locally: stored,
        }
    }

    #[test]
    fn the_table_is_aligned_and_complete() {
        let text = keys_table(&[key("ci deploy", true), key("a\u{1b}[31mb", false)]);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(lines[0].starts_with("NAME"));
        for col in [
            "PREFIX",
            "SCOPES",
            "STATUS",
            "LAST USED",
            "EXPIRES",
            "LOCAL",
        ] {
            assert!(lines[0].contains(col), "{col}");
        }
        assert!(lines[1].contains("ci deploy"));
        assert!(lines[1].contains("read,write"));
        assert!(lines[1].contains("active"));
        assert!(lines[1].contains("never"));
        assert!(lines[1].contains("2030-01-31 12:00 UTC"));
        assert!(lines[1].ends_with("yes"));
        assert!(
            !text.contains('\u{1b}'),
            "control characters are neutralised"
        );
        let prefix_col = lines[0].find("PREFIX").expect("col");
        assert_eq!(lines[1].find("kh_test_AbCd"), Some(prefix_col));
        assert_eq!(lines[2].find("kh_test_AbCd"), Some(prefix_col));
        assert_eq!(keys_table(&[]), "No keys.\n");
    }
}
