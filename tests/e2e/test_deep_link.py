"""keyhaven:// links in the real window. Launching the app again with a link, as a desktop does
when a link is clicked, hands the link to the running app (tauri-plugin-single-instance over the
session D-Bus) and exits; the running window opens New key filled in from the link for the person
to check, and creates nothing by itself. Links with problems are shown with those problems."""

import threading
from urllib.parse import quote

from jeepney import HeaderFields, message_bus
from jeepney.io.blocking import open_dbus_connection
from selenium.webdriver.common.by import By

from conftest import App, INSTANCE_NAME, OUT


def checked_scopes(app) -> list[str]:
    boxes = app.driver.find_elements(By.CSS_SELECTOR, "[role=dialog] input[type=checkbox]")
    return [b.get_attribute("value") for b in boxes if b.is_selected()]


def key_rows(app) -> int:
    return len(app.driver.find_elements(By.CSS_SELECTOR, "table.key-table tbody tr[data-key-id]"))


def test_a_second_launch_with_a_link_opens_new_key_prefilled(app):
    app.wait_text("No keys yet")

    second = app.launch_again(f"keyhaven://new-key?name={quote('ci bot')}&scopes=read,write")
    assert second.returncode == 0, second.stderr[-2000:]

    dialog = app.dialog("New key")
    app.wait.until(lambda _: app.field("Name").get_attribute("value") == "ci bot")
    assert checked_scopes(app) == ["read", "write"]
    banner = app.text_of("[data-testid=from-link]")
    assert "Opened from a keyhaven:// link" in banner and "Nothing is created until you check" in banner
    assert not dialog.find_elements(By.CSS_SELECTOR, ".link-problems")
    app.screenshot("40-deep-link-prefilled")

    # Nothing was created: the person decides. Cancel leaves the account as it was.
    app.button("Cancel", within="dialog").click()
    app.no_dialog()
    app.wait_text("No keys yet")

    # A link with an unknown scope and an over-long name: the dialog opens with the problems
    # named, the long name refused and only the offered scope selected.
    long_name = "n" * 150
    second = app.launch_again(f"keyhaven://new-key?name={long_name}&scopes=search,admin&create=1")
    assert second.returncode == 0, second.stderr[-2000:]
    app.dialog("New key")
    app.wait_text("150 characters long (at most 100); it was not filled in")
    app.wait_text("does not offer, not selected: “admin”")
    app.wait_text("does not use, ignored: “create”")
    assert app.field("Name").get_attribute("value") == ""
    assert checked_scopes(app) == ["search"]
    app.screenshot("41-deep-link-with-problems")

    # Confirming is the person's act: with a name typed, Create makes the key.
    app.type("Name", "from a link")
    app.button("Create", within="dialog").click()
    app.text_of("[data-testid=new-key-secret]")
    app.button("Done", within="dialog").click()
    app.no_dialog()
    app.wait.until(lambda _: key_rows(app) == 1)

    # A link Keyhaven does not understand is reported, and opens nothing.
    second = app.launch_again("keyhaven://delete-key?id=everything")
    assert second.returncode == 0, second.stderr[-2000:]
    app.wait_text("A keyhaven:// link was ignored.")
    assert "“delete-key”" in app.text_of(".banner")
    assert not app.driver.find_elements(By.CSS_SELECTOR, "[role=dialog]")
    app.screenshot("42-deep-link-refused")
    assert key_rows(app) == 1


def test_a_first_launch_with_a_link_opens_new_key_prefilled(request, workdir):
    app = App(workdir / "app-data", OUT / "logs" / f"app-{request.node.name}.log",
              args=["keyhaven://new-key?name=launched&scopes=search"])
    try:
        app.dialog("New key")
        app.wait.until(lambda _: app.field("Name").get_attribute("value") == "launched")
        assert checked_scopes(app) == ["search"]
        app.screenshot("43-deep-link-at-launch")
    finally:
        app.quit()


class ClosingInstance:
    """Stands in for a Keyhaven that is closing: it holds the single-instance D-Bus name, and when
    a launch hands it its arguments it leaves the bus without answering, as a window that was
    just closed does."""

    def __init__(self):
        self.conn = open_dbus_connection(bus="SESSION")
        reply = self.conn.send_and_get_reply(message_bus.RequestName(INSTANCE_NAME, 4))  # DO_NOT_QUEUE
        assert reply.body == (1,), f"the name {INSTANCE_NAME} is taken: {reply.body}"
        self.forwarded = None
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        try:
            while True:
                msg = self.conn.receive(timeout=30)
                if msg.header.fields.get(HeaderFields.member) == "ExecuteCallback":
                    self.forwarded = msg.body
                    return
        except (TimeoutError, OSError, ValueError):
            pass  # no launch came, or the test closed the connection
        finally:
            self.close()

    def close(self):
        """Leaves the bus, giving up the name (once: a second call does nothing)."""
        self.conn.close()


def test_a_launch_while_the_last_window_is_closing_starts_again(request, workdir):
    closing = ClosingInstance()
    try:
        app = App(workdir / "app-data", OUT / "logs" / f"app-{request.node.name}.log",
                  args=["keyhaven://new-key?name=relaunched&scopes=read"])
    finally:
        # Whatever happened, the name is not left to a stand-in that no longer listens.
        closing.thread.join(timeout=5)
        closing.close()
    try:
        # The launch handed its link to the closing instance, got no answer, started again on
        # its own, and opened with the link.
        assert closing.forwarded is not None, "the launch did not hand its arguments to the running instance"
        argv, _cwd = closing.forwarded
        assert argv[1:] == ["keyhaven://new-key?name=relaunched&scopes=read"], argv
        app.dialog("New key")
        app.wait.until(lambda _: app.field("Name").get_attribute("value") == "relaunched")
        assert "starting again" in app.log_text()
        app.button("Cancel", within="dialog").click()
        app.no_dialog()
        # It is now the running instance: a second launch is handed to it and ends at once.
        second = app.launch_again("keyhaven://new-key?name=second")
        assert second.returncode == 0, second.stderr[-2000:]
        app.wait.until(lambda _: app.field("Name").get_attribute("value") == "second")
    except Exception:
        app.failure_report(request.node.name)
        raise
    finally:
        app.quit()
