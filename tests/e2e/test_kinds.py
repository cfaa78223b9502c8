"""Accounts of other kinds in the real window, against their contract fakes (`tests/fakes/`, each
from its service's document). A TokenKit account added in the terminal: its keys are listed, and
what TokenKit cannot do is not offered (the detail says where it is done). AniKura and Ananke Labs
accounts added in the window, with keys imported by pasting (their shared `ak_live_` prefix asks
which service), checked, and found refused once deleted, or limited (not broken) once the tenant
is suspended."""

import json
import os
import subprocess
import sys
import urllib.request

from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import Select

from conftest import BIN, NAMESPACE, OUT, ROOT, App, record_secret, xq
from test_keys_ui import clear


class ServiceFake:
    """One contract fake, started by name on loopback; `control` makes its dashboard's calls."""

    def __init__(self, name: str):
        self.proc = subprocess.Popen(
            [sys.executable, str(ROOT / "tests" / "fakes" / "serve.py"), name],
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


class TokenKitFake(ServiceFake):
    def __init__(self):
        super().__init__("tokenkit")


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
        # Rotated by a twin (test_kinds_window.py); this key was made here by the terminal.
        rotate = app.driver.find_element(By.XPATH, "//button[normalize-space(.)='Rotate']")
        assert rotate.get_attribute("disabled") is None
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


def add_account_without_sign_in(app, kind: str, documented_url: str, url: str, name: str, screenshot: str = ""):
    """Adds an account of a kind that does not sign in, through the Add account dialog: the
    documented host is offered (and replaced by the fake's), no password is asked."""
    app.button("Add account").click()
    app.dialog("Add account")
    app.radio("Another service").click()
    app.choose("Kind of service", kind)
    field = app.field("Service URL")
    assert field.get_attribute("value") == documented_url, f"{kind}'s documented host is offered"
    assert not app.driver.find_elements(By.CSS_SELECTOR, "[role=dialog] input[type=password]"), "no password is asked"
    clear(field)
    app.type("Service URL", url)
    app.type("Account name", name)
    if screenshot:
        app.screenshot(screenshot)
    app.button("Add account", within="dialog").click()
    app.no_dialog()
    app.wait.until(lambda d: f"{kind} ·" in app.text_of("nav.accounts"))


def open_account(app, name: str):
    app.wait.until(EC.element_to_be_clickable((By.XPATH, f"//nav//button[.//span[normalize-space(.)={xq(name)}]]"))).click()
    app.wait.until(lambda d: d.find_elements(By.XPATH, f"//nav//button[@aria-current='true'][.//span[normalize-space(.)={xq(name)}]]"))


def verdict_of(app, key: str) -> str:
    row = app.driver.find_element(By.XPATH, f"//tr[td[normalize-space(.)={xq(key)}]]")
    return " ".join((row.find_element(By.CSS_SELECTOR, "[data-verdict]").get_attribute("textContent") or "").split())


def import_key(app, secret: str, service: str, name: str, screenshot: str = ""):
    """Imports a pasted `ak_live_` key: the dialog asks which service it is for."""
    app.button("Import key").click()
    app.dialog("Import key")
    app.type("Key", secret)
    app.wait_text("Which service is this key for?")
    app.radio(service).click()
    assert Select(app.field("Account")).first_selected_option.text.startswith(service)
    app.type("Name", name)
    if screenshot:
        app.screenshot(screenshot)
    app.button("Check and store", within="dialog").click()
    app.no_dialog()
    app.wait_text(f"Imported {name}")


def test_anikura_and_ananke_keys_imported_checked_refused_and_limited(app, request):
    anikura, ananke = ServiceFake("anikura"), ServiceFake("ananke")
    try:
        app.wait_text("No keys yet")
        add_account_without_sign_in(app, "AniKura", "https://api.anikura.io", anikura.url, "personal", "anikura-add-account")
        add_account_without_sign_in(app, "Ananke Labs", "https://api.anankelabs.net", ananke.url, "work")

        # The Ananke account (the last added is active) makes no keys here: it says where they are made.
        assert "the Ananke Console (Settings → API Keys)" in app.text_of("[data-testid=made-elsewhere]")
        assert not app.driver.find_elements(By.XPATH, "//button[normalize-space(.)='New key']")
        assert [t.text for t in app.driver.find_elements(By.CSS_SELECTOR, "[role=tab]")] == ["Keys"]
        app.screenshot("ananke-no-keys")

        # An AniKura key pasted while the Ananke account is shown: the prefix asks, AniKura is chosen.
        scraper = record_secret(anikura.control("mint", account="ann", tier="free")["secret"])
        import_key(app, scraper, "AniKura", "scraper", "import-ask-which")
        assert "AniKura accepted the key" in app.text_of(".keys .note")
        deploy = record_secret(ananke.control("mint", tenant="acme")["secret"])
        import_key(app, deploy, "Ananke Labs", "deploy")
        app.wait.until(lambda d: verdict_of(app, "deploy") == "works")

        open_account(app, "personal")
        app.wait.until(lambda d: verdict_of(app, "scraper") == "works")
        app.screenshot("anikura-keys-works")

        # Deleted in AniKura's dashboard: Check now finds it refused, and says so.
        anikura.control("delete", secret=scraper)
        app.button("Check scraper now").click()
        app.wait.until(lambda d: verdict_of(app, "scraper") == "refused (broken)")
        assert "refused" in app.text_of(".keys .note").lower()
        app.screenshot("anikura-key-refused")

        # Ananke's tenant suspended: the key is limited, not broken.
        ananke.control("set_tenant", tenant="acme", suspended=True)
        open_account(app, "work")
        app.button("deploy").click()
        app.wait.until(lambda d: d.find_element(By.XPATH, "//h1[@id='key-detail-title'][normalize-space(.)='deploy']"))
        assert not app.driver.find_elements(By.XPATH, "//button[normalize-space(.)='Revoke']")
        app.button("Check now").click()
        app.wait.until(lambda d: app.text_of("[data-testid=key-check] [data-verdict]") == "limited")
        check = app.text_of("[data-testid=key-check]")
        assert "403" in check and "broken" not in check, check
        app.screenshot("ananke-key-limited")

        # Removed from Keyhaven after its name is typed; the Console is named for deleting it there.
        app.button("Remove from Keyhaven").click()
        app.dialog("Remove from Keyhaven")
        assert "the Ananke Console" in app.text_of("[role=dialog] [data-testid=delete-there]")
        app.type("Type the key's name to confirm", "deploy")
        app.button("Remove", within="dialog").click()
        app.no_dialog()
        app.wait_text("No keys yet")

        source = app.driver.page_source
        assert scraper not in source and deploy not in source
    finally:
        anikura.stop()
        ananke.stop()
