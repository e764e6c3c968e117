#!/usr/bin/env bash
# supervise.sh BUILD - `outpost-agent supervise` with real processes (issue #6):
# a fresh install is seeded with the supervisor's own binary; a signed update
# is switched to, passes probation and raises the floor; a crashing update is
# rolled back, marked bad, reported and never started again; updates with a
# wrong signature, tampered bytes or on the bad list are refused.
# The supervisor is outpost-agent-testkey (same main.c, a test release key);
# the children are supervise_child copies installed as bin/<v>/outpost-agent.
set -euo pipefail
BUILD=$(cd "$1" && pwd)
T=$BUILD/tests/integration
SUP=$T/outpost-agent-testkey
CHILD=$T/supervise_child
TOOL=$T/release_tool
KEY=$T/testkey/release.key.der
for f in "$SUP" "$CHILD" "$TOOL" "$KEY"; do [ -e "$f" ] || { echo "missing $f" >&2; exit 1; }; done
W=$(mktemp -d /tmp/outpost-supervise.XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]:-}"; do [ -n "$p" ] && wait "$p" 2>/dev/null || true; done
  [ -n "${KEEP:-}" ] || rm -rf "$W"
}
trap cleanup EXIT
die() { echo "FAIL: $*" >&2; [ -f "$W/sup.log" ] && tail -n 30 "$W/sup.log" >&2; exit 1; }
# wait_for SECONDS DESCRIPTION COMMAND...: polls every 0.1 s.
wait_for() {
  local secs=$1 what=$2; shift 2
  for _ in $(seq 1 $((secs * 10))); do "$@" && return 0; sleep 0.1; done
  die "timed out waiting for: $what"
}
ARCH=$("$TOOL" arch)
OWN=$("$SUP" --version | awk '{print $2}')

write_config() { # FILE STATE
  cat >"$1" <<JSON
{"cloud_url": "https://127.0.0.1:9", "allow_cloud_port": 9, "ca_file": "$W/no-ca.pem", "state_dir": "$2",
 "update": {"probation_s": 120, "crash_loop_max": 3, "crash_window_s": 120}}
JSON
}

# ---- 1. Fresh install: bin/ is seeded with the supervisor's own binary.
S0=$W/fresh
write_config "$W/fresh.json" "$S0"
"$SUP" supervise --config "$W/fresh.json" >"$W/fresh.log" 2>&1 &
P0=$!; PIDS+=("$P0")
wait_for 20 "seeded bin/$OWN" grep -q "seeded bin/$OWN" "$W/fresh.log"
wait_for 20 "a start of $OWN" grep -q "started $OWN" "$W/fresh.log"
cmp -s "$S0/bin/$OWN/outpost-agent" "$SUP" || die "bin/$OWN is not a copy of the supervisor"
[ "$(readlink "$S0/bin/current")" = "$OWN" ] || die "bin/current does not point at $OWN"
kill -TERM "$P0"; wait "$P0" || die "supervisor did not exit 0 on SIGTERM"
echo "ok 1 fresh install seeded bin/$OWN"

