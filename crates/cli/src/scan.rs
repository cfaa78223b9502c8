//! `keyhaven scan [PATH...] [--git] [--staged]`: finds the secrets this profile holds where they
//! should not be: in files, in a git repository's history, or in the changes staged for the next
//! commit (a pre-commit hook). Each candidate token is hashed and compared with the hashes of the
//! held secrets, so no secret is compared, kept or printed in the clear; a finding names the
//! place, the key and the command that rotates it, and the scan exits 1.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use clap::Args;
use keyhaven_core::{Error, Keyhaven};
use serde::Serialize;

use crate::held::{hash, held_hashes, Held};
use crate::Done;

#[derive(Debug, Args)]
pub struct ScanArgs {
    /// Files or folders to read (folders recursively; `.git` left out). Default: `.` unless
    /// --git or --staged is given.
    pub paths: Vec<PathBuf>,
    /// Also read every commit of the git repository here (`git log -p --all`).
    #[arg(long)]
    pub git: bool,
    /// Read the changes staged for the next commit (for a pre-commit hook).
    #[arg(long)]
    pub staged: bool,
    /// Print the findings as JSON: `secrets_compared`, `commits_read` (with --git) and
    /// `findings`, each with `file`, `line`, `commit` (with --git), `staged`, `account_id`,
    /// `key_id`, `key_name` and `rotate` (the command that rotates the key).
    #[arg(long)]
    pub json: bool,
}

/// Where a held secret was found, and which key's it is. Never the secret.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub file: String,
    /// The line (from 1) in the file, or in the file as the commit left it.
    pub line: usize,
    /// The commit that added the line (with --git).
    pub commit: Option<String>,
    /// Whether the line is in a change staged for the next commit (with --staged).
    pub staged: bool,
    pub account_id: String,
    pub key_id: String,
    pub key_name: String,
    /// The command that rotates the key.
    pub rotate: String,
}

impl Finding {
    fn new(file: &str, line: usize, key: &Held) -> Finding {
        Finding {
            file: file.to_string(),
            line,
            commit: None,
            staged: false,
            account_id: key.account.clone(),
            key_id: key.key_id.clone(),
            key_name: key.name.clone(),
            rotate: format!(
                "keyhaven keys rotate {} --account {}",
                key.key_id, key.account
            ),
        }
    }

    /// As printed: the place, the key and how to rotate it.
    fn line_of_text(&self) -> String {
        let place = match (&self.commit, self.staged) {
            (Some(commit), _) => format!("commit {commit} {}:{}", self.file, self.line),
            (None, true) => format!("{}:{} (staged)", self.file, self.line),
            (None, false) => format!("{}:{}", self.file, self.line),
        };
        format!(
            "{place}: the secret of \"{}\" (account {}): rotate it with `{}`\n",
            self.key_name, self.account_id, self.rotate
        )
    }
}

#[derive(Debug, Serialize)]
struct Report<'a> {
    secrets_compared: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    commits_read: Option<u64>,
    findings: &'a [Finding],
}

/// Shortest and longest run of characters taken for a candidate.
const MIN_TOKEN: usize = 16;
const MAX_TOKEN: usize = 512;

/// The held keys whose secrets stand in `line`.
fn found_in<'h>(line: &str, held: &'h HashMap<[u8; 32], Held>) -> Vec<&'h Held> {
    line.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
        .filter(|t| (MIN_TOKEN..=MAX_TOKEN).contains(&t.len()))
        .filter_map(|t| held.get(&hash(t)))
        .collect()
}

fn scan_text(file: &str, text: &str, held: &HashMap<[u8; 32], Held>) -> Vec<Finding> {
    let mut found = Vec::new();
    for (i, line) in text.lines().enumerate() {
        for key in found_in(line, held) {
            found.push(Finding::new(file, i + 1, key));
        }
    }
    found
}

fn scan_path(
    path: &Path,
    held: &HashMap<[u8; 32], Held>,
    out: &mut Vec<Finding>,
) -> Result<(), Error> {
    let meta = std::fs::symlink_metadata(path).map_err(|e| Error::Validation {
        field: path.display().to_string(),
        message: format!("cannot be read: {e}"),
    })?;
    if meta.is_dir() {
        if path.file_name().is_some_and(|n| n == ".git") {
            return Ok(());
        }
        let mut children: Vec<PathBuf> = std::fs::read_dir(path)
            .map_err(|e| Error::Validation {
                field: path.display().to_string(),
                message: format!("cannot be listed: {e}"),
            })?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        children.sort();
        for child in children {
            scan_path(&child, held, out)?;
        }
    } else if meta.is_file() {
        // Binary or unreadable files are passed over; text is read lossily.
        if let Ok(bytes) = std::fs::read(path) {
            out.extend(scan_text(
                &path.display().to_string(),
                &String::from_utf8_lossy(&bytes),
                held,
            ));
        }
    }
    Ok(())
}

