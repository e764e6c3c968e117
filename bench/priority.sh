#!/usr/bin/env bash
# Priority under host load (issue #14, docs/benchmarks.md "Priority under host
# load"): does the agent still enroll and ship while the host is busy, and what
# does it cost the host? The load is the issue's: one CPU-hog loop and one
# `dd conv=fsync` loop (on a 2-core machine; run it on such a machine).
#
# For each setting - the agent's "cpu_scheduling_policy" / "io_scheduling_class"
# config keys, plus "none" (the load and the writer without an agent) - one run:
#   1. the load starts (hog + dd, files under a temp dir on the local disk),
#      WARM seconds before the interval;
#   2. at t0 a writer starts appending 200 lines/s to a fresh file and a fresh
#      agent (new state dir: it must enroll first) starts tailing it;
#   3. at t0 + RUN_S everything is sampled, then stopped.
# Figures per run, read from the cloud's database after the run (no polling
# during the interval): seconds from t0 to enrolment (agents.enrolled_ms) and
# to the first line in the cloud; lines shipped per second over the interval
# (lines of the file in the cloud by t1 / RUN_S, so enrolment time counts
# against it) and the backlog at t1 (written - shipped); agent CPU% ((utime +
# stime) / wall, 100% = one core); the host's progress over the same interval:
# the hog's CPU% and iterations per second, dd's MB/s (32 MiB writes completed).
# Runs alternate (each round rotates the order) so machine noise spreads;
# medians per setting at the end (plus lines/s from the first line to t1:
# the rate once enrolled, with the batch age's wait in it).
# The cloud (outpost-cloud on 127.0.0.1, nice 0) shares the machine: its ingest
# CPU is part of the host's load here, unlike in production.
# Prints figures only: no assertions (machines are noisy). Not a ctest test.
# usage: bench/priority.sh BUILD_DIR [RUN_SECONDS (60)] [ROUNDS (2)] [SETTINGS]
# HOGS=N (environment, 1..8, default 1): N hog loops instead of one.
#   SETTINGS: space-separated, each "none" or CPU/IO with CPU in idle, batch,
#   other and IO in idle, best-effort; default: all six below.
# Use a release build (RelWithDebInfo), not Debug or ASan. Needs dd, python3,
# sqlite3, chrt and ionice. Total time ~ ROUNDS * settings * (RUN_S + 8) s.
set -euo pipefail
BUILD=${1:?usage: bench/priority.sh BUILD_DIR [RUN_SECONDS] [ROUNDS] [SETTINGS]}
BUILD=$(cd "$BUILD" && pwd)
RUN_S=${2:-60}
ROUNDS=${3:-2}
SETTINGS=${4:-"none idle/idle idle/best-effort batch/idle batch/best-effort other/idle"}
RATE=200   # lines/s from the writer
HOGS=${HOGS:-1} # CPU-hog loops (env; the issue's load is 1)
WARM=3     # seconds of load before t0
case "$RUN_S$ROUNDS$HOGS" in *[!0-9]*) echo "RUN_SECONDS and ROUNDS are integers" >&2; exit 2 ;; esac
[ "$RUN_S" -ge 10 ] && [ "$RUN_S" -le 600 ] || { echo "RUN_SECONDS: 10..600" >&2; exit 2; }
[ "$ROUNDS" -ge 1 ] && [ "$ROUNDS" -le 10 ] || { echo "ROUNDS: 1..10" >&2; exit 2; }
[ "$HOGS" -ge 1 ] && [ "$HOGS" -le 8 ] || { echo "HOGS: 1..8" >&2; exit 2; }
. "$(dirname "$0")/../tests/integration/lib.sh"
# PRIO_DIR (environment): where the agent's state, its log and dd's file go; default
# /var/tmp, on the local disk (not tmpfs). Point it at a mount whose device
# uses the I/O scheduler to test (docs/benchmarks.md: a loop device with bfq).
WORK=$(mktemp -d "${PRIO_DIR:-/var/tmp}/outpost-prio.XXXXXX")
LOAD_PIDS=()
stop_load() {
  for p in "${LOAD_PIDS[@]:-}"; do
    [ -n "$p" ] || continue
    kill "$p" 2>/dev/null || true
    pkill -P "$p" 2>/dev/null || true # the loop's running dd, by its parent's id
  done
  for p in "${LOAD_PIDS[@]:-}"; do [ -n "$p" ] && wait "$p" 2>/dev/null || true; done
  LOAD_PIDS=()
}
trap 'stop_load; outpost_cleanup; rm -rf "$WORK"' EXIT
trap 'exit 130' INT TERM
TICK=$(getconf CLK_TCK)
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0; }
now_ms() { date +%s%3N; }

