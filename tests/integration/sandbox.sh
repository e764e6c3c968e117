#!/usr/bin/env bash
# sandbox.sh BUILD - the kernel keeps the agent's promises (issue 13; NET-2,
# EXEC-3, LOCAL-1). The real agent against the real cloud on loopback:
#  (a) inside the running agent every thread is under seccomp (Seccomp: 2)
#      and `outpost-agent status` reports Landlock enforced and the allowlist;
#  (b) `outpost-agent selftest-seccomp` (the same filter in the same binary)
#      refuses every forbidden call: io_uring, unshare, bpf, mount, kexec,
#      modules, keyrings, ... also from a thread made before the filter;
#  (c) the test build outpost-agent-nocheck, whose probes open files directly
#      (no user-space path check at all), cannot read /etc/shadow or a secret
#      outside the allowed roots, nor create a file outside its state dir,
#      while a file under an allowed root and its own source stay readable;
#  (d) Landlock by itself (probed before seccomp is in) refuses a TCP bind
#      and a connect to any port but the cloud's (ABI >= 4);
#  (e) an abstract Unix socket made outside the agent cannot be reached
#      (Landlock scope, ABI >= 6).
# We run as root: plain permissions would let every refused read through, so
# each refusal below is the kernel's sandbox, not DAC (checked first).
set -euo pipefail
BUILD=${1:?usage: sandbox.sh BUILD_DIR}
BUILD=$(cd "$BUILD" && pwd)
. "$(dirname "$0")/lib.sh"
NOCHECK="$BUILD/tests/integration/outpost-agent-nocheck"
[ -x "$NOCHECK" ] || die "$NOCHECK not built"
WORK=$(mktemp -d /tmp/outpost-sandbox.XXXXXX)
CLOUD_DATA=$WORK/cloud
SECRET=$(mktemp /tmp/landlock-secret-XXXXXX)
trap 'outpost_cleanup; rm -f "$SECRET"; rm -rf "$WORK"' EXIT
echo "landlock-secret" >"$SECRET"

ABI=$(python3 -c 'import ctypes; l=ctypes.CDLL(None, use_errno=True); r=l.syscall(444, None, 0, 1); print(r if r > 0 else 0)')
echo "kernel Landlock ABI: $ABI"
[ -r /etc/shadow ] && head -c1 /etc/shadow >/dev/null || die "the test needs to read /etc/shadow itself (run as root)"
head -c1 "$SECRET" >/dev/null || die "cannot read $SECRET"

start_cloud "$CLOUD_DATA"
mkdir -p "$WORK/logs" "$WORK/allowed"
echo "allowed" >"$WORK/allowed/ok.log"
for i in $(seq 1 20); do echo "sandbox line $i"; done >"$WORK/logs/app.log"
write_agent_config "$WORK/agent.json" "$WORK/state" "$WORK/logs/app.log" \
  ", \"allowed_log_roots\": [\"$WORK/allowed\"]"
# By name, not address: the resolver (a libcurl thread made after both walls
# are up; /etc/hosts, NSS) must work inside the sandbox too.
sed -i "s#https://127.0.0.1:#https://localhost:#" "$WORK/agent.json"

# (a) the running production agent
"$AGENT_BIN" run --config "$WORK/agent.json" 2>>"$WORK/agent.log" &
AGENT_PID=$!
OUTPOST_PIDS+=("$AGENT_PID")
wait_for_records 20 120 || { show_logs; die "agent did not ship its log under the sandbox"; }
for t in /proc/$AGENT_PID/task/*; do
  grep -q '^Seccomp:[[:space:]]*2' "$t/status" || die "thread ${t##*/} is not under the seccomp filter"
done
echo "(a) seccomp mode 2 in all $(ls /proc/$AGENT_PID/task | wc -l) threads"
st=""
for _ in $(seq 1 50); do
  st=$("$AGENT_BIN" status --config "$WORK/agent.json" 2>&1 || true)
  grep -q '^sandbox_seccomp' <<<"$st" && break
  sleep 0.2
