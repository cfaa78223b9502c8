"""A TokenKit account added in the terminal, in the real window: its keys are listed, and what
TokenKit cannot do is not offered (the detail says where it is done). TokenKit is its contract
fake (`tests/fakes/tokenkit.py`, from TokenKit's document)."""

import json
import os
import subprocess
import sys
import urllib.request

from selenium.webdriver.common.by import By

from conftest import BIN, NAMESPACE, OUT, ROOT, App, record_secret
from test_keys_ui import clear


class TokenKitFake:
    def __init__(self):
        self.proc = subprocess.Popen(
            [sys.executable, str(ROOT / "tests" / "fakes" / "serve.py"), "tokenkit"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )
        self.url = self.proc.stdout.readline().strip()
        assert self.url.startswith("http://127.0.0.1:"), self.url

    def control(self, call: str, **args) -> dict:
        req = urllib.request.Request(
            f"{self.url}/_fake/{call}", data=json.dumps(args).encode(), method="POST",
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.load(r)

    def stop(self):
        self.proc.stdin.close()
        self.proc.wait(timeout=10)


def keyhaven(data_dir, *args: str, stdin: str = "") -> subprocess.CompletedProcess:
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(data_dir),
        "KEYHAVEN_DATA_DIR": str(data_dir),
        "KEYHAVEN_KEYCHAIN_NAMESPACE": NAMESPACE,
    }
    for name in ("DBUS_SESSION_BUS_ADDRESS", "XDG_RUNTIME_DIR", "XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME"):
        if name in os.environ:
            env[name] = os.environ[name]
    return subprocess.run([str(BIN / "keyhaven"), *args], input=stdin, env=env, capture_output=True, text=True, timeout=60)


def test_a_tokenkit_account_from_the_terminal_in_the_window(workdir, request):
    fake = TokenKitFake()
    app = None
    try:
        fake.control("add-user", username="ann", password="tk password")
        dashboard = record_secret(fake.control("mint", username="ann", name="dashboard")["key"])
        data = workdir / "app-data"
        added = keyhaven(data, "account", "add", "--kind", "tokenkit", "--url", fake.url, "--email", "ann",
                         stdin=f"tk password\n{dashboard}\n")
        assert added.returncode == 0, added.stderr
        made = keyhaven(data, "keys", "create", "--name", "cron job", "--ip", "127.0.0.1")
        assert made.returncode == 0, made.stderr

        app = App(data, OUT / "logs" / f"app-{request.node.name}.log")
        row = app.wait.until(lambda d: d.find_element(By.XPATH, "//tr[td[normalize-space(.)='cron job']]"))
        assert row.is_displayed()
        app.wait_text("dashboard")
        app.wait_text("TokenKit ·")
        # TokenKit has no usage and no audit log to show, and does not say a key's hourly limit.
        tabs = app.wait.until(lambda d: [t.text for t in d.find_elements(By.CSS_SELECTOR, "[role=tab]")] == ["Keys"] or None)
        assert tabs
        cells = [c.text for c in row.find_elements(By.TAG_NAME, "td")]
        assert "no limit" not in cells and "—" in cells, cells
        app.screenshot("tokenkit-keys")

        app.button("cron job").click()
        app.wait.until(lambda d: d.find_element(By.XPATH, "//h1[@id='key-detail-title'][normalize-space(.)='cron job']"))
        assert "TokenKit does not report" in app.text_of("[data-testid=no-usage]")
        assert "TokenKit does not say a key's origins" in app.text_of("[data-testid=settings-elsewhere]")
        rotate = app.driver.find_element(By.XPATH, "//button[normalize-space(.)='Rotate']")
        assert rotate.get_attribute("disabled") is not None
        assert "TokenKit does not say" in app.text_of("#rotate-reason")
        app.screenshot("tokenkit-key-detail")
    finally:
        if app is not None:
            app.quit()
        fake.stop()


def test_a_tokenkit_account_added_in_the_window(app, request):
    fake = TokenKitFake()
    try:
        fake.control("add-user", username="ann", password="tk password")
        dashboard = record_secret(fake.control("mint", username="ann", name="dashboard")["key"])
        app.wait_text("No keys yet")
        app.button("Add account").click()
        app.radio("Another service").click()
        app.choose("Kind of service", "TokenKit")
        url = app.field("Service URL")
        assert url.get_attribute("value") == "https://api.tokenkithq.io", "TokenKit's documented host is offered"
        clear(url)
        app.type("Service URL", fake.url)
        app.type("User name or email", "ann")
        app.type("Password", "tk password")
        app.type("API key of this account", dashboard)
        app.screenshot("tokenkit-sign-in")
        app.button("Sign in", within="dialog").click()
        app.wait.until(lambda d: "TokenKit ·" in app.text_of("nav.accounts") and not d.find_elements(By.CSS_SELECTOR, "[role=dialog]"))
        app.wait.until(lambda d: d.find_element(By.XPATH, "//tr[td[normalize-space(.)='dashboard']]"))
        assert dashboard not in app.driver.page_source
    finally:
        fake.stop()
