"""The key service inside the app: quitting the app (here with SIGTERM, as a desktop session
ending does) stops it as a server stops, so that the calls it answered just before are in its
usage, not lost with the process."""

import os
import signal
import sqlite3
import time
from pathlib import Path

from test_key_detail import create_key
from test_keys_ui import http


def test_quitting_the_app_keeps_the_local_services_last_usage(app):
    app.wait_text("No keys yet")
    key_id, secret = create_key(app, "local bot")
    url = app.local_service_url()
    for _ in range(3):
        status, _, _ = http("GET", f"{url}/v1/ping", headers={"X-API-Key": secret})
        assert status == 200

    # SIGTERM: the app quits as when its window is closed.
    main = [pid for pid in app.pids if Path(f"/proc/{pid}/exe").resolve().name == "keyhaven-app"]
    assert len(main) == 1, app.pids
    os.kill(main[0], signal.SIGTERM)
    deadline = time.monotonic() + 20
    while Path(f"/proc/{main[0]}").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    log = app.log_text()
    assert "quitting on a signal" in log and "local key service stopped" in log, log[-2000:]

    db = app.data_dir / "local-service" / "keyhaven.db"
    with sqlite3.connect(db) as conn:
        (allowed,) = conn.execute(
            "SELECT COALESCE(SUM(count), 0) FROM usage_hourly WHERE key_id = ? AND outcome = 'allowed'",
            (key_id,),
        ).fetchone()
    assert allowed == 3
