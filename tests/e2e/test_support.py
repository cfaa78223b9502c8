"""The support workspace in the real window: a support user finds another tenant's key by the
prefix quoted in a ticket and reads its metadata, usage, denials with reasons and the tenant's
audit log, with no control that reveals, copies or changes anything."""

import json
import urllib.error
import urllib.request

from selenium.webdriver.common.by import By


def call(base: str, method: str, path: str, body=None, headers=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(f"{base}{path}", data=data, method=method, headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def test_support_finds_another_tenants_key_read_only(service, app):
    owner, support = "owner@shop.test", "help@keyhaven.test"
    owner_password = service.add_user(owner, role="owner", tenant="shop")
    support_password = service.add_user(support, role="support", tenant="helpdesk")
    service.start()

    # The customer's key, a call it is allowed and one from an origin it does not allow.
    status, login = call(service.url, "POST", "/v1/auth/login", {"email": owner, "password": owner_password})
    assert status == 200, login
    auth = {"Authorization": f"Bearer {login['token']}"}
    status, created = call(service.url, "POST", "/v1/keys",
                           {"name": "shop backend", "scopes": ["read"], "allowed_origins": ["https://shop.test"]}, auth)
    assert status in (200, 201), created
    secret, prefix = created["key"], created["meta"]["prefix"]
    assert call(service.url, "GET", "/v1/ping", headers={"X-API-Key": secret, "Origin": "https://shop.test"})[0] == 200
    assert call(service.url, "GET", "/v1/ping", headers={"X-API-Key": secret, "Origin": "https://evil.test"})[0] == 403
    del secret

    app.wait_text("No keys yet")
    app.button("Add account").click()
    app.radio("Another service").click()
    app.type("Service URL", service.url)
    app.type("Email", support)
    app.type("Password", support_password)
    app.button("Sign in", within="dialog").click()
    app.wait_text("Key prefix from the ticket")
    app.type("Key prefix from the ticket", prefix)
    app.button("Find").click()
    app.wait_text("shop backend")
    app.screenshot("support-01-search")
    app.button(f"Open {prefix}").click()
    app.wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "table[aria-label='Denials']"))
    denials = app.text_of("table[aria-label='Denials']")
    assert "origin not allowed" in denials and "https://evil.test" in denials
    assert "origin not allowed" in app.text_of("table[aria-label='Usage']")
    assert "shop" in app.text_of("dl[aria-label='Key details']")
    assert app.text_of("table[aria-label='Tenant audit log']")
    app.screenshot("support-02-key")

    labels = [(b.get_attribute("textContent") or "") + " " + (b.get_attribute("aria-label") or "")
              for b in app.driver.find_elements(By.CSS_SELECTOR, "main button")]
    for word in ("copy", "rotate", "revoke", "edit", "reveal", "new key", "delete"):
        assert not [l for l in labels if word in l.lower()], (word, labels)
