"""When WebKit's web process ends under the window's page (a crash, or WebKit's memory limit),
the app loads the page again instead of leaving a blank window. WebKitWebDriver loses its session
with the page process, so the window is checked as a person sees it: on the X screen, and by the
page asking the core for its data again."""

import os
import signal
import subprocess
import time
from pathlib import Path

from conftest import web_processes, x_screen

CRASHED = "the window's page process ended: loading the page again"


def differing_pixels(a: Path, b: Path) -> int:
    """Pixels that differ by more than a little between two screenshots (ImageMagick's AE)."""
    r = subprocess.run(["compare", "-metric", "AE", "-fuzz", "5%", str(a), str(b), "null:"],
                       capture_output=True, text=True)
    assert r.returncode in (0, 1), r.stderr
    return int(float(r.stderr.split()[0]))


def log_after(app, marker: str) -> str:
    text = app.log_text()
    at = text.find(marker)
    return text[at:] if at >= 0 else ""


def test_a_crashed_page_is_loaded_again(app):
    app.wait_text("No keys yet")
    app.driver.execute_async_script("requestAnimationFrame(() => requestAnimationFrame(arguments[0]))")
    time.sleep(0.5)
    before = x_screen("50-before-page-crash")
    (app_pid,) = app.pids
    (web,) = web_processes(app_pid)

    os.kill(web, signal.SIGKILL)

    # The app says why, loads the page again, and the new page asks for the account's keys.
    deadline = time.monotonic() + 30
    while 'route="/v1/keys"' not in log_after(app, CRASHED) and time.monotonic() < deadline:
        time.sleep(0.2)
    after_crash = log_after(app, CRASHED)
    assert "reason=\"it crashed\"" in after_crash, after_crash[:500]
    assert 'route="/v1/keys"' in after_crash, "the reloaded page did not ask for the keys"
    new_web = web_processes(app_pid)
    assert len(new_web) == 1 and new_web[0] != web, new_web

    # And it shows the same screen as before the crash, not a blank window.
    deadline = time.monotonic() + 20
    while True:
        time.sleep(1)
        after = x_screen("51-after-page-crash")
        changed = differing_pixels(before, after)
        if changed < 2_000 or time.monotonic() > deadline:
            break
    assert changed < 2_000, f"{changed} pixels differ from the window before the crash"
