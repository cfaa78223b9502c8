//! The `--json` shapes: every command that takes `--json` has one, and the checker that holds
//! the other tests' output to them notices what differs.

mod common;

use std::process::Output;

use clap::CommandFactory;
use common::{
    create_key, keyhaven, keyhaven_with_stdin, namespace, record_secret, shapes, text, TestService,
    OWNER, PASSWORD,
};
use keyhaven_testkit::fake::Fake;
use serde_json::{json, Value};

/// Every subcommand path that takes `--json`, as its shape file would name it.
fn json_commands(command: &clap::Command, path: &mut Vec<String>, out: &mut Vec<String>) {
    if command
        .get_arguments()
        .any(|a| a.get_long() == Some("json"))
    {
        out.push(path.join("-"));
    }
    for sub in command.get_subcommands() {
        path.push(sub.get_name().to_owned());
        json_commands(sub, path, out);
        path.pop();
    }
}

fn all_json_commands() -> Vec<String> {
    let mut commands = Vec::new();
    json_commands(
        &keyhaven_cli::Cli::command(),
        &mut Vec::new(),
        &mut commands,
    );
    commands.sort();
    commands
}

#[test]
fn every_command_with_json_has_a_shape_and_every_shape_a_command() {
    let commands = all_json_commands();
    let mut files: Vec<String> = std::fs::read_dir(shapes::dir())
        .expect("json-shapes")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter_map(|n| n.strip_suffix(".json").map(str::to_owned))
        // `_name.json`: a part several shapes share.
        .filter(|n| !n.starts_with('_'))
        .collect();
    files.sort();
    assert!(commands.len() >= 10, "{commands:?}");
    assert_eq!(
        files, commands,
        "json-shapes/ against the commands with --json"
    );
    for file in files {
        let path = shapes::dir().join(format!("{file}.json"));
        let shape: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).expect("read")).expect("JSON");
        // A shape accepts no value of another kind: a check against it can fail.
        assert!(
            shapes::matches(&shape, &json!(12345), "$").is_err(),
            "{file} accepts anything"
        );
    }
}

#[test]
fn command_paths_are_read_past_global_flags() {
    assert_eq!(
        shapes::command_path(&["keys", "list", "--json"]),
        ["keys", "list"]
    );
    assert_eq!(
        shapes::command_path(&["--profile", "work", "keys", "rotate", "billing", "--json"]),
        ["keys", "rotate"]
    );
    assert_eq!(
        shapes::command_path(&["profile", "show"]),
        ["profile", "show"]
    );
}

#[test]
fn the_checker_names_what_differs() {
    let shape = json!({"name": "string", "scopes": ["string"], "expires_at": "string|null", "note?": "string"});
    let ok = json!({"name": "k", "scopes": ["read"], "expires_at": null});
    assert_eq!(shapes::matches(&shape, &ok, "$"), Ok(()));
    let with_note =
        json!({"name": "k", "scopes": [], "expires_at": "2027-01-01T00:00:00Z", "note": "n"});
    assert_eq!(shapes::matches(&shape, &with_note, "$"), Ok(()));
    let cases = [
        (
            json!({"scopes": [], "expires_at": null}),
            "$.name is missing",
        ),
        (
            json!({"name": 1, "scopes": [], "expires_at": null}),
            "$.name is number, not string",
        ),
        (
            json!({"name": "k", "scopes": [1], "expires_at": null}),
            "$.scopes[0] is number, not string",
        ),
        (
            json!({"name": "k", "scopes": [], "expires_at": null, "x": 1}),
            "$.x is not in the shape",
        ),
        (json!([]), "$ is not an object"),
    ];
    for (value, says) in cases {
        assert_eq!(
            shapes::matches(&shape, &value, "$"),
            Err(says.to_owned()),
            "{value}"
        );
    }
    let map = json!({"*": "number"});
    assert_eq!(shapes::matches(&map, &json!({"a": 1, "b": 2}), "$"), Ok(()));
    assert!(shapes::matches(&map, &json!({"a": "1"}), "$").is_err());
}

