#!/bin/sh
# issue #17: outpost-cloud's command line, through the real binary. Usage
# errors (exit 2, the message names the culprit), help (exit 0, generated
# from the command table), and the store commands that test_cloud_serve.sh
# does not run: agent revoke, alerts, metrics, update-reports, count --agent
# and the promotion gate, on a store seeded with sqlite3 the way agents
# would have filled it (tables: docs/cloud-store.md). The release commands
# on a SoftHSM2 token run in tests/integration/real_release.sh.
# usage: test_cloud_cli.sh PATH/TO/outpost-cloud
set -u
BIN=$1
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*" >&2; [ -f "$T/err" ] && cat "$T/err" >&2; exit 1; }
command -v sqlite3 >/dev/null || fail "sqlite3 (the CLI) is needed to seed the store"

# expect CODE FRAGMENT -- ARGS...: exit code, and FRAGMENT in stderr
expect() {
  code=$1 msg=$2; shift 3
  "$BIN" "$@" >"$T/out" 2>"$T/err"; got=$?
  [ "$got" = "$code" ] || fail "outpost-cloud $* exited $got, want $code"
  grep -qF -- "$msg" "$T/err" || fail "outpost-cloud $*: no '$msg' in: $(head -3 "$T/err")"
}
# ok ARGS...: exit 0, stdout in $T/out
ok() { "$BIN" "$@" >"$T/out" 2>"$T/err" || fail "outpost-cloud $* exited $?"; }
D=$T/d

# ---- help: generated from the table, on stdout, exit 0 ----
for h in help --help -h; do
  "$BIN" $h >"$T/help" 2>"$T/err" || fail "outpost-cloud $h exited $?"
  [ -s "$T/err" ] && fail "outpost-cloud $h wrote to stderr"
  for c in "init --data DIR [--force]" "workspace add --data DIR NAME" \
           "serve --data DIR --listen 127.0.0.1:PORT [--probation-s N] [--capture-dir CDIR] [--refuse-ingest-s S]" "count --data DIR [--agent ID]" \
           "agent revoke --data DIR ID" "agent group --data DIR AGENT_ID GROUP|-" \
           "policy set --data DIR --workspace NAME [--group G] FILE" "alerts --data DIR" \
           "metrics --data DIR [--agent ID]" "update-reports --data DIR" \
           "repo init --data DIR --root-keys RDIR --pkcs11-module M --token-label L --pin-file P" \
           "release --data DIR --binary FILE --version V --ring R [--arch A]" \
           "promote --data DIR --version V --from R1 --to R2 [--force]" \
           "rotate-keys --data DIR [--root-keys RDIR] --role ROLE"; do
    grep -qxF "  outpost-cloud $c" "$T/help" || fail "$h does not list: $c"
  done
done
ok count --help
grep -q "^outpost-cloud count --data DIR \[--agent ID\]$" "$T/out" || fail "count --help: $(cat "$T/out")"

