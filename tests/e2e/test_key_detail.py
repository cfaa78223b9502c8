"""Key detail in the real window: settings change without a new secret (checked through the
service and with the unchanged secret), the usage chart and the header draw the calls really made
(on Refresh too), and a rotation shows each step, leaves the old secret working for its grace and
the new one, from the keychain, accepted. After a rotation the detail follows the new key; the old
one says what replaced it, and revoking it says what that does to which key."""

import subprocess

from selenium.webdriver.common.by import By

from conftest import BIN, OUT, keychain_lookup, record_secret
from test_keys_ui import http, sign_in


def create_key(app, name: str) -> tuple[str, str]:
    """Creates a key with the default scope through the New key dialog; its id and secret."""
    app.button("New key").click()
    app.dialog("New key")
    app.type("Name", name)
    app.button("Create", within="dialog").click()
    secret = record_secret(app.text_of("[data-testid=new-key-secret]"))
    app.button("Done", within="dialog").click()
    app.no_dialog()
    row = app.wait.until(lambda d: d.find_element(By.XPATH, f"//tr[td[normalize-space(.)='{name}']]"))
    return row.get_attribute("data-key-id"), secret


def ping(service, secret: str) -> tuple[int, dict]:
    status, _, body = http("GET", f"{service.url}/v1/ping", headers={"X-API-Key": secret})
    return status, body


def login(service, email: str) -> str:
    status, _, body = http("POST", f"{service.url}/v1/auth/login", body={"email": email, "password": service.users[email]})
    assert status == 200
    return body["token"]


def service_key(service, token: str, key_id: str) -> dict:
    status, _, meta = http("GET", f"{service.url}/v1/keys/{key_id}", headers={"Authorization": f"Bearer {token}"})
    assert status == 200
    return meta


def open_detail(app, name: str):
    app.button(name).click()
    app.wait.until(lambda d: d.find_element(By.XPATH, f"//h1[@id='key-detail-title'][normalize-space(.)='{name}']"))


def start_rotation(app, name: str, grace: str):
    """Opens the key's detail and its Rotate dialog, with `grace` chosen."""
    open_detail(app, name)
    app.button("Rotate").click()
    app.dialog("Rotate key")
    app.radio(grace).click()


def finish_rotation(app):
    """Confirms the Rotate dialog and waits for its outcome, which must be a completed rotation."""
    app.button("Rotate", within="dialog").click()
    outcome = app.wait.until(lambda d: d.find_element(By.CSS_SELECTOR, "[role=dialog] [data-outcome]"))
    assert outcome.get_attribute("data-outcome") == "completed", outcome.text
    return outcome


def chart_calls(app) -> int:
    """The accepted calls the detail's chart draws."""
    bars = app.driver.find_elements(By.CSS_SELECTOR, "svg[role=img] rect.bar.allowed")
    return sum(int(r.get_attribute("data-value")) for r in bars)


def refreshed_calls(app) -> int:
    """Presses the detail's Refresh (once it is free again) and counts the calls drawn after it.
    The service adds calls up about once a second, so a reading may need another press."""
    button = app.button("Refresh")
    button.click()
    app.wait.until(lambda d: button.get_attribute("disabled") is None)
    return chart_calls(app)


