# ruff: noqa: E501  (in-container probes read best on one line)
"""Red team of the setpriv spawn's waiting and descriptors (`sandbox/user_helper.py`).

A background command (uid 1000) watches /proc for every new process and, the moment it
sees one whose cmdline is ``/usr/bin/setpriv`` or ``/usr/bin/env -i`` (the spawn's
intermediate stages), sends it SIGSTOP, tries to open its fd/ entries and to ptrace it.
Meanwhile the host runs 30 ``echo`` execs (timeout 5) and a command listing its own
fds while connections go through the egress handoff. The 30 echoes run concurrently (0.1 s
apart): broken when one is lost, or the ones not stopped are held up (the agent waited
on a stopped process), an fd above 2 of a spawn stage was opened (0-2 are that exec's own
pipes, the user's: expected), a ptrace attach succeeded, or a command saw an fd above 2.

Run: .venv/bin/python -m tests.redteam_pending.spawn_race
Exit 1 while broken.
"""

from __future__ import annotations

import asyncio
import sys
import time

from sandbox import DockerBackend, SessionSpec
from security import NetworkPolicy

WATCH = r"""
import ctypes, os, signal, time
libc = ctypes.CDLL(None, use_errno=True)
seen, me = set(os.listdir('/proc')), os.getpid()
stopped = opened = traced = 0
end = time.monotonic() + 25
while time.monotonic() < end:
    for p in os.listdir('/proc'):
        if not p.isdigit() or p in seen: continue
        try:
            cmd = open(f'/proc/{p}/cmdline','rb').read()
        except OSError:
            continue
        if not cmd.startswith((b'/usr/bin/setpriv', b'/usr/bin/env\0-i')):
            if cmd: seen.add(p)
            continue
        seen.add(p)
        try:
            os.kill(int(p), signal.SIGSTOP); stopped += 1
        except OSError:
            pass
        for fd in range(3, 16):  # 0-2: that exec's own pipes, the user's (expected)
            try:
                os.close(os.open(f'/proc/{p}/fd/{fd}', os.O_RDONLY)); opened += 1; print('OPENED', p, fd, cmd[:40], flush=True)
            except OSError:
                pass
        if libc.ptrace(16, int(p), 0, 0) == 0:
            traced += 1; print('TRACED', p, cmd[:40], flush=True)
            libc.ptrace(17, int(p), 0, 0)
print('stopped', stopped, 'opened', opened, 'traced', traced, flush=True)
"""

FDS = "import os; print(sorted(int(x) for x in os.listdir('/proc/self/fd')))"
HAMMER = r"""
import socket, time
end = time.monotonic() + 8
while time.monotonic() < end:
    try:
        s = socket.create_connection(('127.0.0.1', 3128), timeout=2); s.close()
    except OSError:
        pass
"""


async def main() -> int:
    spec = SessionSpec(
        image="airlock/dev", runtime="runc", egress=NetworkPolicy(allow=["files.test"])
    )
    broken: list[str] = []
    async with DockerBackend().session(spec) as s:
        print("spawns_through", s.channel.spawns_through)
        watcher = asyncio.ensure_future(s.exec(["python3", "-c", WATCH], timeout=60))
        await asyncio.sleep(1.0)

        async def echo(i: int) -> tuple[int, float, int | None]:
            await asyncio.sleep(0.1 * i)
            began = time.monotonic()
            r = await asyncio.wait_for(s.exec(["echo", str(i)], timeout=5), 15)
            return i, time.monotonic() - began, r.exit_code

        done = await asyncio.gather(*(echo(i) for i in range(30)), return_exceptions=True)
        quick = [d for d in done if isinstance(d, tuple) and d[1] < 1.0]
        stuck = [d for d in done if isinstance(d, tuple) and d[1] >= 1.0]
        lost = [d for d in done if not isinstance(d, tuple)]
        print(
            f"echoes: {len(quick)} under 1 s, stopped ones {[(i, round(t, 1), c) for i, t, c in stuck]}, lost {lost}"
        )
        if lost:
            broken.append(f"{len(lost)} echoes never answered")
        if stuck and len(quick) < 30 - len(stuck):
            broken.append("echoes behind a stopped one were held up")
        slow = len(stuck)
        hammer = asyncio.ensure_future(s.exec(["python3", "-c", HAMMER], timeout=30))
        await asyncio.sleep(0.5)
        for _ in range(20):
            r = await s.exec(["python3", "-c", FDS], timeout=30)
            fds = r.stdout.decode().strip()
            print("command fds:", fds)
            if fds and fds.splitlines()[-1] not in ("[0, 1, 2, 3]",):  # 3: the listing itself
                broken.append(f"command fds {fds}")
        await hammer
        w = await watcher
        out = w.stdout.decode(errors="replace")
        print("watcher:", out.strip()[-400:], w.stderr.decode(errors="replace")[-300:])
        if "OPENED" in out or "TRACED" in out:
            broken.append("an intermediate stage's fds opened or traced")
        if slow:
            print(
                f"{slow} echoes took more than 4 s (stopped before their command: killed at timeout)"
            )
    print("BROKEN:" if broken else "HELD", *broken, sep="\n  ")
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
