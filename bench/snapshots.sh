#!/usr/bin/env bash
# Snapshot benchmark (issue #5, docs/benchmarks.md "Snapshots and deltas"):
# the real outpost-agent against the real outpost-cloud on loopback, a policy
# with all five snapshots (processes, services, interfaces, packages, ports)
# at a short interval, plus the journal source; runs for DURATION seconds.
# With INTERVAL_S 100 the agent sends a full snapshot of each kind at start
# and changes (delta:<name>) every 10 s; with INTERVAL_S 10, full snapshots
# every 10 s (no deltas). EXTRA_PROCS sleeping processes are added first.
# CPU% = (utime + stime) of the agent from /proc/PID/stat over the run after
# a 5 s warm-up / wall time (100% = one core); peak RSS = VmHWM.
# Prints figures only: no assertions (machines are noisy). Not a ctest test.
# usage: bench/snapshots.sh BUILD_DIR [DURATION_S] [INTERVAL_S] [EXTRA_PROCS]
set -euo pipefail
BUILD=${1:?usage: bench/snapshots.sh BUILD_DIR [DURATION_S] [INTERVAL_S] [EXTRA_PROCS]}
BUILD=$(cd "$BUILD" && pwd)
DURATION=${2:-60}
INTERVAL=${3:-100}
EXTRA=${4:-0}
. "$(dirname "$0")/../tests/integration/lib.sh"
WORK=$(mktemp -d /tmp/outpost-snapbench.XXXXXX)
SLEEPERS=()
trap 'for p in "${SLEEPERS[@]}"; do kill "$p" 2>/dev/null || true; done; outpost_cleanup; rm -rf "$WORK"' EXIT
TICK=$(getconf CLK_TCK)
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
hwm_kib() { awk '/^VmHWM:/ { print $2 }' "/proc/$1/status"; }
db() { sqlite3 -cmd ".timeout 10000" "file:$WORK/cloud/cloud.db?mode=ro" "$1"; }

for _ in $(seq 1 "$EXTRA"); do sleep 100000 & SLEEPERS+=($!); done
CLOUD_DATA=$WORK/cloud
start_cloud "$CLOUD_DATA"
echo "machine: $(nproc) vCPU, $(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "build: $BUILD ($(sed -n 's/^CMAKE_BUILD_TYPE:STRING=//p' "$BUILD/CMakeCache.txt"))"
echo "host: $(ls /proc | grep -c '^[0-9]') processes, $(grep -c '^Status: .* installed$' /var/lib/dpkg/status) packages"
mkdir -p "$WORK/logs"
: >"$WORK/logs/idle.log"
write_agent_config "$WORK/agent.json" "$WORK/state" "$WORK/logs/idle.log" ', "log_level": "warn"'
cat >"$WORK/policy.json" <<JSON
{"snapshots":{"processes":{"interval_s":$INTERVAL},"services":{"interval_s":$INTERVAL},
              "interfaces":{"interval_s":$INTERVAL},"packages":{"interval_s":$INTERVAL},
              "ports":{"interval_s":$INTERVAL}}}
JSON
"$CLOUD_BIN" policy set --data "$WORK/cloud" --workspace test "$WORK/policy.json" >/dev/null
"$AGENT_BIN" run --config "$WORK/agent.json" 2>>"$WORK/agent.log" &
pid=$!
OUTPOST_PIDS+=("$pid")
sleep 5
c0=$(cpu_ticks "$pid")
t0=$(date +%s%N)
sleep "$DURATION"
c1=$(cpu_ticks "$pid")
t1=$(date +%s%N)
hwm=$(hwm_kib "$pid")
kill -TERM "$pid"; wait "$pid" || true
awk -v ns=$((t1 - t0)) -v cpu=$((c1 - c0)) -v tick="$TICK" -v hwm="$hwm" -v d="$DURATION" -v i="$INTERVAL" 'BEGIN {
  s = ns / 1e9
  dl = (i / 10 < 10 ? 10 : i / 10)
  printf "snapshots every %d s (%s), %d s: agent CPU %.2f%% of one core; peak RSS %.1f MiB\n",
    i, (dl < i ? sprintf("deltas every %d s", dl) : "no deltas"), d, 100 * cpu / tick / s, hwm / 1024 }'
echo "records in the cloud by source:"
db "SELECT source, count(*) FROM records WHERE source LIKE 'snapshot:%' OR source LIKE 'delta:%' OR source = 'journal' GROUP BY source ORDER BY source" | sed 's/^/  /'
