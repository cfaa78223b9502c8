"""Stopping the app with a signal, as a desktop session ending (SIGTERM) or Ctrl-C in a terminal
(SIGINT) does: a secret the app copied does not stay on the clipboard, and the app exits cleanly.

The app's parent is WebKitWebDriver, which reaps it; to see its exit status the test has
WebKitWebDriver start a small wrapper that runs the app and writes its status down. Under Xvfb no
clipboard manager keeps what an exiting owner held, so an empty clipboard alone would not tell a
cleared secret from a killed process: the app's log must also say that it cleared it."""

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from conftest import BIN, OUT, App
from test_key_detail import create_key


def clipboard() -> str:
    r = subprocess.run(["xclip", "-o", "-selection", "clipboard"], capture_output=True, text=True, timeout=10)
    return r.stdout


def wrapper(workdir: Path, status: Path) -> Path:
    """A script that runs the app with the arguments it is given and writes its exit status."""
    script = workdir / "keyhaven-app-wrapper"
    script.write_text(f'#!/bin/sh\n"{BIN / "keyhaven-app"}" "$@"\necho $? > "{status}"\n')
    script.chmod(0o755)
    return script


@pytest.fixture
def wrapped(request, workdir):
    """The real window, whose app process's exit status lands in the file it yields."""
    status = workdir / "app-exit-status"
    app = App(
        workdir / "app-data", OUT / "logs" / f"app-{request.node.name}.log", application=wrapper(workdir, status),
    )
    try:
        yield app, status
        failed = getattr(request.node, "rep_call", None)
        if failed is not None and failed.failed:
            app.failure_report(request.node.name)
    finally:
        app.quit()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_clears_the_copied_secret_and_the_app_exits_with_0(wrapped, sig):
    app, status = wrapped
    app.wait_text("No keys yet")
    _, secret = create_key(app, "clipboard bot")

    # Copy it from the keychain, as the keys table's Copy does; the clipboard holds it.
    app.button("Copy clipboard bot").click()
    app.wait_text("The clipboard clears in 30 s")
    assert clipboard() == secret, "the clipboard does not hold the copied secret"

    assert len(app.pids) == 1, app.pids
    os.kill(next(iter(app.pids)), sig)
    deadline = time.monotonic() + 30
    while not status.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert status.exists(), "the app did not exit within 30 s of the signal"
    time.sleep(0.1)  # the wrapper's one line, written as the file was made
    assert status.read_text().strip() == "0", f"exit status {status.read_text().strip()} after {sig.name}"

    assert secret not in clipboard(), f"the secret is still on the clipboard after {sig.name}"
    log = app.log_text()
    assert "quitting on a signal" in log and sig.name in log, log[-2000:]
    assert "cleared a copied secret from the clipboard" in log, log[-2000:]
    assert secret not in log
