#!/usr/bin/env bash
# Data-path benchmark (issue #3, docs/benchmarks.md "Data path"): the real
# outpost-cloud over HTTPS on loopback and the real outpost-agent.
#   1. maximum rate: N pre-written lines (default 1,000,000), time from the
#      agent's start until all are in the cloud; lines/s, agent CPU% and peak RSS;
#   2. paced: a writer at 1,000 lines/s for S seconds (default 60); agent CPU%
#      and peak RSS over that interval;
#   3. a rotated backlog (issue #14): the agent stopped after reading an empty
#      file, N lines written to it, the file renamed to PATH.1 and a new empty
#      PATH created, the agent started again: it drains PATH.1 (its offset 0)
#      in bounded steps. Drain time, and the longest agent_step and the steps
#      over 100 ms from status.json (also given for parts 1 and 2).
# CPU% = (utime + stime, with waited-for children) of the agent from /proc/PID/stat over the interval /
# wall time (100% = one core); peak RSS = VmHWM from /proc/PID/status.
# Prints figures only: no assertions (machines are noisy). Not a ctest test.
# usage: bench/datapath.sh BUILD_DIR [LINES] [PACED_SECONDS]
# Use a release build (make build: RelWithDebInfo), not Debug or ASan.
set -euo pipefail
BUILD=${1:?usage: bench/datapath.sh BUILD_DIR [LINES] [PACED_SECONDS]}
BUILD=$(cd "$BUILD" && pwd)
MAX_LINES=${2:-1000000}
PACED_S=${3:-60}
. "$(dirname "$0")/../tests/integration/lib.sh"
WORK=$(mktemp -d /tmp/outpost-bench.XXXXXX)
trap 'outpost_cleanup; rm -rf "$WORK"' EXIT
. "$(dirname "$0")/lib.sh" # cpu_ticks, hwm_kib, now_ns, gen_lines, paced_writer
TICK=$BENCH_TICK

# The agent's own account of its longest step, written at exit (status.json).
steps_of() { # steps_of STATE_DIR
  python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print("longest step %d ms wall, %d ms CPU; %d steps over 100 ms wall" % (d["step_max_ms"], d["step_max_cpu_ms"], d["steps_slow"]))' "$1/status.json"
}

# Batches as large as the protocol allows, quick polls: the agent's maximum.
agent_config() { # agent_config NAME LOG
  write_agent_config "$WORK/$1.json" "$WORK/$1-state" "$2" \
    ', "batch_max_records": 10000, "batch_max_bytes": 3145728, "log_level": "warn"'
}

CLOUD_DATA=$WORK/cloud
start_cloud "$CLOUD_DATA"
machine_line
echo "build: $BUILD ($(sed -n 's/^CMAKE_BUILD_TYPE:STRING=//p' "$BUILD/CMakeCache.txt"))"

# 1. Maximum rate.
mkdir -p "$WORK/logs"
gen_lines "$WORK/logs/max.log" 0 "$MAX_LINES"
agent_config max "$WORK/logs/max.log"
t0=$(now_ns)
"$AGENT_BIN" run --config "$WORK/max.json" 2>>"$WORK/agent-max.log" &
pid=$!
OUTPOST_PIDS+=("$pid")
c0=$(cpu_ticks "$pid")
k0=$(cpu_ticks "$CLOUD_PID")
while [ "$(records_in_cloud)" -lt "$MAX_LINES" ]; do
  kill -0 "$pid" 2>/dev/null || { tail -5 "$WORK/agent-max.log"; echo "agent died" >&2; exit 1; }
  sleep 0.1
done
t1=$(now_ns)
c1=$(cpu_ticks "$pid")
k1=$(cpu_ticks "$CLOUD_PID")
hwm=$(hwm_kib "$pid")
kill -TERM "$pid"; wait "$pid" || true
awk -v n="$MAX_LINES" -v ns=$((t1 - t0)) -v cpu=$((c1 - c0)) -v ccpu=$((k1 - k0)) -v tick="$TICK" -v hwm="$hwm" 'BEGIN {
  s = ns / 1e9
  printf "max rate: %d lines in %.1f s = %.0f lines/s end to end; agent CPU %.0f%% of one core; peak RSS %.1f MiB (cloud CPU %.0f%%)\n",
    n, s, n / s, 100 * cpu / tick / s, hwm / 1024, 100 * ccpu / tick / s }'
