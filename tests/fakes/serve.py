"""Starts one contract fake by name on 127.0.0.1, prints its URL on one line and serves until
standard input closes (the test that started it ends): `python3 tests/fakes/serve.py tokenkit`."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from anikura import AniKura  # noqa: E402
from ananke import Ananke  # noqa: E402
from animus import Animus  # noqa: E402
from tokenkit import TokenKit  # noqa: E402
from wanikani import WaniKani  # noqa: E402

FAKES = {f.name: f for f in (TokenKit, AniKura, Animus, Ananke, WaniKani)}


def main():
    if len(sys.argv) != 2 or sys.argv[1] not in FAKES:
        sys.exit(f"usage: serve.py {{{','.join(FAKES)}}}")
    fake = FAKES[sys.argv[1]]()
    print(fake.start(), flush=True)
    sys.stdin.read()
    fake.stop()


if __name__ == "__main__":
    main()
