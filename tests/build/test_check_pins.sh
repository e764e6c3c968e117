#!/usr/bin/env bash
# ci/check-pins accepts the real pins, and rejects a wrong upstream version
# and a missing package with messages naming the package, the pin and what is
# installed, unless OUTPOST_ALLOW_UNPINNED=1.
set -euo pipefail
SRC=$1
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
"$SRC/ci/check-pins" --record "$tmp/lock"
grep -qP '^cmake\t3\.25\.1-' "$tmp/lock"
sed -e 's/^cmake .*/cmake 9.9.9 tool BSD-3-Clause/' "$SRC/ci/deps.txt" >"$tmp/pins"
echo "outpost-no-such-package 1.0 tool MIT" >>"$tmp/pins"
if "$SRC/ci/check-pins" --pins "$tmp/pins" 2>"$tmp/err"; then echo "bad pins accepted"; exit 1; fi
grep -q "cmake: pinned upstream 9.9.9, installed 3.25.1-" "$tmp/err"
grep -q "outpost-no-such-package: pinned upstream 1.0, not installed" "$tmp/err"
OUTPOST_ALLOW_UNPINNED=1 "$SRC/ci/check-pins" --pins "$tmp/pins" --record "$tmp/lock2" 2>"$tmp/err2"
grep -q WARNING "$tmp/err2"
grep -q '^# UNPINNED: ' "$tmp/lock2"
cat "$tmp/err"
