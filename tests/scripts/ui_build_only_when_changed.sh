#!/usr/bin/env bash
# scripts/run builds the UI only when its sources changed (issue 17: a run with nothing changed
# rebuilt it, and its fresh files made Cargo relink the app): the fingerprint decides, and a
# build leaves ui/dist as it was when nothing changed.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib.sh"
# A cache of its own, so that the developer's stamp is left alone.
CACHE=$(mktemp -d -t keyhaven-ui-stamp.XXXXXX)
trap 'rm -rf "$CACHE"' EXIT
dist="$ROOT/ui/dist/index.html"
fail() { echo "FAILED: $*" >&2; exit 1; }

build_ui_if_changed 2>"$CACHE/first.log"
grep -q "building the UI" "$CACHE/first.log" || fail "no stamp yet, but the UI was not built"
[ -f "$dist" ] || fail "the build left no ui/dist/index.html"
mtime() { find "$dist" -printf '%T@'; }
before=$(mtime)
sleep 1.1

build_ui_if_changed 2>"$CACHE/second.log"
grep -q "up to date" "$CACHE/second.log" || fail "nothing changed, but the UI was built again"
[ "$(mtime)" = "$before" ] ||
  fail "nothing changed, but ui/dist was written"

# Sources that changed (as the stamp of other sources stands for): built again.
echo "a fingerprint of other sources" >"$CACHE/ui-build.fingerprint"
build_ui_if_changed 2>"$CACHE/third.log"
grep -q "building the UI" "$CACHE/third.log" || fail "the sources changed, but the UI was not built"
[ "$(cat "$CACHE/ui-build.fingerprint")" = "$(ui_fingerprint)" ] || fail "the stamp was not renewed"
echo "ui build: 3 passed, 0 failed"
