"""Usage reports over a large history, run by scripts/bench. Prints figures; asserts nothing.

A SQLite database is filled directly (the service's own `user add` makes and migrates it first):
a tenant with 10,000 keys and a year of hourly usage rows. One busy key has a row for every hour
of the year; every other key has a row for about one hour in a hundred, so the table holds about
a million rows. Then the service is started on that file and the reports are timed over HTTP:
one key's usage (a day by hour, a month by day) and the whole tenant's (the same two spans),
from the request to the answer's last byte. The tenant's answer has every bucket of every key
(10,000 keys × 24 hours is 240,000 buckets, about 13 MB of JSON), so its time is mostly
building and sending that.

Everything listens on 127.0.0.1 and every loop is bounded. The bench's password lives only in
this process.
"""

import json
import os
import random
import secrets
import sqlite3
import string
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from service_bench import SERVICE, call, pct  # noqa: E402

KEYS = int(os.environ.get("KEYHAVEN_BENCH_USAGE_KEYS", "10000"))
HOURS = 365 * 24
# Each quiet key is used in about one hour in this many.
SPARSENESS = 100
RUNS = int(os.environ.get("KEYHAVEN_BENCH_USAGE_RUNS", "20"))


def fill(db, now_hour):
    """The keys and a year of hourly rows, written straight into the service's tables."""
    conn = sqlite3.connect(db)
    tenant_id, user_id = conn.execute("SELECT tenant_id, id FROM users LIMIT 1").fetchone()
    rng = random.Random(20261207)
    keys = [f"key_bench{i:05d}" for i in range(KEYS)]
    conn.executemany(
        "INSERT INTO api_keys (id, tenant_id, name, prefix, secret_hash, scopes, created_at, "
        "allowed_origins, allowed_ips, created_by) VALUES (?, ?, ?, ?, ?, '[\"read\"]', ?, '[]', '[]', ?)",
        (
            (k, tenant_id, f"k{i}", f"kh_live_{i:04d}", rng.randbytes(32), now_hour - HOURS * 3600, user_id)
            for i, k in enumerate(keys)
        ),
    )
    first = now_hour - (HOURS - 1) * 3600

    def rows():
        for h in range(HOURS):
            yield (tenant_id, keys[0], first + h * 3600, "allowed", rng.randint(1, 500))
        for k in keys[1:]:
            for h in rng.sample(range(HOURS), HOURS // SPARSENESS):
                yield (tenant_id, k, first + h * 3600, "allowed", rng.randint(1, 50))

    conn.executemany(
        "INSERT INTO usage_hourly (tenant_id, key_id, hour, outcome, count) VALUES (?, ?, ?, ?, ?)", rows()
    )
    conn.commit()
    (count,) = conn.execute("SELECT COUNT(*) FROM usage_hourly").fetchone()
    conn.close()
    return keys[0], count


def timed(url, token):
    """Times from the request to the answer's last byte (the client's JSON parse not included)."""
    times = []
    for _ in range(RUNS):
        req = urllib.request.Request(url)
        req.add_header("Authorization", f"Bearer {token}")
        t = time.perf_counter()
        with urllib.request.urlopen(req, timeout=60) as r:
            raw = r.read()
        times.append((time.perf_counter() - t) * 1000)
    return times, raw


def main():
    work = Path(tempfile.mkdtemp(prefix="keyhaven-usage-bench-"))
    db = str(work / "usage.db")
    password = "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(24))
    subprocess.run(
        [SERVICE, "user", "add", "--db", db, "--email", "bench@keyhaven.local", "--role", "owner", "--tenant", "bench"],
        input=password + "\n", text=True, check=True, capture_output=True,
    )
    now_hour = int(time.time()) // 3600 * 3600
    t = time.perf_counter()
    busy, rows = fill(db, now_hour)
    print(f"usage reports (SQLite): {KEYS} keys, {rows} hourly rows over a year, written in {time.perf_counter() - t:.1f} s")
    log = open(work / "service.log", "w")
    proc = subprocess.Popen(
        [SERVICE, "serve", "--db", db, "--listen", "127.0.0.1:0", "--session-rate-per-minute", "1000000000"],
        stdout=subprocess.PIPE, stderr=log, text=True, env=dict(os.environ, KEYHAVEN_LOG="warn"),
    )
    try:
        url = proc.stdout.readline().strip().removeprefix("listening on ")
        token = call("POST", f"{url}/v1/auth/login", body={"email": "bench@keyhaven.local", "password": password})["token"]
        cases = [
            ("one key, a day by hour", f"/v1/keys/{busy}/usage"),
            ("one key, a month by day", f"/v1/keys/{busy}/usage?granularity=day"),
            (f"tenant ({KEYS} keys), a day by hour", "/v1/usage"),
            (f"tenant ({KEYS} keys), a month by day", "/v1/usage?granularity=day"),
        ]
        for label, path in cases:
            times, raw = timed(url + path, token)
            answer = json.loads(raw)
            series = answer["series"] if "series" in answer else [p for k in answer["keys"] for p in k["series"]]
            calls = sum(p["allowed"] for p in series)
            print(f"  {label:<36} p50 {pct(times, 50):7.1f} ms   p99 {pct(times, 99):7.1f} ms   "
                  f"({len(series)} buckets, {calls} calls, {len(raw) / 1e6:.1f} MB; {RUNS} runs)")
    finally:
        proc.terminate()
        proc.wait(timeout=15)
        log.close()


if __name__ == "__main__":
    sys.exit(main())
