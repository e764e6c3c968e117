#!/usr/bin/env bash
# Issue #13 (PRIV-1, LOCAL-1), real binaries: the root agent's state dir is
# left writable by everyone, and an unprivileged user (nobody, uid 65534)
# plants files there before the agent starts: the old uid probe, a
# policy.json of its own, a file of any name. After the start nothing under
# the state dir belongs to that user, the key is not readable by it, the dir
# is 0700 again, and each finding is in the agent's log and in the cloud's
# permission_drift events. Then the user replaces identity.json (the dir let
# it): the agent refuses to start, names the file, and chowns nothing.
# Needs root and setpriv(1): skipped (77) otherwise.
set -euo pipefail
BUILD=${1:?usage: planted_probe.sh BUILD_DIR}
BUILD=$(cd "$BUILD" && pwd)
[ "$(id -u)" -eq 0 ] || { echo "SKIP: needs root (the agent must run as root, the planter as nobody)"; exit 77; }
command -v setpriv >/dev/null || { echo "SKIP: no setpriv"; exit 77; }
. "$(dirname "$0")/lib.sh"
WORK=$(mktemp -d /tmp/outpost-planted.XXXXXX)
chmod 0755 "$WORK" # nobody must reach the state dir, as on a real host
CLOUD_DATA=$WORK/cloud
NOBODY=65534
as_nobody() { setpriv --reuid=$NOBODY --regid=$NOBODY --clear-groups -- "$@"; }

start_cloud "$CLOUD_DATA"
LOG=$WORK/logs/app.log
mkdir -p "$WORK/logs"
printf 'line %d\n' $(seq 1 20) >"$LOG"
STATE=$WORK/state
write_agent_config "$WORK/agent.json" "$STATE" "$LOG"

# The careless install: a root-owned state dir anyone may write.
mkdir "$STATE"
chmod 0777 "$STATE"
as_nobody sh -c "
  : >'$STATE/.outpost-uid-probe'
  printf '{\"version\": 990013, \"logs\": [{\"glob\": \"/var/log/planted.log\"}]}' >'$STATE/policy.json'
  echo hello >'$STATE/notes.txt'
" || die "nobody could not plant files in a 0777 dir"
[ "$(stat -c %u "$STATE/.outpost-uid-probe")" = $NOBODY ] || die "the probe is not nobody's"

"$AGENT_BIN" run --config "$WORK/agent.json" 2>>"$WORK/agent.log" &
AGENT_PID=$!
OUTPOST_PIDS+=("$AGENT_PID")
wait_for_records 20 120 || { show_logs; die "agent did not ship"; }

# Nothing under the state dir is nobody's, the door is closed, the key private.
left=$(find "$STATE" -uid $NOBODY | head -5)
[ -z "$left" ] || { show_logs; die "still owned by uid $NOBODY: $left"; }
[ "$(stat -c '%a %u' "$STATE")" = "700 0" ] || die "state dir is $(stat -c '%a %u' "$STATE")"
[ "$(stat -c '%a %u' "$STATE/agent.key")" = "600 0" ] || die "agent.key is $(stat -c '%a %u' "$STATE/agent.key")"
if as_nobody cat "$STATE/agent.key" >/dev/null 2>&1; then die "nobody can read agent.key"; fi
[ ! -e "$STATE/.outpost-uid-probe" ] && [ ! -e "$STATE/notes.txt" ] || die "planted files left"
# The planted policy never ran: policy.json is gone or the cloud's, never nobody's.
if [ -e "$STATE/policy.json" ] && grep -q 990013 "$STATE/policy.json"; then die "planted policy kept"; fi
grep -q "policy: version 990013" "$WORK/agent.log" && die "the agent loaded the planted policy"

# Logged, and reported to the cloud.
for f in .outpost-uid-probe policy.json notes.txt; do
  grep -q "state dir: $f is owned by uid $NOBODY, not by the agent's uid 0: removed unread" \
    "$WORK/agent.log" || { show_logs; die "no log line for $f"; }
done
grep -q "state dir: \.: mode 0777 reset to 0700" "$WORK/agent.log" || { show_logs; die "no log line for the dir"; }
drift=0
for _ in $(seq 1 100); do
  drift=$(sqlite3 -cmd ".timeout 5000" "file:$CLOUD_DATA/cloud.db?mode=ro" \
    "SELECT count(*) FROM events WHERE kind='permission_drift' AND (detail LIKE '%\"removed\"%' OR detail LIKE '%\"chmod\"%')" 2>/dev/null || echo 0)
  [ "$drift" -ge 4 ] && break
  sleep 0.2
done
[ "$drift" -ge 4 ] || { show_logs; die "the cloud holds $drift drift events, expected 4"; }
kill -TERM "$AGENT_PID"; wait "$AGENT_PID" || true

# Second visit: the dir is careless again and nobody swaps in its own
# identity.json (unlinking ours needs only the dir's write bit).
chmod 0777 "$STATE"
as_nobody sh -c "rm -f '$STATE/identity.json' && echo '{}' >'$STATE/identity.json'" ||
  die "nobody could not replace identity.json"
# Bounded: an agent that wrongly starts is stopped after 30 s (and fails below).
if timeout 30 "$AGENT_BIN" run --config "$WORK/agent.json" 2>>"$WORK/agent.log"; then
  die "the agent started with another user's identity.json"
fi
grep -q "identity.json is owned by uid $NOBODY, not by the agent's uid 0" "$WORK/agent.log" ||
  { show_logs; die "the refusal does not name identity.json"; }
[ "$(stat -c %u "$STATE/identity.json")" = $NOBODY ] || die "identity.json was taken over (chowned)"
[ "$(stat -c '%a %u' "$STATE/agent.key")" = "600 0" ] || die "agent.key changed: $(stat -c '%a %u' "$STATE/agent.key")"
echo "PASS: planted files removed and reported, nothing handed to uid $NOBODY, a planted identity refused"
rm -rf "$WORK"
