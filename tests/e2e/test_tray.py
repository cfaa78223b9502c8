"""The tray icon and what the window remembers, in the real app on a desktop with a tray.

The tray is the real libayatana-appindicator item the app puts on the session bus, read and
clicked over D-Bus as a panel does it (tray_host.py is the panel's side). Closing the window is
asked for as a window manager asks: WM_DELETE_WINDOW sent to the app's top-level X window."""

import json
import secrets
import subprocess
import time

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from Xlib import X, display
from Xlib.protocol import event

from conftest import NAMESPACE, OUT, App, app_pids, random_password, wait_gone, x_screen
from test_key_detail import create_key
from test_profiles import active_profile
from tray_host import TrayHost, TrayMenu


@pytest.fixture
def tray():
    host = TrayHost()
    try:
        yield host
    finally:
        host.close()


@pytest.fixture
def tray_app(request, workdir, tray):
    """The app, started once the desktop's tray is there (the order a session starts them in).
    Its keychain entries have a namespace of their own: a test here sets a passphrase on the
    default profile, whose wrapped entries must not meet another test's app."""
    namespace = f"{NAMESPACE}.tray-{secrets.token_hex(4)}"
    app = App(workdir / "app-data", OUT / "logs" / f"app-{request.node.name}.log", {"KEYHAVEN_KEYCHAIN_NAMESPACE": namespace})
    try:
        yield app
        failed = getattr(request.node, "rep_call", None)
        if failed is not None and failed.failed:
            app.failure_report(request.node.name)
    finally:
        app.quit()


def wait_menu(menu: TrayMenu, ready, timeout: float = 20) -> dict:
    """The menu's items once `ready(items)` holds (the app makes its menu again a moment after a
    change)."""
    deadline = time.monotonic() + timeout
    while True:
        items = menu.items()
        try:
            if ready(items):
                return items
        except KeyError:
            pass
        assert time.monotonic() < deadline, f"the tray's menu did not change as expected: {items}"
        time.sleep(0.2)


def clipboard() -> str:
    r = subprocess.run(["xclip", "-o", "-selection", "clipboard"], capture_output=True, text=True, timeout=10)
    return r.stdout


def keyhaven_window(d: display.Display, pids: set[int]):
    """This test's app's top-level X window: titled Keyhaven and owned (_NET_WM_PID) by one of
    `pids`. By title alone, a window of an app another test is still shutting down could answer
    in its place."""
    pid_atom = d.intern_atom("_NET_WM_PID")
    found = []
    for w in d.screen().root.query_tree().children:
        name = w.get_full_text_property(d.intern_atom("_NET_WM_NAME")) or w.get_wm_name()
        if name != "Keyhaven":
            continue
        owner = w.get_full_property(pid_atom, X.AnyPropertyType)
        if owner is not None and owner.value and int(owner.value[0]) in pids:
            found.append(w)
    assert found, f"no X window titled Keyhaven belongs to the app ({sorted(pids)})"
    assert len(found) == 1, f"the app has {len(found)} windows titled Keyhaven"
    return found[0]


def is_viewable(app, timeout: float, want: bool) -> bool:
    pids = app_pids(app.data_dir)
    d = display.Display()
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                viewable = keyhaven_window(d, pids).get_attributes().map_state == X.IsViewable
            except AssertionError:
                viewable = False
            if viewable == want or time.monotonic() > deadline:
                return viewable == want
            time.sleep(0.1)
    finally:
        d.close()


def close_window(app):
    """Asks the app's window to close as a window manager does (its title bar's ×, Alt+F4)."""
    d = display.Display()
    try:
        w = keyhaven_window(d, app_pids(app.data_dir))
        protocols, delete = d.intern_atom("WM_PROTOCOLS"), d.intern_atom("WM_DELETE_WINDOW")
        assert delete in (w.get_wm_protocols() or []), "the window does not take WM_DELETE_WINDOW"
        message = event.ClientMessage(window=w, client_type=protocols, data=(32, [delete, X.CurrentTime, 0, 0, 0]))
        w.send_event(message, event_mask=X.NoEventMask)
        d.flush()
    finally:
        d.close()