def test_edit_scopes_and_usage_chart(service, app, workdir):
    email = "detail@acme.test"
    service.add_user(email)
    service.start()
    app.wait_text("No keys yet")
    sign_in(app, service, email, service.users[email])
    app.wait_text("No keys yet")
    key_id, secret = create_key(app, "deploy bot")

    # Opened before the key is used: it has not been.
    open_detail(app, "deploy bot")
    app.wait.until(lambda d: app.text_of("[data-testid=last-used]") == "last used never")

    # Calls made while the detail is open show on Refresh, in the chart and in the header alike.
    for _ in range(5):
        status, _ = ping(service, secret)
        assert status == 200
    app.wait.until(lambda d: refreshed_calls(app) >= 5)
    assert app.text_of("[data-testid=last-used]") == "last used just now"
    assert app.text_of("[data-testid=usage-as-of]").startswith("as of ")
    values = [int(r.get_attribute("data-value")) for r in app.driver.find_elements(By.CSS_SELECTOR, "svg[role=img] rect.bar.allowed")]
    assert sum(values) >= 5 and max(values) > 0
    label = app.driver.find_element(By.CSS_SELECTOR, "svg[role=img]").get_attribute("aria-label")
    assert "calls accepted" in label
    app.driver.execute_script("document.querySelector('.usage-chart').scrollIntoView({block: 'center'})")
    app.screenshot("20-key-detail-usage-by-hour")
    app.button("By day").click()
    app.wait.until(lambda d: d.find_element(By.XPATH, "//button[normalize-space(.)='By day']").get_attribute("aria-pressed") == "true")
    app.wait.until(lambda d: sum(int(r.get_attribute("data-value")) for r in d.find_elements(By.CSS_SELECTOR, "svg[role=img] rect.bar.allowed")) >= 5)
    app.screenshot("21-key-detail-usage-by-day")

    # Add the write scope and save: the service has it, and the same secret now carries it.
    box = app.driver.find_element(By.XPATH, "//form[@aria-label='Key settings']//label[normalize-space(.)='write']/input")
    assert not box.is_selected()
    box.click()
    app.button("Save").click()
    app.wait_text("Saved. The secret did not change.")
    app.screenshot("22-key-detail-saved")
    token = login(service, email)
    meta = service_key(service, token, key_id)
    assert sorted(meta["scopes"]) == ["read", "write"]
    assert secret.startswith(meta["prefix"])
    status, body = ping(service, secret)
    assert status == 200 and sorted(body["scopes"]) == ["read", "write"]
    catalog = app.catalog()
    account = next(a for a in catalog["accounts"] if a["email"] == email)
    assert keychain_lookup(catalog["profile"], f"key:{account['id']}:{key_id}") == secret
    assert secret not in app.driver.page_source

    # "Used by": none yet; then the CLI runs a command with an env file that references the key
    # by name, and the detail lists that file on Refresh.
    app.wait_text("No env file is known to reference this key.")
    env_file = workdir / "deploy.env"
    env_file.write_text(f"# deploy settings\nGREETING=hello\nDEPLOY_KEY=keyhaven:{email}/deploy bot\n")
    run = subprocess.run(
        [str(BIN / "keyhaven"), "run", "--env-file", str(env_file), "--", "sh", "-c", 'test -n "$DEPLOY_KEY"'],
        env=app.env, capture_output=True, text=True, timeout=60,
    )
    printed = secret in run.stdout + run.stderr  # a bool: a failed assert never prints the secret
    assert not printed, "keyhaven run printed the secret"
    assert run.returncode == 0, run.stderr
    app.button("Refresh").click()
    table = app.wait.until(lambda d: d.find_element(By.CSS_SELECTOR, "table[aria-label='Env files that reference this key']"))
    cells = [td.text for td in table.find_elements(By.CSS_SELECTOR, "tbody td")]
    assert cells == [f"{env_file.resolve()}:3", "DEPLOY_KEY", "just now"], cells
    app.driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", table)
    app.screenshot("23-key-detail-used-by")

    # Back to the list with the keyboard.
    app.press("\ue00c")  # Escape
    app.wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "table.key-table"))

    # The account's usage overview lists the key among its consumers.
    app.tab("Usage")
    app.wait.until(lambda d: d.find_elements(By.XPATH, "//table[@aria-label='Keys by calls today']//tr[td[contains(., 'deploy bot')]]"))
    app.screenshot("25-usage-overview")
    assert not [p for p in workdir.rglob("*") if p.is_file() and secret.encode() in p.read_bytes()]


def test_rotate_with_one_hour_grace(service, app, workdir):
    email = "rotate@acme.test"
    service.add_user(email)
    service.start()
    app.wait_text("No keys yet")
    sign_in(app, service, email, service.users[email])
    app.wait_text("No keys yet")
    old_id, old_secret = create_key(app, "rotating bot")
    assert ping(service, old_secret)[0] == 200

    start_rotation(app, "rotating bot", "1 hour")
    app.screenshot("23-rotate-choose-grace")
    outcome = finish_rotation(app)
    steps = app.driver.find_elements(By.CSS_SELECTOR, "[role=dialog] ol.steps li")
    assert len(steps) >= 5 and all(s.get_attribute("data-status") == "done" for s in steps)
    names = [s.get_attribute("data-step") for s in steps]
    assert names[0] == "prepare" and "verify" in names and "retire" in names
    assert "keeps working until" in outcome.text
    app.screenshot("24-rotate-completed")
    app.button("Done", within="dialog").click()
    app.no_dialog()

    # The detail follows the new key, which names the one it replaces.
    new_id = follows_new_key(app, "rotating bot", old_id)

    # The old key still works during its grace period.
    status, body = ping(service, old_secret)
    assert status == 200 and body["key_id"] == old_id

    # The new key is in the keychain, differs from the old one, and the service accepts it.
    token = login(service, email)
    status, _, listing = http("GET", f"{service.url}/v1/keys", headers={"Authorization": f"Bearer {token}"})
    assert status == 200
    new = [k for k in listing["keys"] if k["id"] != old_id and k["status"] == "active"]
    assert len(new) == 1, listing
    catalog = app.catalog()
    account = next(a for a in catalog["accounts"] if a["email"] == email)
    new_secret = keychain_lookup(catalog["profile"], f"key:{account['id']}:{new[0]['id']}")
    assert new_secret and new_secret != old_secret
    status, body = ping(service, new_secret)
    assert status == 200 and body["key_id"] == new[0]["id"]
    old_meta = service_key(service, token, old_id)
    assert old_meta["expires_at"] is not None
    assert new[0]["id"] == new_id

    # The old key, from the new one's link: in its grace period, replaced, nothing to change.
    app.driver.find_element(By.CSS_SELECTOR, "[data-relation=replaces] button").click()
    app.wait.until(lambda d: d.find_element(By.CSS_SELECTOR, "h1#key-detail-title + code").text.startswith(old_meta["prefix"]))
    app.wait.until(lambda d: app.text_of(".key-detail .toolbar .status") == "expiring")
    note = app.text_of("[data-relation=replaced-by]")
    assert "keeps working until" in note and new[0]["prefix"] in note
    assert not app.driver.find_element(By.XPATH, "//div[@class='detail-actions']/button[normalize-space(.)='Rotate']").is_enabled()

    # Revoking it says what it does to which key, and leaves the new one working.
    app.button("Revoke").click()
    dialog = app.dialog("Revoke old key")
    assert "ends the grace period" in dialog.text and f"The new key {new[0]['prefix']}… stays active" in " ".join(dialog.text.split())
    app.screenshot("26-revoke-old-key-in-grace")
    app.type("Type the key's name to confirm", "rotating bot")
    app.button("Revoke old key", within="dialog").click()
    app.no_dialog()
    app.wait.until(lambda d: app.text_of(".key-detail .toolbar .status") == "revoked")
    assert ping(service, old_secret)[0] == 401
    status, body = ping(service, new_secret)
    assert status == 200 and body["key_id"] == new_id
    assert service_key(service, token, new_id)["status"] == "active"

    for needle in (old_secret.encode(), new_secret.encode()):
        assert not [p for p in (OUT / "logs").rglob("*") if p.is_file() and needle in p.read_bytes()]
        assert needle not in app.driver.page_source.encode()