async fn git(args: &[&str]) -> Result<String, Error> {
    let out = tokio::process::Command::new("git")
        .args(args)
        .output()
        .await
        .map_err(|e| Error::Validation {
            field: "git".into(),
            message: format!("cannot run git: {e}"),
        })?;
    if !out.status.success() {
        return Err(Error::Validation {
            field: "git".into(),
            message: format!(
                "`git {}` failed: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Every line added by every commit, with where it was added; the commits read. git's output
/// is read as it comes (a long history is never held whole), and a terminal sees how far the
/// scan has got.
async fn scan_history(
    held: &HashMap<[u8; 32], Held>,
    out: &mut Vec<Finding>,
) -> Result<u64, Error> {
    use tokio::io::{AsyncBufReadExt, AsyncReadExt};
    const ARGS: [&str; 5] = ["log", "-p", "--all", "--no-color", "--format=commit %H"];
    let cannot_run = |e: std::io::Error| Error::Validation {
        field: "git".into(),
        message: format!("cannot run git: {e}"),
    };
    let mut child = tokio::process::Command::new("git")
        .args(ARGS)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(cannot_run)?;
    // Read apart, so that a full stderr pipe never stops git while we wait on its stdout.
    let mut stderr = child.stderr.take().expect("piped");
    let errors = tokio::spawn(async move {
        let mut text = Vec::new();
        let _ = stderr.read_to_end(&mut text).await;
        text
    });
    let mut lines = tokio::io::BufReader::new(child.stdout.take().expect("piped")).split(b'\n');
    let mut progress = Progress::new("reading commits");
    let (mut commit, mut file) = (String::new(), String::new());
    // The line of the file, as the commit left it, that the next line of the hunk is.
    let mut at = 0usize;
    while let Some(bytes) = lines.next_segment().await.map_err(cannot_run)? {
        let line = String::from_utf8_lossy(&bytes);
        if let Some(id) = line.strip_prefix("commit ") {
            commit = id.chars().take(12).collect();
            progress.tick();
        } else if let Some(path) = line.strip_prefix("+++ b/") {
            file = path.to_string();
        } else if line.starts_with("+++ ") || line.starts_with("--- ") {
            // A deleted file (+++ /dev/null) or the old side's name.
        } else if let Some(hunk) = line.strip_prefix("@@ ") {
            at = hunk_start(hunk).unwrap_or(1);
        } else if let Some(added) = line.strip_prefix('+') {
            for key in found_in(added, held) {
                let mut finding = Finding::new(&file, at, key);
                finding.commit = Some(commit.clone());
                out.push(finding);
            }
            at += 1;
        } else if line.starts_with(' ') {
            at += 1;
        }
    }
    progress.done();
    let status = child.wait().await.map_err(cannot_run)?;
    if !status.success() {
        let errors = errors.await.unwrap_or_default();
        return Err(Error::Validation {
            field: "git".into(),
            message: format!(
                "`git {}` failed: {}",
                ARGS.join(" "),
                String::from_utf8_lossy(&errors).trim()
            ),
        });
    }
    Ok(progress.count)
}

/// The first line of a hunk's new side: `-a,b +c,d @@` gives c.
fn hunk_start(hunk: &str) -> Option<usize> {
    let new = hunk.split_whitespace().find_map(|w| w.strip_prefix('+'))?;
    new.split(',').next()?.parse().ok()
}

/// A count shown on standard error while it grows, when that is a terminal (at most four times
/// a second); nothing otherwise.
struct Progress {
    what: &'static str,
    count: u64,
    terminal: bool,
    shown: Option<std::time::Instant>,
}

impl Progress {
    fn new(what: &'static str) -> Progress {
        use std::io::IsTerminal;
        Progress {
            what,
            count: 0,
            terminal: std::io::stderr().is_terminal(),
            shown: None,
        }
    }

    fn tick(&mut self) {
        self.count += 1;
        let due = self
            .shown
            .is_none_or(|at| at.elapsed() >= std::time::Duration::from_millis(250));
        if self.terminal && due {
            eprint!("\rscan: {}… {}", self.what, self.count);
            self.shown = Some(std::time::Instant::now());
        }
    }

    fn done(&self) {
        if self.terminal && self.shown.is_some() {
            eprint!("\r\x1b[K");
        }
    }
}

/// Every file staged for the next commit, as staged.
async fn scan_staged(held: &HashMap<[u8; 32], Held>, out: &mut Vec<Finding>) -> Result<(), Error> {
    let staged = git(&[
        "diff",
        "--cached",
        "--name-only",
        "--diff-filter=ACMR",
        "-z",
    ])
    .await?;
    for path in staged.split('\0').filter(|p| !p.is_empty()) {
        let text = git(&["show", &format!(":{path}")]).await?;
        out.extend(
            scan_text(path, &text, held)
                .into_iter()
                .map(|f| Finding { staged: true, ..f }),
        );
    }
    Ok(())
}

pub async fn run(core: &Keyhaven, args: ScanArgs) -> Result<Done, Error> {
    let held = held_hashes(core).await?;
    let mut out = Vec::new();
    let paths = if args.paths.is_empty() && !args.git && !args.staged {
        vec![PathBuf::from(".")]
    } else {
        args.paths
    };
    for path in &paths {
        scan_path(path, &held, &mut out)?;
    }
    let mut commits = None;
    if args.git {
        commits = Some(scan_history(&held, &mut out).await?);
    }
    if args.staged {
        scan_staged(&held, &mut out).await?;
    }
    let history = commits.map_or(String::new(), |n| format!(", in {n} commit(s)"));
    eprintln!(
        "scan: compared with the {} secret(s) this profile holds{history}",
        held.len()
    );
    let exit = u8::from(!out.is_empty());
    let stdout = if args.json {
        crate::output::json(&Report {
            secrets_compared: held.len(),
            commits_read: commits,
            findings: &out,
        })
    } else if out.is_empty() {
        "No secret of this profile found.\n".to_string()
    } else {
        out.iter().map(Finding::line_of_text).collect()
    };
    Ok(Done { stdout, exit })
}

#[cfg(test)]
mod tests {
    use super::hunk_start;

    #[test]
    fn hunk_headers_give_the_new_side_start() {
        assert_eq!(hunk_start("-0,0 +1,3 @@"), Some(1));
        assert_eq!(hunk_start("-10,7 +12,8 @@ fn main() {"), Some(12));
        assert_eq!(hunk_start("-1 +1 @@"), Some(1));
        assert_eq!(hunk_start("garbage"), None);
    }
}
