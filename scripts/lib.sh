# Shared by scripts/run, scripts/test (and its session), scripts/bench: find the project,
# install what is missing, start a private PostgreSQL. Sourced, not run.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE="$ROOT/.cache"
mkdir -p "$CACHE"

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

APT_PACKAGES=(
  libwebkit2gtk-4.1-dev libgtk-3-dev libsoup-3.0-dev libjavascriptcoregtk-4.1-dev
  build-essential pkg-config libssl-dev curl
  xvfb xauth webkit2gtk-driver gnome-keyring dbus-x11 libsecret-tools imagemagick x11-utils
  python3 python3-venv xclip git
  postgresql gdb
  libayatana-appindicator3-1
)

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"
  elif command -v sudo >/dev/null 2>&1; then sudo "$@"
  else die "need root or sudo to install system packages: ${*}"
  fi
}

ensure_apt() {
  local missing=()
  for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  command -v node >/dev/null 2>&1 || missing+=(nodejs npm)
  if [ ${#missing[@]} -gt 0 ]; then
    say "installing system packages: ${missing[*]}"
    as_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
}

ensure_toolchain() {
  command -v cargo >/dev/null 2>&1 || die "Rust (cargo) is not installed: install it with rustup (https://rustup.rs), then run this again"
  local node_major
  node_major=$(node -p 'process.versions.node.split(".")[0]')
  [ "$node_major" -ge 20 ] || die "Node.js 20 or newer is needed (found $(node --version))"
}

ensure_ui_deps() {
  local stamp="$ROOT/ui/node_modules/.keyhaven-lock"
  if [ ! -f "$stamp" ] || ! cmp -s "$ROOT/ui/package-lock.json" "$stamp"; then
    say "installing UI packages (npm install, from the committed lock file)"
    # Not `npm ci`: the registry this project is built from lacks some of rollup's optional
    # packages for other platforms, which `npm ci` takes for a lock file out of sync. `npm install`
    # installs the same tree from the lock and leaves it unchanged.
    (cd "$ROOT/ui" && npm install --no-audit --no-fund --loglevel=error)
    cp "$ROOT/ui/package-lock.json" "$stamp"
  fi
}

build_ui() {
  say "building the UI"
  (cd "$ROOT/ui" && npm run --silent build)
}

# The UI's sources and build settings, as one fingerprint: what the built UI depends on.
ui_fingerprint() {
  (cd "$ROOT/ui" && find src index.html package.json package-lock.json tsconfig.json vite.config.ts \
      -type f -not -name '*.test.ts' -not -name '*.test.tsx' -print0 | LC_ALL=C sort -z \
    | xargs -0 sha256sum) | sha256sum | cut -d' ' -f1
}

# Builds the UI only when its sources changed since the last build: fresh files in ui/dist make
# Cargo rebuild and relink the app, which takes minutes even when nothing else changed.
build_ui_if_changed() {
  local stamp="$CACHE/ui-build.fingerprint" now
  now=$(ui_fingerprint)
  if [ -f "$ROOT/ui/dist/index.html" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$now" ]; then
    say "the UI is up to date (its sources have not changed since it was built)"
    return
  fi
  rm -f "$stamp"
  build_ui
  printf '%s\n' "$now" >"$stamp"
}

ensure_tauri_driver() {
  export PATH="$HOME/.cargo/bin:$PATH"
  if ! command -v tauri-driver >/dev/null 2>&1; then
    say "installing tauri-driver (cargo install, about a minute)"
    cargo install tauri-driver --version '^2' --locked --quiet
  fi
}

ensure_python_tools() {
  local venv="$CACHE/venv"
  if [ ! -x "$venv/bin/pytest" ] || [ ! -x "$venv/bin/st" ] \
    || ! "$venv/bin/python" -c 'import selenium, jeepney, Xlib' 2>/dev/null; then
    say "installing the test tools (selenium, pytest, schemathesis) into .cache/venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check \
      -r "$ROOT/tests/e2e/requirements.txt" -r "$ROOT/tests/api/requirements.txt"
  fi
  PYTHON="$venv/bin/python"
}

# A private, throwaway PostgreSQL server (for the key service's PostgreSQL tests and benchmarks):
# its own cluster in a temporary folder, listening only on a Unix socket in a folder that only
# its user (and root) can enter, so trust authentication reaches no one else, and on no TCP
# port. PostgreSQL refuses to run as root: under root it runs as the `postgres` user (or a
# dedicated one created here). `start_postgres LOGS` starts it and sets PG_URL, a server URL on
# which databases may be created (never print it: it names a folder of this machine); on
# failure it leaves its log in LOGS and returns 1. `stop_postgres LOGS` stops it, leaves its log
# in LOGS and removes it.
PG_DIR="" PG_BIN="" PG_RUN=() PG_URL=""
start_postgres() {
  local logs=$1
  mkdir -p "$logs"
  PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)
  if [ -z "$PG_BIN" ] || [ ! -x "$PG_BIN/initdb" ]; then
    echo "PostgreSQL is not installed (apt-get install postgresql)" >&2
    return 1
  fi
  PG_DIR=$(mktemp -d -t keyhaven-pg.XXXXXX)
  if [ "$(id -u)" = 0 ]; then
    local pg_user=postgres
    if ! id -u "$pg_user" >/dev/null 2>&1; then
      pg_user=keyhaven-pg
      id -u "$pg_user" >/dev/null 2>&1 ||
        useradd --system --no-create-home --shell /usr/sbin/nologin "$pg_user"
    fi
    chown "$pg_user" "$PG_DIR"
    PG_RUN=(runuser -u "$pg_user" --)
  fi
  chmod 700 "$PG_DIR"
  local log="$PG_DIR/postgres.log"
  # Run from inside its folder: the server's user may not be allowed into the project's.
  if ! (cd "$PG_DIR" && "${PG_RUN[@]}" "$PG_BIN/initdb" -D "$PG_DIR/data" -U keyhaven -A trust \
        -E UTF8 --no-sync >"$PG_DIR/initdb.log" 2>&1); then
    cp "$PG_DIR/initdb.log" "$logs/postgres-initdb.log" 2>/dev/null
    echo "initdb failed: see postgres-initdb.log among the logs" >&2
    return 1
  fi
  # Durability is worth nothing to a throwaway cluster; speed is.
  if ! (cd "$PG_DIR" && "${PG_RUN[@]}" "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$log" -w -t 30 -o \
        "-c listen_addresses='' -k $PG_DIR -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=500" \
        start >/dev/null); then
    cp "$log" "$logs/" 2>/dev/null
    echo "PostgreSQL did not start: see postgres.log among the logs" >&2
    return 1
  fi
  PG_URL="postgres://keyhaven@localhost/postgres?host=$PG_DIR"
}
stop_postgres() {
  local logs=$1
  if [ -n "$PG_DIR" ]; then
    if [ -f "$PG_DIR/data/postmaster.pid" ]; then
      (cd "$PG_DIR" && "${PG_RUN[@]}" "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m immediate -w stop) >/dev/null 2>&1
    fi
    cp "$PG_DIR/postgres.log" "$logs/" 2>/dev/null
    rm -rf "$PG_DIR"
    PG_DIR="" PG_URL=""
  fi
}
