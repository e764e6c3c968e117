#!/usr/bin/env bash
# The checker must fail on binaries that lack each property: builds small
# programs without PIE / with lazy binding / with an executable stack /
# without the stack protector / without FORTIFY, and expects a FAIL line
# naming the missing property for each.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
cat >"$tmp/p.c" <<'C'
#include <stdio.h>
#include <string.h>
int main(int argc, char **argv) {
  char buf[64];
  /* Sizes known only at run time: FORTIFY must keep the _chk calls. */
  if (!fgets(buf, argc * 16, stdin)) return 1;
  memcpy(buf, argv[0], strlen(argv[0]));
  return buf[0] == 'q';
}
C
good="-O2 -U_FORTIFY_SOURCE -D_FORTIFY_SOURCE=3 -fstack-protector-all -fPIE -pie -Wl,-z,relro,-z,now,-z,noexecstack"
gcc $good "$tmp/p.c" -o "$tmp/good"
"$here/check_elf_hardening.sh" "$tmp/good" || { echo "the fully hardened control binary was rejected"; exit 1; }
expect_fail() { # name extra-flags pattern
  gcc $good $2 "$tmp/p.c" -o "$tmp/$1" 2>/dev/null
  out=$("$here/check_elf_hardening.sh" "$tmp/$1") && { echo "$1: accepted, should fail"; exit 1; }
  grep -q "$3" <<<"$out" || { echo "$1: failed without naming '$3':"; echo "$out"; exit 1; }
  echo "rejected $1: $(grep FAIL <<<"$out" | head -n1)"
}
expect_fail nopie "-fno-PIE -no-pie" "PIE"
expect_fail lazy "-Wl,-z,lazy" "BIND_NOW"
expect_fail execstack "-Wl,-z,execstack" "executable stack"
expect_fail nossp "-fno-stack-protector" "stack protector"
expect_fail nofortify "-U_FORTIFY_SOURCE" "FORTIFY"
