//! The clipboard guard on a real X11 clipboard. Uses `$DISPLAY` when set; otherwise starts its
//! own Xvfb (apt package `xvfb`) and fails with how to get one if there is none.

#![cfg(all(unix, not(target_os = "macos")))]

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use keyhaven_core::clipboard::ManualTimer;
use keyhaven_core::{ClipboardGuard, Secret};

struct Xvfb(Option<Child>);

impl Drop for Xvfb {
    fn drop(&mut self) {
        if let Some(child) = self.0.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A display to use: the session's, or a private Xvfb started here.
fn display() -> Xvfb {
    if std::env::var_os("DISPLAY").is_some_and(|d| !d.is_empty()) {
        return Xvfb(None);
    }
    let number = (std::process::id() % 5000) + 100;
    let child = Command::new("Xvfb")
        .arg(format!(":{number}"))
        .args(["-nolisten", "tcp", "-noreset", "-screen", "0", "640x480x24"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("This test needs an X display: set DISPLAY or install Xvfb (apt-get install -y xvfb). Starting Xvfb failed: {e}")
        });
    let guard = Xvfb(Some(child));
    let socket = format!("/tmp/.X11-unix/X{number}");
    assert!(
        wait_for(Duration::from_secs(10), || Path::new(&socket).exists()),
        "Xvfb did not open {socket}"
    );
    std::env::set_var("DISPLAY", format!(":{number}"));
    guard
}

fn wait_for(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    done()
}

/// What another program reads from the clipboard (xclip): `None` when it is empty. The test's
/// other program is a process of its own, as it would be: arboard shares one X11 context within a
/// process, so a second arboard handle here would not be "someone else".
fn clipboard_text() -> Option<String> {
    let out = Command::new("xclip")
        .args(["-o", "-selection", "clipboard"])
        .output()
        .unwrap_or_else(|e| panic!("This test needs xclip (apt-get install -y xclip): {e}"));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    (out.status.success() && !text.is_empty()).then_some(text)
}

/// Another program copies `text` (xclip, which keeps serving it until someone else copies).
fn someone_else_copies(text: &str) {
    use std::io::Write;
    let mut xclip = Command::new("xclip")
        .args(["-i", "-selection", "clipboard"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("xclip");
    xclip
        .stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .expect("write");
    assert!(xclip.wait().expect("xclip").success());
}

#[test]
fn copied_secrets_are_cleared_only_while_still_on_the_clipboard() {
    let _x = display();
    // The clearing delay runs on a clock the test moves: nothing here waits for it.
    let timer = Arc::new(ManualTimer::default());
    let guard = ClipboardGuard::with_timer(timer.clone()).expect("clipboard");

    // Copied, then cleared by the timer.
    let secret = Secret::new("kh_test_ClipboardSecretValue0123456789".into());
    guard
        .copy_secret(&secret, Duration::from_secs(30))
        .expect("copy");
    assert_eq!(clipboard_text().as_deref(), Some(secret.expose()));
    assert!(guard.holds_secret());
    timer.advance(Duration::from_secs(29));
    assert_eq!(
        clipboard_text().as_deref(),
        Some(secret.expose()),
        "not before its time"
    );
    timer.advance(Duration::from_secs(1));
    // X delivers the change to other programs in its own time: that, only, is waited for.
    assert!(
        wait_for(Duration::from_secs(10), || clipboard_text().is_none()),
        "the secret was not cleared"
    );

    // Something else copied meanwhile is left alone.
    guard
        .copy_secret(&secret, Duration::from_secs(30))
        .expect("copy");
    someone_else_copies("a shopping list");
    // xclip takes the selection in its background process: it is the owner once it answers.
    assert!(wait_for(Duration::from_secs(5), || clipboard_text()
        .as_deref()
        == Some("a shopping list")));
    timer.advance(Duration::from_secs(30));
    assert!(!guard.holds_secret(), "the timer ran");
    assert_eq!(clipboard_text().as_deref(), Some("a shopping list"));

    // On quit: cleared at once if ours.
    guard
        .copy_secret(&secret, Duration::from_secs(600))
        .expect("copy");
    // Marked as a password for clipboard managers, as KeePassXC does: the X11 selection offers
    // the target `x-kde-passwordManagerHint` with the content `secret` (read by another program).
    // The copy takes the selection in arboard's own thread: under load xclip can ask before it
    // has, so the offer is waited for like the clearing above.
    let mut targets = String::new();
    assert!(
        wait_for(Duration::from_secs(5), || {
            targets = xclip(&["-t", "TARGETS"]);
            targets.lines().any(|t| t == "x-kde-passwordManagerHint")
        }),
        "targets offered: {targets}"
    );
    assert_eq!(xclip(&["-t", "x-kde-passwordManagerHint"]), "secret");
    assert!(guard.clear_now_if_ours());
    assert!(wait_for(Duration::from_secs(5), || clipboard_text().is_none()));
}

/// What `xclip -o -selection clipboard ARGS` prints (apt package `xclip`, installed by scripts/test).
fn xclip(args: &[&str]) -> String {
    let out = Command::new("xclip")
        .args(["-o", "-selection", "clipboard"])
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("This test needs xclip (apt-get install -y xclip): {e}"));
    assert!(
        out.status.success(),
        "xclip {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}
