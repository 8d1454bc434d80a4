# ruff: noqa: E501  (in-container probes read best on one line)
"""Red team: the agent's egress bridge on 127.0.0.1:3128 (`sandbox/egress_bridge.py`).

Inside one session, a command:

1. holds more idle connections than ``max_conns`` (and half-open ones), and counts how
   many the bridge resets;
2. meanwhile the host times an ``echo`` exec (the agent's exec service must not stall);
3. under the held connections, lists the agent's fds and tries to open each one (a
   socket to the proxy reopened through /proc would bypass the 0700 folder);
4. after releasing them: 8 parallel CONNECTs through the proxy to an echo server on the
   host's loopback (``files.test`` mapped to 127.0.0.1, every port), each sending 8 MiB
   of random bytes while a slow reader drains the echo, and compares the bytes (lost or
   reordered bytes break it).

Broken when the exec stalls > 5 s, a held connection past the limit is not refused
while others get through, an agent fd opens, or any echo differs.

Run: .venv/bin/python -m tests.redteam_pending.bridge_stress [runc|runsc] [CONNS] [BYTES] [hold|nohold]
(``runsc 1 200000 nohold``: one plain download of 200 kB, the smallest case that fails)
"""

from __future__ import annotations

import asyncio
import os
import struct
import sys
import time
from typing import Any

from sandbox import DockerBackend, SessionSpec
from security import NetworkPolicy

HOLD = r"""
import os, socket, sys, time, errno
n = int(sys.argv[1])
agent = None
for p in os.listdir("/proc"):
    if p.isdigit():
        try:
            if open(f"/proc/{p}/cmdline", "rb").read().startswith(b"python3\0-I\0-S\0-c"):
                agent = p
        except OSError:
            pass
held = []
for i in range(n):
    s = socket.socket()
    s.connect(("127.0.0.1", 3128))
    if i % 10 == 0:
        s.shutdown(socket.SHUT_WR)  # half-open: the bridge half-closes the proxy side
    held.append(s)
time.sleep(1.0)
reset = eof = alive = 0
for s in held:
    s.settimeout(0.05)
    try:
        d = s.recv(1)
        if d == b"":
            eof += 1
        else:
            alive += 1
    except socket.timeout:
        alive += 1
    except ConnectionResetError:
        reset += 1
print("held", n, "alive", alive, "reset", reset, "eof", eof, flush=True)
opened = []
try:
    fds = os.listdir(f"/proc/{agent}/fd")
except OSError as e:
    fds = [str(i) for i in range(0, 600)]
    print("agent fd list refused:", e, flush=True)
print("agent fds seen", len(fds), flush=True)
for fd in fds:
    try:
        h = os.open(f"/proc/{agent}/fd/{fd}", os.O_RDWR | os.O_NONBLOCK)
        try:
            link = os.readlink(f"/proc/{agent}/fd/{fd}")
        except OSError:
            link = "?"
        owner = os.stat(f"/proc/{agent}/fd/{fd}").st_uid
        opened.append((fd, link, owner))
        if owner != 1000 or "socket" in link:
            print("ROOT FD OPENED", fd, link, owner, flush=True)
        os.close(h)
    except OSError as e:
        pass
print("AGENT FDS OPENED", opened, flush=True)
time.sleep(float(sys.argv[2]))
for s in held:
    s.close()
print("released", flush=True)
"""

ECHO = r"""
import hashlib, os, socket, sys, threading, time
port, conns, size = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
results = []
def one(i):
    s = socket.create_connection(("127.0.0.1", 3128), timeout=120)
    import struct
    data = b"".join(struct.pack(">II", i, k) for k in range(size // 8))  # each word: connection, offset / 8
    head = f"POST http://files.test:{port}/echo HTTP/1.1\r\nHost: files.test:{port}\r\nContent-Length: {size}\r\nConnection: close\r\n\r\n".encode()
    def send():
        try:
            s.sendall(head)
            for k in range(0, size, 65536):
                s.sendall(data[k:k + 65536])
        except OSError as e:
            results.append((i, "send failed", repr(e)))
    t = threading.Thread(target=send); t.start()
    got = bytearray()
    while True:
        d = s.recv(4096 if i % 2 else 262144)  # half of them read slowly
        if not d:
            break
        got += d
        if i % 2 and len(got) % (1 << 20) < 4096:
            time.sleep(0.01)
    t.join()
    sep = got.find(b"\r\n\r\n")
    status, body = bytes(got[:sep]).split(b"\r\n")[0], bytes(got[sep + 4:])
    verdict = "same"
    if body != data:
        bad = next(k for k in range(0, min(len(body), len(data)), 8) if body[k:k + 8] != data[k:k + 8])
        words = [struct.unpack(">II", body[k:k + 8]) if len(body) >= k + 8 else None for k in range(bad, bad + 64, 8)]
        nbad = sum(1 for k in range(0, min(len(body), len(data)), 8) if body[k:k + 8] != data[k:k + 8])
        verdict = f"DIFFERENT {len(body)} vs {size}: first bad byte {bad}, {nbad} bad words, found there (conn, word): {words[:6]}"
    results.append((i, status.decode(), verdict))
ts = [threading.Thread(target=one, args=(i,)) for i in range(conns)]
t0 = time.time()
[t.start() for t in ts]
[t.join() for t in ts]
for r in sorted(results):
    print(r, flush=True)
print("ECHO took", round(time.time() - t0, 2), "s", flush=True)
"""


