#!/usr/bin/env bash
# Where the agent's resident memory sits at a steady 1,000 lines/s (issue #14,
# docs/benchmarks.md "Where the drain's time and the steady RSS go"): the real
# outpost-cloud on loopback, the real agent with its default batching, a
# paced writer for SECONDS (default 30); then VmHWM, RssAnon and RssFile from
# /proc/PID/status and the resident kB of each mapping (smaps), largest first.
# Figures only: no assertions. Not a ctest test.
# usage: bench/rss-split.sh BUILD_DIR [SECONDS]   (a release build)
set -euo pipefail
BUILD=${1:?usage: bench/rss-split.sh BUILD_DIR [SECONDS]}
BUILD=$(cd "$BUILD" && pwd)
SECS=${2:-30}
. "$(dirname "$0")/../tests/integration/lib.sh"
WORK=$(mktemp -d /tmp/outpost-rss.XXXXXX)
trap 'outpost_cleanup; rm -rf "$WORK"' EXIT
. "$(dirname "$0")/lib.sh" # paced_writer, machine_line
CLOUD_DATA=$WORK/cloud
start_cloud "$CLOUD_DATA"
machine_line
: >"$WORK/app.log"
# lib.sh's config with the agent's own batching (no batch age or poll given).
write_agent_config "$WORK/agent.json" "$WORK/state" "$WORK/app.log"
python3 - "$WORK/agent.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1])); c.pop("batch_max_age_ms"); c.pop("poll_interval_ms")
json.dump(c, open(sys.argv[1], "w"))
PY
"$AGENT_BIN" run --config "$WORK/agent.json" 2>"$WORK/agent.log" &
pid=$!
OUTPOST_PIDS+=("$pid")
paced_writer "$WORK/app.log" "$SECS" 208
sleep 6 # one batch age and a poll: the last lines shipped
echo "agent at 1,000 lines/s for $SECS s, default batching:"
grep -E "^(VmHWM|VmRSS|RssAnon|RssFile):" "/proc/$pid/status"
echo "resident kB by mapping (over 100 kB):"
awk '/^[0-9a-f]+-[0-9a-f]+ /{name = NF >= 6 ? $6 : "[anon]"} /^Rss:/{rss[name] += $2}
     END {for (n in rss) if (rss[n] > 100) printf "%8d %s\n", rss[n], n}' "/proc/$pid/smaps" | sort -rn
