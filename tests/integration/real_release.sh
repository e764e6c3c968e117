#!/bin/sh
# Release chain, real binaries (issue #6): outpost-cloud repo init / release /
# promote / rotate-keys on a SoftHSM2 token, then serve, with the repository
# fetched over HTTPS (curl --cacert) and bad names refused.
# usage: real_release.sh BUILD_DIR
set -u
B=$1
BIN=$B/mockcloud/outpost-cloud
MOD=/usr/lib/softhsm/libsofthsm2.so
T=$(mktemp -d)
PID=
cleanup() {
  [ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
  rm -rf "$T"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; [ -f "$T/err" ] && tail -20 "$T/err" >&2; exit 1; }
# Not a skip: CI installs softhsm2 through ci/setup-deps (ci/deps.txt).
[ -r "$MOD" ] && command -v softhsm2-util >/dev/null ||
  fail "SoftHSM2 is not installed ($MOD); run ci/setup-deps"

export SOFTHSM2_CONF=$T/softhsm2.conf
mkdir "$T/tokens"
printf 'directories.tokendir = %s/tokens\nobjectstore.backend = file\nlog.level = ERROR\n' "$T" >"$SOFTHSM2_CONF"
softhsm2-util --init-token --free --label outpost --pin 2468 --so-pin 13579 >/dev/null || fail "init token"
echo 2468 >"$T/pin"; echo 1111 >"$T/badpin"
D=$T/data R=$T/rootkeys
"$BIN" init --data "$D" 2>/dev/null || fail "cloud init"

# expect CODE MESSAGE-FRAGMENT -- command...: exit code and a clear message
expect() {
  code=$1 msg=$2; shift 3
  "$@" >"$T/out" 2>"$T/err"; got=$?
  [ "$got" = "$code" ] || fail "$* exited $got, want $code"
  grep -q -- "$msg" "$T/err" || fail "$*: no \"$msg\" in: $(cat "$T/err")"
}

expect 1 "no token labelled \"nope\"" -- "$BIN" repo init --data "$D" --root-keys "$R" --pkcs11-module $MOD --token-label nope --pin-file "$T/pin"
expect 1 "wrong PIN" -- "$BIN" repo init --data "$D" --root-keys "$R" --pkcs11-module $MOD --token-label outpost --pin-file "$T/badpin"
grep -q 1111 "$T/err" && fail "the PIN was printed"
expect 1 "cannot load module" -- "$BIN" repo init --data "$D" --root-keys "$R" --pkcs11-module "$T/pin" --token-label outpost --pin-file "$T/pin"
expect 1 "run: outpost-cloud repo init" -- "$BIN" release --data "$D" --binary "$BIN" --version 1.0.0 --ring canary
"$BIN" repo init --data "$D" --root-keys "$R" --pkcs11-module $MOD --token-label outpost --pin-file "$T/pin" >"$T/out" 2>"$T/err" || fail "repo init"
grep -qx "repository in $D/repo (root keys: $R, keep them offline)" "$T/out" || fail "repo init output: $(cat "$T/out")"
[ -f "$D/repo/release-key.pem" ] && [ -f "$D/pkcs11.json" ] || fail "repo init wrote no release key or token settings"
[ "$(ls "$R"/*.key | wc -l)" = 3 ] || fail "3 root key files"
[ "$(stat -c %a "$R")" = 700 ] || fail "root key dir not 0700"
expect 1 "already exists" -- "$BIN" repo init --data "$D" --root-keys "$T/r2" --pkcs11-module $MOD --token-label outpost --pin-file "$T/pin"
grep -rqs "$R" "$D" && fail "the data dir names the root key dir"
grep -rqs -- "PRIVATE KEY" "$D/repo" "$D/pkcs11.json" && fail "a private key in the repository"

printf 'agent one\n' >"$T/a1"; printf 'agent two\n' >"$T/a2"
"$BIN" release --data "$D" --binary "$T/a1" --version 1.0.0 --ring canary >"$T/out" 2>"$T/err" || fail "release 1.0.0"
grep -qx "released 1.0.0 (x86_64) in canary" "$T/out" || fail "release output: $(cat "$T/out")"
# issue #17: the table refuses, before any token is opened, what release does not take.
expect 2 'option --from is not accepted by "release"' -- "$BIN" release --data "$D" --binary "$T/a2" --version 1.1.0 --ring canary --from stable
expect 2 '"release" needs --binary FILE' -- "$BIN" release --data "$D" --version 1.1.0 --ring canary
expect 2 "bad version \"1.0.01\"" -- "$BIN" release --data "$D" --binary "$T/a2" --version 1.0.01 --ring canary
expect 2 "bad version \"v1.2.3\"" -- "$BIN" release --data "$D" --binary "$T/a2" --version v1.2.3 --ring canary
expect 2 "unknown ring \"beta\"" -- "$BIN" release --data "$D" --binary "$T/a2" --version 1.1.0 --ring beta
expect 1 "unreadable" -- "$BIN" release --data "$D" --binary "$T/missing" --version 1.1.0 --ring canary
expect 1 "already released" -- "$BIN" release --data "$D" --binary "$T/a2" --version 1.0.0 --ring canary
expect 1 "not in ring canary" -- "$BIN" promote --data "$D" --version 2.0.0 --from canary --to stable
expect 2 "unknown ring" -- "$BIN" promote --data "$D" --version 1.0.0 --from canary --to prod
"$BIN" promote --data "$D" --version 1.0.0 --from canary --to early-access >"$T/out" 2>"$T/err" || fail "promote"
grep -qx "promoted 1.0.0 from canary to early-access" "$T/out" || fail "promote output: $(cat "$T/out")"
"$BIN" release --data "$D" --binary "$T/a2" --version 1.1.0 --ring canary >/dev/null 2>"$T/err" || fail "release 1.1.0"
expect 2 "root-keys RDIR is needed" -- "$BIN" rotate-keys --data "$D" --role timestamp
expect 2 "unknown role" -- "$BIN" rotate-keys --data "$D" --root-keys "$R" --role release
"$BIN" rotate-keys --data "$D" --root-keys "$R" --role timestamp >/dev/null 2>"$T/err" || fail "rotate timestamp"
"$BIN" rotate-keys --data "$D" --role stable >/dev/null 2>"$T/err" || fail "rotate stable (no root keys needed)"
"$BIN" rotate-keys --data "$D" --root-keys "$R" --role root >"$T/out" 2>"$T/err" || fail "rotate root"
grep -qx "rotated the root keys (old root keys in RDIR/retired)" "$T/out" || fail "rotate-keys output: $(cat "$T/out")"
[ "$(ls "$R"/*.key | wc -l)" = 3 ] && [ "$(ls "$R"/retired/*.key | wc -l)" = 3 ] || fail "root keys after rotation"
M=$D/repo/metadata
for f in 1.root.json 2.root.json 3.root.json timestamp.json; do [ -f "$M/$f" ] || fail "no $f"; done
[ -f "$M/4.root.json" ] && fail "unexpected 4.root.json"

# The root key dir is not needed to serve: move it away entirely.
mv "$R" "$T/offline"
"$BIN" serve --data "$D" --listen 127.0.0.1:0 >"$T/sout" 2>"$T/err" &
PID=$!
i=0
while ! grep -q '^listening on https://127.0.0.1:[0-9]*$' "$T/sout" 2>/dev/null; do
  i=$((i + 1)); [ $i -gt 300 ] && fail "serve never listened"
  kill -0 $PID 2>/dev/null || fail "serve exited early"
  sleep 0.1
done
URL=$(sed -n 's/^listening on //p' "$T/sout")
get() { curl -sS --cacert "$D/ca.pem" -o "$T/body" -D "$T/hdr" -w '%{http_code}' --path-as-is "$URL$1"; }

for f in 1.root.json 3.root.json timestamp.json; do
  [ "$(get /v1/tuf/$f)" = 200 ] || fail "GET $f"
  cmp -s "$T/body" "$M/$f" || fail "$f bytes differ"
  grep -qi "^content-length: $(stat -c %s "$M/$f")" "$T/hdr" || fail "$f Content-Length"
done
SV=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["signed"]["meta"]["snapshot.json"]["version"])' "$M/timestamp.json")
[ "$(get /v1/tuf/$SV.snapshot.json)" = 200 ] || fail "GET snapshot"
CV=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["signed"]["meta"]["canary.json"]["version"])' "$T/body")
[ "$(get /v1/tuf/$CV.canary.json)" = 200 ] || fail "GET canary"
TP=$(python3 -c '
import json,sys
t=json.load(open(sys.argv[1]))["signed"]["targets"]
e=t["canary/outpost-agent/1.1.0/outpost-agent-linux-x86_64"]
assert e["custom"]["version"]=="1.1.0"
print("canary/outpost-agent/1.1.0/%s.outpost-agent-linux-x86_64" % e["hashes"]["sha256"])' "$T/body") || fail "canary lists 1.1.0"
[ "$(get /v1/targets/$TP)" = 200 ] || fail "GET target"
cmp -s "$T/body" "$T/a2" || fail "target bytes differ"
grep -qi "^content-length: $(stat -c %s "$T/a2")" "$T/hdr" || fail "target Content-Length"
[ "$(get /v1/targets/$TP.sig)" = 404 ] || fail "sig under the binary's hash served"

for u in /v1/tuf/cloud.db /v1/tuf/../cloud.db /v1/tuf/..%2fcloud.db /v1/tuf/99.root.json \
         /v1/tuf/0.root.json /v1/tuf/1.root.json.tmp /v1/tuf/ /v1/targets/canary/outpost-agent/1.1.0/../../../../cloud.db \
         /v1/targets/canary/outpost-agent/1.1.0/%2e%2e/x /v1/targets/beta/outpost-agent/1.1.0/$(basename "$TP") \
         /v1/targets/stable/outpost-agent/1.1.0/$(basename "$TP") /v1/targets/canary/outpost-agent/1.1.0 \
         /v1/tuf/pkcs11.json /v1/targets/../pkcs11.json; do
  c=$(get "$u")
  [ "$c" = 404 ] || fail "GET $u answered $c, want 404"
  grep -qi '^content-length:' "$T/hdr" || fail "no Content-Length on 404 for $u"
  grep -q 'BEGIN\|sqlite\|pkcs11_module' "$T/body" && fail "GET $u leaked a file"
done
[ "$(curl -sS --cacert "$D/ca.pem" -o /dev/null -w '%{http_code}' -X POST "$URL/v1/tuf/timestamp.json")" = 405 ] || fail "POST accepted"
kill "$PID"; wait "$PID"; PID=
echo "real_release: ok"
