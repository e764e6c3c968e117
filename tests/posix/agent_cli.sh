#!/bin/sh
# Command-line contract of outpost-agent (exit codes and messages); the run
# loop itself is exercised by tests/integration against the real cloud.
# usage: agent_cli.sh /path/to/outpost-agent
set -u
bin=$1
tmp=$(mktemp -d /tmp/outpost-cli-XXXXXX) || exit 1
trap 'rm -rf "$tmp"' EXIT
fail=0
expect() { # expect CODE PATTERN -- args...
  code=$1 pat=$2; shift 3
  out=$("$bin" "$@" 2>&1); rc=$?
  if [ "$rc" -ne "$code" ]; then echo "FAIL: $* -> exit $rc, want $code"; fail=1; fi
  case $out in *"$pat"*) ;; *) echo "FAIL: $* -> output '$out' lacks '$pat'"; fail=1 ;; esac
}
expect 0 "outpost-agent 0.1.0" -- --version
expect 2 "usage: outpost-agent" -- frob --config x
expect 2 "usage: outpost-agent" -- run
expect 2 "usage: outpost-agent" -- check-config --conf x
expect 1 "$tmp/missing.json: " -- check-config --config "$tmp/missing.json"
head -c 1048577 /dev/zero | tr '\0' ' ' > "$tmp/huge.json"
expect 1 "$tmp/huge.json: config file is larger than" -- check-config --config "$tmp/huge.json"
printf '{' > "$tmp/broken.json"
expect 1 "$tmp/broken.json: " -- check-config --config "$tmp/broken.json"
expect 1 "$tmp/broken.json: " -- run --config "$tmp/broken.json"
# NET-1: the real binary refuses a cloud port other than 443 unless allowed
printf '{"cloud_url":"https://127.0.0.1:8443","ca_file":"/ca","state_dir":"%s/s"}' "$tmp" > "$tmp/port.json"
expect 1 "cloud_url: port 8443 is not 443" -- check-config --config "$tmp/port.json"
expect 1 "cloud_url: port 8443 is not 443" -- run --config "$tmp/port.json"
[ $fail -eq 0 ] && echo "agent_cli: all checks passed"
exit $fail
