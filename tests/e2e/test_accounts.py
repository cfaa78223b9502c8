"""Accounts on services elsewhere (shared/SECURITY.md 18): plain http:// to a host other than this
computer is refused with a clear error, unless the person allows it for that one account; the
account then works and says it is unencrypted.

The service listens on 127.0.0.1 only. The URL uses 0.0.0.0, which the URL rule does not count
as this computer, and which Linux delivers to this computer."""

from urllib.parse import urlsplit

from selenium.webdriver.common.by import By

from conftest import xq


def test_plain_http_elsewhere_needs_the_accounts_override(service, app):
    email = "remote@acme.test"
    password = service.add_user(email)
    service.start()
    elsewhere = f"http://0.0.0.0:{urlsplit(service.url).port}"

    app.wait_text("No keys yet")
    app.button("Add account").click()
    app.radio("Another service").click()
    app.type("Service URL", elsewhere)
    app.type("Email", email)
    app.type("Password", password)
    app.wait_text("Plain http:// is only allowed for this computer")
    box = app.wait.until(lambda d: d.find_element(By.XPATH, "//label[contains(., 'Allow unencrypted http:// for this account')]/input"))
    assert not box.is_selected()
    # Signing in without the override is refused, and no account is added.
    app.button("Sign in", within="dialog").click()
    app.wait_text("Plain http:// is only allowed for this computer")
    assert email not in app.text_of("nav.accounts")
    app.screenshot("accounts-http-refused")

    box.click()
    app.wait.until(lambda d: not d.find_elements(By.XPATH, f"//*[contains(normalize-space(.), {xq('Plain http:// is only allowed')})]"))
    app.screenshot("accounts-http-allowed")
    app.button("Sign in", within="dialog").click()
    app.wait.until(lambda d: email in app.text_of("nav.accounts") and not d.find_elements(By.CSS_SELECTOR, "[role=dialog]"))
    app.wait_text("No keys yet")
    assert "Unencrypted http" in app.text_of("nav.accounts")
    account = next(a for a in app.catalog()["accounts"] if a["email"] == email)
    assert account["service"] == {"kind": "url", "url": f"{elsewhere}/", "allow_http": True}
    app.screenshot("accounts-http-account")
