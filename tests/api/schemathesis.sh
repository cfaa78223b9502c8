#!/usr/bin/env bash
# Schema-driven bad input against the real key service (SECURITY.md #20, #23): starts
# keyhaven-service on 127.0.0.1, port 0, with a temporary database (a SQLite file, or a new
# database on the PostgreSQL server of KEYHAVEN_TEST_POSTGRES_URL); creates an owner with
# `keyhaven-service user add`; signs in and creates one API key; then runs Schemathesis against
# GET /v1/openapi.json, authenticated with that session token and that key, checking that no
# answer is a server error, every status, content type and body is as documented (bodies against
# their schemas), and input that breaks the schema is refused.
#
# Usage: tests/api/schemathesis.sh [EXAMPLES] [sqlite|postgres]   (examples per operation,
# default 25; storage, default sqlite)
# Needs: the built keyhaven-service (cargo build -p keyhaven-service) and .cache/venv/bin/st.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
EXAMPLES=${1:-25}
STORAGE=${2:-sqlite}
BIN=${KEYHAVEN_SERVICE_BIN:-${CARGO_TARGET_DIR:-$ROOT/target}/debug/keyhaven-service}
ST=${SCHEMATHESIS:-$ROOT/.cache/venv/bin/st}
PY=${PYTHON:-$ROOT/.cache/venv/bin/python}
OUT=${KEYHAVEN_TEST_OUTPUT:-$ROOT/test-output}
mkdir -p "$OUT/logs"
[ -x "$BIN" ] || { echo "error: $BIN is missing: cargo build -p keyhaven-service" >&2; exit 1; }
[ -x "$ST" ] || { echo "error: $ST is missing: scripts/test installs it" >&2; exit 1; }

WORK=$(mktemp -d -t keyhaven-st.XXXXXX)
SERVICE_PID=
PG_DB=
cleanup() {
  if [ -n "$SERVICE_PID" ]; then kill "$SERVICE_PID" 2>/dev/null || true; wait "$SERVICE_PID" 2>/dev/null || true; fi
  if [ -n "$PG_DB" ]; then psql -q "$KEYHAVEN_TEST_POSTGRES_URL" -c "DROP DATABASE IF EXISTS $PG_DB" >/dev/null 2>&1 || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

case "$STORAGE" in
  sqlite) DB="$WORK/st.db" ;;
  postgres)
    [ -n "${KEYHAVEN_TEST_POSTGRES_URL:-}" ] ||
      { echo "error: KEYHAVEN_TEST_POSTGRES_URL is not set: run this through scripts/test" >&2; exit 1; }
    PG_DB="keyhaven_st_$$"
    psql -q "$KEYHAVEN_TEST_POSTGRES_URL" -c "CREATE DATABASE $PG_DB" >/dev/null
    # The same server and options, another database.
    DB=$(printf '%s' "$KEYHAVEN_TEST_POSTGRES_URL" | sed "s|/postgres?|/$PG_DB?|")
    ;;
  *) echo "error: storage is sqlite or postgres, not $STORAGE" >&2; exit 2 ;;
esac
LOG="$OUT/logs/schemathesis-service-$STORAGE.log"

# Logins fail on purpose by the hundred here, and one session makes thousands of calls: lift the
# lockout, the key cap and the session's rate so that they do not turn every later answer into
# 429 / 409 (each is tested by the crate's own tests).
"$BIN" serve --db "$DB" --listen 127.0.0.1:0 --lockout-threshold 10000 \
  --max-active-keys 100000 --session-rate-per-minute 1000000 \
  >"$WORK/stdout" 2>"$LOG" &
SERVICE_PID=$!
URL=
for _ in $(seq 200); do
  URL=$(sed -n 's/^listening on \(http:[^ ]*\)$/\1/p' "$WORK/stdout" | head -n1)
  [ -n "$URL" ] && break
  kill -0 "$SERVICE_PID" 2>/dev/null || { echo "error: the service exited" >&2; exit 1; }
  sleep 0.05
done
[ -n "$URL" ] || { echo "error: the service did not print its address" >&2; exit 1; }

EMAIL=schemathesis@example.com
PASSWORD=$("$PY" -c 'import secrets; print(secrets.token_urlsafe(24))')
printf '%s\n' "$PASSWORD" | "$BIN" user add --db "$DB" --email "$EMAIL" --role owner \
  --tenant schemathesis >/dev/null

# Sign in and create a key; the secrets go to the environment of Schemathesis only (and to the
# leak ledger when the suite keeps one).
eval "$(URL="$URL" EMAIL="$EMAIL" PASSWORD="$PASSWORD" "$PY" - <<'PY'
import json, os, shlex, urllib.request

def call(path, body, token=None):
    req = urllib.request.Request(os.environ["URL"] + path, data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"}, method="POST")
    if token:
        req.add_header("Authorization", "Bearer " + token)
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.load(resp)

token = call("/v1/auth/login", {"email": os.environ["EMAIL"], "password": os.environ["PASSWORD"]})["token"]
key = call("/v1/keys", {"name": "schemathesis", "scopes": ["read", "write", "search"]}, token)["key"]
print(f"export KEYHAVEN_ST_SESSION={shlex.quote(token)} KEYHAVEN_ST_API_KEY={shlex.quote(key)}")
PY
)"
if [ -n "${KEYHAVEN_LEAK_LEDGER:-}" ]; then
  printf '%s\n' "$PASSWORD" "$KEYHAVEN_ST_SESSION" "$KEYHAVEN_ST_API_KEY" >>"$KEYHAVEN_LEAK_LEDGER"
fi

# Logout is left out: it would end the session every other call is made with (tests/sessions.rs
# covers it).
status=0
"$ST" --config-file "$ROOT/tests/api/schemathesis.toml" --no-color run "$URL/v1/openapi.json" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,negative_data_rejection \
  --exclude-path /v1/auth/logout \
  --max-examples "$EXAMPLES" --seed 20261123 --workers 1 --request-timeout 10 \
  --report junit --report-dir "$OUT/schemathesis-$STORAGE" || status=$?
if grep -q ' ERROR \| panicked' "$LOG"; then
  echo "error: the service logged errors ($LOG)" >&2
  status=1
fi
exit $status
