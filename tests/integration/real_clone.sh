#!/usr/bin/env bash
# Real-mode identity test (issue #4): the real cloud over HTTPS on loopback and
# real agents started from copies of one state dir, with the identity sources
# overridden (identity.machine_id_file / product_uuid_file).
#   1. copy on other hardware      -> re-enrolls at start, clone_new_hardware alert
#   2. copy with the same ids      -> caught by the instance/ratchet rules, re-enrolls
#   3. credentials for another workspace, a wrong token -> refused
#   4. revocation                  -> the agent stops sending and says why
set -euo pipefail
BUILD=${1:?usage: real_clone.sh BUILD_DIR}
BUILD=$(cd "$BUILD" && pwd)
. "$(dirname "$0")/lib.sh"
WORK=$(mktemp -d /tmp/outpost-clone.XXXXXX)
CLOUD_DATA=$WORK/cloud
start_cloud "$CLOUD_DATA"
DB="file:$CLOUD_DATA/cloud.db?mode=ro"
q() { sqlite3 -cmd ".timeout 10000" "$DB" "$1" 2>/dev/null || echo ""; }
idof() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]] if sys.argv[2] in json.load(open(sys.argv[1])) else "")' "$1/identity.json" "${2:-agent_id}"; }

# wait_until SECONDS CMD...: polls CMD every 0.2 s
wait_until() {
  local limit=$1; shift
  for _ in $(seq 1 $((limit * 5))); do "$@" && return 0; sleep 0.2; done
  return 1
}

echo 11111111111111111111111111111111 >"$WORK/mid-1"
echo 22222222222222222222222222222222 >"$WORK/mid-2"
echo 4c4c4544-0001-0001-0001-000000000001 >"$WORK/uuid-1"
echo 4c4c4544-0002-0002-0002-000000000002 >"$WORK/uuid-2"

# start_agent NAME STATE LOG MID UUID -> AGENT_PID; log in $WORK/NAME.log
start_agent() {
  local name=$1 state=$2 log=$3 mid=$4 uuid=$5
  write_agent_config "$WORK/$name.json" "$state" "$log" ",
  \"checkin_interval_ms\": 2000,
  \"identity\": {\"machine_id_file\": \"$mid\", \"product_uuid_file\": \"$uuid\"}"
  "$AGENT_BIN" run --config "$WORK/$name.json" 2>>"$WORK/$name.log" &
  AGENT_PID=$!
  OUTPOST_PIDS+=("$AGENT_PID")
}

mkdir -p "$WORK/logs"
seq 1 50 | sed 's/^/original line /' >"$WORK/logs/a.log"
start_agent a "$WORK/state-a" "$WORK/logs/a.log" "$WORK/mid-1" "$WORK/uuid-1"
PID_A=$AGENT_PID
wait_for_records 50 90 || die "agent a did not ship"
A_ID=$(idof "$WORK/state-a")
[ -n "$A_ID" ] || die "agent a has no identity"

# ---- 1. the image on other hardware (new machine-id and DMI UUID) ----
cp -a "$WORK/state-a" "$WORK/state-b"
: >"$WORK/logs/b.log"
start_agent b "$WORK/state-b" "$WORK/logs/b.log" "$WORK/mid-2" "$WORK/uuid-2"
PID_B=$AGENT_PID
has_hw_alert() { [ "$(q "SELECT count(*) FROM alerts WHERE kind='clone_new_hardware' AND other_agent_id='$A_ID'")" = 1 ]; }
wait_until 30 has_hw_alert || { tail -5 "$WORK/b.log"; die "no clone_new_hardware alert for the copy"; }
B_ID=$(idof "$WORK/state-b")
[ "$B_ID" != "$A_ID" ] || die "the copy on new hardware kept the original's identity"
[ "$(idof "$WORK/state-b" cloned_from)" = "$A_ID" ] || die "identity.json of the copy does not name its origin"
[ "$(q "SELECT cloned_from FROM agents WHERE agent_id='$B_ID'")" = "$A_ID" ] || die "the cloud does not know whom b was cloned from"
grep -q "re-enrolled as agent $B_ID" "$WORK/b.log" || die "b's log does not say it re-enrolled"
[ "$(idof "$WORK/state-a")" = "$A_ID" ] || die "the original's identity changed"
kill -TERM "$PID_B"; wait "$PID_B" || true

