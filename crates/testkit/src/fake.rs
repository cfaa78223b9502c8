//! The contract fakes of the seed services (`tests/fakes/`, Python's standard library), started
//! on 127.0.0.1 for a test and stopped with it. Their control calls (`POST /_fake/NAME`) stand in
//! for what the real services do in their dashboards: minting a key, moving the clock.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

/// A running fake; dropping it stops it.
pub struct Fake {
    child: Child,
    url: String,
}

impl Fake {
    /// Starts the fake named `name` (`tokenkit`, `anikura`, `animus`, `ananke`, `wanikani`).
    pub fn start(name: &str) -> Fake {
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fakes/serve.py");
        let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
        let mut child = Command::new(&python)
            .arg(&script)
            .arg(name)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {python} {}: {e}", script.display()));
        let mut line = String::new();
        let stdout = child.stdout.take().expect("stdout");
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("the fake's URL");
        let url = line.trim().to_string();
        assert!(
            url.starts_with("http://127.0.0.1:"),
            "the fake {name} did not start: {line:?}"
        );
        Fake { child, url }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Calls the control `name` with `args` and gives its answer.
    pub fn control(&self, name: &str, args: Value) -> Value {
        let addr = self.url.trim_start_matches("http://");
        let mut stream = TcpStream::connect(addr).expect("connect to the fake");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        let body = args.to_string();
        write!(
            stream,
            "POST /_fake/{name} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .expect("send");
        let mut answer = String::new();
        stream.read_to_string(&mut answer).expect("read");
        let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
        assert!(
            head.starts_with("HTTP/1.0 200") || head.starts_with("HTTP/1.1 200"),
            "control {name}: {head}"
        );
        serde_json::from_str(body).unwrap_or(Value::Null)
    }
}

impl Drop for Fake {
    fn drop(&mut self) {
        // Closing its standard input ends it; kill it should it hang.
        drop(self.child.stdin.take());
        std::thread::sleep(Duration::from_millis(50));
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
