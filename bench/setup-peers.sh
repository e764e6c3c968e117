#!/usr/bin/env bash
# Installs the peer log shipper bench/agent-vs-peer compares the agent with:
# Debian 12's syslog-ng (syslog-ng-core + syslog-ng-mod-http). Benchmark
# only: neither ci/setup-deps nor make test needs it.
#
# The package must not take the machine's logging over: a policy-rc.d that
# answers 101 ("action forbidden") is in place during the install so that its
# maintainer scripts start no service (the usual guard in containers, where
# invoke-rc.d would otherwise run /etc/init.d/syslog-ng), and afterwards any
# syslog-ng system service is disabled and stopped where an init system runs
# one. The bench runs its own syslog-ng with a private config, pid file,
# control socket and persist file, and no /dev/log source.
# usage: bench/setup-peers.sh (as root; does nothing when already installed)
set -euo pipefail
PKGS=(syslog-ng-core syslog-ng-mod-http)

installed() {
  local p st
  for p in "${PKGS[@]}"; do
    st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null) || return 1
    [ "$st" = "install ok installed" ] || return 1
  done
}

if ! installed; then
  [ "$(id -u)" -eq 0 ] || { echo "setup-peers: run as root to install ${PKGS[*]}" >&2; exit 1; }
  guard=/usr/sbin/policy-rc.d
  made_guard=0
  if [ ! -e "$guard" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$guard"
    chmod 755 "$guard"
    made_guard=1
  fi
  rc=0
  just_installed=1
  { apt-get install -y --no-install-recommends "${PKGS[@]}" ||
    { apt-get update -q && apt-get install -y --no-install-recommends "${PKGS[@]}"; }; } || rc=$?
  [ "$made_guard" -eq 0 ] || rm -f "$guard"
  [ "$rc" -eq 0 ] || { echo "setup-peers: apt-get install failed ($rc)" >&2; exit "$rc"; }
fi

# Installed just now: the package's unit must be neither running nor enabled
# (where systemd is not running, as in a container, `systemctl disable` still
# removes the link the package made, so a later boot does not start it), and
# a daemon an init script started anyway is stopped by its pid file. A
# syslog-ng that was installed before is the host's own: left alone.
if [ "${just_installed:-0}" -eq 1 ]; then
  if command -v systemctl >/dev/null; then
    if [ -d /run/systemd/system ]; then
      systemctl disable --now syslog-ng.service >/dev/null 2>&1 || true
    else
      systemctl disable syslog-ng.service >/dev/null 2>&1 || true
    fi
  fi
  for pf in /run/syslog-ng.pid /var/run/syslog-ng.pid; do
    [ -s "$pf" ] || continue
    p=$(cat "$pf")
    if [ "$(cat "/proc/$p/comm" 2>/dev/null)" = syslog-ng ]; then
      echo "setup-peers: stopping the syslog-ng the package started (pid $p)" >&2
      kill "$p" 2>/dev/null || true
    fi
  done
fi
v=$(syslog-ng --version)
echo "${v%%$'\n'*}"
