#!/usr/bin/env bash
# Refusal benchmark (issue #14, docs/benchmarks.md "Under refusals"): the
# real outpost-cloud answers every ingest 503 or 429 (in turn, Retry-After:
# 1; `serve --refuse-ingest-s`) for MINUTES minutes (default 10) while a
# writer appends RATE lines/s (default 2,000) to the agent's log. The agent
# runs with its defaults (retry back-off up to 300 s, window 4). Every 10 s
# the agent's RSS (VmRSS) and spool are sampled. Reported: RSS at the first
# sample after a 30 s warm-up, its minimum, maximum and last value during the
# refusals (flat = max - min within 2 MiB, the issue's bound), the ingest
# requests refused, and afterwards how long until the cloud holds every line
# written (nothing lost) or, after 600 s, how many are missing. Prints
# figures only: no assertions. Not a ctest test.
# usage: bench/refusals.sh BUILD_DIR [MINUTES] [RATE]
set -euo pipefail
BUILD=${1:?usage: bench/refusals.sh BUILD_DIR [MINUTES] [RATE]}
BUILD=$(cd "$BUILD" && pwd)
MINUTES=${2:-10}
RATE=${3:-2000}
. "$(dirname "$0")/../tests/integration/lib.sh"
WORK=$(mktemp -d /tmp/outpost-refusals.XXXXXX)
trap 'outpost_cleanup; rm -rf "$WORK"' EXIT
REFUSE_S=$((MINUTES * 60))
CLOUD_DATA=$WORK/cloud

# start_cloud with the refusal switched on (lib.sh's, plus one option).
"$CLOUD_BIN" init --data "$CLOUD_DATA" >/dev/null
CLOUD_TOKEN=$("$CLOUD_BIN" workspace add test --data "$CLOUD_DATA")
CLOUD_PORT=$(free_port)
"$CLOUD_BIN" serve --data "$CLOUD_DATA" --listen "127.0.0.1:$CLOUD_PORT" --refuse-ingest-s "$REFUSE_S" \
  >"$CLOUD_DATA/serve.out" 2>"$CLOUD_DATA/serve.log" &
CLOUD_PID=$!
OUTPOST_PIDS+=("$CLOUD_PID")
for _ in $(seq 1 100); do grep -q "listening on" "$CLOUD_DATA/serve.out" 2>/dev/null && break; sleep 0.1; done
grep -q "listening on" "$CLOUD_DATA/serve.out" || { echo "cloud did not start" >&2; exit 1; }
t_cloud=$(date +%s)

. "$(dirname "$0")/lib.sh" # machine_line
machine_line
echo "build: $BUILD ($(sed -n 's/^CMAKE_BUILD_TYPE:STRING=//p' "$BUILD/CMakeCache.txt")); ingest refused for $REFUSE_S s; $RATE lines/s"
: >"$WORK/app.log"
write_agent_config "$WORK/agent.json" "$WORK/state" "$WORK/app.log" ', "log_level": "warn"'
"$AGENT_BIN" run --config "$WORK/agent.json" 2>>"$WORK/agent.log" &
AGENT=$!
OUTPOST_PIDS+=("$AGENT")
python3 - "$WORK/app.log" "$RATE" "$REFUSE_S" "$WORK/written" <<'PY' &
import sys, time
path, rate, secs, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
per_tick = max(1, rate // 10)
start = time.monotonic()
i = 0
with open(path, "a") as f:
    for tick in range(secs * 10):
        for _ in range(per_tick):
            f.write("refused %09d GET /api/v1/items/%d status=503 bytes=%d\n" % (i, i * 7919 % 100003, i % 9973))
            i += 1
        f.flush()
        time.sleep(max(0.0, start + (tick + 1) * 0.1 - time.monotonic()))
open(out, "w").write("%d\n" % i)
PY
WRITER=$!
OUTPOST_PIDS+=("$WRITER")
rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
echo
echo "| t s | agent RSS MiB | records spooled |"
echo "|---|---|---|"
: >"$WORK/rss"
while kill -0 "$WRITER" 2>/dev/null; do
  sleep 10
  kill -0 "$AGENT" 2>/dev/null || { tail -5 "$WORK/agent.log"; echo "agent died" >&2; exit 1; }
  t=$(($(date +%s) - t_cloud))
  r=$(rss_kib "$AGENT")
  sp=$(python3 -c 'import json,sys
try: print(json.load(open(sys.argv[1])).get("spool_records", "?"))
except Exception: print("?")' "$WORK/state/status.json")
  echo "| $t | $(awk -v r="$r" 'BEGIN { printf "%.1f", r / 1024 }') | $sp |"
  [ "$t" -ge 30 ] && [ "$t" -le "$REFUSE_S" ] && echo "$r" >>"$WORK/rss"
done
wait "$WRITER" || true
WRITTEN=$(cat "$WORK/written")
refused=$(grep -c '^POST /v1/ingest \(503\|429\)$' "$CLOUD_DATA/serve.log" || true)
awk -v refused="$refused" 'NR == 1 { first = $1; min = $1; max = $1 }
  { if ($1 < min) min = $1; if ($1 > max) max = $1; last = $1 }
  END { printf "\nduring the refusals (from 30 s): RSS first %.1f MiB, min %.1f, max %.1f, last %.1f: spread %.1f MiB; %d ingest requests refused\n",
        first / 1024, min / 1024, max / 1024, last / 1024, (max - min) / 1024, refused }' "$WORK/rss"
t0=$(date +%s)
while [ "$(records_in_cloud)" -lt "$WRITTEN" ] && [ $(($(date +%s) - t0)) -lt 600 ]; do sleep 1; done
got=$(records_in_cloud)
if [ "$got" -ge "$WRITTEN" ]; then
  echo "afterwards: all $WRITTEN lines in the cloud $(($(date +%s) - t0)) s after the writer stopped (the refusals ended with it; the agent's back-off decides when it asks again)"
else
  echo "afterwards: $got of $WRITTEN lines in the cloud after 600 s: $((WRITTEN - got)) missing"
fi
dups=$(sqlite3 -cmd ".timeout 5000" "file:$CLOUD_DATA/cloud.db?mode=ro" "SELECT count(*) - count(DISTINCT line) FROM records")
echo "duplicate lines stored: $dups"