# ---- The update tests: 1.0.0 installed and signed.
S=$W/state
export OUTPOST_TEST_STATE=$S
write_config "$W/agent.json" "$S"
# stage VERSION MODE [KEY]: bin/VERSION/outpost-agent + .sig (+ mode file)
# The supervisor prunes bin/ before each start, trusting that only its running
# agent stages a version (supervise.c, prune_bin). The test stages as that
# agent would: while a child runs, or while no supervisor does. Staging in the
# back-off between two children raced the prune (a CI run under ASan lost
# bin/1.3.0 between its mkdir and its pending.json).
child_running() { [[ $(grep -E "supervise: (started|[0-9.]+ exited)" "$W/sup.log" | tail -n 1) == *started* ]]; }
stage() {
  local v=$1 mode=$2 key=${3:-$KEY} d=$S/bin/$1
  if [ -n "${SP:-}" ] && kill -0 "$SP" 2>/dev/null; then wait_for 30 "a running child to stage $v beside" child_running; fi
  mkdir -p "$d"
  cp "$CHILD" "$d/outpost-agent"
  [ "$mode" = bad ] && echo bad >"$d/mode"
  "$TOOL" sign "$key" "$d/outpost-agent" "$v" "$ARCH" >"$d/outpost-agent.sig"
}
# pending VERSION: what the updater writes before exiting 75 (atomically).
pending() {
  local f=$S/bin/$1/outpost-agent
  mkdir -p "$S/update"
  printf '{"version":"%s","sha256":"%s","length":%d}\n' "$1" \
    "$(sha256sum "$f" | cut -d' ' -f1)" "$(stat -c %s "$f")" >"$S/update/pending.tmp"
  mv "$S/update/pending.tmp" "$S/update/pending.json"
}
state_has() { grep -q "$1" "$S/update/state.json" 2>/dev/null; }
current_is() { [ "$(readlink "$S/bin/current")" = "$1" ]; }
starts_of() { grep -c "started $1 " "$W/sup.log" || true; }

mkdir -p "$S/bin"
stage 1.0.0 good
ln -s 1.0.0 "$S/bin/current"
"$SUP" supervise --config "$W/agent.json" >"$W/sup.log" 2>&1 &
SP=$!; PIDS+=("$SP")
wait_for 20 "1.0.0 started" grep -q "started 1.0.0 " "$W/sup.log"

# ---- 2. A good update: switch, probation passed, floor raised.
stage 1.1.0 good
pending 1.1.0
wait_for 30 "switch to 1.1.0" grep -q "switched from 1.0.0 to 1.1.0" "$W/sup.log"
wait_for 30 "1.1.0 passes probation" state_has '"floor":"1.1.0"'
state_has '"probation":null' || die "probation not cleared after health"
current_is 1.1.0 || die "bin/current is not 1.1.0"
[ "$(readlink "$S/bin/previous")" = 1.0.0 ] || die "bin/previous is not 1.0.0"
[ ! -e "$S/update/pending.json" ] || die "pending.json left behind"
echo "ok 2 signed update to 1.1.0 switched, passed probation, floor 1.1.0"

# ---- 3. A crashing update: rolled back, marked bad, reported.
stage 1.2.0 bad
pending 1.2.0
wait_for 30 "switch to 1.2.0" grep -q "switched from 1.1.0 to 1.2.0" "$W/sup.log"
wait_for 60 "rollback of 1.2.0" grep -q "rolled back to 1.1.0" "$W/sup.log"
state_has '"bad":\["1.2.0"\]' || die "1.2.0 not on the bad list: $(cat "$S/update/state.json")"
state_has '"floor":"1.1.0"' || die "floor changed by a failed version"
grep -q '"kind":"rollback","version":"1.2.0"' "$S/update/report.json" || die "no rollback report"
current_is 1.1.0 || die "bin/current is not back at 1.1.0"
wait_for 20 "1.1.0 running again" grep -q "started 1.1.0 " "$W/sup.log"
n_bad=$(starts_of 1.2.0)
[ "$n_bad" -ge 1 ] && [ "$n_bad" -le 3 ] || die "1.2.0 started $n_bad times (want 1..3)"
echo "ok 3 crashing 1.2.0 rolled back after $n_bad starts, marked bad, reported"

# ---- 4. The bad version is never retried.
[ -e "$S/bin/1.2.0/outpost-agent" ] || die "bin/1.2.0 (holding the test's mode file) was emptied"
pending 1.2.0
wait_for 30 "refusal of 1.2.0" grep -q "update to 1.2.0 refused: version is on the bad list" "$W/sup.log"
echo "ok 4 1.2.0 refused: on the bad list"

