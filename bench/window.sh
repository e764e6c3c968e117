#!/usr/bin/env bash
# Shipping-window benchmark (issue #14, docs/benchmarks.md "Shipping window"):
# the real outpost-cloud over HTTPS on loopback and the real outpost-agent
# draining N pre-written lines (default 200,000) with ship_window set to each
# of WINDOWS (default "1 2 4 8"), ROUNDS times (default 3), the windows taken
# in turn within each round so that a noisy neighbour hits them all alike.
# Batches are the agent's defaults (1,000 records, 1 MiB) unless BATCH_RECORDS
# is set; the poll interval and batch age are the integration tests' (100 ms,
# 200 ms); EXTRA_CONFIG (JSON members, e.g. ', "read_chunk_bytes": 262144')
# is added to every run's config. Per run: drain time (agent start until the cloud holds every line),
# agent CPU-seconds per million lines, the cloud's CPU-seconds per million
# lines, peak RSS and the most batches the agent had in flight (status.json);
# then the medians per window and each median drain time as a ratio of
# window 1's. Prints figures only: no assertions (machines are noisy). Not a
# ctest test. Each run gets a fresh cloud, so no run pays for another's store.
# usage: bench/window.sh BUILD_DIR [LINES] [ROUNDS] [WINDOWS]
set -euo pipefail
BUILD=${1:?usage: bench/window.sh BUILD_DIR [LINES] [ROUNDS] [WINDOWS]}
BUILD=$(cd "$BUILD" && pwd)
LINES=${2:-200000}
ROUNDS=${3:-3}
WINDOWS=${4:-1 2 4 8}
BATCH_RECORDS=${BATCH_RECORDS:-}
EXTRA_CONFIG=${EXTRA_CONFIG:-}
. "$(dirname "$0")/../tests/integration/lib.sh"
WORK=$(mktemp -d /tmp/outpost-window.XXXXXX)
trap 'outpost_cleanup; rm -rf "$WORK"' EXIT
. "$(dirname "$0")/lib.sh" # cpu_ticks, hwm_kib, now_ns, machine_line
TICK=$BENCH_TICK

python3 - "$WORK/lines.log" "$LINES" <<'PY'
import sys
path, n = sys.argv[1], int(sys.argv[2])
with open(path, "w", buffering=1 << 20) as f:
    for i in range(n):
        f.write("bench %08d GET /api/v1/items/%d status=200 bytes=%d t=%dms user=u%05d\n"
                % (i, i * 7919 % 100003, i % 9973, i % 211, i % 50000))
PY
machine_line
echo "build: $BUILD ($(sed -n 's/^CMAKE_BUILD_TYPE:STRING=//p' "$BUILD/CMakeCache.txt")); $LINES lines, $ROUNDS rounds, windows: $WINDOWS${BATCH_RECORDS:+, batch_max_records $BATCH_RECORDS}${EXTRA_CONFIG:+; config$EXTRA_CONFIG}"
RESULTS=$WORK/results.txt
: >"$RESULTS"

one_run() { # one_run ROUND WINDOW
  local r=$1 w=$2 name="r$1-w$2"
  CLOUD_DATA=$WORK/cloud-$name
  start_cloud "$CLOUD_DATA"
  mkdir -p "$WORK/$name"
  cp "$WORK/lines.log" "$WORK/$name/app.log"
  local extra=", \"ship_window\": $w, \"log_level\": \"warn\""
  [ -n "$BATCH_RECORDS" ] && extra="$extra, \"batch_max_records\": $BATCH_RECORDS"
  extra="$extra$EXTRA_CONFIG"
  write_agent_config "$WORK/$name.json" "$WORK/$name/state" "$WORK/$name/app.log" "$extra"
  local t0 t1 pid c0 c1 k0 k1 hwm
  # The copy's dirty pages written back now, not inside the first fsync the
  # agent or the cloud makes (ext4 commits them with its journal): measured
  # here, that alone turned 3 s drains into 10-17 s ones.
  sync
  t0=$(now_ns)
  "$AGENT_BIN" run --config "$WORK/$name.json" 2>>"$WORK/$name/agent.log" &
  pid=$!
  OUTPOST_PIDS+=("$pid")
  c0=$(cpu_ticks "$pid")
  k0=$(cpu_ticks "$CLOUD_PID")
  local deadline=$(($(date +%s) + 600))
  while [ "$(records_in_cloud)" -lt "$LINES" ]; do
    kill -0 "$pid" 2>/dev/null || { tail -5 "$WORK/$name/agent.log"; echo "agent died" >&2; exit 1; }
    [ "$(date +%s)" -lt "$deadline" ] || { echo "window $w: not drained in 600 s" >&2; exit 1; }
    sleep 0.05
  done
  t1=$(now_ns)
  c1=$(cpu_ticks "$pid")
  k1=$(cpu_ticks "$CLOUD_PID")
  hwm=$(hwm_kib "$pid")
  kill -TERM "$pid"; wait "$pid" || true
  local maxw
  maxw=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get("ingest_in_flight_max", "?"))' "$WORK/$name/state/status.json")
  kill -TERM "$CLOUD_PID" 2>/dev/null; wait "$CLOUD_PID" 2>/dev/null || true
  echo "$w $r $((t1 - t0)) $((c1 - c0)) $((k1 - k0)) $hwm $maxw" >>"$RESULTS"
  awk -v w="$w" -v r="$r" -v n="$LINES" -v ns=$((t1 - t0)) -v cpu=$((c1 - c0)) -v k=$((k1 - k0)) \
      -v tick="$TICK" -v hwm="$hwm" -v mx="$maxw" 'BEGIN {
    s = ns / 1e9
    printf "| %d | %d | %.2f | %.0f | %.2f | %.2f | %.1f | %s |\n", w, r, s, n / s,
      cpu / tick * 1e6 / n, k / tick * 1e6 / n, hwm / 1024, mx }'
}

echo
echo "| window | round | drain s | lines/s | agent CPU-s / M lines | cloud CPU-s / M lines | peak RSS MiB | most in flight |"
echo "|---|---|---|---|---|---|---|---|"
for r in $(seq 1 "$ROUNDS"); do
  for w in $WINDOWS; do one_run "$r" "$w"; done
done
echo
echo "medians:"
echo "| window | drain s | x window ${WINDOWS%% *} | agent CPU-s / M lines | cloud CPU-s / M lines | peak RSS MiB |"
echo "|---|---|---|---|---|---|"
python3 - "$RESULTS" "$LINES" "$TICK" "${WINDOWS%% *}" <<'PY'
import statistics, sys
path, n, tick, base = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
rows = {}
for line in open(path):
    w, r, ns, cpu, k, hwm, mx = line.split()
    rows.setdefault(w, []).append((int(ns) / 1e9, int(cpu) / tick * 1e6 / n, int(k) / tick * 1e6 / n, int(hwm) / 1024))
med = {w: [statistics.median(x[i] for x in v) for i in range(4)] for w, v in rows.items()}
for w, (s, cpu, k, hwm) in med.items():
    print("| %s | %.2f | %.2f | %.2f | %.2f | %.1f |" % (w, s, s / med[base][0], cpu, k, hwm))
PY
