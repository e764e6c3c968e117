#!/bin/sh
# sweep.sh SIM DIR - outpost-sim sweep (issue #16): every failing seed listed
# with its replay command and the exit code saying so; a bad scenario stops
# the sweep with exit 2.
set -eu
SIM=$1 DIR=$2
T=$(mktemp -d /tmp/outpost-sweep-test.XXXXXX)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*" >&2; cat "$T/out" >&2 2>/dev/null || true; exit 1; }
rc=0; "$SIM" sweep "$DIR/fail-scenario.json" --seeds 5..7 --jobs 2 >"$T/out" 2>&1 || rc=$?
[ "$rc" = 1 ] || fail "a failing scenario: exit $rc, not 1"
[ "$(grep -c '^  replay: outpost-sim run .*fail-scenario.json --seed [567]$' "$T/out")" = 3 ] || fail "not three replay commands"
grep -q '^seed 6: FAILED: ' "$T/out" || fail "the failure is not named"
grep -qE 'fail-scenario.json: 3 seeds, 0 passed, 3 failed \((5|6|7), (5|6|7), (5|6|7)\)' "$T/out" || fail "summary"
rc=0; "$SIM" sweep "$DIR/bad-scenario.json" --seeds 1..3 >"$T/out" 2>&1 || rc=$?
[ "$rc" = 2 ] || fail "a bad scenario: exit $rc, not 2"
rc=0; "$SIM" sweep "$DIR/fail-scenario.json" --seeds 3..1 >"$T/out" 2>&1 || rc=$?
[ "$rc" = 2 ] && grep -q -- '--seeds 3..1: must be A..B' "$T/out" || fail "a reversed range accepted"
echo "sweep.sh: all passed"
