//! SECURITY 24: a core dump of the CLI taken after it used a secret holds no copy of it. The
//! CLI runs a command with a key's secret in its environment (`keyhaven run`); while that command
//! still runs, `gcore` dumps the CLI process, and the dump is searched for the secret. A string
//! the CLI still holds (the key's name, from its arguments) must be there, which proves the dump
//! is a real one.

mod common;

use std::io::Read;
use std::path::Path;
use std::time::Duration;

use common::{command, keyhaven, keyhaven_with_stdin, namespace, record_secret, text};

/// How many times `needle` occurs in the file, read in chunks (dumps are hundreds of MB).
fn occurrences(path: &Path, needle: &[u8]) -> usize {
    let mut file = std::fs::File::open(path).expect("open the dump");
    let mut count = 0;
    let mut carry: Vec<u8> = Vec::new();
    let mut chunk = vec![0u8; 8 << 20];
    loop {
        let n = file.read(&mut chunk).expect("read the dump");
        if n == 0 {
            break;
        }
        carry.extend_from_slice(&chunk[..n]);
        count += carry.windows(needle.len()).filter(|w| *w == needle).count();
        let keep = needle.len().saturating_sub(1).min(carry.len());
        carry.drain(..carry.len() - keep);
    }
    count
}

fn random_hex() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!(
        "{:032x}",
        nanos ^ 0x5deece66d_u128.wrapping_mul(u128::from(std::process::id()))
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_core_dump_of_the_cli_after_it_used_a_secret_holds_no_copy() {
    let ns = namespace("memory");
    let data = tempfile::tempdir().expect("tempdir");
    let dir = data.path();
    let out = keyhaven(
        dir,
        &ns,
        &[
            "account",
            "add",
            "--kind",
            "generic",
            "--name",
            "mine",
            "--url",
            "https://api.example.com",
        ],
    )
    .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let secret = format!("residue-probe-{}", random_hex());
    record_secret(&secret);
    let name = format!("control-{}", random_hex());
    let out = keyhaven_with_stdin(
        dir,
        &ns,
        &[
            "keys",
            "import",
            "--name",
            &name,
            "--header",
            "X-Token",
            "--unverified",
        ],
        &format!("{secret}\n"),
    )
    .await;
    assert!(out.status.success(), "{}", text(&out.stderr));

    // The command says when it runs; the CLI then holds nothing of the secret.
    let ready = dir.join("ready");
    let script = format!("echo started > '{}'; sleep 20", ready.display());
    let mut run = command(
        dir,
        &ns,
        &[
            "run", "--key", &name, "--env", "TOKEN", "--", "sh", "-c", &script,
        ],
    )
    .kill_on_drop(true)
    .spawn()
    .expect("keyhaven run");
    let pid = run.id().expect("pid");
    let mut waited = 0;
    while !ready.exists() {
        assert!(waited < 200, "the command never started");
        tokio::time::sleep(Duration::from_millis(50)).await;
        waited += 1;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;

    let dumps = tempfile::tempdir().expect("dump folder");
    let prefix = dumps.path().join("cli");
    let gcore = std::process::Command::new("gcore")
        .arg("-o")
        .arg(&prefix)
        .arg(pid.to_string())
        .output()
        .expect("gcore (gdb) is installed by the test command");
    let dump = dumps.path().join(format!("cli.{pid}"));
    assert!(
        gcore.status.success() && dump.exists(),
        "gcore could not dump the CLI (ptrace allowed?): {}",
        text(&gcore.stderr)
    );
    let _ = run.kill().await;

    let size = std::fs::metadata(&dump).expect("dump").len();
    let control = occurrences(&dump, name.as_bytes());
    let copies = occurrences(&dump, secret.as_bytes());
    // The allocator writes its own bookkeeping over the start of a freed block: a copy whose
    // start is gone still holds the rest, so the secret's last 24 characters are looked for too.
    let tails = occurrences(&dump, &secret.as_bytes()[secret.len() - 24..]);
    println!(
        "core dump of the CLI: {size} bytes; the control string {control} times, the secret \
         {copies} times, its last 24 characters {tails} times"
    );
    assert!(
        control > 0,
        "the dump does not hold the key's name: not a valid dump"
    );
    assert_eq!(
        copies, 0,
        "the CLI's memory still holds {copies} copies of the secret"
    );
    assert_eq!(
        tails, 0,
        "the CLI's memory still holds {tails} partial copies of the secret"
    );
}
