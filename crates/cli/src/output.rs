//! What the CLI prints. Never a secret: only metadata the service and the catalog hold.

use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use keyhaven_core::{Account, KeyView, Keyhaven, ProfileInfo, RotationOutcome, ServiceRef};
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
    let accounts = core.accounts().list();
    let active = core.accounts().active().map(|a| a.id);
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
                    ServiceRef::Url {
                        url,
                        allow_http: false,
                    } => printable(url),
                    ServiceRef::Url {
                        url,
                        allow_http: true,
                    } => format!("{} (unencrypted http allowed)", printable(url)),
                    ServiceRef::Embedded => "built-in (Keyhaven app)".to_string(),
                },
            ]
        })
        .collect();
    out.push_str(&table(&header, &rows));
    out
}

/// How a rotation ended, in one or two sentences.
pub fn rotation_line(outcome: &RotationOutcome) -> String {
    match outcome {
        RotationOutcome::Completed {
            old_key_id,
            new_key,
            old_key_expires_at,
            ..
        } => {
            let old = match old_key_expires_at {
                Some(t) if *t > Utc::now() => format!(
                    "which keeps working until {}",
                    when(Some(*t), "")
                ),
                _ => "which is revoked".to_string(),
            };
            format!(
                "Rotated \u{201c}{}\u{201d}: {} ({}…) replaces {}, {old}. Uses of the old id now get the new secret.\n",
                printable(&new_key.name),
                printable(&new_key.id),
                printable(&new_key.prefix),
                printable(old_key_id)
            )
        }
        RotationOutcome::RolledBack {
            old_key_id,
            reason,
            old_key_expires_at,
            ..
        } => {
            let mut line = format!(
                "Rotation of {} undone: {} The old key is in use as before.",
                printable(old_key_id),
                printable(&reason.message)
            );
            if let Some(t) = old_key_expires_at.filter(|t| *t > Utc::now()) {
                let _ = write!(
                    line,
                    " It stops working at {}: rotate it again before then.",
                    when(Some(t), "")
                );
            }
            line.push('\n');
            line
        }
        RotationOutcome::Pending {
            old_key_id,
            step,
            reason,
            ..
        } => format!(
            "Rotation of {} paused at \u{201c}{}\u{201d}: {} The keys in use keep working; run `keyhaven keys resume` once this is fixed.\n",
            printable(old_key_id),
            step.label(),
            printable(&reason.message)
        ),
    }
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
                replaced_by: None,
                replaces: None,
                note: None,
            },
            stored_locally: stored,
            check: None,
        }
    }

    #[test]
    fn rotation_outcomes_read_as_sentences() {
        use keyhaven_core::{ErrorKind, ErrorPayload, Method, RotationStep};
        let later = Utc::now() + chrono::Duration::hours(1);
        let done = RotationOutcome::Completed {
            rotation_id: "rot_1".into(),
            account_id: "acc".into(),
            old_key_id: "key_old".into(),
            new_key: Box::new(key("ci\u{1b}deploy", true).meta),
            method: Method::Roll,
            old_key_expires_at: Some(later),
        };
        let line = rotation_line(&done);
        assert!(
            line.starts_with(
                "Rotated \u{201c}ci?deploy\u{201d}: key_1 (kh_test_AbCd…) replaces key_old"
            ),
            "{line}"
        );
        assert!(line.contains("keeps working until"), "{line}");
        let reason = ErrorPayload {
            code: ErrorKind::Network,
            message: "Could not reach the key service.".into(),
        };
        let undone = RotationOutcome::RolledBack {
            rotation_id: "rot_1".into(),
            account_id: "acc".into(),
            old_key_id: "key_old".into(),
            reason: reason.clone(),
            old_key_expires_at: Some(later),
        };
        let line = rotation_line(&undone);
        assert!(line.contains("undone: Could not reach"), "{line}");
        assert!(line.contains("rotate it again before then"), "{line}");
        let paused = RotationOutcome::Pending {
            rotation_id: "rot_1".into(),
            account_id: "acc".into(),
            old_key_id: "key_old".into(),
            step: RotationStep::Verify,
            reason,
        };
        let line = rotation_line(&paused);
        assert!(line.contains("Verify the new key"), "{line}");
        assert!(line.contains("keyhaven keys resume"), "{line}");
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
