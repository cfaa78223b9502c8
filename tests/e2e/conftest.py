"""Fixtures for the end-to-end tests: the real key service on loopback, the real app window
driven through tauri-driver and WebKitWebDriver, and the real Secret Service of the private
D-Bus session that scripts/test starts."""

import http.client
import json
import os
import re
import secrets
import signal
import socket
import string
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from jeepney import message_bus
from jeepney.io.blocking import open_dbus_connection
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.options import ArgOptions
from selenium.webdriver.remote.client_config import ClientConfig
from selenium.webdriver.remote.remote_connection import RemoteConnection
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import Select, WebDriverWait

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")) / "debug"
OUT = Path(os.environ.get("KEYHAVEN_TEST_OUTPUT", ROOT / "test-output"))
NAMESPACE = os.environ.get("KEYHAVEN_KEYCHAIN_NAMESPACE", "dev.keyhaven.test")
# Colour codes in the app's log lines.
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def record_secret(secret: str) -> str:
    """Appends a secret the test created or read to the leak ledger, when scripts/test keeps one
    (KEYHAVEN_LEAK_LEDGER, outside every folder the leak scan after the suite searches)."""
    ledger = os.environ.get("KEYHAVEN_LEAK_LEDGER")
    if ledger and secret:
        with open(ledger, "a") as f:
            f.write(secret.strip() + "\n")
    return secret


def random_password() -> str:
    alphabet = string.ascii_letters + string.digits
    return record_secret("".join(secrets.choice(alphabet) for _ in range(24)))


class Service:
    """A keyhaven-service process on 127.0.0.1 with a database file of its own (the debug build
    unless another binary is given, as the app bench does), and its HTTP API."""

    def __init__(self, workdir: Path, binary: Path = BIN / "keyhaven-service"):
        self.binary = binary
        self.db = workdir / "service.db"
        self.log = open(workdir / "service.log", "w+")
        self.users = {}

    def add_user(self, email: str, role: str = "owner", tenant: str = "acme") -> str:
        password = random_password()
        subprocess.run(
            [self.binary, "user", "add", "--db", self.db, "--email", email, "--role", role, "--tenant", tenant],
            input=password + "\n", text=True, check=True, capture_output=True,
        )
        self.users[email] = password
        return password

    def start(self, *args: str):
        """Serves on a free loopback port; `args` are passed on to `serve` (e.g. a key cap)."""
        self.proc = subprocess.Popen(
            [self.binary, "serve", "--db", self.db, "--listen", "127.0.0.1:0", *args],
            stdout=subprocess.PIPE, stderr=self.log, text=True,
        )
        first = self.proc.stdout.readline().strip()
        assert first.startswith("listening on http://"), f"unexpected first line: {first!r}"
        self.url = first.removeprefix("listening on ")
        parts = urlsplit(self.url)
        self.host, self.port = parts.hostname, parts.port
        return self

    def call(self, conn: http.client.HTTPConnection, method: str, path: str, body=None, token=None):
        """One JSON request on a kept-alive connection; an answer that is not 2xx raises."""
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
        r = conn.getresponse()
        data = r.read()
        if r.status >= 300:
            # The error body never holds a secret (shared/API.md).
            raise RuntimeError(f"{method} {path}: HTTP {r.status} {data[:200]!r}")
        return json.loads(data) if data else None

    def login(self, email: str, password: str) -> str:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
        try:
            return self.call(conn, "POST", "/v1/auth/login", {"email": email, "password": password})["token"]
        finally:
            conn.close()

    def create_keys(self, token: str, bodies: list[dict], threads: int = 4):
        """POST /v1/keys once per body, over a few keep-alive connections; the secrets are dropped."""
        chunks = [bodies[i::threads] for i in range(threads)]
        errors = []

        def work(chunk):
            conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
            try:
                for body in chunk:
                    self.call(conn, "POST", "/v1/keys", body, token)
            except Exception as e:  # noqa: BLE001 - raised below
                errors.append(e)
            finally:
                conn.close()

        workers = [threading.Thread(target=work, args=(c,)) for c in chunks]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        if errors:
            raise errors[0]

    def list_keys(self, token: str) -> list[dict]:
        """Every key of the tenant, page by page (the service answers 1,000 keys a page)."""
        conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
        keys, cursor = [], None
        try:
            while True:
                page = self.call(conn, "GET", f"/v1/keys?cursor={cursor}" if cursor else "/v1/keys", token=token)
                keys.extend(page["keys"])
                cursor = page.get("next_cursor")
                if not cursor:
                    return keys
        finally:
            conn.close()

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)
        self.log.close()


