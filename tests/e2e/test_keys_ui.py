"""The keys screen in the real window: a key created with every field (expiry, allowed origins,
allowed IPs, hourly limit) is the key the service enforces; the table filters with "/", sorts by
its headers; Ctrl+N opens New key and Esc closes dialogs; the theme follows the desktop; and the
content security policy holds in the running page."""

import json
import urllib.error
import urllib.request
from datetime import datetime, timedelta, timezone

from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from conftest import OUT


def http(method: str, url: str, headers: dict | None = None, body: dict | None = None) -> tuple[int, dict, dict]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, {k.lower(): v for k, v in r.headers.items()}, json.loads(r.read() or b"{}")
    except urllib.error.HTTPError as e:
        return e.code, {k.lower(): v for k, v in e.headers.items()}, json.loads(e.read() or b"{}")


def sign_in(app, service, email: str, password: str):
    app.button("Add account").click()
    app.radio("Another service").click()
    app.type("Service URL", service.url)
    app.type("Email", email)
    app.type("Password", password)
    app.button("Sign in", within="dialog").click()
    app.wait.until(lambda d: email in app.text_of("nav.accounts") and not d.find_elements(By.CSS_SELECTOR, "[role=dialog]"))


def clear(field):
    """Empties a field the way a person does (select all, delete), so the page hears it."""
    field.click()
    field.send_keys(Keys.CONTROL, "a")
    field.send_keys(Keys.BACKSPACE)
    return field


def set_scope(app, scope: str, on: bool):
    box = app.driver.find_element(By.XPATH, f"//div[@role='dialog']//label[normalize-space(.)='{scope}']/input")
    if box.is_selected() != on:
        box.click()


def row(app, name: str):
    return app.wait.until(lambda d: d.find_element(By.XPATH, f"//tr[td[normalize-space(.)='{name}']]"))


def cells(row_element) -> list[str]:
    return [" ".join((td.get_attribute("textContent") or "").split()) for td in row_element.find_elements(By.TAG_NAME, "td")]


def table_names(app) -> list[str]:
    return [
        " ".join((td.get_attribute("textContent") or "").split())
        for td in app.driver.find_elements(By.CSS_SELECTOR, "table.key-table tbody tr[data-key-id] td.name")
    ]


def create_key(app, name: str, scopes: list[str]) -> str:
    """Ctrl+N, name, scopes, Create; returns the secret shown once and closes that dialog with Esc."""
    app.press(Keys.CONTROL, "n")
    app.dialog("New key")
    app.type("Name", name)
    for s in ("read", "write", "search"):
        set_scope(app, s, s in scopes)
    app.button("Create", within="dialog").click()
    secret = app.text_of("[data-testid=new-key-secret]")
    app.press(Keys.ESCAPE)
    app.no_dialog()
    row(app, name)
    return secret


