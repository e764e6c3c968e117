#!/usr/bin/env python3
"""A small HTTP CONNECT proxy for tests/integration/proxy.sh, on 127.0.0.1 only.

usage: connect_proxy.py STATE_FILE MARKER [REDIRECT_PORT]

Prints "port N" on stdout once listening. For every tunnel it counts, and it
watches the bytes going through: the first byte from the client after CONNECT
(0x16 = a TLS handshake record) and whether MARKER (a string every log line
carries) ever appears in clear in either direction. STATE_FILE is rewritten
after every event as "tunnels=N tls=N marker=N refused=N".
With REDIRECT_PORT, every tunnel goes to 127.0.0.1:REDIRECT_PORT whatever the
client asked for: an impostor in the middle, which TLS verification must stop.
Bounded: at most 64 concurrent tunnels, headers up to 8 KiB, idle tunnels close
after 60 s.
"""
import os
import select
import socket
import sys
import threading

state_path, marker = sys.argv[1], sys.argv[2].encode()
redirect = int(sys.argv[3]) if len(sys.argv) > 3 else None
counts = {"tunnels": 0, "tls": 0, "marker": 0, "refused": 0}
lock = threading.Lock()
slots = threading.BoundedSemaphore(64)


def write_state():
    with open(state_path + ".tmp", "w") as f:
        f.write(" ".join("%s=%d" % (k, counts[k]) for k in ("tunnels", "tls", "marker", "refused")) + "\n")
    os.replace(state_path + ".tmp", state_path)


def bump(key):
    with lock:
        counts[key] += 1
        write_state()


def pump(client, upstream):
    first = True
    tail = {client: b"", upstream: b""}
    seen_marker = False
    socks = [client, upstream]
    while True:
        r, _, _ = select.select(socks, [], [], 60)
        if not r:
            return
        for s in r:
            data = s.recv(65536)
            if not data:
                return
            if s is client and first:
                first = False
                if data[0] == 0x16:
                    bump("tls")
            # The marker may straddle two reads: keep a short tail.
            buf = tail[s] + data
            if not seen_marker and marker in buf:
                seen_marker = True
                bump("marker")
            tail[s] = buf[-len(marker):]
            (upstream if s is client else client).sendall(data)


def handle(client):
    try:
        client.settimeout(10)
        head = b""
        while b"\r\n\r\n" not in head and len(head) < 8192:
            chunk = client.recv(4096)
            if not chunk:
                return
            head += chunk
        line = head.split(b"\r\n", 1)[0].decode("latin-1").split()
        if len(line) != 3 or line[0] != "CONNECT" or ":" not in line[1]:
            bump("refused")
            client.sendall(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
            return
        host, port = line[1].rsplit(":", 1)
        target = ("127.0.0.1", redirect) if redirect else (host, int(port))
        if target[0] not in ("127.0.0.1", "localhost"):
            bump("refused")
            client.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
            return
        upstream = socket.create_connection(target, timeout=10)
        bump("tunnels")
        client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        rest = head.split(b"\r\n\r\n", 1)[1]
        if rest:
            upstream.sendall(rest)
        client.settimeout(None)
        upstream.settimeout(None)
        try:
            pump(client, upstream)
        finally:
            upstream.close()
    except OSError:
        pass
    finally:
        client.close()
        slots.release()


def main():
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)
    with lock:
        write_state()
    print("port %d" % srv.getsockname()[1], flush=True)
    while True:
        c, _ = srv.accept()
        slots.acquire()
        threading.Thread(target=handle, args=(c,), daemon=True).start()


main()
