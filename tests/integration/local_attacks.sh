#!/usr/bin/env bash
# Real-mode test of issue #13 (COL-2, LOCAL-1, LOCAL-2): a local user who can
# write to a watched log directory attacks the real agent (running as root,
# so an unguarded read of /etc/shadow would succeed):
#  1. a local source swapped for a symlink to /etc/shadow, over and over
#     (ln -s /etc/shadow d/t; mv -T d/t d/app.log), and back;
#  2. a file added by policy flipped between a regular file and a symlink to
#     a denied file in the same directory (the check-then-open race);
#  3. a FIFO without a writer as a local source, present before the start;
#  4. a hard link to the denied file under a harmless name.
# Then: not one line of /etc/shadow or of the denied file in the cloud; the
# agent enrolled and shipped its other sources all along; every refusal is
# reported to the cloud with its path and counted in `status`; SIGTERM stops
# it at once. With the guard removed (tail.c opening by name), step 2 ships
# the denied file inside the log dir within seconds (seen: 4 lines in one run;
# before Landlock, step 1 shipped /etc/shadow too: Landlock now stops that
# one at the kernel, sandbox.sh step f); the race itself is proven
# deterministically by posix.guard.
set -euo pipefail
BUILD=${1:?usage: local_attacks.sh BUILD_DIR}
BUILD=$(cd "$BUILD" && pwd)
. "$(dirname "$0")/lib.sh"
WORK=$(mktemp -d /tmp/outpost-local.XXXXXX)
CLOUD_DATA=$WORK/cloud
D=$WORK/logs
[ "$(id -u)" = 0 ] || { echo "needs root (the agent must be able to read /etc/shadow for the test to mean anything)"; exit 77; }
[ -s /etc/shadow ] || { echo "no /etc/shadow here"; exit 77; }

start_cloud "$CLOUD_DATA"
mkdir -p "$D"
echo "SECRET-KEY-MATERIAL do not ship" >"$D/vault.key" # denied by name (.key)
for i in $(seq 1 20); do echo "app benign $i" >>"$D/app.log"; done
for i in $(seq 1 20); do echo "flip benign $i" >>"$D/flip.log"; done
: >"$D/other.log"
mkfifo "$D/pipe.log"
ln "$D/vault.key" "$D/innocent.log"
write_agent_config "$WORK/agent.json" "$WORK/state" "$D/app.log" \
  ", \"allowed_log_roots\": [\"$D\"], \"checkin_interval_ms\": 2000, \"log_level\": \"info\""
# Three local sources: app.log, the FIFO, other.log (the writer's).
python3 - "$WORK/agent.json" "$D" <<'PY'
import json, sys
p, d = sys.argv[1], sys.argv[2]
c = json.load(open(p))
c["sources"] = [{"path": d + "/app.log", "start": "beginning"},
                {"path": d + "/pipe.log", "start": "beginning"},
                {"path": d + "/other.log", "start": "beginning"}]
json.dump(c, open(p, "w"))
PY
cat >"$WORK/policy.json" <<JSON
{"logs":[{"glob":"$D/flip.log","start":"beginning"},{"glob":"$D/innocent.log","start":"beginning"}]}
JSON
"$CLOUD_BIN" policy set --data "$CLOUD_DATA" --workspace test "$WORK/policy.json" >/dev/null

db() { sqlite3 -cmd ".timeout 10000" "file:$CLOUD_DATA/cloud.db?mode=ro" "$1"; }
"$AGENT_BIN" run --config "$WORK/agent.json" 2>>"$WORK/agent.log" &
AGENT_PID=$!
OUTPOST_PIDS+=("$AGENT_PID")
trap 'show_logs; outpost_cleanup' ERR

# The FIFO exists from the start: the agent still enrolls and ships.
echo "other 0" >>"$D/other.log"
wait_for_records 41 60 || die "the agent did not ship app.log, flip.log and other.log (frozen by the FIFO?)"

