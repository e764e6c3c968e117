#!/bin/sh
# sim_real_list_doc (issue #16): the real-mode table in docs/scenarios.md is
# what `outpost-sim list --real` prints today, so it cannot drift from the
# code (sim_real_event_why, the unchecked expectations).
# Usage: real_list_doc.sh OUTPOST_SIM DOCS/scenarios.md
set -eu
SIM=$1 DOC=$2
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
"$SIM" list --real >"$T/now"
# the fenced block after the line naming the command
awk '/^`outpost-sim list --real` says/ {found=1; next}
     found && /^```$/ {if (inside) exit; inside=1; next}
     inside {print}' "$DOC" >"$T/doc"
[ -s "$T/doc" ] || { echo "FAIL: no list --real block in $DOC"; exit 1; }
if ! cmp -s "$T/now" "$T/doc"; then
  echo "FAIL: docs/scenarios.md's real-mode block differs from outpost-sim list --real (regenerate it):"
  diff "$T/doc" "$T/now" || true
  exit 1
fi
echo "real-mode block in docs/scenarios.md matches outpost-sim list --real ($(wc -l <"$T/now") lines)"