CLOUD_DATA=$WORK/cloud
start_cloud "$CLOUD_DATA"
db() { sqlite3 -cmd ".timeout 10000" "file:$CLOUD_DATA/cloud.db?mode=ro" "$1"; }
mkdir -p "$WORK/load" "$WORK/logs"
echo "date: $(date -u +%Y-%m-%dT%H:%MZ)"
echo "machine: $(nproc) vCPU, $(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo), kernel $(uname -r), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "disk: $(df -h "$WORK" | awk 'NR == 2 { print $1 }') scheduler $(cat /sys/block/"$(basename "$(df "$WORK" | awk 'NR == 2 { print $1 }')")"/queue/scheduler 2>/dev/null || echo '?')"
echo "build: $BUILD ($(sed -n 's/^CMAKE_BUILD_TYPE:STRING=//p' "$BUILD/CMakeCache.txt"))"
echo "runs: $RUN_S s each, $ROUNDS rounds, writer $RATE lines/s, load: $HOGS CPU-hog loop(s) + 1 dd bs=1M count=32 conv=fsync loop"

# Each hog counts its iterations and writes the count on SIGUSR1; the first
# one is measured (the others, HOGS > 1, only load the machine).
start_load() {
  : >"$WORK/load/dd.log"
  for k in $(seq "$HOGS" -1 1); do
    bash -c 'i=0; trap "echo \$i >\"$1\"" USR1; while :; do i=$((i + 1)); done' hog "$WORK/load/hog$k.count" &
    LOAD_PIDS+=("$!")
    HOG_PID=$!
  done
  bash -c 'while :; do dd if=/dev/zero of="$1/dd.bin" bs=1M count=32 conv=fsync 2>>"$1/dd.log"; done' dd "$WORK/load" &
  LOAD_PIDS+=("$!")
}
hog_iters() {
  rm -f "$WORK/load/hog1.count"
  kill -USR1 "$HOG_PID"
  for _ in $(seq 1 100); do [ -s "$WORK/load/hog1.count" ] && break; sleep 0.02; done
  cat "$WORK/load/hog1.count" 2>/dev/null || echo 0
}
dd_done() { grep -c copied "$WORK/load/dd.log" || true; }

