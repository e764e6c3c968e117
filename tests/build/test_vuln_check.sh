#!/usr/bin/env bash
# ci/vuln-check passes on this machine's installed versions against the
# committed snapshot, and fails (naming the advisory) when fed
#  1. an installed curl revision older than fixes listed in the real snapshot;
#  2. a test-only advisory that says the installed curl revision is affected;
#  3. a test-only advisory with an explicit affected "versions" entry.
set -euo pipefail
SRC=$1 BUILD=$2
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
"$SRC/ci/vuln-check"

ver=$(dpkg-query -W -f='${source:Version}' libcurl4-openssl-dev)
awk -F'\t' -v OFS='\t' '$1 == "libcurl4-openssl-dev" { $2 = "7.88.1-10"; $4 = "7.88.1-10" } { print }' \
  "$BUILD/pins.lock" >"$tmp/old.lock"
if "$SRC/ci/vuln-check" --installed "$tmp/old.lock" 2>"$tmp/err1"; then
  echo "vuln-check accepted curl 7.88.1-10, which the snapshot says is vulnerable"; exit 1
fi
grep -q 'curl 7.88.1-10 (libcurl4-openssl-dev) is affected by OUTPOST-CL-curl-CVE-' "$tmp/err1"
echo "1: $(tail -n1 "$tmp/err1")"

cat >"$tmp/adv.json" <<JSON
{"schema_version": "1.6.0", "id": "TEST-OUTPOST-0001", "aliases": ["CVE-0000-0001"],
 "modified": "2026-01-01T00:00:00Z", "summary": "test-only advisory",
 "affected": [{"package": {"ecosystem": "Debian:12", "name": "curl"},
   "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "7.88.1-1"}, {"fixed": "${ver}+outpost1"}]}]}]}
JSON
if "$SRC/ci/vuln-check" --advisories "$tmp/adv.json" 2>"$tmp/err2"; then
  echo "vuln-check missed a test advisory covering curl $ver"; exit 1
fi
grep -q "TEST-OUTPOST-0001 (CVE-0000-0001); fixed in ${ver}+outpost1" "$tmp/err2"
echo "2: $(head -n1 "$tmp/err2")"

cat >"$tmp/adv3.json" <<JSON
[{"id": "TEST-OUTPOST-0002", "affected": [{"package": {"ecosystem": "Debian", "name": "sqlite3"},
   "versions": ["$(dpkg-query -W -f='${source:Version}' libsqlite3-dev)"]}]},
 {"id": "TEST-OUTPOST-0003", "affected": [{"package": {"ecosystem": "Debian:12", "name": "curl"},
   "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "7.88.1-10"}]}]}]}]
JSON
if "$SRC/ci/vuln-check" --advisories "$tmp/adv3.json" 2>"$tmp/err3"; then
  echo "vuln-check missed an explicit affected version"; exit 1
fi
grep -q TEST-OUTPOST-0002 "$tmp/err3"
! grep -q TEST-OUTPOST-0003 "$tmp/err3" || { echo "a fixed advisory matched"; exit 1; }
echo "3: $(head -n1 "$tmp/err3")"
