#!/usr/bin/env python3
"""test_sbom.py BUILD SRC - the SPDX SBOMs in BUILD/release are well formed.

For every release artefact (the .deb and each shipped binary) there is an
SBOM that: has the SPDX 2.3 document fields; describes the artefact with a
SHA-256 equal to the file's; for the .deb, lists every ELF executable inside
with the right hash; lists every pinned package of ci/deps.txt with the exact
version installed now (dpkg-query) and a licence; has only relationships
between elements it defines; and is reproduced byte for byte by ci/sbom.
"""
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile

BUILD, SRC = sys.argv[1], sys.argv[2]
sys.path.insert(0, os.path.join(SRC, "ci"))
import outpost_pins as op  # noqa: E402

failures = []


def check(cond, msg):
    if not cond:
        failures.append(msg)
    return cond


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def sha_of(pkg):
    return {c["algorithm"]: c["checksumValue"] for c in pkg.get("checksums", [])}.get("SHA256")


rel = os.path.join(BUILD, "release")
debs = [f for f in os.listdir(rel) if f.endswith(".deb")]
check(len(debs) == 1, f"want one .deb in {rel}, found {debs}")
with open(os.path.join(BUILD, "shipped-binaries.txt")) as f:
    bins = [line.strip() for line in f if line.strip()]
check(bins, "no shipped binaries listed")
artefacts = [(os.path.join(rel, d), "deb") for d in debs] + [(b, "bin") for b in bins]

pins = op.read_pins()
installed = op.dpkg_query([p.package for p in pins])
lock_path = os.path.join(BUILD, "pins.lock")

for path, kind in artefacts:
    name = os.path.basename(path)
    sbom_path = os.path.join(rel, name + ".spdx.json") if kind == "deb" else \
        os.path.join(rel, name + ".spdx.json")
    if not check(os.path.exists(sbom_path), f"{name}: no SBOM at {sbom_path}"):
        continue
    with open(sbom_path, "rb") as f:
        raw = f.read()
    doc = json.loads(raw)
    where = os.path.basename(sbom_path)
    for k in ("spdxVersion", "dataLicense", "SPDXID", "name", "documentNamespace",
              "creationInfo", "packages", "relationships"):
        check(k in doc, f"{where}: missing {k}")
    check(doc.get("spdxVersion") == "SPDX-2.3", f"{where}: spdxVersion")
    check(doc.get("dataLicense") == "CC0-1.0", f"{where}: dataLicense")
    check(doc.get("SPDXID") == "SPDXRef-DOCUMENT", f"{where}: SPDXID")
    check(re.fullmatch(r"https://\S+-[0-9a-f]{64}", doc.get("documentNamespace", "")) is not None,
          f"{where}: namespace not content-derived")
    ci = doc.get("creationInfo", {})
    check(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", ci.get("created", "")) is not None,
          f"{where}: creationInfo.created")
    check(any(c.startswith("Tool: ") for c in ci.get("creators", [])), f"{where}: creators")
    pkgs = {p["SPDXID"]: p for p in doc.get("packages", [])}
    check(len(pkgs) == len(doc.get("packages", [])), f"{where}: duplicate SPDXIDs")
    for p in pkgs.values():
        for k in ("name", "versionInfo", "downloadLocation", "licenseConcluded",
                  "licenseDeclared", "copyrightText"):
            check(k in p, f"{where}: {p['SPDXID']} missing {k}")
        check(re.fullmatch(r"SPDXRef-[A-Za-z0-9.-]+", p["SPDXID"]) is not None,
              f"{where}: bad SPDXID {p['SPDXID']}")
    ids = set(pkgs) | {"SPDXRef-DOCUMENT"}
    for r in doc.get("relationships", []):
        check(r["spdxElementId"] in ids and r["relatedSpdxElement"] in ids,
              f"{where}: relationship to an undefined element {r}")
    described = doc.get("documentDescribes", [])
    check(len(described) == 1 and described[0] in pkgs, f"{where}: documentDescribes")
    top = pkgs.get(described[0]) if described else None
    if top:
        check(sha_of(top) == sha256(path), f"{where}: SHA-256 of {name} does not match the file")
    if kind == "deb":
        with tempfile.TemporaryDirectory() as tmp:
            subprocess.run(["dpkg-deb", "-x", path, tmp], check=True)
            agent = os.path.join(tmp, "usr/bin/outpost-agent")
            inner = [p for p in pkgs.values() if p.get("packageFileName") == "/usr/bin/outpost-agent"]
            if check(len(inner) == 1, f"{where}: /usr/bin/outpost-agent not listed"):
                check(sha_of(inner[0]) == sha256(agent), f"{where}: hash of packaged agent differs")
                check({"spdxElementId": top["SPDXID"], "relationshipType": "CONTAINS",
                       "relatedSpdxElement": inner[0]["SPDXID"]} in doc["relationships"],
                      f"{where}: deb does not CONTAIN the agent")
    # Every pin, with the exact installed version and a licence.
    by_name = {p["name"]: p for p in pkgs.values()}
    for pin in pins:
        p = by_name.get(pin.package)
        if check(p is not None, f"{where}: pinned {pin.package} missing"):
            check(p["versionInfo"] == installed[pin.package]["Version"],
                  f"{where}: {pin.package} version {p['versionInfo']} != installed "
                  f"{installed[pin.package]['Version']}")
            check(p["licenseDeclared"] not in ("", "NOASSERTION"), f"{where}: {pin.package} licence")
            check(any(e.get("referenceType") == "purl" for e in p.get("externalRefs", [])),
                  f"{where}: {pin.package} purl")
    # At least libc is dynamically linked and must be listed as such.
    check(any(r["relationshipType"] == "DYNAMIC_LINK" and r["relatedSpdxElement"] == "SPDXRef-deb-libc6"
              for r in doc["relationships"]), f"{where}: no DYNAMIC_LINK to libc6")
    # Deterministic: regenerating gives the same bytes.
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "again.json")
        env = dict(os.environ, SOURCE_DATE_EPOCH=str(int(
            __import__("calendar").timegm(__import__("time").strptime(ci["created"], "%Y-%m-%dT%H:%M:%SZ")))))
        version = top["versionInfo"] if top else "0"
        subprocess.run([os.path.join(SRC, "ci/sbom"), "--lock", lock_path, "--version", version,
                        "--out", out, "--deb" if kind == "deb" else "--binary", path],
                       check=True, env=env)
        with open(out, "rb") as f:
            check(f.read() == raw, f"{where}: ci/sbom is not deterministic")
    print(f"checked {where}: {len(pkgs)} packages, {len(doc.get('relationships', []))} relationships")

for msg in failures:
    print("FAIL " + msg)
sys.exit(1 if failures else 0)
