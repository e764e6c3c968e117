# shellcheck shell=bash
# Shared helpers of the real-mode benchmarks (bench/datapath.sh,
# bench/agent-vs-peer): CPU and memory of a process from /proc, a clock, the
# machine's description, and the generated log lines. Source it; it starts
# nothing and sets no trap.

# shellcheck disable=SC2034 # used by the scripts that source this file
BENCH_TICK=$(getconf CLK_TCK)

# cpu_ticks PID: utime + stime of the process and of its waited-for children
# (fields 14-17 of /proc/PID/stat), in clock ticks (BENCH_TICK per second).
cpu_ticks() { awk '{ print $14 + $15 + $16 + $17 }' "/proc/$1/stat"; }
# hwm_kib PID: peak resident set (VmHWM) in KiB.
hwm_kib() { awk '/^VmHWM:/ { print $2 }' "/proc/$1/status"; }
now_ns() { date +%s%N; }
machine_line() {
  echo "machine: $(nproc) vCPU, $(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo), load $(cut -d' ' -f1-3 /proc/loadavg)"
}

# The line format, shared by gen_lines and paced_writer: a unique
# "PREFIX%08d", then either the short (~70-byte) line bench/datapath.sh has
# always used (WIDTH 0) or an access-log-like line padded or cut to exactly
# WIDTH bytes with its newline (issue #14: ~208).
BENCH_LINE_PY='
def line(i, width, prefix):
    if not width:
        return "%s%08d GET /api/v1/items/%d status=200 bytes=%d t=%dms\n" % (prefix, i, i * 7919 % 100003, i % 9973, i % 211)
    s = ("%s%08d 2026-12-03T10:%02d:%02d.%03dZ web-%02d nginx[%d]: 10.%d.%d.%d - - "
         "\"GET /api/v1/items/%d?page=%d HTTP/1.1\" %d %d \"-\" "
         "\"Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0\" rt=0.%03d"
         % (prefix, i, i // 60000 % 60, i // 1000 % 60, i % 1000, i % 16, 1000 + i % 4000,
            i % 7, i * 31 % 256, i * 17 % 256, i * 7919 % 100003, i % 50,
            (200, 200, 200, 304, 404)[i % 5], i % 9973, i % 997))
    return s[:width - 1].ljust(width - 1, ".") + "\n"
'

# gen_lines FILE LO HI [WIDTH] [PREFIX]: appends lines LO..HI-1 (PREFIX
# default "bench ").
gen_lines() {
  python3 -c "$BENCH_LINE_PY"'
import sys
path, lo, hi = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
width = int(sys.argv[4]) if len(sys.argv) > 4 and sys.argv[4] else 0
prefix = sys.argv[5] if len(sys.argv) > 5 else "bench "
with open(path, "a", buffering=1 << 20) as f:
    for i in range(lo, hi):
        f.write(line(i, width, prefix))
' "$@"
}

# paced_writer FILE SECONDS [WIDTH] [PREFIX]: appends 1,000 lines/s (100 every
# 100 ms, flushed each time) for SECONDS (PREFIX default "paced "). Line i is
# written START + (i / 100) * 0.1 s, START being the wall-clock second it
# writes to $PACED_START_FILE when that is set (for a delivery latency).
paced_writer() {
  python3 -c "$BENCH_LINE_PY"'
import os, sys, time
path, secs = sys.argv[1], int(sys.argv[2])
width = int(sys.argv[3]) if len(sys.argv) > 3 and sys.argv[3] else 0
prefix = sys.argv[4] if len(sys.argv) > 4 else "paced "
start = time.monotonic()
if os.environ.get("PACED_START_FILE"):
    with open(os.environ["PACED_START_FILE"], "w") as sf:
        sf.write("%.6f\n" % time.time())
i = 0
with open(path, "a") as f:
    for tick in range(secs * 10):
        target = start + (tick + 1) * 0.1
        for _ in range(100):
            f.write(line(i, width, prefix))
            i += 1
        f.flush()
        time.sleep(max(0.0, target - time.monotonic()))
' "$@"
}
