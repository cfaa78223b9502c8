"""Profiles and the passphrase lock in the real window: an account added in one profile is not
seen from another (neither in the window nor in the keychain), a new profile opens on an account
of its own on the local service, and a locked profile opens only with its passphrase; a wrong one
is refused and changes nothing."""

import json
import subprocess

from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from conftest import NAMESPACE, keychain_lookup, random_password
from test_key_detail import create_key


def sign_in(app, service, email, password):
    app.button("Add account").click()
    app.radio("Another service").click()
    app.type("Service URL", service.url)
    app.type("Email", email)
    app.type("Password", password)
    app.button("Sign in", within="dialog").click()
    app.wait.until(lambda d: email in app.text_of("nav.accounts") and not d.find_elements(By.CSS_SELECTOR, "[role=dialog]"))


def keychain_entries(profile: str) -> str:
    """Everything the Secret Service holds for a profile, as `secret-tool search` prints it."""
    r = subprocess.run(
        ["secret-tool", "search", "--all", "--unlock", "service", f"{NAMESPACE}/{profile}"],
        capture_output=True, text=True, timeout=30,
    )
    return r.stdout + r.stderr


def active_profile(app) -> str:
    return Select(app.field("Profile")).first_selected_option.get_attribute("value")


def test_an_account_in_one_profile_is_invisible_from_another(service, app):
    email = "ann@acme.test"
    password = service.add_user(email)
    service.start()
    app.wait_text("No keys yet")
    first = active_profile(app)
    sign_in(app, service, email, password)
    catalog = json.loads((app.data_dir / "profiles" / first / "catalog.json").read_text())
    account_id = next(a["id"] for a in catalog["accounts"] if a["email"] == email)
    assert account_id in keychain_entries(first)

    # A second profile, made and switched to from the header.
    app.button("Profiles…").click()
    app.dialog("Profiles")
    app.type("New profile", "bob")
    app.button("Create", within="dialog").click()
    app.wait.until(lambda d: d.find_elements(By.XPATH, "//ul[@aria-label='Profiles']//strong[normalize-space(.)='bob']"))
    app.screenshot("profiles-01-manage")
    app.button("Close", within="dialog").click()
    app.no_dialog()
    app.choose("Profile", "bob")
    app.wait.until(lambda d: active_profile(app) == "bob")
    app.wait.until(lambda d: email not in (d.find_element(By.TAG_NAME, "body").get_attribute("textContent") or ""))
    app.screenshot("profiles-02-other-profile")
    assert email not in app.driver.find_element(By.TAG_NAME, "body").get_attribute("textContent")
    assert account_id not in keychain_entries("bob")
    assert not (app.data_dir / "profiles" / "bob" / "catalog.json").read_text().count(email)

    # Back to the first profile: the account is there again.
    app.choose("Profile", first)
    app.wait.until(lambda d: email in app.text_of("nav.accounts"))


def test_lock_refuses_a_wrong_passphrase_and_unlocks_with_the_right_one(service, app):
    email = "lee@acme.test"
    password = service.add_user(email)
    service.start()
    app.wait_text("No keys yet")
    sign_in(app, service, email, password)
    passphrase = random_password()

    app.button("Profiles…").click()
    app.dialog("Profiles")
    app.type("New passphrase", passphrase)
    app.type("New passphrase again", passphrase)
    app.button("Set passphrase", within="dialog").click()
    app.wait_text("Passphrase saved.")
    app.button("Close", within="dialog").click()
    app.no_dialog()

    app.button("Lock").click()
    app.wait_text("is locked")
    field = app.field("Passphrase")
    app.screenshot("profiles-03-locked")
    assert email not in app.driver.find_element(By.TAG_NAME, "body").get_attribute("textContent")

    app.type("Passphrase", "not the passphrase")
    app.button("Unlock").click()
    app.wait_text("Wrong passphrase")
    app.screenshot("profiles-04-wrong-passphrase")
    assert field.get_attribute("value") == ""

    app.type("Passphrase", passphrase)
    app.button("Unlock").click()
    app.wait.until(lambda d: email in app.text_of("nav.accounts"))
    app.screenshot("profiles-05-unlocked")
    # The passphrase is nowhere in the profile's files.
    for path in app.data_dir.rglob("*"):
        if path.is_file():
            assert passphrase.encode() not in path.read_bytes(), path.name


def settings_with_an_out_of_range_value(app):
    """Opens Settings and enters 3 s for clearing the clipboard (allowed: 5 to 600), which the
    dialog refuses by name. Returns the field."""
    app.button("Settings…").click()
    app.dialog("Settings")
    clipboard = app.field("Clear copied secrets after (seconds)")
    app.wait.until(lambda _: clipboard.get_attribute("value") == "30")
    clipboard.clear()
    app.type("Clear copied secrets after (seconds)", "3")
    app.wait_text("from 5 to 600")
    return clipboard


def test_settings_are_checked_and_kept_per_profile(app):
    app.wait_text("No keys yet")
    profile = active_profile(app)
    clipboard = settings_with_an_out_of_range_value(app)
    app.screenshot("settings-01-invalid")
    assert not app.driver.find_element(By.XPATH, "//div[@role='dialog']//button[normalize-space(.)='Save']").is_enabled()
    clipboard.clear()
    app.type("Clear copied secrets after (seconds)", "45")
    app.button("Save", within="dialog").click()
    app.no_dialog()
    saved = json.loads((app.data_dir / "profiles" / profile / "settings.json").read_text())
    assert saved["clipboard_clear_seconds"] == 45
    app.button("Settings…").click()
    app.wait.until(lambda _: app.field("Clear copied secrets after (seconds)").get_attribute("value") == "45")


def test_a_new_profile_opens_on_an_account_of_its_own_on_the_local_service(app):
    app.wait_text("No keys yet")
    first = active_profile(app)
    create_key(app, "first profile key")

    app.button("Profiles…").click()
    app.dialog("Profiles")
    app.type("New profile", "carol")
    app.button("Create", within="dialog").click()
    app.wait.until(lambda d: d.find_elements(By.XPATH, "//ul[@aria-label='Profiles']//strong[normalize-space(.)='carol']"))
    app.button("Close", within="dialog").click()
    app.no_dialog()
    app.choose("Profile", "carol")
    app.wait.until(lambda d: active_profile(app) == "carol")

    # Not the sign-in form: the profile's own local account, with its (empty) key list.
    app.wait_text("No keys yet")
    body = app.driver.find_element(By.TAG_NAME, "body").get_attribute("textContent")
    assert "Sign in to a key service" not in body
    assert "first profile key" not in body
    app.screenshot("profiles-06-new-profile-local-account")
    carol = json.loads((app.data_dir / "profiles" / "carol" / "catalog.json").read_text())
    mine = json.loads((app.data_dir / "profiles" / first / "catalog.json").read_text())
    assert [a["service"]["kind"] for a in carol["accounts"]] == ["embedded"]
    # An account, and a tenant, of its own: not the first profile's.
    assert carol["accounts"][0]["id"] != mine["accounts"][0]["id"]
    assert carol["accounts"][0]["tenant_id"] != mine["accounts"][0]["tenant_id"]

    # It works: a key made there is stored in carol's keychain entries.
    key_id, secret = create_key(app, "carol key")
    account = carol["accounts"][0]["id"]
    assert keychain_lookup("carol", f"key:{account}:{key_id}") == secret
    assert key_id not in keychain_entries(first)
