"""The isolation pattern (shared/SECURITY.md 14), in the real window: every IPC message passes
through the sandboxed isolation frame (ui/isolation), which lets what the UI sends through and
turns anything else into a refusal that names the command and the problem."""

INVOKE_JS = """
const [cmd, args, done] = arguments;
window.__TAURI_INTERNALS__.invoke(cmd, args).then(
  (value) => done({ ok: true, value }),
  (error) => done({ ok: false, error }),
);
"""


def invoke(app, cmd: str, args: dict) -> dict:
    app.driver.set_script_timeout(20)
    return app.driver.execute_async_script(INVOKE_JS, cmd, args)


def refusal_warnings(app) -> list[str]:
    return [line for line in app.log_text().splitlines() if "WARN" in line and "the IPC check refused a call" in line]


def test_the_isolation_frame_checks_every_call(app):
    app.wait_text("No keys yet")
    frame = app.driver.execute_script(
        "const f = document.getElementById('__tauri_isolation__'); return f && [f.src, f.sandbox.value];"
    )
    assert frame is not None, "the window has no isolation frame"
    # Tauri names the scheme per build (isolation-<uuid>://localhost/).
    assert frame[0].startswith("isolation-") and frame[1] == "allow-scripts", frame
    # Loading the page makes no refused call worth a warning (a plugin's own page script is
    # refused quietly).
    assert refusal_warnings(app) == [], refusal_warnings(app)

    # What the UI sends goes through and is answered by Rust.
    status = invoke(app, "app_status", {})
    assert status["ok"], status
    account_id = status["value"]["accounts"][0]["id"]
    listed = invoke(app, "list_keys", {"req": {"account_id": account_id}})
    assert listed["ok"] and listed["value"] == [], listed

    # A malformed id, an extra argument, an undeclared command and a plugin the app does not
    # use are refused before they reach the command; Rust answers with the reason.
    cases = [
        ("list_keys", {"req": {"account_id": "../../etc/passwd"}}, "req.account_id is not a well-formed id"),
        ("list_keys", {"req": {"account_id": account_id}, "other": 1}, "unexpected arguments for list_keys"),
        ("drop_database", {}, 'the window has no command called "drop_database"'),
        ("plugin:shell|execute", {"program": "sh", "args": []}, 'no command called "plugin:shell|execute"'),
        ("create_key", {"req": {"account_id": account_id, "name": "a\u0000b", "scopes": ["read"]}}, "req.name holds a NUL character"),
    ]
    for cmd, args, problem in cases:
        r = invoke(app, cmd, args)
        assert not r["ok"], (cmd, r)
        assert r["error"]["code"] == "forbidden", (cmd, r)
        assert r["error"]["message"].startswith(f"Keyhaven refused the call to {cmd}"), (cmd, r)
        assert problem in r["error"]["message"], (cmd, r)

    # Each was logged as a warning, naming the command.
    app.wait.until(lambda _: len(refusal_warnings(app)) == len(cases))
    assert [f"command={cmd}" in line for line, (cmd, _, _) in zip(refusal_warnings(app), cases)] == [True] * len(cases)

    # Nothing was created by the refused create_key.
    after = invoke(app, "list_keys", {"req": {"account_id": account_id}})
    assert after["ok"] and after["value"] == [], after
    app.screenshot("isolation-checked")