done
echo "$st" | grep -E '^sandbox_' || true
grep -qE '^sandbox_seccomp +allowlist \([0-9]+ syscalls\)' <<<"$st" || die "status lacks the seccomp allowlist: $st"
if [ "$ABI" -ge 1 ]; then
  grep -qE "^sandbox_landlock +enforced \(ABI $ABI: fs" <<<"$st" || die "status does not report Landlock enforced: $st"
  grep -q "landlock: enforced" "$WORK/agent.log" || die "agent log does not say Landlock is enforced"
else
  grep -qE '^sandbox_landlock +unavailable' <<<"$st" || die "status should say Landlock is unavailable: $st"
fi
kill -TERM "$AGENT_PID"; wait "$AGENT_PID" || die "agent did not exit cleanly under the sandbox"

# (b) the same filter, every forbidden call
out=$("$AGENT_BIN" selftest-seccomp) || { echo "$out" >&2; die "selftest-seccomp failed"; }
for call in bind listen accept accept4 execve execveat ptrace fork vfork clone3 \
  io_uring_setup io_uring_enter io_uring_register unshare setns bpf mount umount2 pivot_root \
  chroot pidfd_open pidfd_getfd userfaultfd open_by_handle_at name_to_handle_at kexec_load \
  kexec_file_load init_module finit_module delete_module perf_event_open keyctl add_key \
  request_key personality process_vm_readv process_vm_writev "tsync: early thread unshare" \
  "tsync: early thread listen" "tsync: early thread io_uring_setup"; do
  grep -qF "seccomp-selftest $call: refused (" <<<"$out" || die "selftest: $call not refused: $(echo "$out" | grep -F "$call")"
done
grep -q "pthread_create: works" <<<"$out" || die "threads broken by the filter"
echo "(b) $(echo "$out" | grep -c ': refused (') calls refused; $(echo "$out" | head -1 | sed 's/seccomp-selftest //')"

# (c) and (d): the test build's direct probes
[ "$ABI" -ge 1 ] || { echo "sandbox.sh: no Landlock in this kernel: (c) and (d) skipped"; exit 77; }
python3 - "$WORK/other.port" <<'PY' &
import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(8)
open(sys.argv[1], "w").write(str(s.getsockname()[1]))
time.sleep(120)
PY
OUTPOST_PIDS+=("$!")
ABSTRACT=outpost-sandbox-$$
python3 - "$ABSTRACT" <<'PY' &
import socket, sys, time
s = socket.socket(socket.AF_UNIX); s.bind("\0" + sys.argv[1]); s.listen(8)
time.sleep(120)
PY
OUTPOST_PIDS+=("$!")
for _ in $(seq 1 50); do [ -s "$WORK/other.port" ] && grep -q "@$ABSTRACT" /proc/net/unix && break; sleep 0.1; done
OTHER=$(cat "$WORK/other.port")
write_agent_config "$WORK/nocheck.json" "$WORK/state2" "$WORK/logs/app.log" \
  ", \"allowed_log_roots\": [\"$WORK/allowed\"]"
probe=$(OUTPOST_TEST_ABSTRACT=$ABSTRACT OUTPOST_TEST_NET=$OTHER OUTPOST_TEST_WRITE="$WORK/outside.txt" \
  OUTPOST_TEST_OPEN="/etc/shadow:$SECRET:/root/.bashrc:$WORK/allowed/ok.log:$WORK/logs/app.log" \
  "$NOCHECK" run --config "$WORK/nocheck.json" 2>>"$WORK/nocheck.log") || { cat "$WORK/nocheck.log" >&2; die "nocheck agent failed"; }
