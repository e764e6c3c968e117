#!/usr/bin/env bash
# Real-mode proxy test (issue #3): the real agent ships to the real HTTPS cloud
# through an HTTP CONNECT proxy on 127.0.0.1 (tests/integration/connect_proxy.py)
#   1. configured with "proxy" in the agent's config,
#   2. configured with HTTPS_PROXY in the environment (no "proxy" key),
#   3. through a proxy that sends the tunnel to an impostor cloud (valid TLS,
#      another CA): the agent must refuse it and ship nothing there.
# In 1 and 2 every tunnel carries TLS (first byte 0x16) and the lines' marker
# never crosses the proxy in clear: the proxy cannot read the data.
set -euo pipefail
BUILD=${1:?usage: proxy.sh BUILD_DIR}
BUILD=$(cd "$BUILD" && pwd)
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"
WORK=$(mktemp -d /tmp/outpost-px.XXXXXX)
MARKER=zq7-proxy-marker-$$
unset HTTPS_PROXY https_proxy HTTP_PROXY http_proxy ALL_PROXY all_proxy NO_PROXY no_proxy

# start_proxy NAME [REDIRECT_PORT] -> PROXY_PORT; state in $WORK/NAME.state
start_proxy() {
  local name=$1
  python3 "$HERE/connect_proxy.py" "$WORK/$name.state" "$MARKER" ${2:-} >"$WORK/$name.out" 2>"$WORK/$name.err" &
  OUTPOST_PIDS+=("$!")
  for _ in $(seq 1 100); do
    PROXY_PORT=$(sed -n 's/^port //p' "$WORK/$name.out" 2>/dev/null)
    [ -n "$PROXY_PORT" ] && return 0
    sleep 0.1
  done
  die "proxy $name did not start: $(cat "$WORK/$name.err")"
}
# proxy_stat NAME KEY
proxy_stat() { tr ' ' '\n' <"$WORK/$1.state" | sed -n "s/^$2=//p"; }

append_lines() {
  python3 - "$LOG" "$1" "$2" "$MARKER" <<'PY'
import sys
path, lo, hi, marker = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
with open(path, "a") as f:
    for i in range(lo, hi):
        f.write("px %07d %s the quick brown fox %d\n" % (i, marker, i * 7919 % 100003))
PY
}

run_agent() { # run_agent CONFIG [env...]
  local cfg=$1; shift
  env "$@" "$AGENT_BIN" run --config "$cfg" 2>>"$WORK/agent.log" &
  AGENT_PID=$!
  OUTPOST_PIDS+=("$AGENT_PID")
}
stop_agent() { kill -TERM "$AGENT_PID"; wait "$AGENT_PID" || die "agent did not exit cleanly"; }

# An impostor cloud first (its own CA), then the real one.
CLOUD_DATA=$WORK/impostor
start_cloud "$CLOUD_DATA"
IMPOSTOR_PORT=$CLOUD_PORT IMPOSTOR_DATA=$CLOUD_DATA
CLOUD_DATA=$WORK/cloud
start_cloud "$CLOUD_DATA"
LOG=$WORK/logs/app.log
mkdir -p "$WORK/logs"
: >"$LOG"

# 1. "proxy" in the config.
start_proxy p1
write_agent_config "$WORK/agent1.json" "$WORK/state" "$LOG" ", \"proxy\": \"http://127.0.0.1:$PROXY_PORT\""
"$AGENT_BIN" check-config --config "$WORK/agent1.json" >/dev/null || die "check-config refused the proxy config"
append_lines 0 2000
run_agent "$WORK/agent1.json"
wait_for_records 2000 60 || die "lines did not arrive through the configured proxy"
stop_agent
[ "$(proxy_stat p1 tunnels)" -gt 0 ] || die "configured proxy saw no tunnel (agent went direct?)"
[ "$(proxy_stat p1 tls)" -eq "$(proxy_stat p1 tunnels)" ] || die "a tunnel through the configured proxy did not start with TLS"
[ "$(proxy_stat p1 marker)" -eq 0 ] || die "the proxy read log lines in clear"
echo "config proxy: $(cat "$WORK/p1.state")"

