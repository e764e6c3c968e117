#!/usr/bin/env bash
# Real-mode integration test: the real cloud over HTTPS on loopback and the
# real agent binary. A log of 100,000 lines (40,000 under ASan) must land in the cloud's records
# table exactly once, across a graceful restart and a SIGKILL mid-stream.
set -euo pipefail
BUILD=${1:?usage: real_ingest.sh BUILD_DIR}
BUILD=$(cd "$BUILD" && pwd)
. "$(dirname "$0")/lib.sh"
WORK=$(mktemp -d /tmp/outpost-it.XXXXXX)
CLOUD_DATA=$WORK/cloud
# Under the sanitizers 40,000 (issue #17, CI time): the restart and the
# SIGKILL mid-stream, what the ASan pass watches, stay.
if [ "$SANITIZED" = 1 ]; then LINES=${LINES:-40000}; else LINES=${LINES:-100000}; fi

start_cloud "$CLOUD_DATA"
LOG=$WORK/logs/app.log
mkdir -p "$WORK/logs"
: >"$LOG"
write_agent_config "$WORK/agent.json" "$WORK/state" "$LOG"
"$AGENT_BIN" check-config --config "$WORK/agent.json" >/dev/null || die "check-config refused a good config"

# append_lines LO HI: lines LO..HI-1, each unique, to the agent's log.
append_lines() {
  python3 - "$LOG" "$1" "$2" <<'PY'
import sys
path, lo, hi = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
with open(path, "a") as f:
    for i in range(lo, hi):
        f.write("line %07d the quick brown fox jumps over the lazy dog %d\n" % (i, i * 7919 % 100003))
PY
}

"$AGENT_BIN" run --config "$WORK/agent.json" 2>>"$WORK/agent.log" &
AGENT_PID=$!
OUTPOST_PIDS+=("$AGENT_PID")

# Write the first third, stop gracefully, write more while it is down.
append_lines 0 $((LINES / 3))
# Bounds are liveness limits, not timings: generous for a loaded 2-core CI
# machine running the ASan build beside other tests.
wait_for_records $((LINES / 6)) 180 || { show_logs; die "agent did not start shipping"; }
kill -TERM "$AGENT_PID"; wait "$AGENT_PID" || die "agent did not exit cleanly on SIGTERM"
append_lines $((LINES / 3)) $((2 * LINES / 3))
"$AGENT_BIN" run --config "$WORK/agent.json" 2>>"$WORK/agent.log" &
AGENT_PID=$!
OUTPOST_PIDS+=("$AGENT_PID")
# SIGKILL mid-stream, then restart: at-least-once from the agent, idempotent cloud.
wait_for_records $((LINES / 2)) 180 || { show_logs; die "agent did not resume after restart"; }
kill -KILL "$AGENT_PID"; wait "$AGENT_PID" 2>/dev/null || true
append_lines $((2 * LINES / 3)) "$LINES"
"$AGENT_BIN" run --config "$WORK/agent.json" 2>>"$WORK/agent.log" &
AGENT_PID=$!
OUTPOST_PIDS+=("$AGENT_PID")
wait_for_records "$LINES" 180 || { show_logs; die "not every line arrived"; }
sleep 1 # anything extra (a duplicate) would show up now
kill -TERM "$AGENT_PID"; wait "$AGENT_PID" || true

DB="file:$CLOUD_DATA/cloud.db?mode=ro"
total=$(sqlite3 -cmd ".timeout 10000" "$DB" "SELECT count(*) FROM records")
distinct=$(sqlite3 -cmd ".timeout 10000" "$DB" "SELECT count(DISTINCT line) FROM records")
agents=$(sqlite3 -cmd ".timeout 10000" "$DB" "SELECT count(DISTINCT agent_id) FROM records")
[ "$total" -eq "$LINES" ] || die "cloud holds $total records, expected $LINES"
[ "$distinct" -eq "$LINES" ] || die "cloud holds $distinct distinct lines, expected $LINES (duplicates?)"
[ "$agents" -eq 1 ] || die "records from $agents agents, expected 1"
# Every line written is there, byte for byte.
python3 - "$LOG" "$CLOUD_DATA/cloud.db" <<'PY'
import sqlite3, sys
want = open(sys.argv[1], "rb").read().split(b"\n")[:-1]
db = sqlite3.connect("file:%s?mode=ro" % sys.argv[2], uri=True)
got = [bytes(r[0]) if isinstance(r[0], (bytes, memoryview)) else r[0].encode() for r in
       db.execute("SELECT line FROM records ORDER BY seq")]
if got != want:
    bad = next(i for i, (a, b) in enumerate(zip(got, want)) if a != b) if len(got) == len(want) else -1
    sys.exit("cloud lines differ from the log (first difference at %d, %d vs %d lines)" % (bad, len(got), len(want)))
PY
# The agent's files are private.
[ "$(stat -c %a "$WORK/state")" = 700 ] || die "state dir mode is $(stat -c %a "$WORK/state")"
[ "$(stat -c %a "$WORK/state/agent.key")" = 600 ] || die "key mode is not 600"
echo "PASS: $LINES lines, exactly once, across SIGTERM and SIGKILL restarts"
rm -rf "$WORK"
