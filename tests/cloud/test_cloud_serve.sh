#!/bin/sh
# Real-binary test of outpost-cloud: init, workspace add, serve on a free
# loopback port, TLS verified against the generated CA (and only against it).
# usage: test_cloud_serve.sh PATH/TO/outpost-cloud
set -u
BIN=$1
DIR=$(mktemp -d)
PID=
cleanup() {
  [ -n "$PID" ] && kill "$PID" 2>/dev/null
  rm -rf "$DIR"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; [ -f "$DIR/err" ] && cat "$DIR/err" >&2; exit 1; }

"$BIN" init --data "$DIR/d" || fail "init"
[ "$(stat -c %a "$DIR/d")" = 700 ] || fail "data dir not 0700"
[ "$(stat -c %a "$DIR/d/server.key")" = 600 ] || fail "server.key not 0600"
[ "$(stat -c %a "$DIR/d/ca.key")" = 600 ] || fail "ca.key not 0600"
"$BIN" init --data "$DIR/d" 2>/dev/null && fail "second init without --force succeeded"

TOKEN=$("$BIN" workspace add acme --data "$DIR/d") || fail "workspace add"
echo "$TOKEN" | grep -Eq '^otk_[A-Za-z0-9_-]{43}$' || fail "token format: $TOKEN"
[ "$(echo "$TOKEN" | wc -l)" = 1 ] || fail "token output is not one line"
"$BIN" workspace add acme --data "$DIR/d" 2>/dev/null && fail "duplicate workspace accepted"
[ "$("$BIN" count --data "$DIR/d")" = 0 ] || fail "count"

"$BIN" serve --data "$DIR/d" --listen 0.0.0.0:0 2>/dev/null && fail "non-loopback listen accepted"

"$BIN" serve --data "$DIR/d" --listen 127.0.0.1:0 >"$DIR/out" 2>"$DIR/err" &
PID=$!
# Readiness, not timing: wait (bounded) for the one "listening" line.
i=0
while ! grep -q '^listening on https://127.0.0.1:[0-9]*$' "$DIR/out" 2>/dev/null; do
  i=$((i + 1))
  [ $i -gt 300 ] && fail "server never printed its listening line"
  kill -0 $PID 2>/dev/null || fail "server exited early"
  sleep 0.1
done
URL=$(sed -n 's/^listening on //p' "$DIR/out")

CODE=$(curl -sS --cacert "$DIR/d/ca.pem" -o "$DIR/body" -w '%{http_code}' \
  -X POST --data 'garbage' "$URL/v1/enroll") || fail "curl with CA failed (TLS not verified?)"
[ "$CODE" = 400 ] || fail "expected 400, got $CODE"
grep -q '"error":"bad_request"' "$DIR/body" || fail "not a JSON error: $(cat "$DIR/body")"