fn json_of(what: &str, out: &Output) -> Value {
    assert!(
        out.status.success() || out.status.code() == Some(1),
        "{what}: {}",
        text(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{what}: {e}"))
}

/// Every command that takes `--json`, run once with it against the real service and keychain:
/// [`common::keyhaven`] holds each output to its shape, and this checks none was left out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_command_prints_json_of_its_shape() {
    let ns = namespace("shapes");
    let svc = TestService::start(|_| {}).await;
    let url = svc.url();
    let data = tempfile::tempdir().expect("tempdir");
    let work = tempfile::tempdir().expect("work");
    let dir = data.path();
    let run = |args: Vec<String>| {
        let ns = ns.clone();
        async move {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            keyhaven(dir, &ns, &args).await
        }
    };
    let args = |s: &[&str]| s.iter().map(|a| a.to_string()).collect::<Vec<_>>();

    let password = format!("{PASSWORD}\n");
    let account = json_of(
        "account add",
        &keyhaven_with_stdin(
            dir,
            &ns,
            &["account", "add", "--url", &url, "--email", OWNER, "--json"],
            &password,
        )
        .await,
    );
    let id = account["id"].as_str().expect("id").to_owned();
    json_of(
        "account list",
        &run(args(&["account", "list", "--json"])).await,
    );
    json_of(
        "account use",
        &run(args(&["account", "use", &id, "--json"])).await,
    );
    json_of(
        "profile show",
        &run(args(&["profile", "show", "--json"])).await,
    );

    json_of(
        "keys create",
        &run(args(&["keys", "create", "--name", "api", "--json"])).await,
    );
    json_of("keys list", &run(args(&["keys", "list", "--json"])).await);
    json_of(
        "keys show",
        &run(args(&["keys", "show", "api", "--json"])).await,
    );
    json_of(
        "keys update",
        &run(args(&[
            "keys",
            "update",
            "api",
            "--hourly-limit",
            "50",
            "--json",
        ]))
        .await,
    );
    json_of(
        "keys usage",
        &run(args(&["keys", "usage", "api", "--json"])).await,
    );
    json_of(
        "keys rotate",
        &run(args(&["keys", "rotate", "api", "--json"])).await,
    );
    json_of(
        "keys resume",
        &run(args(&["keys", "resume", "--json"])).await,
    );

    // A key made on another computer (another profile folder), imported here.
    let elsewhere = tempfile::tempdir().expect("elsewhere");
    let (other, other_account) = svc
        .signed_in(elsewhere.path(), &namespace("shapes-other"))
        .await;
    let foreign = create_key(&other, &other_account, "made elsewhere", &["read"]).await;
    let out = keyhaven_with_stdin(
        dir,
        &ns,
        &["keys", "import", "--name", "made elsewhere", "--json"],
        &format!("{}\n", foreign.secret.expose()),
    )
    .await;
    json_of("keys import", &out);
    json_of(
        "keys revoke",
        &run(args(&[
            "keys",
            "revoke",
            "made elsewhere",
            "--confirm",
            "made elsewhere",
            "--json",
        ]))
        .await,
    );

    let env = work.path().join(".env");
    std::fs::write(&env, format!("API_KEY=keyhaven:{OWNER}/api\nMODE=x\n")).expect("write");
    let env = env.to_str().expect("path").to_owned();
    json_of(
        "env check",
        &run(args(&["env", "check", &env, "--json"])).await,
    );
    json_of(
        "env import",
        &run(args(&["env", "import", &env, "--json"])).await,
    );
    json_of(
        "scan",
        &run(args(&[
            "scan",
            work.path().to_str().expect("path"),
            "--json",
        ]))
        .await,
    );

    json_of(
        "keys check",
        &run(args(&["keys", "check", "api", "--account", &id, "--json"])).await,
    );

    // An account without sign-in, its key imported, checked and forgotten.
    let anikura = Fake::start("anikura");
    let pasted = anikura.control("mint", json!({"account": "ann"}))["secret"]
        .as_str()
        .expect("secret")
        .to_owned();
    record_secret(&pasted);
    let added = json_of(
        "account add (anikura)",
        &run(args(&[
            "account",
            "add",
            "--kind",
            "anikura",
            "--name",
            "personal",
            "--url",
            anikura.url(),
            "--tier",
            "indie",
            "--json",
        ]))
        .await,
    );
    assert_eq!(added["tier"], "indie");
    let out = keyhaven_with_stdin(
        dir,
        &ns,
        &["keys", "import", "--name", "scraper", "--json"],
        &format!("{pasted}\n"),
    )
    .await;
    let imported = json_of("keys import (anikura)", &out);
    assert_eq!(imported["check"]["verdict"], "works");
    json_of(
        "keys list (anikura)",
        &run(args(&["keys", "list", "--json"])).await,
    );
    anikura.control("advance", json!({"seconds": 2}));
    json_of(
        "keys check (anikura)",
        &run(args(&["keys", "check", "scraper", "--json"])).await,
    );
    json_of(
        "keys find",
        &run(args(&["keys", "find", "scrap", "--json"])).await,
    );
    json_of(
        "keys forget",
        &run(args(&[
            "keys",
            "forget",
            "scraper",
            "--confirm",
            "scraper",
            "--json",
        ]))
        .await,
    );

    json_of(
        "account sign-out",
        &run(args(&["account", "sign-out", &id, "--json"])).await,
    );
    let sign_in = ["account", "sign-in", &id, "--json"];
    let out = keyhaven_with_stdin(dir, &ns, &sign_in, &password).await;
    json_of("account sign-in", &out);
    json_of(
        "account remove",
        &run(args(&[
            "account",
            "remove",
            &id,
            "--confirm",
            &id,
            "--json",
        ]))
        .await,
    );

    // Profiles: made, renamed, locked and unlocked, made active, deleted.
    json_of(
        "profile create",
        &run(args(&["profile", "create", "spare", "--json"])).await,
    );
    json_of(
        "profile rename",
        &run(args(&["profile", "rename", "spare", "extra", "--json"])).await,
    );
    json_of(
        "profile lock",
        &keyhaven_with_stdin(
            dir,
            &ns,
            &["--profile", "extra", "profile", "lock", "--json"],
            "a passphrase\n",
        )
        .await,
    );
    json_of(
        "profile unlock",
        &keyhaven_with_stdin(
            dir,
            &ns,
            &[
                "--profile",
                "extra",
                "profile",
                "unlock",
                "--remove",
                "--json",
            ],
            "a passphrase\n",
        )
        .await,
    );
    json_of(
        "profile list",
        &run(args(&["profile", "list", "--json"])).await,
    );
    let me = json_of(
        "profile show",
        &run(args(&["profile", "show", "--json"])).await,
    );
    let me = me["profile"].as_str().expect("profile").to_owned();
    json_of(
        "profile switch",
        &run(args(&["profile", "switch", "extra", "--json"])).await,
    );
    json_of(
        "profile switch back",
        &run(args(&["profile", "switch", &me, "--json"])).await,
    );
    json_of(
        "profile delete",
        &run(args(&[
            "profile",
            "delete",
            "extra",
            "--confirm",
            "extra",
            "--json",
        ]))
        .await,
    );

    let checked: Vec<String> = shapes::checked().into_iter().collect();
    assert_eq!(
        checked,
        all_json_commands(),
        "every --json command was run and checked"
    );
}
