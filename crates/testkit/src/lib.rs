//! Helpers the test suites of the other Keyhaven crates share. Only ever a dev-dependency.

pub mod fake;

use std::io::Write;

/// Appends a secret a test created to the leak ledger, when `scripts/test` keeps one
/// (`KEYHAVEN_LEAK_LEDGER`, a file outside every folder the leak scan searches); the scan after
/// the suite fails if any of them turns up in a log, the test output or a data folder.
pub fn record_secret(secret: &str) {
    let Some(path) = std::env::var_os("KEYHAVEN_LEAK_LEDGER") else {
        return;
    };
    // One write of the whole line, so that lines of parallel tests do not interleave.
    let line = format!("{secret}\n");
    let _ = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .and_then(|mut f| f.write_all(line.as_bytes()));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_secret_is_one_line_of_the_ledger() {
        let dir = tempfile_dir();
        let ledger = dir.join("ledger");
        // The variable is read by this process only; the test sets it for itself.
        std::env::set_var("KEYHAVEN_LEAK_LEDGER", &ledger);
        record_secret("first");
        record_secret("second");
        std::env::remove_var("KEYHAVEN_LEAK_LEDGER");
        record_secret("not recorded");
        let text = std::fs::read_to_string(&ledger).expect("ledger");
        assert_eq!(text, "first\nsecond\n");
        let _ = std::fs::remove_dir_all(dir);
    }

    fn tempfile_dir() -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("keyhaven-testkit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        dir
    }
}
