//! The `--json` shapes the CLI promises, held against what it prints. Each command with `--json`
//! has a file in `crates/cli/json-shapes/`, named by its command path (`keys-list.json`), that
//! describes its output:
//!
//! - `"string"`, `"number"`, `"boolean"`, `"null"`, `"any"`, or several joined by `|`
//!   (`"string|null"`);
//! - `[SHAPE]`: an array whose every item has that shape;
//! - `{"field": SHAPE, "other?": SHAPE}`: an object with exactly those fields (a `?` marks one
//!   that may be absent), or `{"*": SHAPE}`: any fields, each with that shape;
//! - `{"one of": [SHAPE, ...]}`: any one of those shapes;
//! - `"@name"`: the shape in `_name.json` of the same folder, for parts several commands print
//!   (a key's metadata, an account).
//!
//! Every successful run with `--json` in the tests is checked ([`check`]), so a change of shape
//! fails a test until its file says so.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use clap::CommandFactory;
use serde_json::Value;

/// Where the shapes are.
pub fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("json-shapes")
}

/// The subcommand path `args` run (`["keys", "list"]`), read with the CLI's own definitions.
pub fn command_path(args: &[&str]) -> Vec<String> {
    let mut command = keyhaven_cli::Cli::command();
    let mut path = Vec::new();
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        if let Some(flag) = arg.strip_prefix("--") {
            // A global flag before the subcommand; skip its value when it takes one.
            let takes_value = command
                .get_arguments()
                .find(|a| a.get_long() == Some(flag))
                .is_some_and(|a| a.get_action().takes_values());
            if takes_value && !flag.contains('=') {
                args.next();
            }
            continue;
        }
        match command.find_subcommand(arg) {
            Some(sub) => {
                path.push(arg.to_string());
                command = sub.clone();
            }
            None => break,
        }
    }
    path
}

/// The command paths (`keys-list`) whose output this test process checked.
static CHECKED: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());

pub fn checked() -> BTreeSet<String> {
    CHECKED.lock().unwrap_or_else(|p| p.into_inner()).clone()
}

/// Checks `stdout` of a successful run of `args` (which holds `--json`) against its shape.
pub fn check(args: &[&str], stdout: &str) {
    let path = command_path(args);
    let file = dir().join(format!("{}.json", path.join("-")));
    let printed: Value = serde_json::from_str(stdout)
        .unwrap_or_else(|e| panic!("`{}` --json printed no JSON ({e})", path.join(" ")));
    let text = std::fs::read_to_string(&file).unwrap_or_else(|e| {
        panic!(
            "`{}` --json has no shape: {} ({e}). Describe its output there.",
            path.join(" "),
            file.display()
        )
    });
    let shape: Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{} is not JSON: {e}", file.display()));
    if let Err(problem) = matches(&shape, &printed, "$") {
        panic!(
            "`{}` --json does not have the shape in {}: {problem}\nprinted: {printed}",
            path.join(" "),
            file.display()
        );
    }
    CHECKED
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(path.join("-"));
}

/// Whether `value` has `shape`; otherwise where and how it differs.
pub fn matches(shape: &Value, value: &Value, at: &str) -> Result<(), String> {
    match shape {
        Value::String(name) if name.starts_with('@') => {
            let file = dir().join(format!("_{}.json", &name[1..]));
            let text = std::fs::read_to_string(&file)
                .map_err(|e| format!("the shape {name} at {at}: {} ({e})", file.display()))?;
            let shape: Value = serde_json::from_str(&text)
                .map_err(|e| format!("{} is not JSON: {e}", file.display()))?;
            matches(&shape, value, at)
        }
        Value::String(kinds) => {
            let kind = match value {
                Value::String(_) => "string",
                Value::Number(_) => "number",
                Value::Bool(_) => "boolean",
                Value::Null => "null",
                Value::Array(_) => "array",
                Value::Object(_) => "object",
            };
            if kinds.split('|').any(|k| k == kind || k == "any") {
                Ok(())
            } else {
                Err(format!("{at} is {kind}, not {kinds}"))
            }
        }
        Value::Array(items) => {
            let [item] = items.as_slice() else {
                return Err(format!("the shape at {at} must hold one item shape"));
            };
            let Value::Array(values) = value else {
                return Err(format!("{at} is not an array"));
            };
            values
                .iter()
                .enumerate()
                .try_for_each(|(i, v)| matches(item, v, &format!("{at}[{i}]")))
        }
        Value::Object(fields) => {
            if let Some(Value::Array(alternatives)) = fields.get("one of") {
                let mut problems = Vec::new();
                for shape in alternatives {
                    match matches(shape, value, at) {
                        Ok(()) => return Ok(()),
                        Err(problem) => problems.push(problem),
                    }
                }
                return Err(format!(
                    "{at} is none of its shapes: {}",
                    problems.join("; ")
                ));
            }
            let Value::Object(values) = value else {
                return Err(format!("{at} is not an object"));
            };
            if let Some(each) = fields.get("*") {
                return values
                    .iter()
                    .try_for_each(|(k, v)| matches(each, v, &format!("{at}.{k}")));
            }
            for (name, field) in fields {
                let (name, optional) = match name.strip_suffix('?') {
                    Some(name) => (name, true),
                    None => (name.as_str(), false),
                };
                match values.get(name) {
                    Some(v) => matches(field, v, &format!("{at}.{name}"))?,
                    None if optional => {}
                    None => return Err(format!("{at}.{name} is missing")),
                }
            }
            let known =
                |k: &String| fields.contains_key(k) || fields.contains_key(&format!("{k}?"));
            match values.keys().find(|k| !known(k)) {
                Some(extra) => Err(format!("{at}.{extra} is not in the shape")),
                None => Ok(()),
            }
        }
        _ => Err(format!("the shape at {at} is not a shape")),
    }
}
