#!/usr/bin/env bash
# Installs the .deb into a throwaway root with dpkg --root (maintainer scripts
# run chrootless against that root, DPKG_ROOT set) and checks the layout,
# modes and owners; reinstalls to show postinst is idempotent; purges and
# checks the state dir is gone. Never touches the host's /etc or /var.
set -euo pipefail
DEB=$1 AGENT=$2
R=$(mktemp -d /tmp/outpost-pkgroot.XXXXXX); trap 'rm -rf "$R"' EXIT
mkdir -p "$R/var/lib/dpkg/info" "$R/var/lib/dpkg/updates" "$R/etc" "$R/usr/sbin"
touch "$R/var/lib/dpkg/status" "$R/var/lib/dpkg/available"
printf 'root:x:0:0:root:/root:/bin/sh\n' >"$R/etc/passwd"
printf 'root:x:0:\n' >"$R/etc/group"
printf 'root:*:19000:0:99999:7:::\n' >"$R/etc/shadow"
printf 'root:*::\n' >"$R/etc/gshadow"
chmod 0640 "$R/etc/shadow" "$R/etc/gshadow"
hostpw=$(sha256sum /etc/passwd /etc/group)

fail=0
want() { # path type mode owner group
  local p=$R$1
  if [ ! -e "$p" ]; then echo "FAIL $1: missing"; fail=1; return; fi
  local type mode uid gid
  read -r type mode uid gid < <(stat -c '%F %a %u %g' "$p" | sed 's/regular file/file/; s/directory/dir/')
  [ "$type" = "$2" ] && [ "$mode" = "$3" ] && [ "$uid" = "$4" ] && [ "$gid" = "$5" ] ||
    { echo "FAIL $1: $type $mode $uid:$gid, want $2 $3 $4:$5"; fail=1; return; }
  echo "ok   $1 $type $mode $uid:$gid"
}
install_deb() {
  dpkg --root="$R" --force-script-chrootless --force-depends --force-not-root \
       --log=/dev/null -i "$DEB" >"$R.log" 2>&1 || { cat "$R.log"; rm -f "$R.log"; exit 1; }
  rm -f "$R.log"
}

install_deb
uid=$(awk -F: '$1 == "outpost" { print $3 }' "$R/etc/passwd")
gid=$(awk -F: '$1 == "outpost" { print $3 }' "$R/etc/group")
[ -n "$uid" ] && [ -n "$gid" ] || { echo "FAIL: postinst did not create user/group outpost"; exit 1; }
[ "$uid" -lt 1000 ] || { echo "FAIL: outpost uid $uid is not a system uid"; fail=1; }
grep -q '^outpost:x:[0-9]*:[0-9]*:[^:]*:/var/lib/outpost:/usr/sbin/nologin$' "$R/etc/passwd" ||
  { echo "FAIL: passwd entry: $(grep ^outpost: "$R/etc/passwd")"; fail=1; }
want /usr/bin/outpost-agent file 755 0 0
want /etc/outpost dir 755 0 0
want /etc/outpost/agent.json file 640 0 "$gid"
want /lib/systemd/system/outpost-agent.service file 644 0 0
want /usr/share/doc/outpost-agent/copyright file 644 0 0
want /var/lib/outpost dir 700 "$uid" "$gid"
grep -q '^ExecStart=/usr/bin/outpost-agent supervise --config /etc/outpost/agent.json$' \
  "$R/lib/systemd/system/outpost-agent.service" || { echo "FAIL: unit ExecStart"; fail=1; }
grep -q '^User=outpost$' "$R/lib/systemd/system/outpost-agent.service" || { echo "FAIL: unit User"; fail=1; }
grep -q '^Status: install ok installed' <<<"$(dpkg --root="$R" -s outpost-agent)" ||
  { echo "FAIL: not installed per dpkg"; fail=1; }
# The packaged binary is the one we built (stripped) and runs.
"$R/usr/bin/outpost-agent" --version | grep -q . || { echo "FAIL: packaged agent does not run"; fail=1; }
# The shipped config parses; its placeholders are what check-config reports on.
# Until an operator fills in the enrollment token, check-config refuses it and
# says why (and so does the unit's ExecStartPre).
if "$AGENT" check-config --config "$R/etc/outpost/agent.json" >"$R/cc.out" 2>&1; then
  echo "FAIL: check-config accepted the placeholder config"; fail=1
fi
grep -q 'enrollment_token' "$R/cc.out" || { echo "FAIL: check-config did not name the placeholder"; fail=1; }
echo "check-config on the default config: $(head -n1 "$R/cc.out")"
rm -f "$R/cc.out"

# Built without trust roots (the default): none shipped, updates off.
[ ! -e "$R/usr/share/outpost/trust" ] || { echo "FAIL: trust roots in a package built without them"; fail=1; }
grep -q '"update"' "$R/etc/outpost/agent.json" && { echo "FAIL: default config mentions updates without trust roots"; fail=1; }

# Idempotent postinst: a reinstall keeps one user, the same ids and modes.
chmod 0755 "$R/var/lib/outpost"   # a drifted mode is repaired
install_deb
[ "$(grep -c '^outpost:' "$R/etc/passwd")" = 1 ] || { echo "FAIL: duplicate outpost user"; fail=1; }
[ "$(awk -F: '$1 == "outpost" { print $3 }' "$R/etc/passwd")" = "$uid" ] || { echo "FAIL: uid changed"; fail=1; }
want /var/lib/outpost dir 700 "$uid" "$gid"

