"""Benchmarks of keyhaven-service, run by scripts/bench. Prints figures; asserts nothing.

- /v1/ping with a valid key against the bare /v1/health route of the same server, under wrk:
  throughput, their ratio, p50 and p99 latency; and /v1/ping again with fewer connections (2, 4
  and 8), for its latency below saturation. The two routes take turns over several rounds (a
  shared machine's speed drifts within seconds, which one run of each would read as a difference
  between the routes); each round is printed, and the figures compared are the medians.
- Key creation p50/p99 over HTTP, and listing 10,000 keys.

The tenant is put in a tier with a daily cap of 100,000,000 (serve args `--tier bench=100000000
--default-tier bench`), so that the load measures the hot path and not 429 answers. The storage
is a SQLite file unless KEYHAVEN_BENCH_DB names another database (e.g. a postgres:// URL).

Everything listens on 127.0.0.1 and every loop is bounded. The key it creates lives only in this
process and in wrk's environment; nothing prints it.
"""

import json
import os
import re
import secrets
import statistics
import string
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SERVICE = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")) / "release" / "keyhaven-service"
DURATION = os.environ.get("KEYHAVEN_BENCH_SECONDS", "5")
ROUNDS = int(os.environ.get("KEYHAVEN_BENCH_ROUNDS", "3"))
CONNECTIONS = os.environ.get("KEYHAVEN_BENCH_CONNECTIONS", "32")
LIST_KEYS = int(os.environ.get("KEYHAVEN_BENCH_LIST_KEYS", "10000"))
# Fewer connections, for /v1/ping's latency below saturation: each count is measured.
LOW_CONNECTIONS = os.environ.get("KEYHAVEN_BENCH_LOW_CONNECTIONS", "2,4,8").split(",")
# A daily cap far above what the run can send, so that no call is refused for it.
TIER_ARGS = ["--tier", "bench=100000000", "--default-tier", "bench"]

LUA = """
wrk.headers["X-API-Key"] = os.getenv("KH_BENCH_KEY")
"""


