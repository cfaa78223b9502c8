# Shared by scripts/run, scripts/test and scripts/bench: find the project, install what is
# missing. Sourced, not run.
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
  postgresql
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
    || ! "$venv/bin/python" -c 'import selenium, jeepney' 2>/dev/null; then
    say "installing the test tools (selenium, pytest, schemathesis) into .cache/venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check \
      -r "$ROOT/tests/e2e/requirements.txt" -r "$ROOT/tests/api/requirements.txt"
  fi
  PYTHON="$venv/bin/python"
}