# purge removes the state and the config; the host's account files were not touched.
mkdir -p "$R/var/lib/outpost/spool" && echo x >"$R/var/lib/outpost/agent.key"
dpkg --root="$R" --force-script-chrootless --force-not-root --log=/dev/null --purge outpost-agent >/dev/null 2>&1
[ ! -e "$R/var/lib/outpost" ] || { echo "FAIL: purge left /var/lib/outpost"; fail=1; }
[ ! -e "$R/etc/outpost" ] || { echo "FAIL: purge left /etc/outpost"; fail=1; }
[ ! -e "$R/usr/bin/outpost-agent" ] || { echo "FAIL: purge left the binary"; fail=1; }
[ "$(sha256sum /etc/passwd /etc/group)" = "$hostpw" ] || { echo "FAIL: host account files changed"; fail=1; }

# ---- With trust roots (issue #6): build-deb TUF_ROOT RELEASE_PUBKEY on the
# same binary, into a fresh root: both files at /usr/share/outpost/trust/,
# 0644 root, and the default config's update.trusted_root names the root.
BUILD_DEB=$(cd "$(dirname "$0")/../../packaging" && pwd)/build-deb
T=$(mktemp -d /tmp/outpost-pkgtrust.XXXXXX); trap 'rm -rf "$R" "$T"' EXIT
openssl ecparam -name prime256v1 -genkey -noout -out "$T/k.pem" 2>/dev/null
openssl pkey -in "$T/k.pem" -pubout -out "$T/release-key.pem"
printf '{"signatures":[{"keyid":"ab","sig":"cd"}],"signed":{"_type":"root","version":1}}\n' >"$T/root.json"
printf '{"signed":{"_type":"timestamp","version":1},"signatures":[]}\n' >"$T/ts.json"
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-1700000000}
rc=0; "$BUILD_DEB" "$AGENT" 9.9.9 "$T/out" "$T/root.json" "" >/dev/null 2>"$T/err" || rc=$?
[ $rc = 2 ] && grep -q "go together" "$T/err" || { echo "FAIL: build-deb accepted a TUF root without a release key ($rc)"; fail=1; }
rc=0; "$BUILD_DEB" "$AGENT" 9.9.9 "$T/out" "$T/ts.json" "$T/release-key.pem" >/dev/null 2>"$T/err" || rc=$?
[ $rc = 1 ] && grep -q "not TUF root metadata" "$T/err" || { echo "FAIL: build-deb accepted a timestamp as the root ($rc)"; fail=1; }
"$BUILD_DEB" "$AGENT" 9.9.9 "$T/out" >/dev/null 2>"$T/err"
grep -q "updates stay off" "$T/err" || { echo "FAIL: build-deb without trust roots did not say updates are off"; fail=1; }
DEB=$("$BUILD_DEB" "$AGENT" 9.9.9 "$T/out" "$T/root.json" "$T/release-key.pem" 2>/dev/null)
rm -rf "$R"; R=$(mktemp -d /tmp/outpost-pkgroot.XXXXXX)
mkdir -p "$R/var/lib/dpkg/info" "$R/var/lib/dpkg/updates" "$R/etc" "$R/usr/sbin"
touch "$R/var/lib/dpkg/status" "$R/var/lib/dpkg/available"
printf 'root:x:0:0:root:/root:/bin/sh\n' >"$R/etc/passwd"
printf 'root:x:0:\n' >"$R/etc/group"
printf 'root:*:19000:0:99999:7:::\n' >"$R/etc/shadow"
printf 'root:*::\n' >"$R/etc/gshadow"
chmod 0640 "$R/etc/shadow" "$R/etc/gshadow"
install_deb
gid=$(awk -F: '$1 == "outpost" { print $3 }' "$R/etc/group")
want /usr/share/outpost/trust dir 755 0 0
want /usr/share/outpost/trust/root.json file 644 0 0
want /usr/share/outpost/trust/release-key.pem file 644 0 0
want /etc/outpost/agent.json file 640 0 "$gid"
cmp -s "$R/usr/share/outpost/trust/root.json" "$T/root.json" || { echo "FAIL: packaged root.json differs"; fail=1; }
cmp -s "$R/usr/share/outpost/trust/release-key.pem" "$T/release-key.pem" || { echo "FAIL: packaged release key differs"; fail=1; }
python3 - "$R/etc/outpost/agent.json" <<'PY' || { echo "FAIL: default config does not turn updates on with the pinned root"; fail=1; }
import json, sys
u = json.load(open(sys.argv[1]))["update"]
assert u == {"enabled": True, "trusted_root": "/usr/share/outpost/trust/root.json"}, u
PY
grep -q ' ./usr/share/outpost/trust/root.json$' <<<"$(dpkg-deb -c "$DEB")" || { echo "FAIL: root.json not listed in the .deb"; fail=1; }
"$AGENT" check-config --config "$R/etc/outpost/agent.json" >"$T/cc.out" 2>&1 || true
grep -q 'unknown key' "$T/cc.out" && { echo "FAIL: the agent does not know the packaged update keys: $(cat "$T/cc.out")"; fail=1; }

[ $fail -eq 0 ] && echo "package layout, modes, idempotent postinst, purge and trust roots: ok"
exit $fail
