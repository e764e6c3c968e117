#!/usr/bin/env bash
# test_syscall_lists.sh SRC - the seccomp allowlist has one source of truth
# (issue 13): agent/posix/syscalls.txt. The in-process filter is generated
# from it at build time; this test holds packaging/outpost-agent.service's
# SystemCallFilter= to exactly the calls tagged run, arg or unit, so the two
# cannot drift. Also: no deny (~) or @group entries in the unit (a group's
# contents change with systemd versions), every name known to the local
# systemd (when systemd-analyze is there), and no name listed twice.
set -euo pipefail
SRC=${1:?usage: test_syscall_lists.sh SRC_DIR}
TXT=$SRC/agent/posix/syscalls.txt
UNIT=$SRC/packaging/outpost-agent.service
fail=0
bad() { echo "FAIL: $*" >&2; fail=1; }

grep -vE '^[[:space:]]*(#|$)' "$TXT" | awk '{print $1, $2}' >/tmp/sl.$$.all
trap 'rm -f /tmp/sl.$$.*' EXIT
awk 'NF != 2 || $2 !~ /^(run|arg|unit|asan)$/ {print "bad line: " $0; exit 1}' /tmp/sl.$$.all || bad "$TXT has malformed lines"
dups=$(awk '{print $1}' /tmp/sl.$$.all | sort | uniq -d)
[ -z "$dups" ] || bad "listed twice in syscalls.txt: $dups"
awk '$2 != "asan" {print $1}' /tmp/sl.$$.all | sort -u >/tmp/sl.$$.want

grep -E '^SystemCallFilter=' "$UNIT" | sed 's/^SystemCallFilter=//' | tr ' ' '\n' | grep -v '^$' >/tmp/sl.$$.raw || true
[ -s /tmp/sl.$$.raw ] || bad "no SystemCallFilter= in the unit"
grep -E '^[~@]' /tmp/sl.$$.raw && bad "the unit's SystemCallFilter must list plain names only (no ~ or @group)"
udups=$(sort /tmp/sl.$$.raw | uniq -d)
[ -z "$udups" ] || bad "listed twice in the unit: $udups"
sort -u /tmp/sl.$$.raw >/tmp/sl.$$.unit

missing=$(comm -23 /tmp/sl.$$.want /tmp/sl.$$.unit | tr '\n' ' ')
extra=$(comm -13 /tmp/sl.$$.want /tmp/sl.$$.unit | tr '\n' ' ')
[ -z "$missing" ] || bad "in syscalls.txt but not in the unit: $missing"
[ -z "$extra" ] || bad "in the unit but not in syscalls.txt: $extra"

if command -v systemd-analyze >/dev/null 2>&1 && systemd-analyze syscall-filter @known >/dev/null 2>&1; then
  systemd-analyze syscall-filter @known | sed -n 's/^ *\([a-z0-9_]*\)$/\1/p' | sort -u >/tmp/sl.$$.known
  unknown=$(comm -23 /tmp/sl.$$.want /tmp/sl.$$.known | tr '\n' ' ')
  [ -z "$unknown" ] || bad "names systemd does not know: $unknown"
fi
[ $fail -eq 0 ] && echo "syscall lists agree: $(wc -l </tmp/sl.$$.want) calls in the unit, $(grep -cE ' (run|arg)$' /tmp/sl.$$.all) in run's filter"
exit $fail