UPLOADS: list[str] = []


def _check_upload(body: bytes) -> None:
    """What reached the upstream: each 8-byte word must be (connection, its index)."""
    conn = struct.unpack(">I", body[:4])[0] if len(body) >= 4 else -1
    for k in range(0, len(body) - 7, 8):
        if struct.unpack(">II", body[k : k + 8]) != (conn, k // 8):
            found = [
                struct.unpack(">II", body[j : j + 8])
                for j in range(k, min(k + 48, len(body) - 7), 8)
            ]
            UPLOADS.append(f"upload of {conn}: first bad byte {k}, found {found}")
            return
    UPLOADS.append(f"upload of {conn}: same ({len(body)} bytes)")


async def _echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """A minimal HTTP server that answers a request with its own body."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
        upload = bytearray()
        length = 0
        for line in head.split(b"\r\n"):
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
            + f"Content-Length: {length}\r\nConnection: close\r\n\r\n".encode()
        )
        left = length
        while left:
            data = await reader.read(min(left, 1 << 16))
            if not data:
                break
            left -= len(data)
            upload += data
            writer.write(data)
            await writer.drain()
        await writer.drain()
        _check_upload(bytes(upload))
    except (OSError, asyncio.IncompleteReadError):
        pass
    finally:
        writer.close()


async def attack(runtime: str, conns: int = 8, size: int = 8 << 20, hold: bool = True) -> bool:
    server = await asyncio.start_server(_echo, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    spec = SessionSpec(runtime=runtime, egress=NetworkPolicy(allow=["files.test"]))
    broken = False
    async with DockerBackend().session(spec) as s:
        if hold:
            broken = await _hold(s)
        e = await s.exec(["python3", "-c", ECHO, str(port), str(conns), str(size)], timeout=240)
        eout = e.stdout.decode()
        print("echo:", e.exit_code, eout, e.stderr.decode()[-800:])
        print("\n".join(sorted(UPLOADS)))
        if any("bad" in u for u in UPLOADS):
            broken = True
        if "DIFFERENT" in eout or eout.count("same") != conns:
            broken = True
    server.close()
    return broken


async def _hold(s: Any) -> bool:
    """Steps 1-3: more connections than allowed, exec latency, the agent's fds."""
    broken = False
    if True:
        hold = asyncio.create_task(s.exec(["python3", "-c", HOLD, "150", "6"], timeout=90))
        await asyncio.sleep(3.0)
        worst = 0.0
        for _ in range(5):
            t0 = time.monotonic()
            r = await asyncio.wait_for(s.exec(["echo", "alive"], timeout=10), 30)
            worst = max(worst, time.monotonic() - t0)
            assert r.exit_code == 0
        print(f"exec latency with connections held: worst {worst * 1000:.0f} ms")
        h = await hold
        out = h.stdout.decode()
        print("holder:", h.exit_code, out, h.stderr.decode()[-800:])
        if worst > 5 or "ROOT FD OPENED" in out:
            broken = True
    return broken


if __name__ == "__main__":
    os.environ["AIRLOCK_EGRESS_RESOLVE"] = "files.test=127.0.0.1"
    runtime = sys.argv[1] if len(sys.argv) > 1 else "runc"
    conns = int(sys.argv[2]) if len(sys.argv) > 2 else 8
    size = int(sys.argv[3]) if len(sys.argv) > 3 else 8 << 20
    hold = (sys.argv[4] if len(sys.argv) > 4 else "hold") == "hold"
    broken = asyncio.run(attack(runtime, conns, size, hold))
    print("BROKEN" if broken else "held")
    sys.exit(1 if broken else 0)