def xq(text: str) -> str:
    """`text` as an XPath string literal, whatever quotes it holds."""
    if "'" not in text:
        return f"'{text}'"
    if '"' not in text:
        return f'"{text}"'
    return "concat(" + ", \"'\", ".join(f"'{part}'" for part in text.split("'")) + ")"


def wait_for_port(port: int, timeout: float = 30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise TimeoutError(f"nothing listens on port {port} after {timeout} s")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class App:
    """The real Keyhaven window, through tauri-driver."""

    def __init__(
        self, data_dir: Path, log_path: Path, extra_env: dict | None = None, args: list[str] | None = None,
        application: Path = BIN / "keyhaven-app",
    ):
        """`application`: what WebKitWebDriver starts, the app binary unless a test wraps it."""
        self.data_dir = data_dir
        self.log_path = log_path
        port, native = free_port(), free_port()
        env = dict(os.environ, KEYHAVEN_DATA_DIR=str(data_dir), KEYHAVEN_LOG="info")
        for name, value in (extra_env or {}).items():
            if value is None:  # None: the app starts without this variable
                env.pop(name, None)
            else:
                env[name] = value
        self.env = env
        self.log = open(log_path, "w+")
        self.driver_proc = subprocess.Popen(
            ["tauri-driver", "--port", str(port), "--native-port", str(native)],
            env=env, stdout=self.log, stderr=subprocess.STDOUT,
        )
        # tauri-driver spawns WebKitWebDriver at start; a session asked for before that one listens
        # fails with "client error (Connect)", so wait for both.
        wait_for_port(port)
        wait_for_port(native)
        options = ArgOptions()
        options.set_capability("browserName", "wry")
        options.set_capability("tauri:options", {"application": str(application), "args": list(args or [])})
        # A deadline on every WebDriver request: a window that stops answering fails its test
        # instead of holding the whole run.
        config = ClientConfig(remote_server_addr=f"http://127.0.0.1:{port}", timeout=120)
        self.driver = webdriver.Remote(command_executor=RemoteConnection(client_config=config), options=options)
        # An element that the page removes while WebKitWebDriver is collecting a search's results
        # comes back stale: the condition is simply asked again.
        self.wait = WebDriverWait(self.driver, 20, ignored_exceptions=(StaleElementReferenceException,))
        self.pids = app_pids(data_dir)

    def launch_again(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
        """Starts the app binary a second time, as a desktop does for a link it hands to the app,
        and waits for that process to end (it forwards its arguments to the running one)."""
        return subprocess.run(
            [str(BIN / "keyhaven-app"), *args], env=self.env, capture_output=True, text=True, timeout=timeout,
        )

    def failure_report(self, name: str):
        """What a failed test leaves behind: screenshots if the window still answers, and the last
        lines of the app's log on standard output (pytest shows it beside the failure)."""
        try:
            self.screenshot(f"FAILED-{name}")
        except Exception as e:  # noqa: BLE001 - a window that is gone cannot be captured
            print(f"no screenshot of the window: {type(e).__name__}: {e}".strip())
        print(f"last lines of {self.log_path.name}:")
        for line in self.log_text().splitlines()[-25:]:
            print("  " + line[:300])

    def log_text(self) -> str:
        """The app's log so far (with tauri-driver's lines), without colour codes."""
        self.log.flush()
        return ANSI.sub("", self.log_path.read_text(errors="replace"))

    def quit(self):
        try:
            self.driver.quit()
        except Exception as e:  # noqa: BLE001 - the session may be gone with its window
            print(f"closing the WebDriver session: {type(e).__name__}", file=self.log, flush=True)
        finally:
            self.pids |= app_pids(self.data_dir)
            end_app(self.pids, self.log)
            self.driver_proc.terminate()
            self.driver_proc.wait(timeout=10)
            self.log.close()

    # -- finding things the way a person does: by their visible or accessible names --
    def button(self, name: str, within: str = ""):
        """A button by its accessible name; `within` narrows the search ("dialog" for the open dialog)."""
        scope = "//div[@role='dialog']" if within == "dialog" else ""
        xpath = f"{scope}//button[normalize-space(.)={xq(name)} or @aria-label={xq(name)}]"
        return self.wait.until(EC.element_to_be_clickable((By.XPATH, xpath)))

    def field(self, label: str):
        """An input, text area or menu by its label: a <label> around it, a <label for=…>, or aria-label."""
        control = "*[self::input or self::textarea or self::select]"
        xpath = (
            f"//label[span[normalize-space(.)={xq(label)}]]//{control}"
            f" | //{control}[@id = //label[normalize-space(.)={xq(label)}]/@for]"
            f" | //{control}[@aria-label={xq(label)}]"
        )
        return self.wait.until(EC.visibility_of_element_located((By.XPATH, xpath)))

    def choose(self, label: str, option: str):
        """Picks an option of a labelled menu by its visible text."""
        Select(self.field(label)).select_by_visible_text(option)

    def press(self, *keys: str):
        """Sends a key chord to whatever has focus, as a person would press it."""
        actions = ActionChains(self.driver)
        for k in keys[:-1]:
            actions.key_down(k)
        actions.send_keys(keys[-1])
        for k in reversed(keys[:-1]):
            actions.key_up(k)
        actions.perform()

    def dialog(self, title: str | None = None):
        """The open dialog (with that title, if given), once it is shown."""
        xpath = "//div[@role='dialog']"
        if title is not None:
            xpath += f"[.//h2[normalize-space(.)={xq(title)}]]"
        return self.wait.until(EC.visibility_of_element_located((By.XPATH, xpath)))

    def no_dialog(self):
        self.wait.until(lambda d: not d.find_elements(By.CSS_SELECTOR, "[role=dialog]"))

    def type(self, label: str, text: str):
        """Types into a labelled field as a person would, and waits until the field holds it
        (WebKitWebDriver delivers key events asynchronously)."""
        field = self.field(label)
        field.click()
        field.send_keys(text)
        self.wait.until(lambda _: field.get_attribute("value") == text)
        return field

    def radio(self, label: str):
        xpath = f"//label[normalize-space(.)={xq(label)}]/input"
        return self.wait.until(EC.element_to_be_clickable((By.XPATH, xpath)))

    def text_of(self, css: str) -> str:
        """The text of the first element matching `css`, once it is shown. Uses textContent:
        WebKitWebDriver's rendered-text leaves out text clipped with an ellipsis."""
        element = self.wait.until(EC.visibility_of_element_located((By.CSS_SELECTOR, css)))
        return " ".join((element.get_attribute("textContent") or "").split())

    def tab(self, name: str):
        """Opens the tab `name` (Keys, Usage, Audit log) and waits until it is the selected one."""
        button = self.driver.find_element(By.XPATH, f"//button[@role='tab'][normalize-space(.)={xq(name)}]")
        button.click()
        self.wait.until(lambda _: button.get_attribute("aria-selected") == "true")

    def local_service_url(self) -> str:
        """The address the app's own key service listens on, from the app's log."""
        found = re.findall(r"local key service started url=(\S+)", self.log_text())
        assert found, "the app's log does not give the local service's address"
        return found[-1]

    def wait_text(self, text: str):
        self.wait.until(EC.presence_of_element_located((By.XPATH, f"//*[contains(normalize-space(.), {xq(text)})]")))

    def screenshot(self, name: str):
        path = OUT / "screenshots" / f"{name}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        # The webview as WebDriver renders it, and the whole X screen as a person sees it. The
        # window reaches the X screen a little after the page has changed: let two frames pass
        # and the compositor catch up first, or the capture shows the screen before the change.
        self.driver.save_screenshot(str(path.with_name(f"{name}-webview.png")))
        self.driver.execute_async_script("requestAnimationFrame(() => requestAnimationFrame(arguments[0]))")
        time.sleep(0.5)
        x_screen(name, check=False)

    def catalog(self) -> dict:
        profiles = self.data_dir / "profiles"
        catalogs = list(profiles.glob("*/catalog.json"))
        assert len(catalogs) == 1, f"expected one profile, found {catalogs}"
        return {"profile": catalogs[0].parent.name, **json.loads(catalogs[0].read_text())}


def x_screen(name: str, check: bool = True) -> Path:
    """The whole X screen, as a person sees it, saved as test-output/screenshots/NAME.png."""
    path = OUT / "screenshots" / f"{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["import", "-window", "root", str(path)], check=check, capture_output=True)
    return path


def app_pids(data_dir: Path) -> set[int]:
    """The Keyhaven app processes started with this data folder (only this test's app)."""
    found = set()
    want = f"KEYHAVEN_DATA_DIR={data_dir}".encode()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if os.path.basename(os.readlink(proc / "exe")) != "keyhaven-app":
                continue
            if want in (proc / "environ").read_bytes().split(b"\0"):
                found.add(int(proc.name))
        except OSError:
            continue
    return found


def web_processes(app_pid: int) -> list[int]:
    """The WebKit web processes (a window's page) the app process `app_pid` started."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            stat = (proc / "stat").read_text()
            ppid = int(stat.rsplit(") ", 1)[1].split()[1])
            if ppid == app_pid and "WebKitWebProcess" in (proc / "cmdline").read_bytes().decode(errors="replace"):
                found.append(int(proc.name))
        except (OSError, ValueError, IndexError):
            continue
    return found


def end_app(pids: set[int], log=None):
    """Makes sure the app's processes are gone once its WebDriver session is closed, and its
    D-Bus name with them: the app is a single instance, so one left running (or still closing)
    would take the next launch for a second one. `log` hears what had to be forced."""
    if not wait_gone(pids, 10):
        print(f"app {sorted(pids)} still running after the session closed: terminating it", file=log, flush=True)
        for pid in pids:
            signal_pid(pid, signal.SIGTERM)
        if not wait_gone(pids, 10):
            for pid in pids:
                signal_pid(pid, signal.SIGKILL)
    if not wait_instance_name_free(10):
        print(f"{INSTANCE_NAME} still owned 10 s after the app ended", file=log, flush=True)


def signal_pid(pid: int, sig: int):
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def wait_gone(pids: set[int], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not any(Path(f"/proc/{pid}").exists() and not _zombie(pid) for pid in pids):
            return True
        time.sleep(0.1)
    return False


def _zombie(pid: int) -> bool:
    """Ended but not yet reaped, threads and all: a leader shows "Z" while its other threads are
    still closing (and still hold its connections, the D-Bus name among them)."""
    try:
        if not Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1].startswith("Z"):
            return False
        return len(os.listdir(f"/proc/{pid}/task")) <= 1
    except (OSError, IndexError):
        return True


# The D-Bus name through which a launch finds the running app: tauri.conf.json's identifier, as
# tauri-plugin-single-instance names it.
INSTANCE_NAME = json.loads((ROOT / "tauri.conf.json").read_text())["identifier"] + ".SingleInstance"


def instance_name_owned() -> bool:
    with open_dbus_connection(bus="SESSION") as conn:
        return conn.send_and_get_reply(message_bus.NameHasOwner(INSTANCE_NAME)).body[0]


def wait_instance_name_free(timeout: float) -> bool:
    """The bus lets go of a name a little after its owner ended."""
    deadline = time.monotonic() + timeout
    while instance_name_owned():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def keychain_lookup(profile: str, entry: str) -> str | None:
    """Reads an entry from the real Secret Service, as any other program on the desktop could."""
    r = subprocess.run(
        ["secret-tool", "lookup", "service", f"{NAMESPACE}/{profile}", "username", entry],
        capture_output=True, text=True,
    )
    return record_secret(r.stdout) if r.returncode == 0 and r.stdout else None


@pytest.fixture
def workdir(request):
    """A folder of the test's own (its app data, its service's database and log). Under the test
    command it is in the run's sandbox and kept until the leak scan at the end has searched it
    (the sandbox goes with the run); run alone, a temporary folder."""
    sandbox = os.environ.get("SANDBOX")
    if sandbox:
        root = Path(sandbox) / "e2e"
        root.mkdir(parents=True, exist_ok=True)
        name = "".join(c if c.isalnum() or c in "._-" else "_" for c in request.node.name)[:80]
        yield Path(tempfile.mkdtemp(prefix=f"{name}-", dir=root))
        return
    with tempfile.TemporaryDirectory(prefix="keyhaven-e2e-") as d:
        yield Path(d)


@pytest.fixture
def service(workdir):
    svc = Service(workdir)
    yield svc
    if hasattr(svc, "proc"):
        svc.stop()


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, "rep_" + report.when, report)


def _app(request, workdir, extra_env=None):
    a = App(workdir / "app-data", OUT / "logs" / f"app-{request.node.name}.log", extra_env)
    try:
        yield a
        failed = getattr(request.node, "rep_call", None)
        if failed is not None and failed.failed:
            a.failure_report(request.node.name)
    finally:
        # Always: an app left running would take the next test's launch for a second instance.
        a.quit()


@pytest.fixture
def app(request, workdir):
    yield from _app(request, workdir)


@pytest.fixture
def dark_app(request, workdir):
    """The app on a desktop whose theme asks for dark (GTK reports prefers-color-scheme: dark)."""
    yield from _app(request, workdir, {"GTK_THEME": "Adwaita:dark"})
