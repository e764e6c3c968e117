# Shared helpers for real-binary tests and the demo: a real HTTPS cloud and real
# agents on loopback. Source it with BUILD set to the CMake build dir.
# Every wait is bounded; every process started is killed on exit.

: "${BUILD:?BUILD must point at the build directory}"
CLOUD_BIN="$BUILD/mockcloud/outpost-cloud"
AGENT_BIN="$BUILD/agent/outpost-agent"
SIM_BIN="$BUILD/simulator/outpost-sim"
# SANITIZED=1 in a build with ASan+UBSan (the suite's second pass), where the
# heaviest tests run at a smaller size (issue #17; each script says what).
if grep -q '^OUTPOST_SANITIZE:BOOL=ON' "$BUILD/CMakeCache.txt" 2>/dev/null; then
  SANITIZED=1
else
  SANITIZED=0
fi
OUTPOST_PIDS=()

outpost_cleanup() {
  for p in "${OUTPOST_PIDS[@]:-}"; do
    [ -n "$p" ] && kill "$p" 2>/dev/null || true
  done
  for p in "${OUTPOST_PIDS[@]:-}"; do
    [ -n "$p" ] && wait "$p" 2>/dev/null || true
  done
}
trap outpost_cleanup EXIT

die() { echo "FAIL: $*" >&2; exit 1; }

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# start_cloud DATA_DIR -> sets CLOUD_PORT, CLOUD_PID, CLOUD_TOKEN
start_cloud() {
  local data=$1 tries=0
  "$CLOUD_BIN" init --data "$data" >/dev/null || die "outpost-cloud init failed"
  CLOUD_TOKEN=$("$CLOUD_BIN" workspace add test --data "$data") || die "workspace add failed"
  while :; do
    CLOUD_PORT=$(free_port)
    "$CLOUD_BIN" serve --data "$data" --listen "127.0.0.1:$CLOUD_PORT" \
      >"$data/serve.out" 2>"$data/serve.log" &
    CLOUD_PID=$!
    OUTPOST_PIDS+=("$CLOUD_PID")
    for _ in $(seq 1 100); do
      grep -q "listening on" "$data/serve.out" 2>/dev/null && return 0
      kill -0 "$CLOUD_PID" 2>/dev/null || break
      sleep 0.1
    done
    tries=$((tries + 1))
    [ $tries -lt 3 ] || die "cloud did not start: $(tail -3 "$data/serve.log")"
  done
}

# write_agent_config FILE STATE_DIR LOG_FILE [extra json members]
write_agent_config() {
  local file=$1 state=$2 log=$3 extra=${4:-}
  cat >"$file" <<JSON
{
  "cloud_url": "https://127.0.0.1:$CLOUD_PORT",
  "allow_cloud_port": $CLOUD_PORT,
  "ca_file": "$CLOUD_DATA/ca.pem",
  "enrollment_token": "$CLOUD_TOKEN",
  "state_dir": "$state",
  "sources": [{"path": "$log", "start": "beginning"}],
  "batch_max_age_ms": 200,
  "poll_interval_ms": 100${extra}
}
JSON
}

# show_logs: the last lines of the agent's and the cloud's logs, for a
# failure's message (WORK/agent.log, CLOUD_DATA/serve.log when they exist).
show_logs() {
  [ -f "${WORK:-}/agent.log" ] && { echo "--- agent.log (last 20 lines)"; tail -20 "$WORK/agent.log"; } >&2
  [ -f "${CLOUD_DATA:-}/serve.log" ] && { echo "--- serve.log (last 20 lines)"; tail -20 "$CLOUD_DATA/serve.log"; } >&2
  return 0
}

records_in_cloud() {
  # .timeout: a reader can meet the serving cloud's checkpoint (SQLITE_BUSY).
  # The per-agent counters, kept in the ingest's own transaction, not
  # count(*) over records: benchmarks poll this several times a second, and a
  # scan of a million rows each time took CPU from the processes measured.
  sqlite3 -cmd ".timeout 5000" "file:$CLOUD_DATA/cloud.db?mode=ro" \
    "SELECT coalesce(sum(records), 0) FROM agents" 2>/dev/null || echo 0
}

# wait_for_records N SECONDS
wait_for_records() {
  local want=$1 limit=$2 got=0
  for _ in $(seq 1 $((limit * 5))); do
    got=$(records_in_cloud)
    [ "$got" -ge "$want" ] && return 0
    sleep 0.2
  done
  echo "cloud holds $got of $want records after ${limit}s" >&2
  return 1
}
