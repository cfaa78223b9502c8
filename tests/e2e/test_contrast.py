"""Colour contrast in the real window (#22): axe-core, run in the page the app shows, finds no
violation on the app's screens, in the light theme and in the dark one. jsdom has no layout, so
ui/src/a11y.test.tsx leaves colour contrast out; here WebKit has laid the page out and axe reads the
colours each piece of text is really drawn in, over what it is really drawn on. Every rule axe runs
by default runs here too, none turned off.

axe's own script (ui/node_modules/axe-core) goes into the page through WebDriver, which runs it
as the automation's script: the app's content security policy stays as strict as it is (eval and
inline scripts stay refused, test_keys_ui.py)."""

import time

from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from conftest import ROOT, random_password, record_secret
from test_key_detail import create_key, finish_rotation, open_detail, start_rotation
from test_keys_ui import http, page_is_dark
from test_profiles import settings_with_an_out_of_range_value

AXE = ROOT / "ui" / "node_modules" / "axe-core" / "axe.min.js"

# axe's default rules on the whole document; what it found, cut down to what a report needs. For
# colour contrast the data holds both colours, the ratio and the ratio the text needed.
RUN_AXE = """
const done = arguments[arguments.length - 1];
axe.run(document, { resultTypes: ['violations', 'incomplete'] }).then((r) => {
  const slim = (list) => list.map((rule) => ({
    id: rule.id, impact: rule.impact,
    nodes: rule.nodes.map((n) => ({
      target: n.target.join(' '),
      html: n.html.slice(0, 160),
      summary: n.failureSummary || '',
      data: (n.any.concat(n.all, n.none).find((c) => c.data && typeof c.data === 'object') || {}).data || null,
    })),
  }));
  done({ violations: slim(r.violations), incomplete: slim(r.incomplete.filter((i) => i.id === 'color-contrast')) });
}, (e) => done({ error: String(e) }));
"""


def describe(node: dict) -> str:
    d = node["data"] or {}
    if d.get("contrastRatio"):
        return (
            f"{node['target']}: {d.get('fgColor')} on {d.get('bgColor')} = {d['contrastRatio']}:1"
            f" (needs {d.get('expectedContrastRatio')}; {d.get('fontSize')} {d.get('fontWeight')})"
        )
    if d.get("messageKey"):
        return f"{node['target']}: {d['messageKey']}"
    return f"{node['target']}: {node['summary'] or node['html']}"


class Audit:
    """axe in one window, screen after screen. What it finds is kept and reported together at the
    end, so that one run names every problem of every screen."""

    def __init__(self, app, theme: str):
        self.app, self.theme = app, theme
        self.found: list[str] = []
        self.screens: list[str] = []
        app.driver.set_script_timeout(60)

    def check(self, screen: str):
        driver = self.app.driver
        # The last change drawn, and the buttons' 0.12 s colour transition over, before axe reads colours.
        driver.execute_async_script("requestAnimationFrame(() => requestAnimationFrame(arguments[0]))")
        time.sleep(0.2)
        if not driver.execute_script("return typeof window.axe === 'object'"):
            driver.execute_script(AXE.read_text())
        result = driver.execute_async_script(RUN_AXE)
        assert "error" not in result, f"axe failed on {screen}: {result['error']}"
        self.screens.append(screen)
        for rule in result["violations"]:
            for node in rule["nodes"]:
                self.found.append(f"[{self.theme}] {screen}: {rule['id']} ({rule['impact']}) {describe(node)}")
        # What axe cannot decide (text over a gradient, SVG text) is shown with `pytest -s`.
        for rule in result["incomplete"]:
            for node in rule["nodes"]:
                print(f"[{self.theme}] {screen}: contrast left undecided by axe: {describe(node)}")

    def assert_clean(self):
        print(f"[{self.theme}] axe checked: " + ", ".join(self.screens))
        assert not self.found, f"{len(self.found)} axe violation(s):\n" + "\n".join(self.found)