def test_new_key_with_every_field(service, app, workdir):
    email = "web@acme.test"
    password = service.add_user(email)
    service.start()
    app.wait_text("No keys yet")
    sign_in(app, service, email, password)
    app.wait_text("No keys yet")

    # Ctrl+N opens the dialog; each field is checked as it is typed, naming the problem.
    app.press(Keys.CONTROL, "n")
    dialog = app.dialog("New key")
    app.type("Name", "web app")
    set_scope(app, "write", True)
    app.type("Allowed origins", "app.example.com")
    app.wait_text("“app.example.com” has no scheme")
    app.type("Allowed IPs", "10.0.0.0/33")
    app.wait_text("“10.0.0.0/33” has a bad prefix length")
    app.type("Hourly limit", "0")
    app.wait_text("The hourly limit must be at least 1")
    assert app.field("Allowed origins").get_attribute("aria-invalid") == "true"
    app.screenshot("10-new-key-validation")
    # Create refuses while anything is wrong, and says nothing new.
    app.button("Create", within="dialog").click()
    assert dialog.find_elements(By.XPATH, ".//h2[normalize-space(.)='New key']")

    # Corrected, with every field set.
    clear(app.field("Allowed origins")).send_keys("https://app.example.com, http://localhost:3000")
    clear(app.field("Allowed IPs")).send_keys("127.0.0.1, 10.0.0.0/8")
    clear(app.field("Hourly limit")).send_keys("120")
    app.choose("Expires", "In 30 days")
    app.wait.until(lambda d: not d.find_elements(By.CSS_SELECTOR, "[role=dialog] .field-error"))
    app.screenshot("11-new-key-every-field")
    app.button("Create", within="dialog").click()
    secret = app.text_of("[data-testid=new-key-secret]")
    assert secret.startswith("kh_live_")
    assert "Stored in keychain" in app.text_of("[data-testid=keychain-state]")
    app.screenshot("12-new-key-secret-once")
    app.button("Done", within="dialog").click()
    app.no_dialog()

    # The table shows what was set.
    r = row(app, "web app")
    name, prefix, scopes, status, last_used, expires, limit, actions = cells(r)
    assert prefix == secret[:12] + "…"
    assert scopes == "readwrite" and status == "active" and last_used == "never"
    assert expires == "in 30 days" and limit == "120 / h"
    assert "Copy" in actions and "Revoke" in actions
    assert secret not in app.driver.page_source
    key_id = r.get_attribute("data-key-id")
    app.screenshot("13-key-with-every-field-listed")

    # The service holds exactly those settings…
    status_code, _, login = http("POST", f"{service.url}/v1/auth/login", body={"email": email, "password": password})
    assert status_code == 200
    status_code, _, meta = http("GET", f"{service.url}/v1/keys/{key_id}", headers={"Authorization": f"Bearer {login['token']}"})
    assert status_code == 200
    assert meta["allowed_origins"] == ["https://app.example.com", "http://localhost:3000"]
    assert meta["allowed_ips"] == ["127.0.0.1", "10.0.0.0/8"]
    assert meta["rate_limit_per_hour"] == 120
    expires_at = datetime.fromisoformat(meta["expires_at"].replace("Z", "+00:00"))
    assert abs(expires_at - (datetime.now(timezone.utc) + timedelta(days=30))) < timedelta(minutes=10)

    # …and enforces them: the IP always, the origin when one is sent, and the hourly limit.
    status_code, headers, _ = http("GET", f"{service.url}/v1/ping", headers={"X-API-Key": secret})
    assert status_code == 200 and headers.get("x-ratelimit-limit") == "120"
    status_code, _, _ = http("GET", f"{service.url}/v1/ping", headers={"X-API-Key": secret, "Origin": "https://app.example.com"})
    assert status_code == 200
    status_code, _, body = http("GET", f"{service.url}/v1/ping", headers={"X-API-Key": secret, "Origin": "https://evil.example"})
    assert status_code == 403 and body["error"]["code"] == "origin_not_allowed"

    assert not [p for p in (OUT / "logs").rglob("*") if p.is_file() and secret.encode() in p.read_bytes()]
    assert not [p for p in workdir.rglob("*") if p.is_file() and secret.encode() in p.read_bytes()]