# The attacker: at least 6 seconds of swaps on both files, as fast as
# rename(2) goes (a tight loop, to hit any window between a check and an
# open), while other.log keeps growing. Whether a poll lands in a symlink
# window is chance (under ASan on a loaded machine the agent polls a few
# times in 6 s), so the swaps go on until a swap refusal reaches the cloud,
# for at most 40 s: the test then says what it saw instead of flaking.
python3 - "$D" "$WORK/stop-swaps" <<'PY' &
import os, sys, time
d, stop = sys.argv[1], sys.argv[2]
start = time.time()
n = 0
while time.time() < start + 40 and not (time.time() > start + 6 and os.path.exists(stop)):
    n += 1
    for name, target in (("app.log", "/etc/shadow"), ("flip.log", d + "/vault.key")):
        tmp = os.path.join(d, "t-" + name)
        os.symlink(target, tmp)
        os.rename(tmp, os.path.join(d, name))
        with open(tmp, "w") as f:
            f.write("%s after %d\n" % (name, n))
        os.rename(tmp, os.path.join(d, name))
print("python swaps: %d in %.1f s" % (n, time.time() - start))
PY
FLIP=$!
n=0
while kill -0 $FLIP 2>/dev/null; do
  n=$((n + 1)); echo "other $n" >>"$D/other.log"; sleep 0.1
  if [ $((n % 10)) = 0 ] && [ ! -e "$WORK/stop-swaps" ] &&
    grep -Eq "$D/(app|flip).log" <<<"$(db "SELECT group_concat(refused) FROM policy_reports" 2>/dev/null)"; then
    : >"$WORK/stop-swaps"
  fi
done
wait $FLIP
echo "other.log lines written during the attack: $n"
for _ in $(seq 1 300); do
  [ "$(db "SELECT count(*) FROM records WHERE line LIKE 'other %'")" -ge $((n + 1)) ] && break
  sleep 0.2
done

shadow=$(db "SELECT count(*) FROM records WHERE line LIKE 'root:%' OR line LIKE 'daemon:%'")
secret=$(db "SELECT count(*) FROM records WHERE line LIKE '%SECRET-KEY-MATERIAL%'")
[ "$shadow" = 0 ] || die "/etc/shadow was shipped ($shadow lines)"
[ "$secret" = 0 ] || die "the denied file was shipped ($secret lines)"
[ "$(db "SELECT count(*) FROM records WHERE line LIKE 'other %'")" -ge $((n + 1)) ] || die "other.log lost lines"

# Every refusal reaches the cloud with its path, and the status counts them.
for _ in $(seq 1 150); do
  refused=$(db "SELECT group_concat(refused) FROM policy_reports" 2>/dev/null || true)
  grep -q "pipe.log" <<<"$refused" && grep -q "innocent.log" <<<"$refused" && break
  sleep 0.2
done
grep -q "$D/pipe.log.*FIFO" <<<"$refused" || die "FIFO refusal not reported: $refused"
grep -q "$D/innocent.log.*hard links" <<<"$refused" || die "hard link refusal not reported: $refused"
grep -Eq "$D/(app|flip).log" <<<"$refused" || die "no swap refusal reported: $refused"
st=$("$AGENT_BIN" status --config "$WORK/agent.json" 2>/dev/null || true)
for _ in $(seq 1 60); do
  grep -Eq '^policy_paths_refused_total +[3-9]' <<<"$st" && break
  sleep 0.2; st=$("$AGENT_BIN" status --config "$WORK/agent.json" 2>/dev/null || true)
done
grep -Eq '^policy_paths_refused_total +[3-9]' <<<"$st" || die "status does not count the refusals: $st"

# SIGTERM with the FIFO still there: out within 5 seconds.
kill -TERM "$AGENT_PID"
for _ in $(seq 1 50); do kill -0 "$AGENT_PID" 2>/dev/null || break; sleep 0.1; done
! kill -0 "$AGENT_PID" 2>/dev/null || die "the agent ignored SIGTERM"
wait "$AGENT_PID" || die "agent exit status $?"
echo "local attacks: 6+ s of swaps, nothing denied shipped, FIFO and hard link refused and reported"
rm -rf "$WORK"