# ---- 2. the image with the same machine-id and hardware ids ----
cp -a "$WORK/state-a" "$WORK/state-c"
: >"$WORK/logs/c.log"
start_agent c "$WORK/state-c" "$WORK/logs/c.log" "$WORK/mid-1" "$WORK/uuid-1"
PID_C=$AGENT_PID
c_reenrolled() { [ "$(idof "$WORK/state-c")" != "$A_ID" ]; }
# a keeps checking in (every ~2 s) and shipping: the first of its requests
# after c took over exposes two live copies.
for i in $(seq 51 60); do echo "original line $i" >>"$WORK/logs/a.log"; sleep 0.3; done
wait_until 40 c_reenrolled || { tail -5 "$WORK/c.log"; die "the same-machine-id copy was not caught"; }
C_ID=$(idof "$WORK/state-c")
[ "$(q "SELECT count(*) FROM alerts WHERE agent_id='$A_ID' AND kind IN ('clone_live_copies','clone_stale_ratchet')")" -ge 1 ] \
  || die "no ratchet/instance alert for the same-machine-id copy"
[ "$(q "SELECT cloned_from FROM agents WHERE agent_id='$C_ID'")" = "$A_ID" ] || die "c's new identity does not name a"
grep -q "another live copy" "$WORK/c.log" || die "c's log does not say why it re-enrolled"
[ "$(idof "$WORK/state-a")" = "$A_ID" ] || die "the original lost its identity to its copy"
kill -0 "$PID_A" || die "the original stopped"
wait_for_records 60 90 || die "the original's new lines did not arrive"
[ "$(q "SELECT count(*) FROM records WHERE agent_id='$A_ID' AND line LIKE 'original line %'")" -ge 60 ] \
  || die "the original's lines are not under its identity"
kill -TERM "$PID_C"; wait "$PID_C" || true

# ---- 3. other workspaces ----
OTHER_TOKEN=$("$CLOUD_BIN" workspace add other --data "$CLOUD_DATA")
cp -a "$WORK/state-a" "$WORK/state-d"
python3 - "$WORK/state-d/identity.json" <<'PY'
import json, sys
p = sys.argv[1]; j = json.load(open(p)); j["workspace"] = "other"; json.dump(j, open(p, "w"))
PY
: >"$WORK/logs/d.log"
start_agent d "$WORK/state-d" "$WORK/logs/d.log" "$WORK/mid-1" "$WORK/uuid-1"
PID_D=$AGENT_PID
d_refused() { grep -q "foreign_workspace" "$WORK/d.log"; }
wait_until 60 d_refused || die "a's credentials were not refused for another workspace"
kill -TERM "$PID_D"; wait "$PID_D" || true
# a token that is no workspace's
write_agent_config "$WORK/e.json" "$WORK/state-e" "$WORK/logs/d.log"
sed -i "s/$CLOUD_TOKEN/otk_not-a-real-token-of-any-workspace-at-all-xyz/" "$WORK/e.json"
"$AGENT_BIN" run --config "$WORK/e.json" 2>>"$WORK/e.log" &
PID_E=$!
OUTPOST_PIDS+=("$PID_E")
e_refused() { grep -q "enrollment refused: HTTP 403 unknown_token" "$WORK/e.log"; }
wait_until 60 e_refused || die "a wrong token was not refused"
kill -TERM "$PID_E"; wait "$PID_E" || true
[ -n "$OTHER_TOKEN" ] || die "no second workspace"

# ---- 4. revocation ----
"$CLOUD_BIN" agent revoke "$A_ID" --data "$CLOUD_DATA" >/dev/null || die "revoke failed"
held=$(q "SELECT count(*) FROM records WHERE agent_id='$A_ID'")
echo "original line 61" >>"$WORK/logs/a.log"
a_revoked() { grep -q "was revoked by the cloud" "$WORK/a.log"; }
wait_until 60 a_revoked || die "the revoked agent does not say why it stopped"
sleep 1
[ "$(q "SELECT count(*) FROM records WHERE agent_id='$A_ID'")" = "$held" ] || die "a revoked agent's records were stored"

"$CLOUD_BIN" alerts --data "$CLOUD_DATA" >"$WORK/alerts.txt"
grep -q "kind=clone_new_hardware agent=$B_ID other_agent=$A_ID" "$WORK/alerts.txt" || die "outpost-cloud alerts does not list the clone"
kill -TERM "$PID_A"; wait "$PID_A" || true
echo "PASS: new-hardware copy re-enrolled ($B_ID), same-machine-id copy caught ($C_ID), foreign workspace and wrong token refused, revocation obeyed"
rm -rf "$WORK"
