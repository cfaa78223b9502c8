"""Passwords typed at a terminal are not shown: `keyhaven-service user add` and `keyhaven account
add` run in a real pseudo-terminal (their controlling terminal), the password is typed after the
prompt, and everything the terminal shows is checked for it. The same harness first shows that
a program which does not turn echo off does show what is typed, so the check can fail."""

import os
import pty
import select
import signal
import time
from pathlib import Path

from conftest import BIN, NAMESPACE, random_password


class Terminal:
    """A program on a pseudo-terminal of its own: what it shows, and keys typed into it."""

    def __init__(self, argv: list[str], env: dict):
        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # the child: the pty is its controlling terminal and standard streams
            try:
                os.execve(argv[0], argv, env)
            finally:
                os._exit(127)
        self.shown = b""

    def read_until(self, text: bytes, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.shown:
            left = deadline - time.monotonic()
            assert left > 0, f"waited for {text!r}; the terminal shows {self.shown[-300:]!r}"
            if not select.select([self.fd], [], [], left)[0]:
                continue
            try:
                chunk = os.read(self.fd, 4096)
            except OSError:  # EIO: the program ended and closed the terminal
                chunk = b""
            assert chunk, f"ended before {text!r}; the terminal shows {self.shown[-300:]!r}"
            self.shown += chunk

    def type(self, text: str) -> None:
        os.write(self.fd, text.encode())

    def tail(self, hide: str) -> bytes:
        """The end of what the terminal shows, `hide` masked: for failure messages, which end up
        in the test output."""
        return self.shown.replace(hide.encode(), b"[hidden]")[-300:]

    def finish(self, timeout: float = 60) -> int:
        """Reads what is left until the program ends; its exit status."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not select.select([self.fd], [], [], 0.2)[0]:
                done, status = os.waitpid(self.pid, os.WNOHANG)
                if done:
                    os.close(self.fd)
                    return os.waitstatus_to_exitcode(status)
                continue
            try:
                chunk = os.read(self.fd, 4096)
            except OSError:
                chunk = b""
            if not chunk:
                _, status = os.waitpid(self.pid, 0)
                os.close(self.fd)
                return os.waitstatus_to_exitcode(status)
            self.shown += chunk
        os.kill(self.pid, signal.SIGKILL)
        os.waitpid(self.pid, 0)
        # Not what it shows: by now that may hold what was typed.
        raise AssertionError(f"still running after {timeout} s")


def test_the_harness_sees_what_a_terminal_echoes():
    term = Terminal(["/bin/sh", "-c", "printf 'say: '; read x; echo done"], dict(os.environ))
    term.read_until(b"say: ")
    term.type("visible words\n")
    assert term.finish() == 0
    assert b"visible words" in term.shown and b"done" in term.shown


def test_passwords_typed_at_a_terminal_are_not_shown(service, workdir: Path):
    password = random_password()
    term = Terminal(
        [str(BIN / "keyhaven-service"), "user", "add", "--db", str(service.db), "--email", "tty@acme.test",
         "--role", "owner", "--tenant", "acme"],
        dict(os.environ),
    )
    term.read_until(b"Password (not shown): ")
    term.type(password + "\n")
    assert term.finish() == 0, term.tail(password)
    assert b"created user" in term.shown, term.tail(password)
    echoed = password.encode() in term.shown  # a bool: a failed assert never prints the password
    assert not echoed, "the password was shown"
    service.start()
    assert service.login("tty@acme.test", password)

    # The CLI asks the same way, and signs in with what was typed.
    env = dict(os.environ, KEYHAVEN_DATA_DIR=str(workdir / "cli-data"), KEYHAVEN_KEYCHAIN_NAMESPACE=NAMESPACE)
    term = Terminal([str(BIN / "keyhaven"), "account", "add", "--url", service.url, "--email", "tty@acme.test",
                     "--no-remember"], env)
    term.read_until(b"Password: ")
    term.type(password + "\n")
    assert term.finish() == 0, term.tail(password)
    assert b"tty@acme.test" in term.shown, term.tail(password)
    echoed = password.encode() in term.shown
    assert not echoed, "the password was shown"
