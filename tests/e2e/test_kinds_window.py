"""The other kinds of service in the real window, against their contract fakes (`tests/fakes/`):
an Animus account signed in with a pasted session token, a key imported by the name Animus lists
it under and rotated by a guided rotation (Keyhaven revokes the old key); a WaniKani token rotated
by a guided rotation that waits until the old token is deleted; a generic account; a TokenKit key
made in the window and rotated by a twin, and one made elsewhere that the twin refuses; and the
broken-key alert for an imported key its service no longer takes. (Keyhaven's own rotation is in
test_key_detail.py; AniKura, Ananke Labs and TokenKit accounts added in the window, in
test_kinds.py.)"""

from selenium.common.exceptions import TimeoutException
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

from conftest import record_secret, xq
from test_keys_ui import clear
from test_kinds import ServiceFake, TokenKitFake, add_account_without_sign_in


def open_key(app, name: str):
    app.button(name).click()
    app.wait.until(lambda d: d.find_element(By.XPATH, f"//h1[@id='key-detail-title'][normalize-space(.)={xq(name)}]"))


def import_plain(app, secret: str, name: str, name_label: str = "Name", unverified: bool = False, screenshot: str = ""):
    """Imports a pasted key into the active account (a prefix that names no other service)."""
    app.button("Import key").click()
    app.dialog("Import key")
    app.type("Key", secret)
    app.type(name_label, name)
    if unverified:
        app.driver.find_element(By.CSS_SELECTOR, "[role=dialog] input[name=unverified]").click()
    if screenshot:
        app.screenshot(screenshot)
    app.button("Store" if unverified else "Check and store", within="dialog").click()
    app.no_dialog()
    app.wait_text(f"Imported {name}")


def test_animus_account_import_and_guided_rotation(app):
    fake = ServiceFake("animus")
    try:
        jwt = record_secret(fake.control("session", account="ann")["jwt"])
        made = fake.control("mint", account="ann", name="blog bot", scopes=["read", "write"])
        old_secret = record_secret(made["secret"])
        app.wait_text("No keys yet")
        app.button("Add account").click()
        app.dialog("Add account")
        app.radio("Another service").click()
        app.choose("Kind of service", "Animus")
        url = app.field("Service URL")
        assert url.get_attribute("value") == "https://api.animus.so", "Animus's documented host is offered"
        clear(url)
        app.type("Service URL", fake.url)
        app.type("Account name", "work")
        token = app.type("Session token", jwt)
        assert token.get_attribute("type") == "password"
        assert not app.driver.find_elements(By.XPATH, "//label[normalize-space(.)='Password']")
        app.screenshot("animus-sign-in")
        app.button("Sign in", within="dialog").click()
        app.no_dialog()
        app.wait.until(lambda d: "Animus ·" in app.text_of("nav.accounts"))

        # Keys are made in the Animus app: no New key; the listed key is imported by its name.
        app.wait.until(lambda d: d.find_element(By.XPATH, "//tr[td[normalize-space(.)='blog bot']]"))
        assert not app.driver.find_elements(By.XPATH, "//button[normalize-space(.)='New key']")
        app.button("Import key").click()
        app.dialog("Import key")
        assert "made in the Animus app" in app.text_of("[role=dialog] [data-testid=key-page]")
        assert not app.driver.find_elements(By.CSS_SELECTOR, "[role=dialog] input[name=unverified]")
        app.type("Key", old_secret)
        app.type("Name in Animus", "blog bot")
        app.screenshot("animus-import")
        app.button("Check and store", within="dialog").click()
        app.no_dialog()
        app.wait_text("Imported blog bot")

        # Guided: the new key is made in the app and pasted; Keyhaven revokes the old one itself.
        open_key(app, "blog bot")
        app.button("Rotate").click()
        app.dialog("Rotate key")
        app.wait.until(lambda d: "the Animus app" in app.text_of("[data-testid=guided-instructions]"))
        new_secret = record_secret(fake.control("mint", account="ann", name="blog bot 2", scopes=["read", "write"])["secret"])
        app.type("New key", new_secret)
        app.button("Check and switch", within="dialog").click()
        app.button("Revoke the old key", within="dialog")
        app.screenshot("animus-guided-revoke")
        app.button("Revoke the old key", within="dialog").click()
        app.wait.until(lambda d: "revoked on Animus" in app.text_of("[data-outcome=completed]"))
        app.button("Done", within="dialog").click()
        app.no_dialog()
        app.wait.until(lambda d: d.find_element(By.XPATH, "//h1[@id='key-detail-title'][normalize-space(.)='blog bot 2']"))
        source = app.driver.page_source
        assert jwt not in source and old_secret not in source and new_secret not in source
    finally:
        fake.stop()


