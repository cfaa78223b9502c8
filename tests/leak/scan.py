"""Leak scan after the whole suite (SECURITY.md #22).

Every test helper that creates a secret (a password, a session token, an API key) appends it to
the ledger named by KEYHAVEN_LEAK_LEDGER, a file that scripts/test keeps outside every scanned
folder and deletes at the end. This searches every file under the folders given (test output,
captured logs, the sandbox's data folders) for the bytes of every secret in the ledger, and
fails on any hit, naming the file and the secret's first four characters only.

Each secret is looked for as it is and as it would appear encoded: in base64 (standard and
URL-safe, at each of the three alignments a secret can have inside a longer encoded text) and
percent-encoded (as in a URL or a form), where that differs.

A control proves the scan sees what is there: a random string that is not a secret is written to
a scanned log, base64-encoded inside a longer text, and added to the search; the scan fails unless
it finds it exactly there.

Usage: python tests/leak/scan.py LEDGER FOLDER...
"""

import base64
import os
import secrets
import sys
import urllib.parse
from pathlib import Path

# Shorter strings would match by chance (and no secret of the suite is this short).
MIN_SECRET_CHARS = 16


def read_ledger(path: Path) -> list[bytes]:
    if not path.is_file():
        return []
    found = {line.strip() for line in path.read_bytes().splitlines()}
    return sorted(s for s in found if len(s) >= MIN_SECRET_CHARS)


def encodings(secret: bytes) -> list[tuple[bytes, str]]:
    """The secret's forms to look for, each with what it is. In base64, a secret inside a longer
    text starts at one of three offsets from a 3-byte group; from its first whole group on, its
    encoding is the same whatever came before, so that part is searched for."""
    forms = [(secret, "as is")]
    for skip in range(3):
        whole = (len(secret) - skip) // 3 * 3
        part = secret[skip:skip + whole]
        for encode, name in ((base64.b64encode, "base64"), (base64.urlsafe_b64encode, "URL-safe base64")):
            text = encode(part).rstrip(b"=")
            if len(text) >= MIN_SECRET_CHARS:
                forms.append((text, name))
    for quote, name in ((urllib.parse.quote, "percent-encoded"), (urllib.parse.quote_plus, "form-encoded")):
        text = quote(secret.decode(errors="replace"), safe="").encode()
        if text != secret:
            forms.append((text, name))
    unique = {}
    for form, how in forms:
        unique.setdefault(form, how)  # the same bytes in two encodings: named by the first
    return list(unique.items())


def files_under(folders: list[Path]):
    for folder in folders:
        for dirpath, _dirnames, filenames in os.walk(folder, followlinks=False):
            for name in filenames:
                p = Path(dirpath) / name
                if p.is_file() and not p.is_symlink():
                    yield folder, p


def scan(secrets_: list[bytes], folders: list[Path]) -> tuple[int, int, list[tuple[Path, bytes, str]]]:
    """Files read, bytes read, and (file, secret, form) for every secret found in a file, in any
    of its forms."""
    needles = [(form, s, how) for s in secrets_ for form, how in encodings(s)]
    files = total = 0
    hits = []
    for _folder, p in files_under(folders):
        try:
            data = p.read_bytes()
        except OSError:
            continue  # sockets, files removed meanwhile
        files += 1
        total += len(data)
        seen = set()
        for form, s, how in needles:
            if s not in seen and form in data:
                seen.add(s)
                hits.append((p, s, how))
    return files, total, hits


def main() -> int:
    if len(sys.argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    ledger = Path(sys.argv[1])
    folders = [Path(f) for f in sys.argv[2:] if Path(f).exists()]
    searched = read_ledger(ledger)

    # The control: a known non-secret in a scanned log.
    logs = folders[0] / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    control = ("leak-scan-control-" + secrets.token_hex(16)).encode()
    control_file = logs / "leak-scan-control.log"
    # Base64-encoded inside a longer text, at an offset that is not a group boundary: the scan
    # must find it in that form.
    encoded = base64.b64encode(b"xy" + control + b" and more")
    control_file.write_bytes(b"a line holding the control, encoded: " + encoded + b"\n")
    try:
        files, total, hits = scan(searched + [control], folders)
    finally:
        control_file.unlink()

    control_hits = [p for p, s, how in hits if s == control and "base64" in how]
    leaks = [(p, s, how) for p, s, how in hits if s != control]
    print(f"leak scan: {len(searched)} secrets searched, each as is, in base64 and percent-encoded, in {files} files "
          f"({total / 1e6:.1f} MB) under {len(folders)} folders")
    ok = True
    if control_hits != [control_file]:
        print(f"leak scan: the control was found in {len(control_hits)} files, not exactly in its own: "
              "the scan is not seeing what is there")
        ok = False
    if not searched:
        print("leak scan: the ledger is empty: no test recorded a secret (is KEYHAVEN_LEAK_LEDGER set?)")
        ok = False
    for p, s, how in leaks:
        where = next((f"{f.name}/{p.relative_to(f)}" for f in folders if p.is_relative_to(f)), p.name)
        print(f"LEAK: a secret starting {s[:4].decode(errors='replace')!r}… is in {where} ({how})")
        ok = False
    if ok:
        print("leak scan: the control was found (base64-encoded); no secret was found in any form")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