# ---- 5. A wrong signature (another key) is refused.
"$TOOL" keygen "$W/other.der" "$W/other.pem"
stage 1.3.0 good "$W/other.der"
pending 1.3.0
wait_for 30 "refusal of 1.3.0" grep -q "update to 1.3.0 refused: .*keyid" "$W/sup.log"
echo "ok 5 1.3.0 signed by another key refused"

# ---- 6. Bytes changed after signing are refused (pending.json matches them, the .sig does not).
stage 1.4.0 good
printf 'x' >>"$S/bin/1.4.0/outpost-agent"
pending 1.4.0
wait_for 30 "refusal of 1.4.0" grep -q "update to 1.4.0 refused: .*signed\.\(length\|sha256\)" "$W/sup.log"
echo "ok 6 1.4.0 with tampered bytes refused"

# ---- 7. A version signed as 1.5.0 but staged as 1.6.0 (relabelled) is refused.
stage 1.6.0 good
"$TOOL" sign "$KEY" "$S/bin/1.6.0/outpost-agent" 1.5.0 "$ARCH" >"$S/bin/1.6.0/outpost-agent.sig"
pending 1.6.0
wait_for 30 "refusal of 1.6.0" grep -q "update to 1.6.0 refused: .*signed.version" "$W/sup.log"
echo "ok 7 relabelled version refused"

[ "$(starts_of 1.2.0)" = "$n_bad" ] || die "1.2.0 was started again"
for v in 1.3.0 1.4.0 1.6.0; do [ "$(starts_of $v)" = 0 ] || die "$v was started"; done
current_is 1.1.0 || die "bin/current moved away from 1.1.0"
grep -c '"kind":"refused"' "$S/update/report.json" | grep -q '^[1-9]' || die "refusals not reported"

# ---- 8. SIGTERM reaches the child; the supervisor exits 0.
wait_for 30 "1.1.0 running after the refusals" child_running
sleep 0.3
kill -TERM "$SP"
wait "$SP" || die "supervisor did not exit 0 on SIGTERM"
grep -q "stopped (1.1.0 exited with 0)" "$W/sup.log" || die "child not stopped cleanly"
echo "ok 8 SIGTERM forwarded, clean stop"
# ---- 9. (issue #17) bin/current pointed at a validly signed version below
# the floor (1.0.0 < 1.1.0): refused before any exec, reported, and the
# supervisor goes back to bin/previous (1.1.0, at the floor).
stage 1.0.0 good # pruned since (not current or previous): back for this step
ln -sfn 1.0.0 "$S/bin/current"
ln -sfn 1.1.0 "$S/bin/previous"
n10=$(starts_of 1.0.0)
"$SUP" supervise --config "$W/agent.json" >>"$W/sup.log" 2>&1 &
SP=$!; PIDS+=("$SP")
wait_for 20 "refusal of 1.0.0" grep -q "bin/current (1.0.0) refused: version 1.0.0 is below the version floor 1.1.0" "$W/sup.log"
wait_for 20 "1.1.0 started again" child_running
current_is 1.1.0 || die "bin/current is not back at 1.1.0"
[ "$(starts_of 1.0.0)" = "$n10" ] || die "1.0.0 (below the floor) was started"
grep -q '"kind":"refused","version":"1.0.0"' "$S/update/report.json" || die "below-floor refusal not reported"
sleep 0.3
kill -TERM "$SP"; wait "$SP" || die "supervisor did not exit 0"
echo "ok 9 a signed version below the floor is never started"