def test_wanikani_guided_rotation_waits_for_the_old_token_to_go(app):
    fake = ServiceFake("wanikani")
    try:
        app.wait_text("No keys yet")
        add_account_without_sign_in(app, "WaniKani", "https://api.wanikani.com", fake.url, "study", "wanikani-add-account")
        # A generic account: its URL is the service's API address, nothing else is asked.
        add_account_without_sign_in(app, "Other service", "", fake.url, "weather", "generic-add-account")
        app.wait.until(lambda d: d.find_element(By.XPATH, "//nav//button[.//span[normalize-space(.)='study']]")).click()
        app.wait.until(lambda d: d.find_elements(By.XPATH, "//nav//button[@aria-current='true'][.//span[normalize-space(.)='study']]"))

        old = record_secret(fake.control("mint", user="ann", name="review script", permissions=[])["secret"])
        import_plain(app, old, "review script")
        open_key(app, "review script")
        app.button("Rotate").click()
        app.dialog("Rotate key")
        app.wait.until(lambda d: "WaniKani's settings" in app.text_of("[data-testid=guided-instructions]"))
        app.screenshot("wanikani-guided-new-key")
        new = record_secret(fake.control("mint", user="ann", name="review script 2", permissions=[])["secret"])
        app.type("New key", new)
        app.button("Check and switch", within="dialog").click()
        confirm = "I deleted the old key — confirm"
        app.button(confirm, within="dialog")
        assert "the new key stays in use" in app.text_of("[data-testid=what-stays]")

        # Closed half-way: the key says the rotation is in progress, and it goes on from there.
        app.button("Close", within="dialog").click()
        app.no_dialog()
        assert "Rotation in progress" in app.text_of("[data-testid=guided-pending]")
        app.screenshot("wanikani-rotation-in-progress")
        app.driver.find_element(By.CSS_SELECTOR, "[data-testid=guided-pending] button").send_keys(Keys.ENTER)
        app.dialog("Rotate key")

        # The old token still works: the rotation waits and says why.
        app.button(confirm, within="dialog").click()
        app.wait.until(lambda d: "still accepts the old key" in app.text_of("[data-outcome=waiting]"))
        app.screenshot("wanikani-guided-waiting")
        fake.control("delete", secret=old)
        app.button(confirm, within="dialog").click()
        app.wait.until(lambda d: "WaniKani refuses the old key" in app.text_of("[data-outcome=completed]"))
        app.screenshot("wanikani-guided-done")
        app.button("Done", within="dialog").click()
        app.no_dialog()
        app.button("Back to keys").click()
        rows = lambda d: [r.text for r in d.find_elements(By.CSS_SELECTOR, "tr[data-key-id] td:first-child")]  # noqa: E731
        app.wait.until(lambda d: len(rows(d)) == 1)
        assert not app.driver.find_elements(By.CSS_SELECTOR, "[data-testid=guided-pending]")
        source = app.driver.page_source
        assert old not in source and new not in source
    finally:
        fake.stop()


