#!/usr/bin/env bash
# real_update.sh BUILD - the whole update path with real binaries (issue #6):
# three builds of the real agent from this source tree, differing only in the
# compiled version (OUTPOST_VERSION_OVERRIDE), all with the release key that
# this test's SoftHSM2 token generated (`outpost-cloud repo init`), against
# the real `outpost-cloud serve` over HTTPS on loopback.
#   1. the supervisor runs 1.0.0; 1.1.0 is released to canary; the agent's
#      updater stages it and exits 75; the supervisor switches; 1.1.0 checks
#      in and ships, passes probation, the floor is raised; promote works;
#   2. 1.2.0, a broken build (linked against a dynamic loader that does not
#      exist, so it cannot start) with a valid release signature, is staged,
#      crash-loops, is rolled back and marked bad; the rollback reaches the
#      cloud (outpost-cloud update-reports);
#   3. the repository's old metadata is replayed: refused (rollback), and a
#      re-release of an old version is refused by the cloud.
set -euo pipefail
BUILD=$(cd "${1:?usage: real_update.sh BUILD_DIR}" && pwd)
SRC=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
MOD=/usr/lib/softhsm/libsofthsm2.so
# Not a skip: CI installs softhsm2 through ci/setup-deps (ci/deps.txt).
[ -r "$MOD" ] && command -v softhsm2-util >/dev/null || die "SoftHSM2 is not installed ($MOD); run ci/setup-deps"
[ -x "$CLOUD_BIN" ] || die "no $CLOUD_BIN"
W=$(mktemp -d /tmp/outpost-realupd.XXXXXX)
trap 'outpost_cleanup; [ -n "${KEEP:-}" ] || rm -rf "$W"' EXIT
fail() {
  echo "FAIL: $*" >&2
  [ -f "$W/sup.log" ] && tail -n 40 "$W/sup.log" >&2
  exit 1
}
# wait_for SECONDS DESCRIPTION COMMAND...: polls every 0.2 s.
wait_for() {
  local secs=$1 what=$2; shift 2
  for _ in $(seq 1 $((secs * 5))); do "$@" && return 0; sleep 0.2; done
  fail "timed out after ${secs}s waiting for: $what"
}
t0=$(date +%s)
step() { echo "[$(( $(date +%s) - t0 ))s] $*"; }

# ---- The token, the cloud and its repository.
export SOFTHSM2_CONF=$W/softhsm2.conf
mkdir "$W/tokens"
printf 'directories.tokendir = %s/tokens\nobjectstore.backend = file\nlog.level = ERROR\n' "$W" >"$SOFTHSM2_CONF"
softhsm2-util --init-token --free --label outpost --pin 2468 --so-pin 13579 >/dev/null || fail "init token"
echo 2468 >"$W/pin"
CLOUD_DATA=$W/cloud
"$CLOUD_BIN" init --data "$CLOUD_DATA" >/dev/null 2>&1 || fail "cloud init"
CLOUD_TOKEN=$("$CLOUD_BIN" workspace add test --data "$CLOUD_DATA") || fail "workspace add"
"$CLOUD_BIN" repo init --data "$CLOUD_DATA" --root-keys "$W/rootkeys" --pkcs11-module "$MOD" \
  --token-label outpost --pin-file "$W/pin" >/dev/null 2>"$W/repo.err" || fail "repo init: $(cat "$W/repo.err")"
KEY=$CLOUD_DATA/repo/release-key.pem
[ -s "$KEY" ] || fail "repo init wrote no release-key.pem"

CLOUD_PORT=$(free_port)
SERVE_PID=
serve() {
  "$CLOUD_BIN" serve --data "$CLOUD_DATA" --listen "127.0.0.1:$CLOUD_PORT" >"$W/serve.out" 2>>"$W/serve.log" &
  SERVE_PID=$!
  OUTPOST_PIDS+=("$SERVE_PID")
  for _ in $(seq 1 150); do
    grep -q "listening on" "$W/serve.out" 2>/dev/null && return 0
    kill -0 "$SERVE_PID" 2>/dev/null || break
    sleep 0.1
  done
  fail "serve did not start: $(tail -n 3 "$W/serve.log")"
}
serve
step "cloud with a TUF repository on 127.0.0.1:$CLOUD_PORT"