echo "  $(steps_of "$WORK/max-state")"

# 2. 1,000 lines/s for PACED_S seconds (a writer flushing every 100 ms).
: >"$WORK/logs/paced.log"
agent_config paced "$WORK/logs/paced.log"
base=$(records_in_cloud)
"$AGENT_BIN" run --config "$WORK/paced.json" 2>>"$WORK/agent-paced.log" &
pid=$!
OUTPOST_PIDS+=("$pid")
sleep 1 # enrolled and idle before the interval starts
paced_writer "$WORK/logs/paced.log" "$PACED_S" &
wpid=$!
OUTPOST_PIDS+=("$wpid")
t0=$(now_ns)
c0=$(cpu_ticks "$pid")
wait "$wpid"
t1=$(now_ns)
c1=$(cpu_ticks "$pid")
want=$((base + PACED_S * 1000))
for _ in $(seq 1 300); do [ "$(records_in_cloud)" -ge "$want" ] && break; sleep 0.1; done
got=$(($(records_in_cloud) - base))
hwm=$(hwm_kib "$pid")
kill -TERM "$pid"; wait "$pid" || true
awk -v n="$got" -v ns=$((t1 - t0)) -v cpu=$((c1 - c0)) -v tick="$TICK" -v hwm="$hwm" -v secs="$PACED_S" 'BEGIN {
  s = ns / 1e9
  printf "1,000 lines/s for %d s: %d lines arrived; agent CPU %.1f%% of one core; peak RSS %.1f MiB\n",
    secs, n, 100 * cpu / tick / s, hwm / 1024 }'
echo "  $(steps_of "$WORK/paced-state")"

# 3. A rotated backlog of MAX_LINES lines, drained from PATH.1.
rotated_backlog() { # rotated_backlog NAME: leaves the agent stopped, PATH.1 full
  : >"$WORK/logs/$1.log"
  agent_config "$1" "$WORK/logs/$1.log"
  "$AGENT_BIN" run --config "$WORK/$1.json" 2>>"$WORK/agent-$1.log" &
  local p=$!
  OUTPOST_PIDS+=("$p")
  for _ in $(seq 1 100); do [ -f "$WORK/$1-state/status.json" ] && break; sleep 0.1; done
  sleep 1 # polled: the state knows the empty file's inode, offset 0
  kill -TERM "$p"; wait "$p" || true
  gen_lines "$WORK/logs/$1.log" 0 "$MAX_LINES"
  mv "$WORK/logs/$1.log" "$WORK/logs/$1.log.1"
  : >"$WORK/logs/$1.log"
}
# 3a. SIGTERM one second into the drain: how long until the agent is gone.
rotated_backlog rotstop
"$AGENT_BIN" run --config "$WORK/rotstop.json" 2>>"$WORK/agent-rotstop.log" &
pid=$!
OUTPOST_PIDS+=("$pid")
sleep 1
ts0=$(now_ns)
kill -TERM "$pid"; wait "$pid" || true
ts1=$(now_ns)
awk -v stop=$((ts1 - ts0)) 'BEGIN { printf "rotated backlog: SIGTERM 1 s into the drain, gone %.2f s later\n", stop / 1e9 }'
echo "  $(steps_of "$WORK/rotstop-state")"
# 3b. The whole drain.
rotated_backlog rot
base=$(records_in_cloud)
t0=$(now_ns)
"$AGENT_BIN" run --config "$WORK/rot.json" 2>>"$WORK/agent-rot.log" &
pid=$!
OUTPOST_PIDS+=("$pid")
c0=$(cpu_ticks "$pid")
while [ "$(($(records_in_cloud) - base))" -lt "$MAX_LINES" ]; do
  kill -0 "$pid" 2>/dev/null || { tail -5 "$WORK/agent-rot.log"; echo "agent died" >&2; exit 1; }
  sleep 0.1
done
t1=$(now_ns)
c1=$(cpu_ticks "$pid")
kill -TERM "$pid"; wait "$pid" || true
awk -v n="$MAX_LINES" -v ns=$((t1 - t0)) -v cpu=$((c1 - c0)) -v tick="$TICK" 'BEGIN {
  s = ns / 1e9
  printf "rotated backlog: %d lines drained from PATH.1 in %.1f s = %.0f lines/s; agent CPU %.0f%% of one core\n", n, s, n / s, 100 * cpu / tick / s }'
echo "  $(steps_of "$WORK/rot-state")"
