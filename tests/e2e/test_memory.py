"""SECURITY 24 for the app: a core dump of the app's process, taken after it copied a secret to the
clipboard and the clipboard cleared itself, holds no copy of the secret.

The key is imported from the terminal, so the window's page never receives its secret: the secret
goes from the keychain (D-Bus) through the app to the clipboard (X11) and nowhere else. The app
frees those buffers through its wiping allocator, and the clipboard's copy is overwritten when it
clears. The data folder's path, which the app holds for as long as it runs, is the dump's control:
found, it proves the dump is of the app's memory."""

import json
import secrets
import subprocess
import time
from pathlib import Path

from conftest import App, OUT, app_pids, record_secret
from test_kinds import keyhaven


def occurrences(path: Path, needle: bytes) -> int:
    count, carry = 0, b""
    with open(path, "rb") as f:
        while chunk := f.read(8 << 20):
            data = carry + chunk
            count += data.count(needle)
            # Shorter than the needle: no match in it is counted twice.
            carry = data[-(len(needle) - 1):]
    return count


def clipboard() -> str:
    r = subprocess.run(["xclip", "-o", "-selection", "clipboard"], capture_output=True, text=True, timeout=10)
    return r.stdout


def test_a_core_dump_of_the_app_after_it_copied_a_secret_holds_no_copy(request, workdir):
    data = workdir / "app-data"
    added = keyhaven(data, "account", "add", "--kind", "generic", "--name", "residue", "--url", "https://api.example.com")
    assert added.returncode == 0, added.stderr
    secret = record_secret(f"residue-probe-{secrets.token_hex(16)}")
    imported = keyhaven(data, "keys", "import", "--name", "probe key", "--header", "X-Token", "--unverified",
                        stdin=f"{secret}\n")
    assert imported.returncode == 0, imported.stderr
    [profile] = [p for p in (data / "profiles").iterdir() if p.is_dir()]
    (profile / "settings.json").write_text(json.dumps({"clipboard_clear_seconds": 5}))

    app = App(data, OUT / "logs" / f"app-{request.node.name}.log")
    try:
        app.wait_text("probe key")
        app.button("Copy probe key").click()
        app.wait_text("The clipboard clears in 5 s")
        deadline = time.monotonic() + 10
        while clipboard() != secret:
            assert time.monotonic() < deadline, "the secret never reached the clipboard"
            time.sleep(0.1)
        deadline = time.monotonic() + 20
        while clipboard() == secret:
            assert time.monotonic() < deadline, "the clipboard did not clear itself"
            time.sleep(0.2)
        time.sleep(1)

        [pid] = app_pids(data)
        prefix = workdir / "app-core"
        dumped = subprocess.run(["gcore", "-o", str(prefix), str(pid)], capture_output=True, text=True, timeout=180)
        dump = Path(f"{prefix}.{pid}")
        assert dumped.returncode == 0 and dump.exists(), f"gcore could not dump the app: {dumped.stderr[-2000:]}"
        try:
            size = dump.stat().st_size
            control = occurrences(dump, str(data).encode())
            copies = occurrences(dump, secret.encode())
            # glibc writes its bookkeeping over the start of a freed block: the rest would remain.
            tails = occurrences(dump, secret[-24:].encode())
        finally:
            dump.unlink()
        print(f"core dump of the app: {size} bytes; the control {control} times, the secret {copies} times, "
              f"its last 24 characters {tails} times")
        assert control > 0, "the dump does not hold the data folder's path: not a dump of the app"
        assert copies == 0, f"the app's memory still holds {copies} copies of the secret"
        assert tails == 0, f"the app's memory still holds {tails} partial copies of the secret"
        assert secret not in app.log_text()
    finally:
        app.quit()
