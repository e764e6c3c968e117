#!/bin/sh
# sim_real_negative (issue #16): `outpost-sim run --real` must fail, exit 1,
# name the expectation and keep the work dir when the agents ship nothing
# (a stand-in that sleeps): its checks read the real cloud's store and can
# fail. Usage: real_negative.sh OUTPOST_SIM SCENARIOS_DIR
set -eu
SIM=$1 SCN=$2
[ "$(id -u)" = 0 ] || { echo "needs root (real mode mounts a tmpfs per agent)"; exit 77; }
OUT=$(mktemp -d /tmp/outpost-real-neg.XXXXXX)
trap 'rm -rf "$OUT"' EXIT
rc=0
"$SIM" run "$SCN/smoke.json" --real 1 --real-seconds 5 --quiet --out "$OUT/run" \
  --agent-bin "$(dirname "$0")/real-dead-agent.sh" >"$OUT/stdout" 2>&1 || rc=$?
cat "$OUT/stdout"
[ "$rc" = 1 ] || { echo "FAIL: exit $rc, not 1"; exit 1; }
grep -q '^FAILED: exactly_once: [1-9][0-9]* missing' "$OUT/stdout" || { echo "FAIL: exactly_once did not fail"; exit 1; }
grep -q '^replay: outpost-sim run .* --real 1 --seed 1$' "$OUT/stdout" || { echo "FAIL: no replay line"; exit 1; }
[ -d "$OUT/run/cloud" ] || { echo "FAIL: the work dir was not kept"; exit 1; }
! grep -q "$OUT/run" /proc/mounts || { echo "FAIL: a tmpfs left mounted"; exit 1; }
echo "real_negative: a fleet that ships nothing fails exactly_once, exit 1"
