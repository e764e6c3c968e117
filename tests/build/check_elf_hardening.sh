#!/usr/bin/env bash
# check_elf_hardening.sh ELF... - fails unless every file has: PIE (ET_DYN with
# DF_1_PIE), full RELRO (PT_GNU_RELRO + BIND_NOW), a non-executable stack
# (PT_GNU_STACK without E), the stack protector (__stack_chk_fail imported)
# and FORTIFY (at least one __*_chk import other than __stack_chk_fail).
# With -fcf-protection, x86-64 binaries also carry the IBT/SHSTK property
# note when every object (crt files included) was built with it; reported, not
# required, because it depends on the toolchain's startup files.
set -u
[ $# -gt 0 ] || { echo "usage: check_elf_hardening.sh ELF..." >&2; exit 2; }
fail=0
for f in "$@"; do
  problems=()
  [ -f "$f" ] || { echo "FAIL $f: missing"; fail=1; continue; }
  hdr=$(readelf -hW "$f") dyn=$(readelf -dW "$f") seg=$(readelf -lW "$f") syms=$(readelf --dyn-syms -W "$f")
  grep -qE 'Type:\s+DYN' <<<"$hdr" || problems+=("not PIE (ELF type is not DYN)")
  grep -qE 'FLAGS_1.*\bPIE\b' <<<"$dyn" || problems+=("no DF_1_PIE flag")
  grep -q 'GNU_RELRO' <<<"$seg" || problems+=("no GNU_RELRO segment (RELRO)")
  grep -qE '\(FLAGS\).*\bBIND_NOW\b|FLAGS_1.*\bNOW\b' <<<"$dyn" || problems+=("no BIND_NOW (only partial RELRO)")
  stack=$(grep -E '^\s*GNU_STACK' <<<"$seg")
  if [ -z "$stack" ]; then problems+=("no GNU_STACK segment (executable stack by default)")
  elif grep -qE 'RWE\s+0x' <<<"$stack"; then problems+=("executable stack (GNU_STACK RWE)"); fi
  grep -qE '\s__stack_chk_fail(@|\s|$)' <<<"$syms" || problems+=("no __stack_chk_fail import (stack protector missing)")
  grep -E '\s__[a-z0-9_]+_chk(@|\s|$)' <<<"$syms" | grep -vq '__stack_chk_fail' ||
    problems+=("no __*_chk import (FORTIFY_SOURCE missing)")
  if [ ${#problems[@]} -eq 0 ]; then
    cet=$(readelf -nW "$f" | grep -oE 'x86 feature: .*' || true)
    echo "ok   $f (PIE, full RELRO, NX stack, SSP, FORTIFY: $(grep -oE '\s__[a-z0-9_]+_chk' <<<"$syms" | grep -v stack_chk_fail | sort -u | wc -l) _chk imports${cet:+; $cet})"
  else
    for p in "${problems[@]}"; do echo "FAIL $f: $p"; done
    fail=1
  fi
done
exit $fail