def walk_screens(app, theme: str):
    """One window, every screen worth a look: lists, detail, dialogs with their problems shown,
    the tabs, alerts and an error note."""
    assert page_is_dark(app) == (theme == "dark"), f"the page's colour scheme is not {theme}"
    audit = Audit(app, theme)
    app.wait_text("No keys yet")
    audit.check("empty keys list")

    # New key with a problem shown (Create with no name), then a key expiring in 7 days, whose
    # secret is shown once.
    app.button("New key").click()
    app.dialog("New key")
    app.button("Create", within="dialog").click()
    app.wait_text("Give the key a name.")
    audit.check("New key with a validation error")
    app.type("Name", "deploy bot")
    app.choose("Expires", "In 7 days")
    app.button("Create", within="dialog").click()
    secret = record_secret(app.text_of("[data-testid=new-key-secret]"))
    audit.check("New key's secret shown once")
    app.button("Done", within="dialog").click()
    app.no_dialog()
    # The key used once, so that its detail draws a chart and the watcher, seeing a key it has not
    # listed yet, reads the list again and warns that the key expires.
    status, _, _ = http("GET", f"{app.local_service_url()}/v1/ping", headers={"X-API-Key": secret})
    assert status == 200
    create_key(app, "ci runner")
    create_key(app, "old key")

    # Revoke one, with its name typed (the dialog's Revoke is enabled).
    row = app.wait.until(lambda d: d.find_element(By.XPATH, "//tr[td[normalize-space(.)='old key']]"))
    row.find_element(By.XPATH, ".//button[normalize-space(.)='Revoke']").click()
    app.dialog()
    app.type("Type the key's name to confirm", "old key")
    revoke = app.button("Revoke", within="dialog")
    # With the pointer on it, as a person about to press it sees it.
    ActionChains(app.driver).move_to_element(revoke).perform()
    audit.check("Revoke dialog, name typed, pointer on Revoke")
    app.button("Revoke", within="dialog").click()
    app.no_dialog()
    app.wait.until(lambda d: "revoked" in d.find_element(By.XPATH, "//tr[td[normalize-space(.)='old key']]").text.lower())

    # Rotate another with an hour's grace: its steps and outcome, then the new key's detail,
    # which names the key it replaces.
    start_rotation(app, "ci runner", "1 hour")
    audit.check("Rotate dialog")
    finish_rotation(app)
    audit.check("Rotate dialog, completed")
    app.button("Done", within="dialog").click()
    app.no_dialog()
    app.wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "[data-relation=replaces]"))
    audit.check("key detail of a rotated key")
    app.button("Back to keys").click()

    # Every status in the list: active, expiring (the rotated key in its grace) and revoked.
    statuses = lambda d: {(e.get_attribute("textContent") or "").strip() for e in d.find_elements(By.CSS_SELECTOR, "td .status")}
    app.wait.until(lambda d: {"active", "expiring", "revoked"} <= statuses(d))
    audit.check("keys list")
    app.screenshot(f"contrast-{theme}-keys")

    open_detail(app, "deploy bot")
    audit.check("key detail")
    app.screenshot(f"contrast-{theme}-key-detail")
    app.button("Back to keys").click()

    app.tab("Usage")
    app.wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, ".usage-overview .detail-scroll"))
    new_alerts = "//button[contains(@class,'alerts-button')][contains(@aria-label,'new')]"
    for _ in range(10):
        if app.driver.find_elements(By.XPATH, new_alerts):
            break
        app.button("Refresh").click()
        time.sleep(1)
    app.wait.until(lambda d: d.find_elements(By.XPATH, new_alerts))
    audit.check("Usage tab, alerts badge")
    app.tab("Audit log")
    app.wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "table[aria-label='Audit log'] tbody tr"))
    audit.check("Audit log tab")
    app.screenshot(f"contrast-{theme}-audit")
    app.tab("Keys")

    app.driver.find_element(By.XPATH, new_alerts).click()
    app.dialog("Alerts")
    app.wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "[role=dialog] .alert-list li"))
    audit.check("Alerts")
    app.press(Keys.ESCAPE)
    app.no_dialog()

    # Settings with a value out of range.
    settings_with_an_out_of_range_value(app)
    audit.check("Settings with a value out of range")
    app.screenshot(f"contrast-{theme}-settings")
    app.button("Cancel", within="dialog").click()
    app.no_dialog()

    # An error note with its hint: Add account pointed at a port where nothing listens.
    app.button("Add account").click()
    app.radio("Another service").click()
    app.type("Service URL", "http://127.0.0.1:9")
    app.type("Email", "nobody@acme.test")
    app.type("Password", random_password())
    app.button("Sign in", within="dialog").click()
    app.wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "[role=dialog] .error[role=alert]"))
    audit.check("Add account with an error")
    app.screenshot(f"contrast-{theme}-error")

    audit.assert_clean()


def test_contrast_light(app):
    walk_screens(app, "light")


def test_contrast_dark(dark_app):
    walk_screens(dark_app, "dark")