# 2. HTTPS_PROXY from the environment, no "proxy" key.
start_proxy p2
write_agent_config "$WORK/agent2.json" "$WORK/state" "$LOG"
append_lines 2000 4000
run_agent "$WORK/agent2.json" "HTTPS_PROXY=http://127.0.0.1:$PROXY_PORT"
wait_for_records 4000 60 || die "lines did not arrive through HTTPS_PROXY"
stop_agent
[ "$(proxy_stat p2 tunnels)" -gt 0 ] || die "HTTPS_PROXY was not used"
[ "$(proxy_stat p2 tls)" -eq "$(proxy_stat p2 tunnels)" ] || die "a tunnel through HTTPS_PROXY did not start with TLS"
[ "$(proxy_stat p2 marker)" -eq 0 ] || die "the proxy read log lines in clear"
echo "HTTPS_PROXY: $(cat "$WORK/p2.state")"

# 2b. NO_PROXY naming the cloud: direct, the proxy sees nothing.
start_proxy p2b
append_lines 4000 5000
run_agent "$WORK/agent2.json" "HTTPS_PROXY=http://127.0.0.1:$PROXY_PORT" "NO_PROXY=127.0.0.1"
wait_for_records 5000 60 || die "lines did not arrive with NO_PROXY"
stop_agent
[ "$(proxy_stat p2b tunnels)" -eq 0 ] || die "NO_PROXY was ignored"

# 3. A proxy in the middle that sends the tunnel to the impostor: TLS
#    verification against ca_file must refuse it; nothing reaches either store.
start_proxy p3 "$IMPOSTOR_PORT"
write_agent_config "$WORK/agent3.json" "$WORK/state" "$LOG" ", \"proxy\": \"http://127.0.0.1:$PROXY_PORT\""
append_lines 5000 6000
run_agent "$WORK/agent3.json"
for _ in $(seq 1 100); do
  [ "$(proxy_stat p3 tunnels)" -ge 2 ] && break
  sleep 0.1
done
sleep 1
kill -0 "$AGENT_PID" 2>/dev/null || die "agent died behind the impostor proxy"
stop_agent
[ "$(proxy_stat p3 tunnels)" -ge 1 ] || die "the agent never tried the impostor proxy"
[ "$(records_in_cloud)" -eq 5000 ] || die "lines arrived although the tunnel led to an impostor"
imp=$(sqlite3 -cmd ".timeout 5000" "file:$IMPOSTOR_DATA/cloud.db?mode=ro" "SELECT count(*) FROM records")
[ "$imp" -eq 0 ] || die "the impostor received $imp records"
grep -qi "certificate\|SSL\|TLS" "$WORK/agent.log" || die "no TLS verification failure logged"
echo "impostor behind the proxy: $(cat "$WORK/p3.state"), refused: $(grep -ci "certificate\|SSL" "$WORK/agent.log") TLS failures logged"

# Back through the honest proxy: the rest arrives, every line exactly once.
run_agent "$WORK/agent1.json"
wait_for_records 6000 60 || die "the lines held back did not arrive afterwards"
sleep 1
stop_agent
DB="file:$CLOUD_DATA/cloud.db?mode=ro"
[ "$(sqlite3 -cmd ".timeout 10000" "$DB" "SELECT count(DISTINCT line) FROM records")" -eq 6000 ] || die "duplicates or losses"
python3 - "$LOG" "$CLOUD_DATA/cloud.db" <<'PY'
import sqlite3, sys
want = open(sys.argv[1], "rb").read().split(b"\n")[:-1]
db = sqlite3.connect("file:%s?mode=ro" % sys.argv[2], uri=True)
got = [bytes(r[0]) if isinstance(r[0], (bytes, memoryview)) else r[0].encode() for r in
       db.execute("SELECT line FROM records ORDER BY seq")]
if got != want:
    sys.exit("cloud lines differ from the log (%d vs %d lines)" % (len(got), len(want)))
PY
echo "PASS: proxy from config and from HTTPS_PROXY (TLS end to end, proxy never saw a line), NO_PROXY honoured, impostor refused"
[ -n "${KEEP_WORK:-}" ] || rm -rf "$WORK"