def set_passphrase_and_add_profile(app, name: str) -> str:
    passphrase = random_password()
    app.button("Profiles…").click()
    app.dialog("Profiles")
    app.type("New passphrase", passphrase)
    app.type("New passphrase again", passphrase)
    app.button("Set passphrase", within="dialog").click()
    app.wait_text("Passphrase saved.")
    app.type("New profile", name)
    app.button("Create", within="dialog").click()
    app.wait.until(lambda d: d.find_elements(By.XPATH, f"//ul[@aria-label='Profiles']//strong[normalize-space(.)='{name}']"))
    app.button("Close", within="dialog").click()
    app.no_dialog()
    return passphrase


def test_the_tray_menu_copies_a_recent_key_locks_and_switches_profile(tray, tray_app):
    app = tray_app
    app.wait_text("No keys yet")
    menu = TrayMenu(*tray.wait_item())
    first = active_profile(app)
    items = wait_menu(menu, lambda m: "Open Keyhaven" in m and "Quit Keyhaven" in m)
    # Nothing copied yet, no passphrase to lock with, one profile.
    assert not items["Copy key"]["enabled"], items
    assert not items["Lock profile"]["enabled"], items
    assert not items["Switch profile"]["enabled"], items

    _, secret = create_key(app, "tray bot")
    app.button("Copy tray bot").click()
    app.wait_text("The clipboard clears in")
    items = wait_menu(menu, lambda m: m["Copy key"]["enabled"])
    [(label, copy)] = items["Copy key"]["items"].items()
    assert label.startswith("tray bot ("), label
    assert secret not in json.dumps(items)

    # Something else copied meanwhile; the tray's Copy puts the key back.
    subprocess.run(["xclip", "-i", "-selection", "clipboard"], input="a shopping list", text=True, check=True, timeout=10)
    assert clipboard() == "a shopping list"
    menu.click(copy["id"])
    deadline = time.monotonic() + 10
    while clipboard() != secret:
        assert time.monotonic() < deadline, "the tray's Copy did not put the key on the clipboard"
        time.sleep(0.1)

    set_passphrase_and_add_profile(app, "carol")
    items = wait_menu(menu, lambda m: m["Lock profile"]["enabled"] and m["Switch profile"]["enabled"])
    profiles = items["Switch profile"]["items"]
    assert set(profiles) == {f"{first} (active)", "carol"}, profiles
    assert not profiles[f"{first} (active)"]["enabled"]

    # Lock from the tray: the window shows the lock screen, and the tray offers no key.
    menu.click(items["Lock profile"]["id"])
    app.wait_text("is locked")
    items = wait_menu(menu, lambda m: not m["Lock profile"]["enabled"] and not m["Copy key"]["enabled"])
    app.screenshot("tray-01-locked-from-the-tray")

    # Switch from the tray: the window follows.
    menu.click(items["Switch profile"]["items"]["carol"]["id"])
    app.wait.until(lambda _: active_profile(app) == "carol")
    app.wait_text("No keys yet")
    wait_menu(menu, lambda m: "carol (active)" in m["Switch profile"]["items"])
    assert "tray bot" not in app.driver.find_element(By.TAG_NAME, "body").get_attribute("textContent")
    assert secret not in app.log_text()


def test_closing_the_window_keeps_watching_in_the_tray_only_when_asked(tray, tray_app):
    app = tray_app
    app.wait_text("No keys yet")
    menu = TrayMenu(*tray.wait_item())
    app.button("Settings…").click()
    app.dialog("Settings")
    keep = app.radio("Keep watching usage in the tray when the window is closed")
    assert not keep.is_selected(), "keeping the app in the tray is a choice, off until made"
    keep.click()
    app.button("Save", within="dialog").click()
    app.no_dialog()

    close_window(app)
    assert is_viewable(app, 10, want=False), "the window is still shown after it was closed"
    assert app_pids(app.data_dir), "the app quit although it was to stay in the tray"
    x_screen("tray-02-window-closed-to-the-tray", check=False)

    items = wait_menu(menu, lambda m: "Open Keyhaven" in m)
    menu.click(items["Open Keyhaven"]["id"])
    assert is_viewable(app, 10, want=True), "Open Keyhaven did not show the window again"
    app.wait_text("No keys yet")
    app.screenshot("tray-03-opened-from-the-tray")

    # Off again: closing the window quits.
    app.button("Settings…").click()
    app.dialog("Settings")
    app.radio("Keep watching usage in the tray when the window is closed").click()
    app.button("Save", within="dialog").click()
    app.no_dialog()
    pids = app_pids(app.data_dir)
    close_window(app)
    assert wait_gone(pids, 30), "closing the window did not quit the app"