# Name check via the DNS SAN too.
PORT=${URL##*:}
CODE=$(curl -sS --cacert "$DIR/d/ca.pem" -o /dev/null -w '%{http_code}' \
  -X POST --data '{}' "https://localhost:$PORT/v1/nothing") || fail "curl via localhost"
[ "$CODE" = 404 ] || fail "expected 404, got $CODE"

# Without the CA, verification must fail (curl exit 60).
curl -sS -o /dev/null -X POST --data 'garbage' "$URL/v1/enroll" 2>/dev/null
RC=$?
[ $RC -ne 0 ] || fail "curl without --cacert succeeded"

grep -q '^POST /v1/enroll 400$' "$DIR/err" || fail "no request log line"

# Full protocol over HTTPS when openssl and python3 are at hand (for ECDSA).
AGENT=
if command -v openssl >/dev/null && command -v python3 >/dev/null; then
  AGENT=$(python3 "$(dirname "$0")/e2e_ingest.py" "$URL" "$DIR/d/ca.pem" "$TOKEN" "$DIR") ||
    fail "end-to-end ingest"
else
  echo "note: openssl or python3 missing, end-to-end ingest skipped"
fi

kill -TERM $PID
wait $PID
RC=$?
PID=
[ $RC -eq 0 ] || fail "serve exited $RC after SIGTERM"
if [ -n "$AGENT" ]; then
  [ "$("$BIN" count --data "$DIR/d" --agent "$AGENT")" = 5 ] || fail "agent does not hold 5 records"
  [ "$("$BIN" count --data "$DIR/d")" = 5 ] || fail "store does not hold 5 records"
fi
# issue #17: the policy commands of docs/policy.md, as an operator types them.
echo '{"logs": [{"glob": "/var/log/app.log"}]}' >"$DIR/pol.json"
"$BIN" policy set --data "$DIR/d" --workspace acme "$DIR/pol.json" >"$DIR/o" 2>"$DIR/err" ||
  fail "policy set"
grep -q '^workspace acme: policy version [0-9]*$' "$DIR/o" || fail "policy set output: $(cat "$DIR/o")"
"$BIN" policy set --data "$DIR/d" --workspace acme --group canary "$DIR/pol.json" >"$DIR/o" 2>"$DIR/err" ||
  fail "policy set --group (exit $?)"
grep -q '^workspace acme group canary: policy version [0-9]*$' "$DIR/o" || fail "policy set --group output: $(cat "$DIR/o")"
"$BIN" policy set --data "$DIR/d" --workspace acme --group 'bad name' "$DIR/pol.json" 2>"$DIR/err" &&
  fail "a bad group name was accepted"
grep -q "group name" "$DIR/err" || fail "bad group message: $(cat "$DIR/err")"
if [ -n "$AGENT" ]; then
  "$BIN" agent group --data "$DIR/d" "$AGENT" canary >"$DIR/o" 2>"$DIR/err" || fail "agent group"
  grep -q "group canary, served policy version [1-9]" "$DIR/o" || fail "agent group output: $(cat "$DIR/o")"
  "$BIN" agent group --data "$DIR/d" "$AGENT" - >"$DIR/o" 2>"$DIR/err" || fail "agent group - (exit $?)"
  grep -q "group (none)" "$DIR/o" || fail "agent group - output: $(cat "$DIR/o")"
fi
# serve --probation-s: strict clone attribution switched on (and checked).
"$BIN" serve --data "$DIR/d" --listen 127.0.0.1:0 --probation-s soon 2>"$DIR/err" && fail "bad --probation-s accepted"
grep -q "probation-s must be a whole number" "$DIR/err" || fail "--probation-s message"
"$BIN" serve --data "$DIR/d" --listen 127.0.0.1:0 --probation-s 360 >"$DIR/out2" 2>"$DIR/err" &
PID=$!
i=0
while ! grep -q '^listening on' "$DIR/out2" 2>/dev/null; do
  i=$((i + 1)); [ $i -gt 300 ] && fail "serve --probation-s never listened"
  kill -0 $PID 2>/dev/null || fail "serve --probation-s exited early"
  sleep 0.1
done
grep -q "^strict clone attribution: a restarted instance waits 360 s on probation$" "$DIR/out2" ||
  fail "serve --probation-s did not say so"
kill -TERM $PID; wait $PID; PID=
# serve --refuse-ingest-s (issue #14's load test): ingest answered 503, then
# 429, with Retry-After; other requests served as usual.
"$BIN" serve --data "$DIR/d" --listen 127.0.0.1:0 --refuse-ingest-s -3 2>"$DIR/err" && fail "bad --refuse-ingest-s accepted"
grep -q "refuse-ingest-s must be a whole number" "$DIR/err" || fail "--refuse-ingest-s message"
"$BIN" serve --data "$DIR/d" --listen 127.0.0.1:0 --refuse-ingest-s 600 >"$DIR/out3" 2>"$DIR/err" &
PID=$!
i=0
while ! grep -q '^listening on' "$DIR/out3" 2>/dev/null; do
  i=$((i + 1)); [ $i -gt 300 ] && fail "serve --refuse-ingest-s never listened"
  kill -0 $PID 2>/dev/null || fail "serve --refuse-ingest-s exited early"
  sleep 0.1
done
grep -q "^refusing every ingest (503 and 429 in turn) for 600 s$" "$DIR/out3" || fail "serve --refuse-ingest-s did not say so"
URL3=$(sed -n 's/^listening on //p' "$DIR/out3")
for want in 503 429 503; do
  CODE=$(curl -sS --cacert "$DIR/d/ca.pem" -o "$DIR/body" -D "$DIR/hdr" -w '%{http_code}' \
    -X POST --data 'x' "$URL3/v1/ingest") || fail "curl ingest under refusal"
  [ "$CODE" = "$want" ] || fail "refused ingest: expected $want, got $CODE"
  grep -qi '^retry-after: 1' "$DIR/hdr" || fail "no Retry-After on the refusal"
done
CODE=$(curl -sS --cacert "$DIR/d/ca.pem" -o /dev/null -w '%{http_code}' -X POST --data 'garbage' "$URL3/v1/enroll")
[ "$CODE" = 400 ] || fail "enroll under --refuse-ingest-s: expected 400, got $CODE"
kill -TERM $PID; wait $PID; PID=
echo "ok"