# ---- 10. An unreadable state.json: the running version is kept, nothing
# rewrites the state (the floor is never reset to nothing).
printf 'not json' >"$S/update/state.json"
"$SUP" supervise --config "$W/agent.json" >>"$W/sup.log" 2>&1 &
SP=$!; PIDS+=("$SP")
wait_for 20 "the warning" grep -q "the version floor is unknown: keeping 1.1.0" "$W/sup.log"
wait_for 20 "1.1.0 kept running" child_running
sleep 0.3
kill -TERM "$SP"; wait "$SP" || die "supervisor did not exit 0"
[ "$(cat "$S/update/state.json")" = "not json" ] || die "state.json was rewritten: $(cat "$S/update/state.json")"
echo "ok 10 unreadable state: current kept, state untouched"
# ---- 11. (issue #17) A rollback of 1.2.0 cut by a power cut after its first
# step: state.json already lists 1.2.0 as bad, bin/current still names it.
# The supervisor finishes the rollback at start (bin/previous, 1.1.0),
# reports it, and never starts 1.2.0.
printf '{"floor":"1.1.0","bad":["1.2.0"],"probation":null}' >"$S/update/state.json"
rm -f "$S/update/report.json"
stage 1.2.0 bad # pruned after its rollback
ln -sfn 1.2.0 "$S/bin/current"
ln -sfn 1.1.0 "$S/bin/previous"
n11=$(starts_of 1.2.0)
"$SUP" supervise --config "$W/agent.json" >>"$W/sup.log" 2>&1 &
SP=$!; PIDS+=("$SP")
wait_for 20 "refusal of the bad-listed 1.2.0" grep -q "bin/current (1.2.0) refused: on the bad list" "$W/sup.log"
wait_for 20 "1.1.0 started" child_running
current_is 1.1.0 || die "bin/current is not 1.1.0 after the interrupted rollback"
[ "$(starts_of 1.2.0)" = "$n11" ] || die "the bad-listed 1.2.0 was started"
grep -q '"kind":"rollback","version":"1.2.0"' "$S/update/report.json" || die "interrupted rollback not reported"
sleep 0.3
kill -TERM "$SP"; wait "$SP" || die "supervisor did not exit 0"
echo "ok 11 a rollback cut after its bad list is finished at the next start"
# ---- 12. (issue #17) bin/ keeps current, previous and a staged version
# only: every other version directory goes at the next start; what is not a
# version directory of ours (a file, one holding more than the binary and
# its .sig) stays.
stage 0.9.0 good
stage 1.7.0 good
stage 1.8.0 good; echo mine >"$S/bin/1.8.0/keepme"
echo notes >"$S/bin/README"
mkdir -p "$S/bin/1.9.0"; echo x >"$S/bin/1.9.0/outpost-agent" # staged: pending.json names it
printf '{"version":"1.9.0","sha256":"%s","length":2}\n' "$(sha256sum "$S/bin/1.9.0/outpost-agent" | cut -d' ' -f1)" \
  >"$S/update/pending.json"
ln -sfn 1.1.0 "$S/bin/previous"
ln -sfn 1.1.0 "$S/bin/current"
n12=$(starts_of 1.1.0)
"$SUP" supervise --config "$W/agent.json" >>"$W/sup.log" 2>&1 &
SP=$!; PIDS+=("$SP")
started_again() { [ "$(starts_of 1.1.0)" -gt "$n12" ]; }
wait_for 20 "1.1.0 started" started_again
for v in 0.9.0 1.7.0 1.0.0 1.3.0 1.4.0 1.6.0; do # 1.2.0 holds the test's mode file: kept
  [ ! -e "$S/bin/$v" ] || die "bin/$v not pruned: $(ls "$S/bin")"
done
grep -q "bin/0.9.0 removed (not current, previous or staged)" "$W/sup.log" || die "prune not logged"
[ -f "$S/bin/1.1.0/outpost-agent" ] || die "the current version was pruned"
[ -f "$S/bin/1.9.0/outpost-agent" ] || die "the staged version was pruned"
[ -f "$S/bin/1.8.0/keepme" ] || die "a file that is not ours was deleted"
grep -q "bin/1.8.0 not removed: it holds files other than" "$W/sup.log" || die "a version dir holding more was not reported"
[ -f "$S/bin/README" ] || die "bin/README was deleted"
sleep 0.3
kill -TERM "$SP"; wait "$SP" || die "supervisor did not exit 0"
echo "ok 12 bin/ pruned to current, previous and the staged version"
echo "supervise.sh: all passed"
