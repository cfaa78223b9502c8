#!/bin/sh
# Runs a command inside a private D-Bus session with an unlocked gnome-keyring (Secret Service),
# and XDG folders in a temporary directory, so that tests never touch a real keyring.
#   crates/core/with-secret-service.sh cargo test -p keyhaven-core -p keyhaven-cli
# Needs: gnome-keyring dbus-x11 (apt-get install -y gnome-keyring dbus-x11 libsecret-tools).
set -eu
if [ "$#" -eq 0 ]; then
    echo "usage: $0 COMMAND [ARGS...]" >&2
    exit 2
fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/keyhaven-keyring.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/data" "$tmp/config" "$tmp/cache" "$tmp/runtime"
chmod 700 "$tmp/runtime"
export XDG_DATA_HOME="$tmp/data" XDG_CONFIG_HOME="$tmp/config" XDG_CACHE_HOME="$tmp/cache" XDG_RUNTIME_DIR="$tmp/runtime"
dbus-run-session -- sh -c 'echo -n keyhaven-test | gnome-keyring-daemon --unlock --components=secrets >/dev/null && exec "$@"' sh "$@"