# ---- usage errors: exit 2, naming what is wrong ----
expect 2 "no command given" --
expect 2 'unknown command "frobnicate"' -- frobnicate --data "$D"
expect 2 'unknown command "agent frob"' -- agent frob --data "$D"
expect 2 '"agent" needs one of: revoke, group' -- agent --data "$D"
expect 2 '"repo" needs one of: init' -- repo --data "$D"
expect 2 "unknown option --bogus" -- --bogus 1 init --data "$D"
expect 2 'unknown option --bogus for "count"' -- count --data "$D" --bogus
expect 2 'option --agent is not accepted by "init"' -- init --data "$D" --agent x
expect 2 'option --force is not accepted by "release"' -- release --data "$D" --binary b --version 1.0.0 --ring canary --force
expect 2 'option --listen is not accepted by "agent group"' -- agent group --data "$D" --listen 127.0.0.1:1 a g
expect 2 'option --data is not accepted by "help"' -- help --data "$D"
expect 2 'option --data needs a value' -- count --data
expect 2 '"init" needs --data DIR' -- init
expect 2 'option --data must not be empty' -- init --data ""
expect 2 '"serve" needs --listen 127.0.0.1:PORT' -- serve --data "$D"
expect 2 '"policy set" needs --workspace NAME' -- policy set --data "$D" p.json
expect 2 'option --workspace must not be empty' -- policy set --data "$D" --workspace "" p.json
expect 2 '"repo init" needs --root-keys RDIR' -- repo init --data "$D" --pkcs11-module m --token-label l --pin-file p
expect 2 '"release" needs --ring R' -- release --data "$D" --binary b --version 1.0.0
expect 2 '"promote" needs --from R1' -- promote --data "$D" --version 1.0.0 --to stable
expect 2 '"rotate-keys" needs --role ROLE' -- rotate-keys --data "$D" --root-keys r
expect 2 '"workspace add" needs NAME' -- workspace add --data "$D"
expect 2 '"agent revoke" needs ID' -- agent revoke --data "$D"
expect 2 '"agent group" needs GROUP|-' -- agent group --data "$D" someagent
expect 2 '"policy set" needs FILE' -- policy set --data "$D" --workspace acme
expect 2 'unexpected argument "extra" for "init"' -- init --data "$D" extra
expect 2 'unexpected argument "x" for "agent group"' -- agent group --data "$D" a g x
expect 2 "usage: outpost-cloud agent group --data DIR AGENT_ID GROUP|-" -- agent group --data "$D"
# Values the table cannot judge are still usage errors.
expect 2 "--listen must be 127.0.0.1:PORT" -- serve --data "$D" --listen 0.0.0.0:1
expect 2 "probation-s must be a whole number" -- serve --data "$D" --listen 127.0.0.1:0 --probation-s -1
expect 2 "option --capture-dir must not be empty" -- serve --data "$D" --listen 127.0.0.1:0 --capture-dir ""
[ -e "$D" ] && fail "a usage error created $D"

# ---- init, workspace add, count: options anywhere ----
ok --data "$D" init
expect 1 "already exists" -- init --data "$D"
ok init --force --data "$D"
ok --data "$D" workspace add acme
grep -Eqx 'otk_[A-Za-z0-9_-]{43}' "$T/out" || fail "workspace add output: $(cat "$T/out")"
ok workspace add --data "$D" other
expect 1 'workspace "acme" already exists' -- workspace add acme --data "$D"
expect 2 "bad workspace name" -- workspace add "no spaces" --data "$D"
ok count --data "$D"
[ "$(cat "$T/out")" = 0 ] || fail "count: $(cat "$T/out")"
expect 1 "no store at $T/nothing/cloud.db" -- count --data "$T/nothing"

# ---- seed what agents would have left: an agent with 3 records, an alert,
# update reports (one a rollback of 1.2.0), self-metrics ----
A=0123456789abcdef0123456789abcdef
B=fedcba9876543210fedcba9876543210
sqlite3 "$D/cloud.db" >"$T/sq" 2>&1 <<SQL || fail "seeding the store: $(cat "$T/sq")"
.timeout 5000
INSERT INTO agents(agent_id, workspace_id, public_key, hostname, machine_id, agent_version,
  enrolled_ms, last_seen_ms, records, min_seq, max_seq)
  VALUES('$A', 1, x'00', 'h1', 'm1', '1.1.0', 1700000000000, 1700000000000, 3, 1, 3),
        ('$B', 1, x'00', 'h2', 'm2', '1.1.0', 1700000000000, 1700000000000, 0, 0, 0);
INSERT INTO records(agent_id, seq, ts_ms, source, line, received_ms)
  VALUES('$A', 1, 0, 's', 'one', 0), ('$A', 2, 0, 's', 'two', 0), ('$A', 3, 0, 's', 'three', 0);
INSERT INTO alerts(workspace_id, kind, agent_id, other_agent_id, instance, other_instance, detail,
  created_ms) VALUES(1, 'clone_new_hardware', '$B', '$A', '', 'i2', 'copied', 1700000000000);
INSERT INTO events(agent_id, instance, kind, detail, created_ms)
  VALUES('$A', 'i1', 'update_staged', '{"kind":"staged","version":"1.2.0"}', 1700000001000),
        ('$B', 'i2', 'update_rollback',
         '{"kind":"rollback","version":"1.2.0","message":"supervisor: crash loop"}', 1700000002000),
        ('$A', 'i1', 'permission_drift', 'not an update', 1700000003000);
CREATE TABLE IF NOT EXISTS agent_metrics(agent_id TEXT PRIMARY KEY, received_ms INTEGER NOT NULL,
  body TEXT NOT NULL);
INSERT INTO agent_metrics VALUES('$A', 1700000000000, '{"rss_kb":5120}');
SQL

