"""How the app sets WebKit up for its one window: without GPU compositing unless the person asks
for it with KEYHAVEN_WEBVIEW_GPU=1 (src-tauri/webview.rs). The switch WebKit reads reaches the
page's own process through its environment, so that is where it is checked, in the real app."""

import pytest

from conftest import _app, web_processes

SWITCH = b"WEBKIT_DISABLE_COMPOSITING_MODE"


def page_environment(app) -> list[bytes]:
    (app_pid,) = app.pids
    (web,) = web_processes(app_pid)
    return open(f"/proc/{web}/environ", "rb").read().split(b"\0")


def compositing_switch(app) -> list[bytes]:
    return [v for v in page_environment(app) if v.split(b"=", 1)[0] == SWITCH]


@pytest.fixture
def plain_app(request, workdir):
    """The app started without the switch in its environment, as from a desktop."""
    yield from _app(request, workdir, {SWITCH.decode(): None})


@pytest.fixture
def gpu_app(request, workdir):
    yield from _app(request, workdir, {"KEYHAVEN_WEBVIEW_GPU": "1", SWITCH.decode(): None})


def test_the_page_is_drawn_without_gpu_compositing_by_default(plain_app):
    plain_app.wait_text("No keys yet")
    assert compositing_switch(plain_app) == [SWITCH + b"=1"]
    # The window works as ever: the keys view answers the keyboard.
    plain_app.press("/")
    assert plain_app.driver.switch_to.active_element.get_attribute("aria-label") == "Filter keys"


def test_keyhaven_webview_gpu_1_leaves_compositing_on(gpu_app):
    gpu_app.wait_text("No keys yet")
    assert compositing_switch(gpu_app) == []
