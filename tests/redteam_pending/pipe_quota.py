"""Red team: the kernel's per-user pipe quota is shared by every session (runc).

Commands of every session run as uid 1000 of the host's user namespace (no user
namespace remapping), so their pipes count against one ``fs.pipe-user-pages-soft``
(16384 pages, 64 MiB): once a command of session A holds 64 pipes of 1 MiB, every pipe
made for uid 1000 afterwards, in any session (the agent makes the command's stdio pipes
as uid 1000) and on the host, gets 2 pages instead of 16, and F_SETPIPE_SZ is refused.
The agents (root, also shared) are in the same position for the bridge's 1 MiB pipes.

``bridge``: session A holds 64 idle connections to its egress bridge (1 MiB pipes, two
per connection, as root): then session B's agent makes B's exec pipes small.

Run: .venv/bin/python -m tests.redteam_pending.pipe_quota [runc] [pipes|bridge]
Exit 1 when session B's pipes shrank while session A held its pipes.
"""

from __future__ import annotations

import asyncio
import os
import sys

from sandbox import DockerBackend, SessionSpec
from security import NetworkPolicy

HOG = r"""
import fcntl, os, sys, time
held = []
for i in range(int(sys.argv[1])):
    r, w = os.pipe()
    try:
        fcntl.fcntl(w, 1031, 1 << 20)
    except OSError as e:
        print("F_SETPIPE_SZ refused after", i, e, flush=True)
        break
    held.append((r, w))
print("holding", len(held), "pipes of 1 MiB", flush=True)
time.sleep(float(sys.argv[2]))
"""

BRIDGED = r"""
import socket, sys, time
held = [socket.create_connection(("127.0.0.1", 3128)) for _ in range(int(sys.argv[1]))]
print("holding", len(held), "idle connections to the bridge", flush=True)
time.sleep(float(sys.argv[2]))
"""

PROBE = r"""
import fcntl, os
r, w = os.pipe()
print("new pipe", fcntl.fcntl(w, 1032), "bytes", flush=True)
try:
    fcntl.fcntl(w, 1031, 1 << 20)
    print("F_SETPIPE_SZ 1 MiB ok")
except OSError as e:
    print("F_SETPIPE_SZ 1 MiB refused:", e)
print("own stdout pipe", fcntl.fcntl(1, 1032), "bytes", flush=True)
"""


async def attack(runtime: str, how: str) -> bool:
    backend = DockerBackend()
    egress = NetworkPolicy(allow=["files.test"]) if how == "bridge" else None
    async with (
        backend.session(SessionSpec(runtime=runtime, egress=egress)) as a,
        backend.session(SessionSpec(runtime=runtime)) as b,
    ):
        before = await b.exec(["python3", "-c", PROBE], timeout=30)
        print("session B before:", before.stdout.decode())
        program = BRIDGED if how == "bridge" else HOG
        hog = asyncio.create_task(a.exec(["python3", "-c", program, "64", "8"], timeout=60))
        await asyncio.sleep(4)
        during = await b.exec(["python3", "-c", PROBE], timeout=30)
        print("session B while A holds pipes:", during.stdout.decode())
        h = await hog
        print("session A:", h.stdout.decode(), h.stderr.decode()[-300:])
        return before.stdout != during.stdout


if __name__ == "__main__":
    runtime = sys.argv[1] if len(sys.argv) > 1 else "runc"
    how = sys.argv[2] if len(sys.argv) > 2 else "pipes"
    os.environ["AIRLOCK_EGRESS_RESOLVE"] = "files.test=127.0.0.1"
    broken = asyncio.run(attack(runtime, how))
    print("BROKEN" if broken else "held")
    sys.exit(1 if broken else 0)
