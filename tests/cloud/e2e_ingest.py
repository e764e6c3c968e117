#!/usr/bin/env python3
"""End-to-end: enroll -> challenge -> session -> ingest (twice) against a real
outpost-cloud over HTTPS. ECDSA via the openssl CLI; the zstd frame is built
by hand (one raw block) since Python has no zstd module.
usage: e2e_ingest.py URL CA_PEM TOKEN WORKDIR ; prints the agent id."""
import base64, hashlib, hmac, json, os, ssl, subprocess, sys, time, urllib.request, urllib.error

url, ca, token, work = sys.argv[1:5]
ctx = ssl.create_default_context(cafile=ca)
key = os.path.join(work, "agent.key")
subprocess.run(["openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", key],
               check=True)
pub = subprocess.run(["openssl", "ec", "-in", key, "-pubout", "-outform", "DER"], check=True,
                     capture_output=True).stdout


def sign(data):
    return base64.b64encode(subprocess.run(["openssl", "dgst", "-sha256", "-sign", key],
                                           input=data, check=True,
                                           capture_output=True).stdout).decode()


def post(path, body, headers=None):
    req = urllib.request.Request(url + path, data=body, method="POST", headers=headers or {})
    try:
        with urllib.request.urlopen(req, context=ctx) as r:
            assert r.headers.get("Date"), "no Date header"
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def expect(got, status):
    if got[0] != status:
        sys.exit(f"expected {status}, got {got}")
    return got[1]


body = json.dumps({"token": token, "public_key": base64.b64encode(pub).decode(),
                   "hostname": "h", "machine_id": "m", "agent_version": "0.1.0"}).encode()
agent = expect(post("/v1/enroll", body, {"X-Outpost-Proof": sign(body)}), 201)["agent_id"]
chal = expect(post("/v1/challenge", json.dumps({"agent_id": agent}).encode()), 200)["challenge"]
inst = "0123456789abcdef0123456789abcdef"
msg = f"outpost-session-v1\n{agent}\n{chal}\n{inst}".encode()
s = expect(post("/v1/session", json.dumps({"agent_id": agent, "challenge": chal,
                                           "signature": sign(msg), "instance": inst}).encode()), 200)
skey = base64.b64decode(s["session_key"])

lines = "".join(json.dumps({"seq": i, "ts": 1764380000000 + i, "source": "/var/log/x",
                            "line": f"line {i} \"q\" \\ \u00e9"}) + "\n" for i in range(1, 6))
raw = lines.encode()
assert 256 <= len(raw) < 65536 + 256
# zstd frame: magic, FHD=0x60 (single segment, 2-byte size - 256), one raw last block.
frame = (b"\x28\xb5\x2f\xfd" + bytes([0x60]) + (len(raw) - 256).to_bytes(2, "little")
         + ((len(raw) << 3) | 1).to_bytes(3, "little") + raw)


last_t = [0]


def ingest(first, last, body, tamper=False, t=None):
    if t is None:
        # A new millisecond per request: the same signed request twice is a replay.
        while int(time.time() * 1000) <= last_t[0]:
            time.sleep(0.001)
        t = str(int(time.time() * 1000))
        last_t[0] = int(t)
    s_ = (f"outpost-v1\nPOST\n/v1/ingest\n{t}\n{hashlib.sha256(body).hexdigest()}"
          f"\n{inst}\nnone")
    mac = hmac.new(skey, s_.encode(), hashlib.sha256).hexdigest()
    if tamper:
        mac = ("0" if mac[0] != "0" else "1") + mac[1:]
    return post("/v1/ingest", body, {"x-outpost-session": s["session_id"], "X-Outpost-Time": t,
                                     "X-Outpost-Signature": mac, "X-Outpost-First-Seq": str(first),
                                     "X-Outpost-Last-Seq": str(last),
                                     "Content-Type": "application/x-ndjson",
                                     "Content-Encoding": "zstd", "X-Outpost-Instance": inst,
                                     "X-Outpost-Ratchet": "none"}), t


def ing(*a, **k):
    return ingest(*a, **k)[0]


r = expect(ing(1, 5, frame), 200)
assert r == {"acked_through": 5, "stored": 5, "duplicates": 0}, r
got, t1 = ingest(1, 5, frame)
r = expect(got, 200)
assert r == {"acked_through": 5, "stored": 0, "duplicates": 5}, r
# The very same signed request again: refused as a replay (NET-2 / replay protection).
assert expect(ing(1, 5, frame, t=t1), 401)["error"] == "replayed"
assert expect(ing(1, 5, frame, tamper=True), 401)["error"] == "bad_signature"
assert expect(ing(1, 6, frame), 400)["error"] == "bad_batch"
print(agent)
