"""Ten thousand keys in the real window: the table has them all (aria-rowcount) but draws only the
rows in view, scrolls to the last key, filters to one key and sorts all of them by name. The
figures for the same list (first render, keystroke to frame) are the app bench's; this test proves
the behaviour."""

from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

from test_keys_ui import clear, sign_in, table_names

KEYS = 10_000
# Rows the table may draw at once: those in view plus its overscan, far below KEYS.
MOST_DRAWN = 60


def drawn_rows(app) -> list[int]:
    """The `aria-rowindex` of each key row in the DOM, read in one step (the table redraws as it
    scrolls, so elements found one by one may be gone by the time they are read)."""
    return app.driver.execute_script(
        "return [...document.querySelectorAll('table.key-table tbody tr[data-key-id]')]"
        ".map(r => Number(r.getAttribute('aria-rowindex')))"
    )


def test_ten_thousand_keys_are_drawn_a_screen_at_a_time(service, app):
    email = "many@acme.test"
    password = service.add_user(email)
    # Ten thousand creations with one session: past the default rate of management calls.
    service.start("--max-active-keys", str(KEYS + 10), "--session-rate-per-minute", "1000000")
    # key-00000 …; every other key also has write.
    bodies = [{"name": f"key-{i:05d}", "scopes": ["read"] if i % 2 else ["read", "write"]} for i in range(KEYS)]
    service.create_keys(service.login(email, password), bodies)

    app.wait_text("No keys yet")
    sign_in(app, service, email, password)
    slow = WebDriverWait(app.driver, 90, ignored_exceptions=[StaleElementReferenceException])
    slow.until(lambda _: app.text_of(".count") == "10,000 keys")
    table = app.driver.find_element(By.CSS_SELECTOR, "table[aria-label='Keys']")
    assert table.get_attribute("aria-rowcount") == str(KEYS + 1)
    # The table's first frame may come before it knows its own height (one row plus overscan);
    # then it draws a screenful.
    slow.until(lambda _: len(drawn_rows(app)) >= 10)
    first = drawn_rows(app)
    assert len(first) <= MOST_DRAWN, len(first)
    app.screenshot("26-ten-thousand-keys")

    # Scrolled to the end: the last key is drawn, and still only a screenful of rows.
    scroller = app.driver.find_element(By.CSS_SELECTOR, ".table-scroll")
    app.driver.execute_script("arguments[0].scrollTop = arguments[0].scrollHeight", scroller)
    slow.until(lambda _: KEYS + 1 in drawn_rows(app))
    assert len(drawn_rows(app)) <= MOST_DRAWN

    # "/" and a name: one key of ten thousand.
    app.driver.find_element(By.CSS_SELECTOR, "h1").click()
    app.press("/")
    filter_box = app.field("Filter keys")
    filter_box.send_keys("key-04821")
    slow.until(lambda _: table_names(app) == ["key-04821"])
    assert app.text_of(".count") == "1 of 10,000"
    # A scope narrows the whole list: every other key has write.
    clear(filter_box).send_keys("scope:write")
    slow.until(lambda _: app.text_of(".count") == "5,000 of 10,000")
    assert all(name.endswith(("0", "2", "4", "6", "8")) for name in table_names(app))
    clear(filter_box)
    slow.until(lambda _: app.text_of(".count") == "10,000 keys")
    filter_box.send_keys(Keys.ESCAPE)

    # Sorted by name, descending: the last name of all ten thousand comes first.
    header = app.driver.find_element(By.XPATH, "//th[.//button[starts-with(normalize-space(.), 'Name')]]")
    app.driver.execute_script("arguments[0].scrollTop = 0", scroller)
    header.find_element(By.TAG_NAME, "button").click()
    slow.until(lambda _: header.get_attribute("aria-sort") == "ascending")
    slow.until(lambda _: table_names(app)[:2] == ["key-00000", "key-00001"])
    header.find_element(By.TAG_NAME, "button").click()
    slow.until(lambda _: header.get_attribute("aria-sort") == "descending")
    slow.until(lambda _: table_names(app)[:2] == ["key-09999", "key-09998"])
    assert len(drawn_rows(app)) <= MOST_DRAWN