# ---- Three agent builds: one configure, only the version (and for the
# broken one, the link) changes. Debug: -O0 compiles fastest; the code paths
# are the release ones.
SB=$W/agent-build
build_agent() { # VERSION OUT [extra cmake args]
  local v=$1 out=$2; shift 2
  cmake -S "$SRC" -B "$SB" -DCMAKE_BUILD_TYPE=Debug -DOUTPOST_RELEASE_PUBKEY="$KEY" \
    -DOUTPOST_VERSION_OVERRIDE="$v" "$@" >>"$W/build.log" 2>&1 || { tail -n 20 "$W/build.log"; fail "configure $v"; }
  cmake --build "$SB" -j2 --target outpost-agent >>"$W/build.log" 2>&1 || { tail -n 20 "$W/build.log"; fail "build $v"; }
  cp "$SB/agent/outpost-agent" "$out"
}
build_agent 1.0.0 "$W/agent-1.0.0"
build_agent 1.1.0 "$W/agent-1.1.0"
# The broken build: its program interpreter does not exist, so every start
# fails (the supervisor's child exits 127), yet it is signed like any release.
build_agent 1.2.0 "$W/agent-1.2.0" -DCMAKE_EXE_LINKER_FLAGS=-Wl,--dynamic-linker=/nonexistent/ld-outpost.so
[ "$("$W/agent-1.0.0" --version)" = "outpost-agent 1.0.0" ] || fail "build 1.0.0 reports $("$W/agent-1.0.0" --version)"
[ "$("$W/agent-1.1.0" --version)" = "outpost-agent 1.1.0" ] || fail "build 1.1.0 reports $("$W/agent-1.1.0" --version)"
if "$W/agent-1.2.0" --version >/dev/null 2>&1; then fail "the broken build runs"; fi
step "agents 1.0.0, 1.1.0 and the broken 1.2.0 built"

# ---- The agent: canary ring (policy), updates on, the repository's first root trusted.
S=$W/state
LOG=$W/app.log
: >"$LOG"
cat >"$W/policy.json" <<JSON
{"update_ring":"canary"}
JSON
"$CLOUD_BIN" policy set --data "$CLOUD_DATA" --workspace test "$W/policy.json" >/dev/null || fail "policy set"
write_agent_config "$W/agent.json" "$S" "$LOG" ',
  "checkin_interval_ms": 5000,
  "update": {"enabled": true, "trusted_root": "'"$CLOUD_DATA"'/repo/metadata/1.root.json",
             "check_interval_s": 60, "first_check_s": 0,
             "probation_s": 90, "crash_loop_max": 3, "crash_window_s": 60}'
"$W/agent-1.0.0" check-config --config "$W/agent.json" >/dev/null || fail "config refused"

# Lines keep arriving, so every version on probation has something to ship.
( for i in $(seq 1 2000); do echo "app line $i" >>"$LOG"; sleep 0.2; done ) &
OUTPOST_PIDS+=("$!")

start_supervisor() {
  "$W/agent-1.0.0" supervise --config "$W/agent.json" >>"$W/sup.log" 2>&1 &
  SUP=$!
  OUTPOST_PIDS+=("$SUP")
}
start_supervisor
wait_for 30 "1.0.0 started" grep -q "started 1.0.0" "$W/sup.log"
reports() { "$CLOUD_BIN" update-reports --data "$CLOUD_DATA" 2>/dev/null; }
state_has() { grep -q "$1" "$S/update/state.json" 2>/dev/null; }
current_is() { [ "$(readlink "$S/bin/current")" = "$1" ]; }
wait_for 30 "1.0.0 shipping" wait_for_records 1 1
wait_for 30 "the canary policy" grep -q "policy version 1 applied" "$W/sup.log"
step "supervisor runs 1.0.0, which ships and follows canary"

# ---- 1. 1.1.0 released to canary: staged, switched, probation passed.
# The agent's first check ran before its policy named the ring, and the next
# is a minute away: restart the service instead (the policy is persisted, and
# a fresh start checks at once with first_check_s 0).
kill -TERM "$SUP"; wait "$SUP" || fail "supervisor did not exit 0 on SIGTERM"
"$CLOUD_BIN" release --data "$CLOUD_DATA" --binary "$W/agent-1.1.0" --version 1.1.0 --ring canary \
  >/dev/null 2>"$W/rel.err" || fail "release 1.1.0: $(cat "$W/rel.err")"
cp -a "$CLOUD_DATA/repo/metadata" "$W/metadata-old"   # for the replay in 3.
start_supervisor
wait_for 90 "switch to 1.1.0" grep -q "switched from 1.0.0 to 1.1.0" "$W/sup.log"
wait_for 60 "1.1.0 passes probation" state_has '"floor":"1.1.0"'
current_is 1.1.0 || fail "bin/current is not 1.1.0"
[ "$(readlink "$S/bin/previous")" = 1.0.0 ] || fail "bin/previous is not 1.0.0"
cmp -s "$S/bin/1.1.0/outpost-agent" "$W/agent-1.1.0" || fail "bin/1.1.0 is not the released binary"
step "ok 1 1.1.0 staged by the updater, switched, passed probation, floor 1.1.0"

"$CLOUD_BIN" promote --data "$CLOUD_DATA" --version 1.1.0 --from canary --to early-access \
  >/dev/null 2>"$W/rel.err" || fail "promote: $(cat "$W/rel.err")"