def test_the_window_comes_back_as_it_was_left(tray, request, workdir):
    """Sort, a column's width and the tab (tauri-plugin-store, in the profile's folder), and the
    window's size (tauri-plugin-window-state), after quitting from the tray and starting again."""
    data = workdir / "app-data"
    app = App(data, OUT / "logs" / f"app-{request.node.name}-1.log")
    try:
        app.wait_text("No keys yet")
        create_key(app, "alpha bot")
        create_key(app, "omega bot")
        app.driver.set_window_size(1100, 660)
        sort_by_name = "//th[@aria-label='Name']//button[contains(@class, 'sort')]"
        app.driver.find_element(By.XPATH, sort_by_name).click()
        app.wait.until(lambda d: d.find_element(By.XPATH, "//th[@aria-label='Name']").get_attribute("aria-sort") == "ascending")
        app.driver.find_element(By.XPATH, sort_by_name).click()
        app.wait.until(lambda d: d.find_element(By.XPATH, "//th[@aria-label='Name']").get_attribute("aria-sort") == "descending")
        handle = app.wait.until(lambda d: d.find_element(By.XPATH, "//*[@aria-label='Resize Scopes column']"))
        handle.click()
        for _ in range(3):
            handle.send_keys(Keys.ARROW_RIGHT)
        app.driver.find_element(By.XPATH, "//button[@role='tab'][normalize-space(.)='Usage']").click()
        profile = app.catalog()["profile"]
        kept = data / "profiles" / profile / "ui.json"
        deadline = time.monotonic() + 10
        while not (kept.exists() and json.loads(kept.read_text())["prefs"].get("tab") == "usage"):
            assert time.monotonic() < deadline, "the window's preferences were not kept"
            time.sleep(0.2)
        prefs = json.loads(kept.read_text())["prefs"]
        assert prefs["sort"] == {"column": "name", "direction": "desc"}, prefs
        assert prefs["column_widths"]["scopes"] > 0, prefs

        # Quit from the tray, as a person who leaves for the day.
        menu = TrayMenu(*tray.wait_item())
        pids = app_pids(data)
        menu.click(wait_menu(menu, lambda m: "Quit Keyhaven" in m)["Quit Keyhaven"]["id"])
        assert wait_gone(pids, 30), "Quit Keyhaven did not quit"
    finally:
        app.quit()
    assert (data / "window-state.json").exists(), "the window's size and place were not kept"
    tray.items.clear()

    again = App(data, OUT / "logs" / f"app-{request.node.name}-2.log")
    try:
        again.wait.until(
            lambda d: d.find_element(By.XPATH, "//button[@role='tab'][normalize-space(.)='Usage']").get_attribute("aria-selected") == "true"
        )
        size = again.driver.get_window_size()
        assert (size["width"], size["height"]) == (1100, 660), size
        again.screenshot("tray-04-usage-tab-back")
        again.driver.find_element(By.XPATH, "//button[@role='tab'][normalize-space(.)='Keys']").click()
        again.wait.until(lambda d: d.find_element(By.XPATH, "//th[@aria-label='Name']").get_attribute("aria-sort") == "descending")
        rows = again.driver.find_elements(By.XPATH, "//tr[@data-key-id]/td[1]")
        names = [r.get_attribute("textContent").strip() for r in rows]
        assert names.index("omega bot") < names.index("alpha bot"), names
        again.screenshot("tray-05-sorted-as-left")
    finally:
        again.quit()


def test_without_a_tray_closing_the_window_quits_even_when_asked_to_keep_watching(app):
    """A desktop with no StatusNotifierWatcher (GNOME without its AppIndicator extension) shows
    no tray icon: the app makes none, and never hides its window where nothing could bring it
    back."""
    app.wait_text("No keys yet")
    assert "this desktop shows no tray icons" in app.log_text()
    app.button("Settings…").click()
    app.dialog("Settings")
    app.radio("Keep watching usage in the tray when the window is closed").click()
    app.button("Save", within="dialog").click()
    app.no_dialog()
    pids = app_pids(app.data_dir)
    close_window(app)
    assert wait_gone(pids, 30), "the window was hidden on a desktop without a tray"
