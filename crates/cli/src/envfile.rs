//! `.env` files with references instead of secrets: `ANIKURA_API_KEY=keyhaven:ACCOUNT/KEY`. A
//! reference names a key (by name, id or prefix) of an account (by id, email or label), so it
//! follows the key through rotations. Plain values pass through as they are.
//!
//! The syntax read is the common one: `NAME=VALUE` lines, an optional `export ` before the name,
//! blank lines and `#` comments, values bare (trimmed; ` #` starts a comment), in single quotes
//! (taken as written) or in double quotes (with `\n`, `\"` and `\\`). Errors name the file and
//! the line, never a value.

use std::path::Path;

use keyhaven_core::Error;

/// What a reference starts with.
pub const SCHEME: &str = "keyhaven:";

/// One variable of a file: its name, its value or the key it refers to, and its line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub name: String,
    pub value: Value,
    pub line: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Plain(String),
    /// `keyhaven:ACCOUNT/KEY`.
    Reference {
        account: String,
        key: String,
    },
}

fn problem(path: &Path, line: usize, message: impl Into<String>) -> Error {
    Error::Validation {
        field: format!("{}:{line}", path.display()),
        message: message.into(),
    }
}

/// Reads and parses the file at `path`.
pub fn read(path: &Path) -> Result<Vec<Entry>, Error> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::Validation {
        field: path.display().to_string(),
        message: format!("cannot be read: {e}"),
    })?;
    parse(path, &text)
}

pub fn parse(path: &Path, text: &str) -> Result<Vec<Entry>, Error> {
    let mut entries: Vec<Entry> = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let trimmed = trimmed
            .strip_prefix("export ")
            .unwrap_or(trimmed)
            .trim_start();
        let Some((name, rest)) = trimmed.split_once('=') else {
            return Err(problem(path, line, "is not NAME=VALUE"));
        };
        let name = name.trim();
        if !valid_name(name) {
            return Err(problem(
                path,
                line,
                "names no variable: a letter or '_', then letters, digits and '_'",
            ));
        }
        let value = unquote(rest.trim_start())
            .ok_or_else(|| problem(path, line, "has a quote that is not closed"))?;
        let value = match value.strip_prefix(SCHEME) {
            None => Value::Plain(value),
            Some(reference) => {
                let (account, key) = reference
                    .split_once('/')
                    .map(|(a, k)| (a.trim(), k.trim()))
                    .filter(|(a, k)| !a.is_empty() && !k.is_empty())
                    .ok_or_else(|| {
                        problem(path, line, "is a reference but not keyhaven:ACCOUNT/KEY")
                    })?;
                Value::Reference {
                    account: account.to_string(),
                    key: key.to_string(),
                }
            }
        };
        // A later line wins, as shells and most loaders have it.
        entries.retain(|e| e.name != name);
        entries.push(Entry {
            name: name.to_string(),
            value,
            line,
        });
    }
    Ok(entries)
}

/// A portable environment variable name.
pub fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The value after `=`: quoted, or bare up to a ` #` comment. `None` for an unclosed quote.
fn unquote(value: &str) -> Option<String> {
    if let Some(inner) = value.strip_prefix('\'') {
        let end = inner.find('\'')?;
        return Some(inner[..end].to_string());
    }
    if let Some(inner) = value.strip_prefix('"') {
        let mut out = String::new();
        let mut chars = inner.chars();
        while let Some(c) = chars.next() {
            match c {
                '"' => return Some(out),
                '\\' => match chars.next()? {
                    'n' => out.push('\n'),
                    other => out.push(other),
                },
                c => out.push(c),
            }
        }
        return None;
    }
    let bare = match value.find(" #") {
        Some(i) => &value[..i],
        None => value,
    };
    Some(bare.trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(text: &str) -> Vec<(String, Value)> {
        parse(Path::new(".env"), text)
            .expect("parses")
            .into_iter()
            .map(|e| (e.name, e.value))
            .collect()
    }

    #[test]
    fn references_plain_values_quotes_and_comments() {
        let text = "# a comment\n\nexport A=keyhaven:acc_1/deploy bot\nB = 'single # kept'\n\
                    C=\"double \\\"quoted\\\"\\n\"\nD=bare value # comment\nE=\nA=keyhaven:acc_2/ci\n";
        assert_eq!(
            values(text),
            vec![
                ("B".into(), Value::Plain("single # kept".into())),
                ("C".into(), Value::Plain("double \"quoted\"\n".into())),
                ("D".into(), Value::Plain("bare value".into())),
                ("E".into(), Value::Plain(String::new())),
                (
                    "A".into(),
                    Value::Reference {
                        account: "acc_2".into(),
                        key: "ci".into()
                    }
                ),
            ]
        );
    }

    #[test]
    fn mistakes_name_the_line_and_never_the_value() {
        for (text, line) in [
            ("A=1\nnot a line\n", 2),
            ("1A=x\n", 1),
            ("A=\"open\n", 1),
            ("A=keyhaven:just-a-name\n", 1),
            ("A=keyhaven:/key\n", 1),
        ] {
            let e = parse(Path::new(".env"), text).expect_err(text);
            let message = e.to_string();
            assert!(message.contains(&format!(".env:{line}")), "{message}");
            assert!(
                !message.contains("open") && !message.contains("just-a-name"),
                "{message}"
            );
        }
    }
}
