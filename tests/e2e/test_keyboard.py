"""New key, Rotate and Revoke by keyboard alone, in the real window (#22): every step is a key
press sent to whatever has the focus (Tab to move, Enter or Space to press, typing into the
focused field); nothing is clicked."""

from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

MAX_TABS = 60


def focused(app) -> dict:
    return app.driver.execute_script(
        """const e = document.activeElement;
        const label = e.labels && e.labels.length ? e.labels[0].textContent : '';
        return { tag: e.tagName, name: (e.getAttribute('aria-label') || e.textContent || '').trim(),
                 label: (label || '').trim(), type: e.getAttribute('type') || '' };"""
    )


def tab_to(app, matches, what: str):
    """Presses Tab until the focused element matches; fails naming `what` after MAX_TABS."""
    for _ in range(MAX_TABS):
        if matches(focused(app)):
            return
        app.press(Keys.TAB)
    raise AssertionError(f"Tab never reached {what}; the focus was on {focused(app)}")


def button(name: str):
    return lambda f: f["tag"] == "BUTTON" and f["name"] == name


def field(label: str):
    return lambda f: f["tag"] in ("INPUT", "TEXTAREA", "SELECT") and f["label"].startswith(label)


def typed(app, text: str):
    app.press(text)


def test_new_key_rotate_and_revoke_by_keyboard_alone(app):
    app.wait_text("No keys yet")
    # New key: Ctrl+N opens it with the focus inside; Tab to the name, type, Enter creates.
    app.press(Keys.CONTROL, "n")
    app.dialog("New key")
    tab_to(app, field("Name"), "the Name field")
    typed(app, "keyboard key")
    app.wait.until(lambda d: d.find_element(By.XPATH, "//div[@role='dialog']//input[@name='name']").get_attribute("value") == "keyboard key")
    tab_to(app, button("Create"), "Create")
    app.press(Keys.ENTER)
    app.wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "[data-testid=new-key-secret]"))
    app.press(Keys.ESCAPE)
    app.no_dialog()

    # The key's detail: Tab to its name in the table, Enter.
    tab_to(app, button("keyboard key"), "the key's name in the table")
    app.press(Keys.ENTER)
    app.wait.until(lambda d: "keyboard key" in d.find_element(By.ID, "key-detail-title").text)

    # Rotate: Tab to it, Enter; the dialog's Rotate submits; Done closes.
    tab_to(app, button("Rotate"), "Rotate")
    app.press(Keys.ENTER)
    app.dialog("Rotate key")
    tab_to(app, lambda f: f["tag"] == "BUTTON" and f["name"] == "Rotate" and f["type"] == "submit", "the dialog's Rotate")
    app.press(Keys.ENTER)
    app.wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "[data-outcome=completed]"))
    app.screenshot("70-rotated-by-keyboard")
    tab_to(app, button("Done"), "Done")
    app.press(Keys.ENTER)
    app.no_dialog()

    # Revoke the new key: Tab to Revoke, Enter; type the name; Tab to the dialog's Revoke, Enter.
    tab_to(app, button("Revoke"), "Revoke")
    app.press(Keys.ENTER)
    app.dialog()
    tab_to(app, field("Type the key's name"), "the confirmation field")
    typed(app, "keyboard key")
    tab_to(app, lambda f: f["tag"] == "BUTTON" and f["name"] == "Revoke" and f["type"] == "submit", "the dialog's Revoke")
    app.press(Keys.ENTER)
    app.no_dialog()
    app.wait.until(lambda d: "revoked" in d.find_element(By.CSS_SELECTOR, ".key-detail").text.lower())
    app.screenshot("71-revoked-by-keyboard")
