"""The foundation slice, end to end, in the real window: the first run lands on a working local
account; a person signs in to a key service, creates a key, sees it listed, and the secret the
keychain holds is the one the service accepts; revoking it makes the service refuse it."""

import json
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

from selenium.webdriver.common.by import By

from conftest import OUT, keychain_lookup


def ping(base_url: str, key: str) -> tuple[int, dict]:
    req = urllib.request.Request(f"{base_url}/v1/ping", headers={"X-API-Key": key})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def clipboard() -> str:
    r = subprocess.run(["xclip", "-o", "-selection", "clipboard"], capture_output=True, text=True, timeout=10)
    return r.stdout


def files_containing(root: Path, needle: bytes) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and needle in p.read_bytes()]


def test_sign_in_create_list_ping_revoke(service, app, workdir):
    email = "dev@acme.test"
    password = service.add_user(email)
    service.start()

    # First run: the window opens on a working account on the local key service.
    app.wait_text("No keys yet")
    assert "This computer" in app.text_of("nav.accounts")
    app.screenshot("01-first-run-local-account")

    # Sign in to the service on loopback.
    app.button("Add account").click()
    app.radio("Another service").click()
    app.type("Service URL", service.url)
    app.type("Email", email)
    app.type("Password", password)
    app.screenshot("02-add-account")
    app.button("Sign in", within="dialog").click()
    app.wait.until(lambda d: email in app.text_of("nav.accounts") and not d.find_elements(By.CSS_SELECTOR, "[role=dialog]"))
    app.wait_text("No keys yet")

    # Create a key with two scopes.
    app.button("New key").click()
    app.type("Name", "deploy bot")
    app.driver.find_element(By.XPATH, "//label[normalize-space(.)='write']/input").click()
    app.screenshot("03-new-key")
    app.button("Create", within="dialog").click()
    secret = app.text_of("[data-testid=new-key-secret]")
    assert secret.startswith("kh_live_") and len(secret) >= 40
    assert "Stored in keychain" in app.text_of("[data-testid=keychain-state]")
    app.button("Copy", within="dialog").click()
    app.wait_text("The clipboard clears in")
    assert clipboard() == secret, "the clipboard does not hold the new key's secret"
    app.screenshot("04-secret-shown-once")
    app.button("Done", within="dialog").click()

    # It is listed, with its prefix, scopes and status, and the dialog no longer holds the secret.
    row = app.wait.until(lambda d: d.find_element(By.XPATH, "//tr[td[normalize-space(.)='deploy bot']]"))
    assert row.get_attribute("data-status") == "active"
    assert secret[:12] in row.text and "read" in row.text and "write" in row.text
    assert secret not in app.driver.page_source
    key_id = row.get_attribute("data-key-id")
    app.screenshot("05-key-listed")

    # The keychain holds exactly the secret the service accepts.
    catalog = app.catalog()
    account = next(a for a in catalog["accounts"] if a["email"] == email)
    stored = keychain_lookup(catalog["profile"], f"key:{account['id']}:{key_id}")
    assert stored == secret, "the keychain entry is not the secret shown"
    status, body = ping(service.url, stored)
    assert status == 200 and body["key_id"] == key_id and sorted(body["scopes"]) == ["read", "write"]

    # Revoke it behind a typed confirmation; the service refuses it from then on.
    app.button("Revoke deploy bot").click()
    app.field("Type the key's name to confirm")
    # The Revoke button stays disabled until the name is typed.
    assert not app.driver.find_element(By.XPATH, "//div[@role='dialog']//button[normalize-space(.)='Revoke']").is_enabled()
    app.type("Type the key's name to confirm", "deploy bot")
    app.screenshot("06-revoke-confirm")
    app.button("Revoke", within="dialog").click()
    app.wait.until(lambda d: d.find_element(By.XPATH, "//tr[td[normalize-space(.)='deploy bot']]").get_attribute("data-status") == "revoked")
    status, body = ping(service.url, secret)
    assert status == 401 and body["error"]["code"] == "unauthorized"
    assert keychain_lookup(catalog["profile"], f"key:{account['id']}:{key_id}") is None
    app.screenshot("07-key-revoked")

    # No secret in the app's data folder, the service's folder, or any log.
    needle = secret.encode()
    assert files_containing(app.data_dir, needle) == []
    assert files_containing(workdir, needle) == []
    assert files_containing(OUT / "logs", needle) == []