def call(method, url, token=None, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(req, timeout=30) as r:
        raw = r.read()
        return json.loads(raw) if raw else None


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def wrk(url, env=None, script=None, connections=None):
    cmd = ["wrk", "-t2", f"-c{connections or CONNECTIONS}", f"-d{DURATION}s", "--latency", url]
    if script:
        cmd[1:1] = ["-s", script]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    lat = {m.group(1): to_ms(m.group(2), m.group(3)) for m in re.finditer(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)}
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    return rps, lat.get("50"), lat.get("99"), int(non2xx.group(1)) if non2xx else 0


def medians(runs):
    """Per figure (throughput, p50, p99), the median over runs."""
    return tuple(statistics.median(r[i] for r in runs) for i in range(3))


def to_ms(value, unit):
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def main():
    work = Path(tempfile.mkdtemp(prefix="keyhaven-bench-"))
    db = os.environ.get("KEYHAVEN_BENCH_DB") or str(work / "bench.db")
    password = "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(24))
    subprocess.run(
        [SERVICE, "user", "add", "--db", db, "--email", "bench@keyhaven.local", "--role", "owner", "--tenant", "bench"],
        input=password + "\n", text=True, check=True, capture_output=True,
    )
    extra = os.environ.get("KEYHAVEN_BENCH_SERVE_ARGS", "").split()
    log = open(work / "service.log", "w")
    proc = subprocess.Popen(
        # The bench's one session creates and lists keys by the thousand: no rate on it.
        [SERVICE, "serve", "--db", db, "--listen", "127.0.0.1:0", "--max-active-keys", str(LIST_KEYS + 100),
         "--session-rate-per-minute", "1000000000", *TIER_ARGS, *extra],
        stdout=subprocess.PIPE, stderr=log, text=True, env=dict(os.environ, KEYHAVEN_LOG="warn"),
    )
    try:
        url = proc.stdout.readline().strip().removeprefix("listening on ")
        token = call("POST", f"{url}/v1/auth/login", body={"email": "bench@keyhaven.local", "password": password})["token"]
        created = call("POST", f"{url}/v1/keys", token, {"name": "bench", "scopes": ["read"]})
        script = work / "key.lua"
        script.write_text(LUA)
        env = dict(os.environ, KH_BENCH_KEY=created["key"])
        del created

        storage = "PostgreSQL" if db.startswith(("postgres://", "postgresql://")) else "SQLite"
        print(f"keyhaven-service bench ({storage}): wrk -t2 -c{CONNECTIONS} -d{DURATION}s on 127.0.0.1, {os.cpu_count()} cores shared by wrk and the service")
        bares, pings = [], []
        for i in range(ROUNDS):
            bares.append(wrk(f"{url}/v1/health"))
            pings.append(wrk(f"{url}/v1/ping", env=env, script=str(script)))
            b, p = bares[-1], pings[-1]
            print(f"  round {i + 1}: bare {b[0]:>7.0f} req/s (p99 {b[2]:.3f} ms)   ping {p[0]:>7.0f} req/s (p99 {p[2]:.3f} ms, non-2xx {p[3]})   ratio {p[0] / b[0]:.3f}")
        bare = medians(bares)
        ping = medians(pings)
        print(f"  bare route /v1/health   {bare[0]:>10.0f} req/s   p50 {bare[1]:.3f} ms   p99 {bare[2]:.3f} ms   (medians of {ROUNDS} rounds)")
        print(f"  /v1/ping with a key     {ping[0]:>10.0f} req/s   p50 {ping[1]:.3f} ms   p99 {ping[2]:.3f} ms   non-2xx {sum(p[3] for p in pings)}")
        print(f"  ping / bare throughput  {ping[0] / bare[0]:.3f}   (target >= 0.85; p99 target < 1 ms at >= 20,000 req/s)")
        # wrk keeps every connection busy, so at saturation p99 is mostly queueing (32
        # connections at 30,000 req/s wait about 1 ms each on average). Fewer connections show the
        # latency at a lower but still high throughput, which is what the p99 target is about.
        for connections in LOW_CONNECTIONS:
            few = medians([wrk(f"{url}/v1/ping", env=env, script=str(script), connections=connections) for _ in range(ROUNDS)])
            print(f"  /v1/ping, {connections:>2} connections {few[0]:>8.0f} req/s   p50 {few[1]:.3f} ms   p99 {few[2]:.3f} ms   (medians of {ROUNDS} rounds)")

        times = []
        for i in range(LIST_KEYS):
            t = time.perf_counter()
            call("POST", f"{url}/v1/keys", token, {"name": f"k{i}", "scopes": ["read"]})
            times.append((time.perf_counter() - t) * 1000)
        print(f"  key creation ({LIST_KEYS} sequential)   p50 {pct(times, 50):.2f} ms   p99 {pct(times, 99):.2f} ms")
        # The whole list, page by page (1,000 keys a page, each page's cursor to the next), and
        # one page alone.
        times, pages, page_times = [], 0, []
        for _ in range(20):
            t = time.perf_counter()
            n, cursor, pages = 0, None, 0
            while True:
                p = time.perf_counter()
                query = f"?cursor={cursor}" if cursor else ""
                page = call("GET", f"{url}/v1/keys{query}", token)
                page_times.append((time.perf_counter() - p) * 1000)
                n, pages = n + len(page["keys"]), pages + 1
                cursor = page.get("next_cursor")
                if not cursor:
                    break
            times.append((time.perf_counter() - t) * 1000)
        print(f"  list {n} keys in {pages} pages (20 runs)   p50 {pct(times, 50):.1f} ms   p99 {pct(times, 99):.1f} ms   mean {statistics.mean(times):.1f} ms")
        print(f"  one page of up to 1,000 keys        p50 {pct(page_times, 50):.1f} ms   p99 {pct(page_times, 99):.1f} ms")
    finally:
        proc.terminate()
        proc.wait(timeout=15)
        log.close()


if __name__ == "__main__":
    sys.exit(main())
