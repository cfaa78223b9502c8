//! What the CLI tests share: the built `keyhaven` binary, a key service on loopback with one
//! owner, and a core signed in to it through the real Secret Service, as the app signs in.
//! Run them inside a private D-Bus session with an unlocked gnome-keyring:
//! `bash scripts/test --exec cargo nextest run -p keyhaven-cli`.

// Each test binary uses its own part of this module.
#![allow(dead_code)]

pub mod shapes;

use std::path::Path;
use std::process::{Output, Stdio};

use keyhaven_api::{CreateKeyRequest, Role};
use keyhaven_core::{
    Account, CoreConfig, CreatedKeyView, Keyhaven, Secret, ServiceRef, Vault, VaultChoice,
};
use keyhaven_service::{RunningService, Service, ServiceConfig};
pub use keyhaven_testkit::record_secret;
use tokio::io::AsyncWriteExt;

pub const PASSWORD: &str = "correct horse battery staple";
pub const OWNER: &str = "ann@example.com";
pub const HOW_TO_RUN: &str = "This test needs a real Secret Service: run it as\n  bash scripts/test --exec cargo nextest run -p keyhaven-cli\n(a dbus-run-session with an unlocked gnome-keyring-daemon --components=secrets)";

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A keychain namespace of this test process's own, so that runs never see each other's entries.
/// Panics, saying how to run the test, when no Secret Service answers.
pub fn namespace(tag: &str) -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    let namespace = format!(
        "dev.keyhaven.test-cli-{tag}-{:012x}",
        h.finish() & 0xffff_ffff_ffff
    );
    if let Err(e) = Vault::secret_service(&namespace) {
        panic!("No Secret Service ({e}).\n{HOW_TO_RUN}");
    }
    namespace
}

/// The built binary on `data` and `namespace`, with none of the caller's Keyhaven variables.
pub fn command(data: &Path, namespace: &str, args: &[&str]) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_keyhaven"));
    cmd.args(args)
        .env("KEYHAVEN_DATA_DIR", data)
        .env("KEYHAVEN_KEYCHAIN_NAMESPACE", namespace)
        .env_remove("KEYHAVEN_LOG")
        .env_remove("KEYHAVEN_VAULT")
        .env_remove("KEYHAVEN_API_KEY");
    cmd
}

/// Runs the CLI; a successful run with `--json` is held to its shape (see [`shapes`]).
pub async fn keyhaven(data: &Path, namespace: &str, args: &[&str]) -> Output {
    let out = command(data, namespace, args)
        .output()
        .await
        .expect("run keyhaven");
    check_shape(args, &out);
    out
}

/// Whatever a run with `--json` printed (also when it exits 1 with findings) has its shape.
fn check_shape(args: &[&str], out: &Output) {
    if args.contains(&"--json") && !out.stdout.is_empty() {
        shapes::check(args, &text(&out.stdout));
    }
}

/// [`keyhaven`] with `stdin` written to its standard input.
pub async fn keyhaven_with_stdin(
    data: &Path,
    namespace: &str,
    args: &[&str],
    stdin: &str,
) -> Output {
    let mut child = command(data, namespace, args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run keyhaven");
    let mut input = child.stdin.take().expect("stdin");
    input
        .write_all(stdin.as_bytes())
        .await
        .expect("write stdin");
    drop(input);
    let out = child.wait_with_output().await.expect("wait");
    check_shape(args, &out);
    out
}

/// A key service on loopback (SQLite in a temporary folder) with the owner [`OWNER`].
pub struct TestService {
    _dir: tempfile::TempDir,
    _service: Service,
    pub running: RunningService,
}

impl TestService {
    pub async fn start(configure: impl FnOnce(&mut ServiceConfig)) -> TestService {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut config = ServiceConfig::new(dir.path().join("svc.db").to_string_lossy());
        config.key_prefix = "kh_test_".into();
        configure(&mut config);
        let service = Service::open(config).await.expect("service");
        record_secret(PASSWORD);
        service
            .add_user(OWNER, Role::Owner, "Acme", PASSWORD)
            .await
            .expect("user");
        let running = service
            .bind("127.0.0.1:0".parse().expect("addr"))
            .await
            .expect("bind");
        TestService {
            _dir: dir,
            _service: service,
            running,
        }
    }

    pub fn url(&self) -> String {
        self.running.url()
    }

    /// A core on `data` and `namespace`, signed in to this service as [`OWNER`].
    pub async fn signed_in(&self, data: &Path, namespace: &str) -> (Keyhaven, Account) {
        let core = Keyhaven::open(CoreConfig {
            data_dir: data.to_path_buf(),
            keychain_namespace: namespace.to_string(),
            vault: VaultChoice::SecretService,
        })
        .await
        .expect("core");
        let account = core
            .accounts()
            .sign_in(
                ServiceRef::url(self.url()),
                OWNER,
                Secret::new(PASSWORD.into()),
                false,
            )
            .await
            .unwrap_or_else(|e| panic!("sign in: {e}\n{HOW_TO_RUN}"));
        (core, account)
    }
}

/// Creates a key through the core (its secret goes to the keychain) and records the secret for
/// the leak scan.
pub async fn create_key(
    core: &Keyhaven,
    account: &Account,
    name: &str,
    scopes: &[&str],
) -> CreatedKeyView {
    let request = CreateKeyRequest {
        name: name.into(),
        scopes: scopes.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    };
    let created = core
        .keys()
        .create(&account.id, request)
        .await
        .expect("create key");
    record_secret(created.secret.expose());
    created
}

/// Files under `dir` whose bytes contain `needle`.
pub fn files_containing(dir: &Path, needle: &str) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(path) = stack.pop() {
        if path.is_dir() {
            for entry in std::fs::read_dir(&path).expect("read dir") {
                stack.push(entry.expect("entry").path());
            }
        } else if std::fs::read(&path)
            .is_ok_and(|bytes| bytes.windows(needle.len()).any(|w| w == needle.as_bytes()))
        {
            found.push(path);
        }
    }
    found
}

/// Runs git in `repo` as a test user (no signing, branch main); a failure fails the test.
pub fn git(repo: &Path, args: &[&str]) {
    let out = std::process::Command::new("git")
        .args([
            "-c",
            "user.name=Keyhaven Test",
            "-c",
            "user.email=test@keyhaven.test",
        ])
        .args([
            "-c",
            "init.defaultBranch=main",
            "-c",
            "commit.gpgsign=false",
        ])
        .args(args)
        .current_dir(repo)
        .output()
        .expect("git runs");
    assert!(out.status.success(), "git {args:?}: {}", text(&out.stderr));
}

/// The status the service answers `GET /v1/ping` with this secret.
pub async fn ping(url: &str, key: &str) -> u16 {
    reqwest::Client::new()
        .get(format!("{url}/v1/ping"))
        .header("X-API-Key", key)
        .send()
        .await
        .expect("ping")
        .status()
        .as_u16()
}

/// The command ended with exit `code` and said `says` on standard error.
pub fn exited(out: &Output, code: u8, says: &str) {
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(i32::from(code)), "{stderr}");
    assert!(stderr.contains(says), "expected {says:?} in: {stderr}");
}