python3 - "$CLOUD_DATA/repo/metadata" <<'PY' || fail "early-access does not list 1.1.0 after promote"
import glob, json, os, sys
d = sys.argv[1]
newest = max(glob.glob(os.path.join(d, "*.early-access.json")), key=lambda p: int(os.path.basename(p).split(".")[0]))
t = json.load(open(newest))["signed"]["targets"]
assert any(k.startswith("early-access/outpost-agent/1.1.0/") for k in t), t
PY
step "ok 1b 1.1.0 promoted to early-access"

# ---- 2. The broken 1.2.0: staged, switched, crash-loops, rolled back, reported.
# As in 1., a restart instead of waiting a minute for the next check (the
# periodic check is core_update's and the simulator's; here it cost 60 s of
# every CI pass).
kill -TERM "$SUP"; wait "$SUP" || fail "supervisor did not exit 0 on SIGTERM"
"$CLOUD_BIN" release --data "$CLOUD_DATA" --binary "$W/agent-1.2.0" --version 1.2.0 --ring canary \
  >/dev/null 2>"$W/rel.err" || fail "release 1.2.0: $(cat "$W/rel.err")"
start_supervisor
wait_for 150 "switch to 1.2.0" grep -q "switched from 1.1.0 to 1.2.0" "$W/sup.log"
# ---- 3 (prepared): while 1.2.0 fails, the cloud is restarted serving the
# metadata as it was before 1.2.0 (validly signed, older versions).
kill "$SERVE_PID"; wait "$SERVE_PID" 2>/dev/null || true
rm -rf "$CLOUD_DATA/repo/metadata.new"
mv "$CLOUD_DATA/repo/metadata" "$W/metadata-new"
cp -a "$W/metadata-old" "$CLOUD_DATA/repo/metadata"
serve
wait_for 90 "rollback of 1.2.0" grep -q "rolled back to 1.1.0" "$W/sup.log"
state_has '"bad":\["1.2.0"\]' || fail "1.2.0 not on the bad list: $(cat "$S/update/state.json")"
state_has '"floor":"1.1.0"' || fail "floor changed by a failed version"
current_is 1.1.0 || fail "bin/current is not back at 1.1.0"
wait_for 60 "the rollback in the cloud" sh -c "'$CLOUD_BIN' update-reports --data '$CLOUD_DATA' 2>/dev/null | grep -q '\"kind\":\"rollback\".*\"version\":\"1.2.0\"'"
wait_for 30 "report.json cleared once delivered" test ! -e "$S/update/report.json"
step "ok 2 broken 1.2.0 rolled back, marked bad, rollback reported to the cloud"
# The promotion gate: the cloud holds a rollback of 1.2.0, so promote refuses
# (before touching the repository or the token; --force is not tried here:
# the metadata in place is the old one section 3 replays).
"$CLOUD_BIN" promote --data "$CLOUD_DATA" --version 1.2.0 --from canary --to early-access \
  >/dev/null 2>"$W/gate.err" && fail "promote of the rolled-back 1.2.0 was not refused"
grep -q "promote refused: 1 agent(s) rolled 1.2.0 back" "$W/gate.err" || fail "gate message: $(cat "$W/gate.err")"
step "ok 2b promote of the rolled-back 1.2.0 refused by the gate"

# ---- 3. The replayed metadata is refused; the agent keeps 1.1.0.
wait_for 60 "refusal of the replayed metadata" sh -c "'$CLOUD_BIN' update-reports --data '$CLOUD_DATA' 2>/dev/null | grep '\"kind\":\"refused\"' | grep -q 'timestamp: version [0-9]* is below trusted [0-9]* (version rollback)'"
current_is 1.1.0 || fail "bin/current moved away from 1.1.0"
tsv() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["signed"]["version"])' "$1"; }
[ "$(tsv "$S/update/metadata/timestamp.json")" = "$(tsv "$W/metadata-new/timestamp.json")" ] ||
  fail "the agent's trusted timestamp was replaced by the replayed one"
n12=$(grep -c "switched from 1.1.0 to 1.2.0" "$W/sup.log" || true)
[ "$n12" = 1 ] || fail "1.2.0 was switched to $n12 times"
if "$CLOUD_BIN" release --data "$CLOUD_DATA" --binary "$W/agent-1.1.0" --version 1.1.0 --ring canary >/dev/null 2>"$W/rel.err"; then
  fail "the cloud re-released 1.1.0"
fi
grep -q "already released" "$W/rel.err" || fail "re-release refused without saying why: $(cat "$W/rel.err")"
step "ok 3 replayed old metadata refused: $(reports | grep '"kind":"refused"' | tail -n 1 | cut -c1-160)"

kill -TERM "$SUP"
wait "$SUP" || fail "supervisor did not exit 0 on SIGTERM"
step "real_update: all passed"