def test_keyboard_filter_sort_and_escape(app):
    app.wait_text("No keys yet")
    create_key(app, "gamma search", ["search"])
    create_key(app, "alpha web", ["read", "write"])
    create_key(app, "beta ci", ["read"])
    # Esc closed the secret dialog; nothing of the secrets is left in the page.
    assert "kh_live_" not in "".join(
        e.get_attribute("textContent") or "" for e in app.driver.find_elements(By.CSS_SELECTOR, "code.secret")
    )

    # Esc closes New key without creating anything.
    app.press(Keys.CONTROL, "n")
    app.dialog("New key")
    app.type("Name", "never made")
    app.press(Keys.ESCAPE)
    app.no_dialog()
    assert sorted(table_names(app)) == ["alpha web", "beta ci", "gamma search"]
    assert app.text_of(".count") == "3 keys"
    # Each key's prefix as the table shows it (the filter below matches prefixes too).
    prefixes = {
        cells(row)[0]: cells(row)[1].rstrip("…").lower()
        for row in app.driver.find_elements(By.CSS_SELECTOR, "table.key-table tbody tr[data-key-id]")
    }
    assert sorted(prefixes) == ["alpha web", "beta ci", "gamma search"], prefixes

    # "/" jumps to the filter, wherever the focus was.
    app.driver.find_element(By.CSS_SELECTOR, "h1").click()
    app.press("/")
    filter_box = app.field("Filter keys")
    app.wait.until(lambda d: d.switch_to.active_element == filter_box)
    filter_box.send_keys("scope:write")
    app.wait.until(lambda _: table_names(app) == ["alpha web"])
    assert app.text_of(".count") == "1 of 3"
    app.screenshot("20-filtered-by-scope")
    # A bare term matches the name, the prefix, a scope or the status: a key's random prefix may
    # hold "ci" as well (one run drew kh_live_aBci for "alpha web"), and then that key is shown too.
    clear(filter_box).send_keys("ci")
    expected = sorted(name for name, prefix in prefixes.items() if "ci" in name or "ci" in prefix)
    assert "beta ci" in expected
    app.wait.until(lambda _: sorted(table_names(app)) == expected)
    clear(filter_box)
    app.wait.until(lambda _: len(table_names(app)) == 3)

    # The headers sort: ascending, then descending.
    header = app.driver.find_element(By.XPATH, "//th[.//button[starts-with(normalize-space(.), 'Name')]]")
    header.find_element(By.TAG_NAME, "button").click()
    app.wait.until(lambda _: header.get_attribute("aria-sort") == "ascending")
    assert table_names(app) == ["alpha web", "beta ci", "gamma search"]
    header.find_element(By.TAG_NAME, "button").click()
    app.wait.until(lambda _: header.get_attribute("aria-sort") == "descending")
    assert table_names(app) == ["gamma search", "beta ci", "alpha web"]
    app.screenshot("21-sorted-by-name-descending")

    # The status menu narrows too.
    app.choose("Show status", "Revoked")
    app.wait_text("No key matches “revoked”.")
    app.choose("Show status", "All statuses")
    app.wait.until(lambda _: len(table_names(app)) == 3)

    # The table is a real table with named controls.
    table = app.driver.find_element(By.CSS_SELECTOR, "table[aria-label='Keys']")
    assert table.get_attribute("aria-rowcount") == "4"
    for button in app.driver.find_elements(By.CSS_SELECTOR, "button"):
        label = button.get_attribute("aria-label") or (button.get_attribute("textContent") or "").strip()
        assert label, button.get_attribute("outerHTML")


def page_is_dark(app) -> bool:
    return app.driver.execute_script("return matchMedia('(prefers-color-scheme: dark)').matches")


def background_luminance(app, css: str) -> float:
    rgb = app.driver.execute_script(
        "const c = getComputedStyle(document.querySelector(arguments[0])).backgroundColor;"
        "return c.match(/\\d+(\\.\\d+)?/g).slice(0, 3).map(Number);",
        css,
    )
    r, g, b = (v / 255 for v in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def test_light_theme_and_strict_csp(app):
    app.wait_text("No keys yet")
    assert not page_is_dark(app)
    assert background_luminance(app, "html") > 0.8
    # The CSP Tauri serves forbids eval and inline script in the running page.
    verdict = app.driver.execute_script(
        "try { eval('1 + 1'); return 'eval ran'; } catch (e) { return e.name; }"
    )
    assert verdict == "EvalError", verdict
    ran = app.driver.execute_script(
        "window.__inline = false;"
        "const s = document.createElement('script'); s.textContent = 'window.__inline = true'; document.head.appendChild(s);"
        "return window.__inline;"
    )
    assert ran is False
    app.screenshot("30-light-empty")


def test_dark_theme_follows_the_desktop(dark_app):
    app = dark_app
    app.wait_text("No keys yet")
    assert page_is_dark(app)
    assert background_luminance(app, "html") < 0.1
    assert background_luminance(app, ".topbar") < 0.2
    create_key(app, "dark mode key", ["read", "write"])
    app.screenshot("31-dark-keys")
    app.press(Keys.CONTROL, "n")
    app.dialog("New key")
    assert background_luminance(app, "[role=dialog]") < 0.2
    app.type("Allowed origins", "nope")
    app.wait_text("has no scheme")
    app.screenshot("32-dark-new-key")
    app.press(Keys.ESCAPE)
    app.no_dialog()
