# ruff: noqa: E501  (in-container probes read best on one line)
"""Red team of the egress handoff (`sandbox/egress_handoff.py`, `hand_off`) under runc.

From a command (uid 1000):
1. connect to /run/airlock-egress/handoff.sock and proxy.sock (must be refused);
2. policy through the handoff: an allowed GET (200), a disallowed host, an IP literal,
   a CONNECT to a disallowed host (all must be refused);
3. its own end: urgent (MSG_OOB) data inside a request head, half-close right after the
   head, a reset (SO_LINGER 0) mid-head; the proxy must still answer the next request;
4. flood: open connections to 127.0.0.1:3128 as fast as it can for 6 s, holding them and
   reading nothing. With the bridge, the agent reset every connection past ``max_conns``
   (128) inside the container; with the handoff the agent forgets each connection once
   passed (``self.bridges`` holds only the passing), so that bound no longer holds: every
   connection becomes a descriptor of the host's proxy (this process here; the proxy
   answers 503 past its 64 and lingers). This script samples its own fd count meanwhile.
   Broken when the host proxy held more than 2 x (64 + 128) descriptors at once.

Run: .venv/bin/python -m tests.redteam_pending.handoff_flood
Exit 1 while broken.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

from sandbox import DockerBackend, SessionSpec
from security import NetworkPolicy

HOST_FD_BOUND = 2 * (64 + 128)

POLICY = r"""
import socket, time
def ask(raw, oob=None, half=False, rst=False):
    s = socket.create_connection(('127.0.0.1', 3128), timeout=15)
    if oob:
        s.send(raw[:10]); s.send(oob, socket.MSG_OOB); s.send(raw[10:])
    else:
        s.sendall(raw)
    if half: s.shutdown(socket.SHUT_WR)
    if rst:
        import struct
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0)); s.close(); return 'reset'
    data = b''
    try:
        while True:
            c = s.recv(65536)
            if not c: break
            data += c
    except OSError as e:
        data += repr(e).encode()
    s.close()
    return data.split(b'\r\n', 1)[0].decode(errors='replace')
for path in ['/run/airlock-egress/handoff.sock', '/run/airlock-egress/proxy.sock']:
    u = socket.socket(socket.AF_UNIX)
    try:
        u.connect(path); print('UNIX', path, 'CONNECTED')
    except OSError as e:
        print('UNIX', path, 'refused', e.strerror)
P = PORT
print('ALLOWED', ask(b'GET http://files.test:%d/ HTTP/1.1\r\nHost: files.test:%d\r\nConnection: close\r\n\r\n' % (P, P)))
print('DISALLOWED', ask(b'GET http://evil.test/ HTTP/1.1\r\nHost: evil.test\r\nConnection: close\r\n\r\n'))
print('IPLITERAL', ask(b'GET http://127.0.0.1:%d/ HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n' % P))
print('CONNECTBAD', ask(b'CONNECT evil.test:443 HTTP/1.1\r\nHost: evil.test:443\r\n\r\n'))
print('OOB', ask(b'GET http://files.test:%d/ HTTP/1.1\r\nHost: files.test:%d\r\nConnection: close\r\n\r\n' % (P, P), oob=b'X'))
print('OOBHOST', ask(b'GET http://evil.test/ HTTP/1.1\r\nHost: evil.test\r\nConnection: close\r\n\r\n', oob=b'f'))
print('HALF', ask(b'GET http://files.test:%d/ HTTP/1.1\r\nHost: files.test:%d\r\nConnection: close\r\n\r\n' % (P, P), half=True))
print('RST', ask(b'GET http://files.test:%d/ HTTP/1.1\r\nHo' % P, rst=True))
time.sleep(0.5)
print('AFTER', ask(b'GET http://files.test:%d/ HTTP/1.1\r\nHost: files.test:%d\r\nConnection: close\r\n\r\n' % (P, P)))
"""

FLOOD = r"""
import resource, socket, time
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
held, errors = [], {}
end = time.monotonic() + 6
while time.monotonic() < end:
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1)
    try:
        s.connect(('127.0.0.1', 3128)); held.append(s)
    except OSError as e:
        errors[e.strerror] = errors.get(e.strerror, 0) + 1; s.close()
        if e.strerror == 'Too many open files': time.sleep(0.01)
print('nofile', soft, hard, 'opened', len(held), 'errors', errors, flush=True)
time.sleep(2)
"""


def fd_count() -> int:
    return sum(1 for _ in Path("/proc/self/fd").iterdir())


async def main() -> int:
    upstream_port = 18000 + os.getpid() % 1000
    server = subprocess.Popen(
        [sys.executable, "-m", "http.server", "--bind", "127.0.0.1", str(upstream_port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd="/tmp",
    )
    os.environ["AIRLOCK_EGRESS_RESOLVE"] = f"files.test:{upstream_port}=127.0.0.1"
    broken: list[str] = []
    try:
        await asyncio.sleep(1.0)
        spec = SessionSpec(
            image="airlock/dev", runtime="runc", egress=NetworkPolicy(allow=["files.test"])
        )
        async with DockerBackend().session(spec) as s:
            print("spawns_through", s.channel.spawns_through)
            r = await s.exec(
                ["python3", "-c", POLICY.replace("PORT", str(upstream_port))], timeout=120
            )
            out = r.stdout.decode(errors="replace")
            print(out, r.stderr.decode(errors="replace")[-500:])
            lines = dict(line.split(" ", 1) for line in out.splitlines() if " " in line)
            if "CONNECTED" in out:
                broken.append("a unix socket of the proxy connected")
            if " 200 " not in lines.get("ALLOWED", ""):
                print("(baseline allowed request failed)")
            for key in ("DISALLOWED", "IPLITERAL", "CONNECTBAD", "OOBHOST"):
                if " 200 " in lines.get(key, ""):
                    broken.append(f"{key}: {lines[key]}")
            if " 200 " not in lines.get("AFTER", ""):
                broken.append(f"proxy not answering after reset: {lines.get('AFTER')}")
            base = fd_count()
            peak = base
            flood = asyncio.ensure_future(s.exec(["python3", "-c", FLOOD], timeout=60))
            while not flood.done():
                peak = max(peak, fd_count())
                await asyncio.sleep(0.05)
            r = flood.result()
            print(
                "flood:",
                r.stdout.decode(errors="replace").strip(),
                r.stderr.decode(errors="replace")[-300:],
            )
            print(f"host process fds: before {base}, peak {peak} (+{peak - base})")
            await asyncio.sleep(3)
            print("host process fds 3 s later:", fd_count())
            r = await s.exec(
                ["python3", "-c", POLICY.replace("PORT", str(upstream_port))], timeout=120
            )
            print(
                "after flood:",
                [
                    ln
                    for ln in r.stdout.decode(errors="replace").splitlines()
                    if ln.startswith(("ALLOWED", "AFTER"))
                ],
            )
            if peak - base > HOST_FD_BOUND:
                broken.append(
                    f"host proxy held {peak - base} descriptors of one session at once (bound by the agent before: {64 + 128})"
                )
    finally:
        server.terminate()
        server.wait()
    print("BROKEN:" if broken else "HELD", *broken, sep="\n  ")
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
