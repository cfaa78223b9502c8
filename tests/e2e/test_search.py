"""The header's search in the real window: a key found by part of its name in another account of
the profile, opened by keyboard: its account becomes the active one and its detail shows."""

from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from test_keys_ui import create_key, sign_in


def test_a_key_in_another_account_is_found_and_opened_by_keyboard(service, app):
    email = "search@acme.test"
    password = service.add_user(email)
    service.start()
    app.wait_text("No keys yet")
    # A key on this computer's account, then another account signed in (it becomes active).
    create_key(app, "alpha local deploy", ["read"])
    sign_in(app, service, email, password)
    app.wait_text("No keys yet")
    create_key(app, "beta remote", ["read"])

    box = app.driver.find_element(By.CSS_SELECTOR, "input[aria-label='Find a key in every account']")
    box.click()
    box.send_keys("LOCAL dep")
    option = app.wait.until(lambda d: d.find_element(By.XPATH, "//li[@role='option'][.//span[normalize-space(.)='alpha local deploy']]"))
    assert "this computer" in option.text, option.text
    app.screenshot("60-search-across-accounts")
    box.send_keys(Keys.ARROW_DOWN)
    box.send_keys(Keys.ENTER)
    heading = app.wait.until(lambda d: d.find_element(By.ID, "key-detail-title"))
    app.wait.until(lambda d: "alpha local deploy" in heading.text)
    # The account of the key is now the active one.
    active = lambda d: d.find_element(By.CSS_SELECTOR, "nav.accounts button[aria-current='true']")  # noqa: E731
    app.wait.until(lambda d: "This computer" in (active(d).get_attribute("textContent") or ""))
    app.screenshot("61-search-opened-the-key")