ok count --data "$D"
[ "$(cat "$T/out")" = 3 ] || fail "count after seeding: $(cat "$T/out")"
ok count --agent "$A" --data "$D"
[ "$(cat "$T/out")" = 3 ] || fail "count --agent: $(cat "$T/out")"
expect 1 "unknown agent nosuch" -- count --data "$D" --agent nosuch

ok alerts --data "$D"
[ "$(wc -l <"$T/out")" = 1 ] || fail "alerts: $(cat "$T/out")"
grep -qx "1 2023-11-14T22:13:20Z workspace=1 kind=clone_new_hardware agent=$B other_agent=$A instance=- other_instance=i2 detail=\"copied\"" "$T/out" ||
  fail "alerts line: $(cat "$T/out")"

ok update-reports --data "$D"
[ "$(wc -l <"$T/out")" = 2 ] || fail "update-reports is not the 2 update_ events: $(cat "$T/out")"
head -1 "$T/out" | grep -qx "1700000001000 update_staged $A i1 {\"kind\":\"staged\",\"version\":\"1.2.0\"}" ||
  fail "update-reports first line: $(cat "$T/out")"
grep -q "^1700000002000 update_rollback $B i2 .*crash loop" "$T/out" || fail "update-reports rollback: $(cat "$T/out")"

ok metrics --data "$D"
grep -qx "$A 2023-11-14T22:13:20Z {\"rss_kb\":5120}" "$T/out" || fail "metrics: $(cat "$T/out")"
ok metrics --data "$D" --agent "$A"
grep -qx "$A 2023-11-14T22:13:20Z {\"rss_kb\":5120}" "$T/out" || fail "metrics --agent: $(cat "$T/out")"
expect 1 "no metrics for agent $B" -- metrics --data "$D" --agent "$B"

# agent group: "-" alone is the GROUP value, not an option.
echo '{"update_ring":"canary"}' >"$T/canary.json"
ok policy set --data "$D" --workspace acme --group canary "$T/canary.json"
grep -qx "workspace acme group canary: policy version 1" "$T/out" || fail "policy set --group: $(cat "$T/out")"
ok agent group --data "$D" "$A" canary
grep -qx "agent $A: group canary, served policy version 1" "$T/out" || fail "agent group: $(cat "$T/out")"
[ "$(sqlite3 "$D/cloud.db" "SELECT grp FROM agent_groups WHERE agent_id = '$A'")" = canary ] ||
  fail "agent group stored nothing"
ok agent group --data "$D" "$A" -
grep -qx "agent $A: group (none), served policy version 0" "$T/out" || fail "agent group -: $(cat "$T/out")"
[ -z "$(sqlite3 "$D/cloud.db" "SELECT grp FROM agent_groups WHERE agent_id = '$A'")" ] ||
  fail "agent group - left a group"
expect 1 "agent nosuch: no such agent" -- agent group --data "$D" nosuch canary

# The promotion gate reads the seeded rollback before any token is needed.
expect 1 "promote refused: 1 agent(s) rolled 1.2.0 back (first: agent $B)" -- \
  promote --data "$D" --version 1.2.0 --from canary --to early-access
expect 1 "promote forced past the gate" -- promote --data "$D" --version 1.2.0 --from canary --to early-access --force
grep -q "run: outpost-cloud repo init" "$T/err" || fail "forced promote without a repository: $(cat "$T/err")"
expect 1 "run: outpost-cloud repo init" -- promote --data "$D" --version 1.1.0 --from canary --to stable

# agent revoke: the flag in the store, and the output.
ok agent revoke "$A" --data "$D"
grep -qx "revoked $A: its requests are refused from now on (403 revoked)" "$T/out" || fail "revoke output: $(cat "$T/out")"
[ "$(sqlite3 "$D/cloud.db" "SELECT revoked FROM agents WHERE agent_id = '$A'")" = 1 ] || fail "revoked not set"
[ "$(sqlite3 "$D/cloud.db" "SELECT revoked FROM agents WHERE agent_id = '$B'")" = 0 ] || fail "the other agent revoked"
expect 1 "unknown agent nosuch" -- agent revoke nosuch --data "$D"
# serve's replay tap (issue #16, outpost-sim --real) needs an existing directory
expect 1 "--capture-dir $T/nope: not a directory" -- serve --data "$D" --listen 127.0.0.1:1 --capture-dir "$T/nope"
echo "ok"
