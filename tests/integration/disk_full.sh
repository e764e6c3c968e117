#!/usr/bin/env bash
# Real-mode disk-full test (issue #3): the agent's state dir on a small tmpfs,
# the cloud stopped so the spool grows until the volume reaches its floor.
# The agent must
#   - never take the volume under its free-space floor (df sampled throughout),
#   - back-pressure, then shed its own oldest records, and keep running,
#   - leave someone else's file on the same volume untouched,
#   - once the cloud is back, account for every line exactly:
#     records held + records in shed_reports = lines written, the held ones
#     byte for byte at their place in the log, shed ranges disjoint from them.
# Needs root (mount); skips (exit 77, ctest SKIP_RETURN_CODE) only when the
# mount is not permitted.
set -euo pipefail
BUILD=${1:?usage: disk_full.sh BUILD_DIR}
BUILD=$(cd "$BUILD" && pwd)
. "$(dirname "$0")/lib.sh"
WORK=$(mktemp -d /tmp/outpost-df.XXXXXX)
CLOUD_DATA=$WORK/cloud
LINES=${LINES:-150000}
VOL=$WORK/vol
VOL_MIB=12
FLOOR_PCT=10
mkdir -p "$VOL"
if ! mount -t tmpfs -o size=${VOL_MIB}m,mode=0755 outpost-df "$VOL" 2>"$WORK/mount.err"; then
  echo "SKIP: cannot mount a tmpfs here ($(cat "$WORK/mount.err")); this test needs root and mount permission"
  rm -rf "$WORK"
  exit 77
fi
SAMPLER_PID=
disk_full_cleanup() {
  [ -n "$SAMPLER_PID" ] && kill "$SAMPLER_PID" 2>/dev/null || true
  outpost_cleanup
  umount "$VOL" 2>/dev/null || umount -l "$VOL" 2>/dev/null || true
}
trap disk_full_cleanup EXIT

VOL_BYTES=$(df -B1 --output=size "$VOL" | tail -1 | tr -d ' ')
FLOOR=$((VOL_BYTES * FLOOR_PCT / 100))

# Someone else's file on the same volume: 3 MiB, must be untouched.
head -c $((3 * 1024 * 1024)) /dev/urandom >"$VOL/other-app.dat"
OTHER_SUM=$(sha256sum "$VOL/other-app.dat" | cut -d' ' -f1)

start_cloud "$CLOUD_DATA"
LOG=$WORK/logs/app.log
mkdir -p "$WORK/logs"
: >"$LOG"
# Quota larger than the volume: the floor is what binds. A short back-pressure
# window so shedding starts within seconds.
write_agent_config "$WORK/agent.json" "$VOL/state" "$LOG" \
  ", \"spool_quota_bytes\": 67108864, \"spool_floor_pct\": $FLOOR_PCT, \"backpressure_max_ms\": 1500, \"batch_max_records\": 5000"
"$AGENT_BIN" check-config --config "$WORK/agent.json" >/dev/null || die "check-config refused the config"

# append_lines LO HI: ~110-byte unique lines (text that zstd and SQLite cannot
# shrink much, so the spool really grows).
append_lines() {
  python3 - "$LOG" "$1" "$2" <<'PY'
import sys, hashlib
path, lo, hi = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
with open(path, "a") as f:
    for i in range(lo, hi):
        f.write("df %07d %s\n" % (i, hashlib.sha256(str(i).encode()).hexdigest()[:96]))
PY
}

# Free space on the volume (statvfs, as df computes it), sampled every 5 ms
# while the agent runs, with the agent's file sizes at each sample.
python3 - "$VOL" "$WORK/avail.txt" <<'PY' &
import os, sys, time
vol, out = sys.argv[1], sys.argv[2]
with open(out, "w", buffering=1) as f:
    while True:
        st = os.statvfs(vol)
        sizes = []
        for n in ("spool.db", "spool.db-journal", "spool.db-reserve"):
            try:
                sizes.append("%s=%d" % (n, os.stat(os.path.join(vol, "state", n)).st_size))
            except OSError:
                pass
        f.write("%d %s\n" % (st.f_bavail * st.f_frsize, " ".join(sizes)))
        time.sleep(0.005)
PY
SAMPLER_PID=$!

"$AGENT_BIN" run --config "$WORK/agent.json" 2>>"$WORK/agent.log" &
AGENT_PID=$!
OUTPOST_PIDS+=("$AGENT_PID")
append_lines 0 1000
wait_for_records 1000 60 || die "agent did not start shipping"

# The cloud goes away; the log keeps growing well past what the volume holds.
kill -TERM "$CLOUD_PID"; wait "$CLOUD_PID" 2>/dev/null || true
append_lines 1000 "$LINES"
for _ in $(seq 1 600); do
  grep -q "shed .* records" "$WORK/agent.log" && break
  kill -0 "$AGENT_PID" 2>/dev/null || die "agent died while the volume filled: $(tail -3 "$WORK/agent.log")"
  sleep 0.1
done
grep -q "shed .* records" "$WORK/agent.log" || { tail -5 "$WORK/agent.log"; die "the agent never shed"; }
grep -q "spool full, reading paused" "$WORK/agent.log" || die "no back-pressure before shedding"
sleep 3 # keep it full and shedding for a while
kill -0 "$AGENT_PID" 2>/dev/null || die "agent died on the full volume: $(tail -3 "$WORK/agent.log")"