def test_tokenkit_twin_rotation_of_a_key_made_in_the_window(app):
    fake = TokenKitFake()
    try:
        fake.control("add-user", username="ann", password="tk password")
        dashboard = record_secret(fake.control("mint", username="ann", name="dashboard")["key"])
        app.wait_text("No keys yet")
        app.button("Add account").click()
        app.radio("Another service").click()
        app.choose("Kind of service", "TokenKit")
        clear(app.field("Service URL"))
        app.type("Service URL", fake.url)
        app.type("User name or email", "ann")
        app.type("Password", "tk password")
        app.type("API key of this account", dashboard)
        app.button("Sign in", within="dialog").click()
        app.no_dialog()
        app.wait.until(lambda d: d.find_element(By.XPATH, "//tr[td[normalize-space(.)='dashboard']]"))

        # New key asks only for what a TokenKit key has: no scopes, no expiry.
        app.button("New key").click()
        app.dialog("New key")
        assert not app.driver.find_elements(By.XPATH, "//fieldset[legend[normalize-space(.)='Scopes']]")
        assert not app.driver.find_elements(By.XPATH, "//label[normalize-space(.)='Expires']")
        app.type("Name", "cron job")
        app.type("Hourly limit", "100")
        app.screenshot("tokenkit-new-key")
        app.button("Create", within="dialog").click()
        secret = record_secret(app.text_of("[data-testid=new-key-secret]"))
        app.button("Done", within="dialog").click()
        app.no_dialog()

        open_key(app, "cron job")
        app.button("Rotate").click()
        app.dialog("Rotate key")
        assert "same name, origins, IPs and hourly limit" in app.text_of("[data-testid=twin-explained]")
        assert not app.driver.find_elements(By.CSS_SELECTOR, "[role=dialog] input[name=grace]")
        app.screenshot("tokenkit-twin-rotate")
        app.button("Rotate", within="dialog").click()
        app.wait.until(lambda d: "the old key is revoked" in app.text_of("[data-outcome=completed]"))
        app.screenshot("tokenkit-twin-done")
        app.button("Done", within="dialog").click()
        app.no_dialog()

        # A key made in TokenKit's dashboard: its settings are unknown, so the twin is refused.
        app.button("Back to keys").click()
        open_key(app, "dashboard")
        app.button("Rotate").click()
        app.dialog("Rotate key")
        app.button("Rotate", within="dialog").click()
        app.wait.until(lambda d: "not made with Keyhaven" in app.text_of("[role=dialog] .error"))
        app.screenshot("tokenkit-twin-refused")
        app.button("Cancel", within="dialog").click()
        assert secret not in app.driver.page_source and dashboard not in app.driver.page_source
    finally:
        fake.stop()


def test_a_broken_key_raises_an_alert_naming_its_service(app):
    fake = ServiceFake("wanikani")
    try:
        app.wait_text("No keys yet")
        add_account_without_sign_in(app, "WaniKani", "https://api.wanikani.com", fake.url, "study")
        # Regenerated on WaniKani before Keyhaven ever checked it: stored without a check.
        token = record_secret(fake.control("mint", user="ann", name="old script", permissions=[])["secret"])
        fake.control("delete", secret=token)
        import_plain(app, token, "old script", unverified=True)

        app.button("Settings…").click()
        app.dialog("Settings")
        # The form shows once the saved settings are read; a tick before that would be replaced.
        app.wait.until(lambda d: app.field("Usage poll interval (seconds)").get_attribute("value") != "")
        box = "[role=dialog] input[name=key-checks]"
        for _ in range(3):
            app.driver.find_element(By.CSS_SELECTOR, box).click()
            try:
                WebDriverWait(app.driver, 3).until(lambda d: d.find_element(By.CSS_SELECTOR, box).is_selected())
                break
            except TimeoutException:
                continue
        assert app.driver.find_element(By.CSS_SELECTOR, box).is_selected()
        app.screenshot("settings-key-checks")
        app.button("Save", within="dialog").click()
        app.no_dialog()

        # The watcher checks a never-checked key on its first round: the alert names WaniKani.
        alerts = "//button[contains(@class,'alerts-button')][contains(@aria-label,'new')]"
        app.wait.until(lambda d: d.find_elements(By.XPATH, alerts))
        app.driver.find_element(By.XPATH, alerts).click()
        app.dialog("Alerts")
        app.wait.until(lambda d: "WaniKani" in app.text_of("[role=dialog] .alert-list li.critical"))
        app.screenshot("broken-key-alert")
        assert token not in app.driver.page_source
    finally:
        fake.stop()