RESULTS=$WORK/results.tsv
: >"$RESULTS"
n=0
one_run() { # one_run SETTING
  local setting=$1 cpu io log state cfg pid=0 wpid
  n=$((n + 1))
  log=$WORK/logs/run$n.log
  state=$WORK/state$n
  cfg=$WORK/agent$n.json
  : >"$log"
  if [ "$setting" != none ]; then
    cpu=${setting%/*}
    io=${setting#*/}
    # The agent's defaults for batching and polling: what ships.
    cat >"$cfg" <<JSON
{
  "cloud_url": "https://127.0.0.1:$CLOUD_PORT",
  "allow_cloud_port": $CLOUD_PORT,
  "ca_file": "$CLOUD_DATA/ca.pem",
  "enrollment_token": "$CLOUD_TOKEN",
  "state_dir": "$state",
  "sources": [{"path": "$log", "start": "beginning"}],
  "cpu_scheduling_policy": "$cpu",
  "io_scheduling_class": "$io",
  "log_level": "warn"
}
JSON
  fi
  start_load
  sleep "$WARM"
  local t0 t1 h0 h1 d0 d1 c0 c1 g0 g1
  t0=$(now_ms)
  h0=$(hog_iters)
  d0=$(dd_done)
  g0=$(cpu_ticks "$HOG_PID")
  python3 - "$log" "$RATE" "$((RUN_S + 5))" <<'PY' &
import sys, time
path, rate, secs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
start = time.monotonic()
i = 0
with open(path, "a") as f:
    for tick in range(secs * 10):
        target = start + (tick + 1) * 0.1
        for _ in range(rate // 10):
            f.write("prio %08d GET /api/v1/items/%d status=200 bytes=%d\n" % (i, i * 7919 % 100003, i % 9973))
            i += 1
        f.flush()
        time.sleep(max(0.0, target - time.monotonic()))
PY
  wpid=$!
  LOAD_PIDS+=("$wpid")
  if [ "$setting" != none ]; then
    "$AGENT_BIN" run --config "$cfg" 2>>"$WORK/agent$n.log" &
    pid=$!
    OUTPOST_PIDS+=("$pid")
  fi
  c0=0
  sleep 1
  local pol="-" iop="-"
  if [ "$pid" != 0 ] && kill -0 "$pid" 2>/dev/null; then
    pol=$(chrt -p "$pid" | sed -n 's/.*policy: *//p' | head -1)
    iop=$(ionice -p "$pid")
  fi
  sleep $((RUN_S - 1))
  t1=$(now_ms)
  h1=$(hog_iters)
  d1=$(dd_done)
  g1=$(cpu_ticks "$HOG_PID")
  [ "$pid" != 0 ] && c1=$(cpu_ticks "$pid") || c1=0
  stop_load
  if [ "$pid" != 0 ]; then kill -TERM "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  local written enrolled first shipped
  written=$(( $(wc -l <"$log") ))
  enrolled=- first=- shipped=0
  if [ "$setting" != none ]; then
    local row
    row=$(db "SELECT a.enrolled_ms - $t0,
                     (SELECT min(received_ms) - $t0 FROM records r WHERE r.agent_id = a.agent_id AND r.source = '$log'),
                     (SELECT count(*) FROM records r WHERE r.agent_id = a.agent_id AND r.source = '$log' AND r.received_ms <= $t1)
              FROM agents a WHERE a.enrolled_ms >= $t0 AND a.enrolled_ms <= $t1 ORDER BY a.enrolled_ms LIMIT 1")
    if [ -n "$row" ]; then
      IFS='|' read -r enrolled first shipped <<<"$row"
      [ -n "$first" ] || first=-
    fi
    grep -q "cannot set the configured priority" "$WORK/agent$n.log" 2>/dev/null &&
      echo "  note: $(grep -m1 'cannot set the configured priority' "$WORK/agent$n.log")"
  fi
  # written counts lines up to the writer's stop (a few s after t1); the
  # backlog uses what was due by t1.
  local due=$(( RATE * (t1 - t0) / 1000 ))
  [ "$written" -lt "$due" ] && due=$written
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$setting" "$enrolled" "$first" "$shipped" "$due" \
    $((c1 - c0)) $((h1 - h0)) $((g1 - g0)) $((d1 - d0)) $((t1 - t0)) >>"$RESULTS"
  awk -F'\t' -v tick="$TICK" -v pol="$pol" -v iop="$iop" 'END {
    s = $10 / 1000
    en = ($2 == "-") ? "never" : sprintf("%.1f s", $2 / 1000)
    fi = ($3 == "-") ? "never" : sprintf("%.1f s", $3 / 1000)
    printf "%-18s enrolled %-7s first line %-7s shipped %5d/%5d (%5.1f lines/s, backlog %5d)  agent CPU %4.1f%%  hog CPU %5.1f%% %7.0f it/s  dd %4.0f MB/s  [%s; %s]\n",
      $1, en, fi, $4, $5, $4 / s, $5 - $4, 100 * $6 / tick / s, 100 * $8 / tick / s, $7 / s, $9 * 33.554432 / s, pol, iop }' "$RESULTS"
  rm -rf "$state" "$log" "$WORK/load/dd.bin"
}

set -- $SETTINGS
for r in $(seq 1 "$ROUNDS"); do
  echo "round $r"
  # rotate the order each round
  shift_by=$(( (r - 1) % $# ))
  order=("${@:$((shift_by + 1))}" "${@:1:$shift_by}")
  for s in "${order[@]}"; do one_run "$s"; done
done

echo
echo "medians over $ROUNDS rounds (RUN_S=$RUN_S, writer $RATE lines/s):"
python3 - "$RESULTS" "$TICK" <<'PY'
import sys, statistics as st
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
tick = int(sys.argv[2])
by = {}
for r in rows:
    by.setdefault(r[0], []).append(r)
base = by.get("none")
def med(xs):
    return st.median(xs) if xs else float("nan")
def fig(rs):
    s = [int(r[9]) / 1000 for r in rs]
    return {
        "enroll": [int(r[1]) / 1000 if r[1] != "-" else None for r in rs],
        "first": [int(r[2]) / 1000 if r[2] != "-" else None for r in rs],
        "rate": med([int(r[3]) / x for r, x in zip(rs, s)]),
        "steady": med([int(r[3]) / (x - int(r[2]) / 1000) for r, x in zip(rs, s) if r[2] != "-"]),
        "backlog": med([int(r[4]) - int(r[3]) for r in rs]),
        "cpu": med([100 * int(r[5]) / tick / x for r, x in zip(rs, s)]),
        "hogcpu": med([100 * int(r[7]) / tick / x for r, x in zip(rs, s)]),
        "hog": med([int(r[6]) / x for r, x in zip(rs, s)]),
        "dd": med([int(r[8]) * 33.554432 / x for r, x in zip(rs, s)]),
    }
b = fig(base) if base else None
print("| setting (CPU / I/O) | enrolled after s | first line after s | shipped lines/s (whole run) | lines/s after the first | backlog at end | agent CPU % | hog CPU % | hog it/s vs none | dd MB/s vs none |")
print("|---|---|---|---|---|---|---|---|---|---|")
for k, rs in by.items():
    f = fig(rs)
    fmt = lambda xs: ", ".join("never" if x is None else "%.1f" % x for x in xs)
    rel = lambda key: ("%+.1f%%" % (100 * (f[key] / b[key] - 1))) if b and b[key] else "-"
    print("| %s | %s | %s | %.1f | %s | %d | %.2f | %.1f | %.0f (%s) | %.0f (%s) |" % (
        k, fmt(f["enroll"]) if k != "none" else "-", fmt(f["first"]) if k != "none" else "-",
        f["rate"], "%.1f" % f["steady"] if k != "none" and f["steady"] == f["steady"] else "-",
        f["backlog"] if k != "none" else 0, f["cpu"], f["hogcpu"], f["hog"], rel("hog"), f["dd"], rel("dd")))
PY