# The cloud comes back on the same port with the same store.
"$CLOUD_BIN" serve --data "$CLOUD_DATA" --listen "127.0.0.1:$CLOUD_PORT" \
  >"$CLOUD_DATA/serve2.out" 2>"$CLOUD_DATA/serve2.log" &
CLOUD_PID=$!
OUTPOST_PIDS+=("$CLOUD_PID")
DB="file:$CLOUD_DATA/cloud.db?mode=ro"
q() { sqlite3 -cmd ".timeout 5000" "$DB" "$1"; }
accounted=0 last=-1 still=0
for _ in $(seq 1 900); do
  accounted=$(q "SELECT (SELECT count(*) FROM records) + (SELECT coalesce(sum(records), 0) FROM shed_reports)" 2>/dev/null || echo 0)
  [ "$accounted" -ge "$LINES" ] && break
  kill -0 "$AGENT_PID" 2>/dev/null || die "agent died after the cloud came back"
  # No progress for 30 s: the agent is wedged; say where.
  if [ "$accounted" -eq "$last" ]; then still=$((still + 1)); else still=0; last=$accounted; fi
  if [ "$still" -ge 150 ]; then
    [ -n "${KEEP_WORK:-}" ] && cp -a "$VOL/state" "$WORK/state-copy"
    tail -5 "$WORK/agent.log"
    die "no progress for 30 s at $accounted of $LINES lines accounted for"
  fi
  sleep 0.2
done
sleep 1 # anything counted twice would show up now
kill -0 "$AGENT_PID" 2>/dev/null || die "agent not running at the end"
kill -TERM "$AGENT_PID"; wait "$AGENT_PID" || die "agent did not exit cleanly on SIGTERM"
kill "$SAMPLER_PID"; wait "$SAMPLER_PID" 2>/dev/null || true; SAMPLER_PID=

held=$(q "SELECT count(*) FROM records")
shed=$(q "SELECT coalesce(sum(records), 0) FROM shed_reports")
reports=$(q "SELECT count(*) FROM shed_reports")
echo "lines written $LINES, held by the cloud $held, shed and reported $shed ($reports reports)"
[ "$shed" -gt 0 ] || die "nothing was shed: the test did not fill the volume"
[ "$((held + shed))" -eq "$LINES" ] || die "held $held + shed $shed != written $LINES"
# Held lines are the log's lines at their sequence numbers; shed ranges cover
# exactly the seqs that are missing (none held, none counted twice).
python3 - "$LOG" "$CLOUD_DATA/cloud.db" "$LINES" <<'PY'
import sqlite3, sys
want = open(sys.argv[1], "rb").read().split(b"\n")[:-1]
n = int(sys.argv[3])
assert len(want) == n, "log has %d lines" % len(want)
db = sqlite3.connect("file:%s?mode=ro" % sys.argv[2], uri=True)
held = {}
for seq, line in db.execute("SELECT seq, line FROM records"):
    line = bytes(line) if isinstance(line, (bytes, memoryview)) else line.encode()
    if not 1 <= seq <= n or want[seq - 1] != line:
        sys.exit("record seq %d does not match line %d of the log" % (seq, seq - 1))
    held[seq] = True
shed = set()
for first, last, records in db.execute("SELECT first_seq, last_seq, records FROM shed_reports"):
    span = set(range(first, last + 1)) - set(held)
    if len(span) != records:
        sys.exit("shed report %d..%d says %d records, %d of its seqs are missing" % (first, last, records, len(span)))
    if span & shed:
        sys.exit("shed reports overlap at %d..%d" % (first, last))
    shed |= span
missing = set(range(1, n + 1)) - set(held) - shed
if missing:
    sys.exit("%d seqs neither held nor reported shed (first %d)" % (len(missing), min(missing)))
PY
# The floor held: free space never went under it.
samples=$(wc -l <"$WORK/avail.txt")
min_avail=$(awk 'NR == 1 || $1 < m { m = $1 } END { print m }' "$WORK/avail.txt")
echo "volume $VOL_BYTES bytes, floor $FLOOR, lowest free space seen $min_avail ($samples samples)"
[ "$samples" -gt 500 ] || die "too few df samples ($samples)"
[ "$min_avail" -ge "$FLOOR" ] || die "free space went down to $min_avail, under the floor $FLOOR"
# Someone else's file is untouched; the agent's files are only its own.
[ "$(sha256sum "$VOL/other-app.dat" | cut -d' ' -f1)" = "$OTHER_SUM" ] || die "another program's file changed"
[ "$(ls "$VOL")" = "$(printf 'other-app.dat\nstate')" ] || die "unexpected files on the volume: $(ls "$VOL")"
grep -q "shed report stored by the cloud" "$WORK/agent.log" || die "agent never logged the stored shed report"
echo "PASS: full volume: agent stayed up above the floor, $shed shed and reported, $held held, sum exact"
disk_full_cleanup
trap - EXIT
[ -n "${KEEP_WORK:-}" ] || rm -rf "$WORK"
