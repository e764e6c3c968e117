#!/usr/bin/env python3
"""Writes the seed corpora of fuzz_reply and fuzz_agent (valid replies of
every kind, and the usual refusals) into fuzz/corpus/{reply,agent}/."""
import os

ROOT = os.path.dirname(os.path.abspath(__file__))
DATE = "Sat, 29 Nov 2025 00:00:00 GMT"
HEX = "0123456789abcdef0123456789abcdef"
HEX2 = "fedcba9876543210fedcba9876543210"
KEY = "A" * 43 + "="  # 32 zero bytes
POLICY = ('{"version": 2, "logs": [{"glob": "/var/log/*.log"}], "diagnostics": '
          '[{"name": "uptime", "interval_s": 60}], "batch_max_records": 4, '
          '"policy_interval_s": 120}')
SEP = "\n=====\n"

BODIES = {
    "enroll": '{"agent_id":"%s","workspace":"ws-1"}' % HEX,
    "challenge": '{"challenge":"q8Zk2dPp0w"}',
    "session": '{"session_id":"%s","session_key":"%s","expires_in_s":3600}' % (HEX2, KEY),
    "checkin": '{"ratchet_next":"%s"}' % HEX2,
    "ingest": '{"acked_through":42,"policy_version":3}',
    "error": '{"error":"revoked","message":"agent revoked by an operator"}',
    "describe": '{"error":"session_expired","message":"session expired"}',
    "probation": '{"error":"probation","retry_after_s":30}',
}


def write(sub, name, data):
    d = os.path.join(ROOT, "corpus", sub)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def reply(status, body="", **headers):
    h = "".join("%s: %s\n" % (k.replace("_", "-"), v) for k, v in headers.items())
    return "%s\n%s\n%s" % (status, h, body)


def convo(mode, *replies):
    return bytes([mode]) + SEP.join(replies).encode()


for i, (kind, body) in enumerate(BODIES.items()):
    write("reply", kind, bytes([i]) + ("%s\n%s\n%s" % (DATE, "5", body)).encode())
write("reply", "retry_after_date", bytes([4]) + ("%s\n%s\n%s" % ("", DATE, "{}")).encode())
write("reply", "ingest_huge", bytes([4]) + b"\n\n" + b'{"acked_through":1e300,"policy_version":-1e300}')
write("reply", "enroll_not_hex", bytes([0]) + b"\n\n" + b'{"agent_id":"0123456789ABCDEF0123456789abcdeZ","workspace":"w"}')

ok_session = [reply(200, BODIES["challenge"], date=DATE),
              reply(200, BODIES["session"]),
              reply(200, BODIES["checkin"])]
acks = [reply(200, '{"acked_through":$LAST,"policy_version":2}')] * 2
write("agent", "enroll_then_ship",
      convo(0, reply(201, BODIES["enroll"], date=DATE), *ok_session, reply(200, POLICY), *acks,
            reply(200, "{}")))
write("agent", "enrolled_ship", convo(1, *ok_session, reply(200, POLICY), *acks, reply(204)))
write("agent", "enrolled_no_policy",
      convo(1, *ok_session, reply(404, '{"error":"no_policy"}'), *acks))
write("agent", "enroll_refused", convo(0, reply(401, '{"error":"bad_token","message":"no"}')))
# regression: a 32-character agent id that is not hex used to be saved, and
# the next start refused identity.json
write("agent", "enroll_not_hex",
      convo(0, reply(201, '{"agent_id":"0123456789ABCDEF0123456789abcdeZ","workspace":"w"}')))
write("agent", "transient",
      convo(1, reply(503, "", retry_after="7"), "E", reply(429, "{}", retry_after=DATE),
            *ok_session, reply(401, '{"error":"session_expired"}'), *ok_session))
write("agent", "refusals",
      convo(1, reply(200, BODIES["challenge"]), reply(403, '{"error":"revoked"}'),
            reply(200, BODIES["challenge"]), reply(409, BODIES["probation"]),
            reply(200, BODIES["challenge"]), reply(401, '{"error":"clock_skew"}', date=DATE)))
write("agent", "clone_rekey",
      convo(1, *ok_session, reply(409, '{"error":"clone_detected"}'),
            reply(201, '{"agent_id":"%s","workspace":"ws-1"}' % HEX2), *ok_session))
write("agent", "ingest_huge_ack",
      convo(1, *ok_session, reply(200, POLICY), reply(200, '{"acked_through":1e300}'), *acks))
