"""Shared helpers for ci/check-pins, ci/sbom and ci/vuln-check.

The pins file is ci/deps.txt (format in its header). Installed versions come
from dpkg-query; versions are compared with dpkg --compare-versions only, so we
never reimplement Debian's ordering.
"""
import os
import re
import subprocess

HERE = os.path.dirname(os.path.abspath(__file__))
PINS_FILE = os.path.join(HERE, "deps.txt")


# Roles whose version shapes what we ship (the compiler and binutils, libc, the
# libraries linked into shipped binaries): a moved pin warns in development
# builds and fails the release path. Every other role only records what the
# tests used: a moved tool pin never fails anything (docs/build.md).
SHIPPED_ROLES = ("compiler", "lib")
ROLES = SHIPPED_ROLES + ("tool",)


class Pin:
    def __init__(self, package, upstream, role, licence):
        self.package = package
        self.upstream = upstream
        self.role = role
        self.licence = licence

    @property
    def shipped(self):
        return self.role in SHIPPED_ROLES


class Drift:
    """One pin that the installed system does not match.

    kind: "missing" (not installed) or "moved" (another upstream version).
    installed: the exact installed Debian version, or None when missing.
    """
    def __init__(self, pin, kind, installed):
        self.pin = pin
        self.kind = kind
        self.installed = installed

    @property
    def installed_upstream(self):
        return upstream_of(self.installed) if self.installed else None

    def describe(self):
        p = self.pin
        what = ("linked into shipped binaries" if p.role == "lib" else
                "builds shipped binaries" if p.role == "compiler" else "build/test tool")
        if self.kind == "missing":
            return f"{p.package} ({p.role}, {what}): pinned upstream {p.upstream}, not installed"
        return (f"{p.package} ({p.role}, {what}): pinned upstream {p.upstream}, installed "
                f"{self.installed} (upstream {self.installed_upstream})")


def drifts(pins, installed):
    """[Drift] for every pin that `installed` ({package: dpkg fields}) misses or moves."""
    out = []
    for p in pins:
        got = installed.get(p.package)
        if got is None:
            out.append(Drift(p, "missing", None))
        elif not matches_pin(got["Version"], p.upstream):
            out.append(Drift(p, "moved", got["Version"]))
    return out


def read_pins(path=PINS_FILE):
    pins = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            cols = line.split(None, 3)
            if len(cols) != 4:
                raise ValueError(f"{path}:{n}: want 'package upstream role licence'")
            if cols[2] not in ROLES:
                raise ValueError(f"{path}:{n}: role '{cols[2]}' is not one of {', '.join(ROLES)}")
            pins.append(Pin(*cols))
    return pins


def upstream_of(version):
    """Debian version minus epoch and Debian revision: 1:14.0-55.7~deb12u1 -> 14.0."""
    v = version.split(":", 1)[1] if ":" in version else version
    return v.rsplit("-", 1)[0] if "-" in v else v


def matches_pin(installed_version, pinned_upstream):
    """True when installed_version is some Debian revision of pinned_upstream.

    Native packages (no Debian revision, e.g. ca-certificates 20230311+deb12u1)
    get stable updates as a +debNNuM / ~debNNuM suffix; that counts as a revision.
    """
    up = upstream_of(installed_version)
    if up == pinned_upstream:
        return True
    v = installed_version.split(":", 1)[-1]
    return "-" not in v and re.fullmatch(re.escape(pinned_upstream) + r"[+~]deb\d+u\d+", v) is not None


def dpkg_query(packages, fields=("Package", "Version", "source:Package", "source:Version")):
    """{package: {field: value}} for the installed packages among `packages`."""
    fmt = "\t".join("${%s}" % f for f in fields) + "\t${db:Status-Status}\n"
    out = subprocess.run(["dpkg-query", "-W", "-f=" + fmt] + list(packages),
                         capture_output=True, text=True).stdout
    res = {}
    for line in out.splitlines():
        cols = line.split("\t")
        if len(cols) != len(fields) + 1 or cols[-1] != "installed":
            continue
        res[cols[0]] = dict(zip(fields, cols[:-1]))
    return res


def version_lt(a, b):
    return subprocess.run(["dpkg", "--compare-versions", a, "lt", b]).returncode == 0


def read_lock(path):
    """pins.lock written by check-pins: package version source source_version role licence pinned."""
    rows = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.startswith("#") or not line.strip():
                continue
            cols = line.rstrip("\n").split("\t")
            rows.append(dict(zip(("package", "version", "source", "source_version",
                                  "role", "licence", "pinned"), cols)))
    return rows


def purl(package, version, arch="amd64"):
    q = re.sub(r"[^A-Za-z0-9.+~:-]", "", version).replace(":", "%3A")
    return f"pkg:deb/debian/{package}@{q}?arch={arch}&distro=debian-12"