echo "$probe"
want() { grep -qxF "sandbox-probe $1" <<<"$probe" || die "expected \"$1\""; }
want "open /etc/shadow: refused (Permission denied)"
want "open $SECRET: refused (Permission denied)"
[ -e /root/.bashrc ] && want "open /root/.bashrc: refused (Permission denied)"
want "open $WORK/allowed/ok.log: ok"
want "open $WORK/logs/app.log: ok"
want "create $WORK/outside.txt: refused (Permission denied)"
[ ! -e "$WORK/outside.txt" ] || die "the agent created a file outside its state dir"
echo "(c) /etc/shadow and $SECRET refused with no user-space check; allowed root readable"
if [ "$ABI" -ge 4 ]; then
  want "bind tcp 127.0.0.1:0: refused (Permission denied)"
  want "connect $OTHER: refused (Permission denied)"
  want "connect $CLOUD_PORT (cloud): ok"
  echo "(d) Landlock alone: TCP bind refused, connect only to the cloud's port"
else
  echo "(d) skipped: Landlock ABI $ABI has no TCP rules"
fi
if [ "$ABI" -ge 6 ]; then
  want "connect abstract unix: refused (Operation not permitted)"
  echo "(e) Landlock scope: an abstract Unix socket from outside the agent is unreachable"
else
  echo "(e) skipped: Landlock ABI $ABI has no scopes"
fi
# (f) The whole agent with the user-space box compiled out (policy checks,
# deny list, roots, guard): a compromised cloud's policy asks for /etc/shadow
# and a secret outside the allowed roots, beside an allowed file. The kernel
# refuses both opens; the agent counts and reports them ("the kernel
# refused"), ships the allowed file, and nothing of the secrets.
for i in $(seq 1 5); do echo "allowed ok line $i" >>"$WORK/allowed/f.log"; done
cat >"$WORK/evil-policy.json" <<JSON
{"logs":[{"glob":"/etc/shadow","start":"beginning"},{"glob":"$SECRET","start":"beginning"},
         {"glob":"$WORK/allowed/f.log","start":"beginning"}]}
JSON
"$CLOUD_BIN" policy set --data "$CLOUD_DATA" --workspace test "$WORK/evil-policy.json" >/dev/null
write_agent_config "$WORK/nocheck2.json" "$WORK/state3" "$WORK/logs/app.log" \
  ", \"allowed_log_roots\": [\"$WORK/allowed\"], \"checkin_interval_ms\": 2000"
"$NOCHECK" run --config "$WORK/nocheck2.json" 2>>"$WORK/nocheck2.log" &
NC_PID=$!
OUTPOST_PIDS+=("$NC_PID")
qdb() { sqlite3 -cmd ".timeout 10000" "file:$CLOUD_DATA/cloud.db?mode=ro" "$1"; }
for _ in $(seq 1 300); do
  r=$(qdb "SELECT group_concat(refused) FROM policy_reports" 2>/dev/null || true)
  grep -q "/etc/shadow" <<<"$r" && grep -q "$SECRET" <<<"$r" &&
    [ "$(qdb "SELECT count(*) FROM records WHERE line LIKE 'allowed ok line %'")" -ge 5 ] && break
  sleep 0.2
done
kill -TERM "$NC_PID"; wait "$NC_PID" || true
grep -q '"path":"/etc/shadow","why":"the kernel refused' <<<"$r" || { cat "$WORK/nocheck2.log" >&2; die "(f) /etc/shadow not refused by the kernel: $r"; }
grep -q "\"path\":\"$SECRET\",\"why\":\"the kernel refused" <<<"$r" || die "(f) $SECRET not refused by the kernel: $r"
[ "$(qdb "SELECT count(*) FROM records WHERE line LIKE 'allowed ok line %'")" -ge 5 ] || die "(f) the allowed file was not shipped"
[ "$(qdb "SELECT count(*) FROM records WHERE line LIKE 'root:%' OR line LIKE '%landlock-secret%'")" = 0 ] || die "(f) a secret was shipped"
echo "(f) user-space checks compiled out: the kernel refused /etc/shadow and $SECRET, reported; the allowed file shipped"
echo "sandbox.sh: all passed"
