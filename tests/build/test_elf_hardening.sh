#!/usr/bin/env bash
# Every shipped binary (BUILD/shipped-binaries.txt, written by CMake from the
# targets) and the binary inside the .deb pass check_elf_hardening.sh.
set -euo pipefail
BUILD=$1 DEB=$2
here=$(cd "$(dirname "$0")" && pwd)
mapfile -t bins <"$BUILD/shipped-binaries.txt"
[ ${#bins[@]} -ge 1 ] || { echo "no shipped binaries listed"; exit 1; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
dpkg-deb -x "$DEB" "$tmp"
"$here/check_elf_hardening.sh" "${bins[@]}" "$tmp/usr/bin/outpost-agent"
