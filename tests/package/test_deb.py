"""The Linux packages `scripts/package --debug` built (the test command builds them first): the
.deb, unpacked into a throwaway folder, holds the app, which opens its window, the command line,
a desktop file that registers keyhaven:// links, and the icons at every size the desktop asks
for; the .rpm is an rpm of the same version."""

import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BUNDLE = ROOT / "target" / "debug" / "bundle"
OUT = Path(os.environ.get("KEYHAVEN_TEST_OUTPUT", ROOT / "test-output"))
# The hicolor sizes desktops look for an application's icon at.
SIZES = [16, 24, 32, 48, 64, 128, 256, 512]


def only(pattern: str) -> Path:
    found = sorted(BUNDLE.glob(pattern))
    assert len(found) == 1, f"expected one {pattern} under {BUNDLE}, found {found} (run scripts/package --debug)"
    return found[0]


@pytest.fixture(scope="module")
def unpacked():
    deb = only("deb/*.deb")
    folder = Path(tempfile.mkdtemp(prefix="keyhaven-deb-"))
    subprocess.run(["dpkg-deb", "-x", str(deb), str(folder)], check=True)
    yield folder
    shutil.rmtree(folder)


def test_the_control_file_names_the_package_and_what_it_needs():
    info = subprocess.run(["dpkg-deb", "-f", str(only("deb/*.deb")), "Package", "Version", "Depends"],
                          capture_output=True, text=True, check=True).stdout
    assert "Package: keyhaven" in info
    assert "Version: 0.1.0" in info
    assert "libwebkit2gtk-4.1-0" in info
    # The tray icon's library, which the app loads when it starts.
    assert "libayatana-appindicator3-1" in info


def test_the_desktop_file_registers_keyhaven_links(unpacked):
    desktop = (unpacked / "usr/share/applications/Keyhaven.desktop").read_text()
    entries = dict(line.split("=", 1) for line in desktop.splitlines() if "=" in line)
    assert entries["Name"] == "Keyhaven"
    assert entries["Exec"].split()[0] == "keyhaven-app"
    assert entries["Icon"] == "keyhaven-app"
    assert "x-scheme-handler/keyhaven" in entries["MimeType"].split(";")


def test_the_icons_are_there_at_every_size(unpacked):
    for size in SIZES:
        icon = unpacked / f"usr/share/icons/hicolor/{size}x{size}/apps/keyhaven-app.png"
        assert icon.is_file(), f"no {size}x{size} icon"
        shown = subprocess.run(["identify", "-format", "%wx%h", str(icon)], capture_output=True, text=True, check=True)
        assert shown.stdout == f"{size}x{size}", f"{icon.name} at {size}: {shown.stdout}"
    for other in ("icons/icon.ico", "icons/icon.icns"):
        assert (ROOT / other).stat().st_size > 0, f"{other} for the other platforms"


def test_the_package_carries_the_app_and_the_command_line_only(unpacked):
    assert sorted(p.name for p in (unpacked / "usr/bin").iterdir()) == ["keyhaven", "keyhaven-app"]


def test_the_command_line_is_in_the_package(unpacked):
    cli = unpacked / "usr/bin/keyhaven"
    out = subprocess.run([str(cli), "--version"], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0 and out.stdout.startswith("keyhaven "), out


def test_the_packaged_app_opens_its_window(unpacked):
    assert os.environ.get("DISPLAY"), "needs the test command's Xvfb display"
    data = Path(tempfile.mkdtemp(prefix="keyhaven-deb-data-"))
    env = {**os.environ, "KEYHAVEN_DATA_DIR": str(data), "KEYHAVEN_KEYCHAIN_NAMESPACE": "dev.keyhaven.test.package"}
    log = open(OUT / "logs" / "package-app.log", "w")
    app = subprocess.Popen([str(unpacked / "usr/bin/keyhaven-app")], env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 90
        window = None
        while time.monotonic() < deadline and app.poll() is None:
            tree = subprocess.run(["xwininfo", "-root", "-tree"], capture_output=True, text=True).stdout
            window = re.search(r'^\s*(0x[0-9a-f]+) "Keyhaven":', tree, re.M)
            if window:
                break
            time.sleep(0.5)
        assert app.poll() is None, f"the packaged app exited ({app.returncode}); see test-output/logs/package-app.log"
        assert window, "no window titled Keyhaven within 90 s"
        time.sleep(3)  # let the page draw before the screenshot a person looks at
        (OUT / "screenshots").mkdir(parents=True, exist_ok=True)
        subprocess.run(["import", "-window", "root", str(OUT / "screenshots" / "package-window.png")], check=False)
    finally:
        app.terminate()
        try:
            app.wait(timeout=20)
        except subprocess.TimeoutExpired:
            app.kill()
        log.close()
        shutil.rmtree(data, ignore_errors=True)


def test_the_rpm_is_an_rpm_of_the_same_version():
    rpm = only("rpm/*.rpm")
    assert rpm.name == "Keyhaven-0.1.0-1.x86_64.rpm"
    head = rpm.read_bytes()[:96]
    assert head[:4] == b"\xed\xab\xee\xdb", "not an rpm file (lead magic)"
    assert head[10:].split(b"\0")[0] == b"keyhaven", head[10:40]
