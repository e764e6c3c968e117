#!/bin/sh
# sim_real_attacks (issue #16): attack scenarios on the real binaries
# (outpost-sim run --real 2), all at once: each is a few real agents and a
# real cloud on loopback, mostly waiting on its scaled timeline, so running
# them side by side takes the time of the longest instead of their sum out
# of one ctest slot. Each run's output is printed in turn; any failure fails
# the test and names the scenario.
# Usage: real_attacks.sh OUTPOST_SIM SCENARIOS_DIR NAME:SECONDS...
set -u
SIM=$1 SCN=$2
shift 2
[ "$(id -u)" = 0 ] || { echo "needs root (real mode mounts a tmpfs per agent)"; exit 77; }
T=$(mktemp -d /tmp/outpost-real-attacks.XXXXXX)
trap 'rm -rf "$T"' EXIT
for spec in "$@"; do
  name=${spec%%:*} secs=${spec#*:}
  ( "$SIM" run "$SCN/$name.json" --real 2 --real-seconds "$secs" --quiet >"$T/$name.out" 2>&1
    echo $? >"$T/$name.rc" ) &
done
wait
failed=
for spec in "$@"; do
  name=${spec%%:*}
  echo "==== $name (exit $(cat "$T/$name.rc"))"
  cat "$T/$name.out"
  [ "$(cat "$T/$name.rc")" = 0 ] || failed="$failed $name"
done
[ -z "$failed" ] || { echo "FAILED on the real binaries:$failed"; exit 1; }
echo "real mode: $# attack scenarios held on the real binaries"
