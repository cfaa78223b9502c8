//! Helpers the test suites of the other Keyhaven crates share. Only ever a dev-dependency.

pub mod fake;

use std::io::Write;

/// Runs the futures concurrently on the calling task and returns their outputs in order. Polled
/// together, a future that waits (on storage, a lock) lets the others run up to their own wait:
/// what concurrent callers do, without threads.
pub async fn join_all<F: std::future::Future>(futs: impl IntoIterator<Item = F>) -> Vec<F::Output> {
    let mut futs: Vec<_> = futs.into_iter().map(Box::pin).collect();
    let mut out: Vec<Option<F::Output>> = futs.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        for (f, slot) in futs.iter_mut().zip(out.iter_mut()) {
            if slot.is_none() {
                if let std::task::Poll::Ready(v) = f.as_mut().poll(cx) {
                    *slot = Some(v);
                }
            }
        }
        if out.iter().all(Option::is_some) {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await;
    out.into_iter().flatten().collect()
}

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
