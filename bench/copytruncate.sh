#!/usr/bin/env bash
# Measures the copytruncate window: lines an application appends between
# logrotate's copy and its truncate exist in neither file (docs/operations.md).
# No agent is involved: this is the loss the rotation style itself causes, the
# floor for any log shipper.
#
# A writer appends numbered lines ("seq N" padded to LINE_BYTES, one write(2)
# per line, O_APPEND like syslog daemons and most loggers) at RATE lines/s;
# every EVERY_S seconds the real logrotate (copytruncate, rotate 10000) rotates
# the file. Afterwards every generation is read back: lost = written - distinct
# seqs found; the window is lost / rotations / measured rate.
#
# usage: bench/copytruncate.sh [RATE EVERY_S ROTATIONS LINE_BYTES]...
#   default: 1000 2 15 100   10000 2 15 100   10000 10 6 100
# Needs: logrotate (Debian package logrotate), python3.
set -euo pipefail
command -v logrotate >/dev/null || { echo "logrotate not installed (apt-get install logrotate)" >&2; exit 2; }
WORK=$(mktemp -d /tmp/outpost-ct-XXXXXX)
trap 'rm -rf "$WORK"' EXIT

run_one() {
  local rate=$1 every=$2 rotations=$3 line_bytes=$4 dir
  dir=$WORK/r$rate-$every
  mkdir -p "$dir"
  cat >"$dir/lr.conf" <<EOF
$dir/app.log {
  copytruncate
  rotate 10000
  nocompress
  missingok
}
EOF
  python3 - "$dir" "$rate" "$every" "$rotations" "$line_bytes" <<'PY'
import os, subprocess, sys, threading, time
d, rate, every, rotations, lb = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
path = os.path.join(d, "app.log")
fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
stop = threading.Event()
written = [0]
def writer():
    seq, t0 = 0, time.monotonic()
    while not stop.is_set():
        due = int((time.monotonic() - t0) * rate)   # paced: catch up in bursts
        while seq < due and not stop.is_set():
            seq += 1
            os.write(fd, (("seq %d " % seq).ljust(lb - 1, "x") + "\n").encode())
        written[0] = seq
        time.sleep(0.0005)
    written[0] = seq
th = threading.Thread(target=writer)
t_start = time.monotonic()
th.start()
rot_ms = []
for _ in range(rotations):
    time.sleep(every)
    t = time.monotonic()
    subprocess.run(["logrotate", "-f", "-s", os.path.join(d, "lr.state"), os.path.join(d, "lr.conf")], check=True)
    rot_ms.append((time.monotonic() - t) * 1000)
time.sleep(0.5)
stop.set()
th.join()
elapsed = time.monotonic() - t_start
os.close(fd)
seen, dup = set(), 0
for name in os.listdir(d):
    if not name.startswith("app.log"):
        continue
    with open(os.path.join(d, name), "rb") as f:
        for line in f:
            if not line.startswith(b"seq "):
                continue  # a NUL-filled hole (writer without O_APPEND) would show here
            n = int(line.split()[1])
            if n in seen:
                dup += 1
            seen.add(n)
n = written[0]
lost = n - len(seen)
real_rate = n / elapsed
rot_ms.sort()
print("rate %6d lines/s (measured %.0f), rotate every %4.1f s (file ~%.1f MB), %d rotations: "
      "written %d, lost %d (%.1f per rotation), duplicates %d; window ~%.2f ms per rotation; "
      "logrotate run median %.1f ms"
      % (rate, real_rate, every, real_rate * every * lb / 1e6, rotations, n, lost,
         lost / rotations, dup, lost / rotations / real_rate * 1000, rot_ms[len(rot_ms) // 2]))
PY
}

if [ $# -eq 0 ]; then set -- 1000 2 15 100 10000 2 15 100 10000 10 6 100; fi
while [ $# -ge 4 ]; do
  run_one "$1" "$2" "$3" "$4"
  shift 4
done