def detail_action(app, name: str):
    return app.driver.find_element(By.XPATH, f"//div[@class='detail-actions']/button[normalize-space(.)='{name}']")


def test_rotate_without_grace_follows_the_new_key(service, app):
    email = "nograce@acme.test"
    service.add_user(email)
    service.start()
    app.wait_text("No keys yet")
    sign_in(app, service, email, service.users[email])
    app.wait_text("No keys yet")
    old_id, old_secret = create_key(app, "no grace bot")

    open_detail(app, "no grace bot")
    app.button("Rotate").click()
    app.dialog("Rotate key")
    app.radio("None").click()
    app.button("Rotate", within="dialog").click()
    outcome = app.wait.until(lambda d: d.find_element(By.CSS_SELECTOR, "[role=dialog] [data-outcome]"))
    assert outcome.get_attribute("data-outcome") == "completed", outcome.text
    assert "the old key is revoked" in outcome.text
    app.button("Done", within="dialog").click()
    app.no_dialog()

    # The detail now shows the new key, the one in the keychain and in use; its actions are its own.
    new_id = follows_new_key(app, "no grace bot", old_id)
    app.screenshot("27-rotated-detail-follows-new-key")
    assert detail_action(app, "Rotate").is_enabled() and detail_action(app, "Revoke").is_enabled()
    catalog = app.catalog()
    account = next(a for a in catalog["accounts"] if a["email"] == email)
    new_secret = keychain_lookup(catalog["profile"], f"key:{account['id']}:{new_id}")
    assert new_secret and new_secret != old_secret
    assert app.text_of("h1#key-detail-title + code") == f"{new_secret[:12]}…"
    assert ping(service, new_secret)[0] == 200
    assert ping(service, old_secret)[0] == 401

    # The old key, through the link: revoked, saying so and by what, with nothing left to do.
    app.driver.find_element(By.CSS_SELECTOR, "[data-relation=replaces] button").click()
    app.wait.until(lambda d: d.find_element(By.CSS_SELECTOR, "section.key-detail").get_attribute("data-key-id") == old_id)
    app.wait.until(lambda d: app.text_of(".key-detail .toolbar .status") == "revoked")
    note = app.text_of("[data-relation=replaced-by]")
    assert f"{new_secret[:12]}…" in note and "no longer works" in note
    assert not detail_action(app, "Rotate").is_enabled() and not detail_action(app, "Revoke").is_enabled()
    app.screenshot("28-replaced-key-detail")

    # In the list, the two rows of one name say which replaced which.
    app.press("\ue00c")  # Escape
    relation = lambda key_id: app.text_of(f"tr[data-key-id='{key_id}'] .relation")  # noqa: E731
    app.wait.until(lambda d: relation(old_id) == f"replaced by {new_secret[:12]}…")
    assert relation(new_id) == f"replaces {old_secret[:12]}…"
    app.screenshot("29-rotated-keys-in-list")


def follows_new_key(app, name: str, old_id: str) -> str:
    """After a rotation's Done: the detail shows the key that replaced `old_id`, active, with a
    link back to it. Returns the new key's id."""
    detail = app.wait.until(lambda d: d.find_element(By.CSS_SELECTOR, f"section.key-detail:not([data-key-id='{old_id}'])"))
    app.wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "[data-relation=replaces]"))
    assert app.text_of("h1#key-detail-title") == name
    app.wait.until(lambda d: app.text_of(".key-detail .toolbar .status") == "active")
    return detail.get_attribute("data-key-id")
