# ruff: noqa: E501  (in-container probes read best on one line)
"""Red team: make the kernel's OOM killer pick the exec agent.

The agent (root) and the commands (uid 1000) share the container's memory cgroup, and
the agent's ``oom_score_adj`` is 0 like theirs (a command may raise its own, never lower
it). The OOM killer kills the task with the largest footprint: a command that fills the
memory limit with many forked processes, each smaller than the agent, makes the agent
the largest. The session is then lost (the host must say so cleanly), and a victim exec
running meanwhile must end with a genuine report or a session loss, never a made-up exit.

Run: .venv/bin/python -m tests.redteam_pending.oom_agent [runc|runsc]
Exit 1 when the agent was the one killed (a command can end its session at will; the
agent could set its own oom_score_adj to -1000 before it drops CAP_SYS_RESOURCE, or the
engine's ``oom_score_adj`` could be used, so that commands are always chosen first).
"""

from __future__ import annotations

import asyncio
import os
import sys
import time

from sandbox import DockerBackend, SandboxError, SessionSpec
from security import NetworkPolicy

HOG = r"""
import os, sys, time, signal
agent = None
for p in os.listdir("/proc"):
    if p.isdigit():
        try:
            if open(f"/proc/{p}/cmdline", "rb").read().startswith(b"python3\0-I\0-S\0-c"):
                agent = p
        except OSError:
            pass
def field(pid, name):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith(name + ":"):
            return line.split()[1]
print("agent", agent, "VmRSS kB", field(agent, "VmRSS"), "oom_score", open(f"/proc/{agent}/oom_score").read().strip(), "adj", open(f"/proc/{agent}/oom_score_adj").read().strip(), flush=True)
mine = int(field(os.getpid(), "VmRSS"))
agent_rss = int(field(agent, "VmRSS"))
chunk_kb = max(1024, agent_rss - mine - 4096)
print("own RSS kB", mine, "each child adds kB", chunk_kb, flush=True)
kids = []
end = time.time() + 40
try:
    while time.time() < end and len(kids) < 220:
        pid = os.fork()
        if pid == 0:
            b = bytearray(chunk_kb * 1024)
            for i in range(0, len(b), 4096):
                b[i] = 1
            time.sleep(60)
            os._exit(0)
        kids.append(pid)
        time.sleep(0.02)
        if not os.path.exists(f"/proc/{agent}"):
            print("agent gone after", len(kids), "children", flush=True)
            break
except OSError as e:
    print("fork stopped:", e, flush=True)
print("children", len(kids), flush=True)
time.sleep(3)
for k in kids:
    try:
        os.kill(k, signal.SIGKILL)
    except OSError:
        pass
"""


async def attack(runtime: str) -> bool:
    spec = SessionSpec(runtime=runtime, egress=NetworkPolicy(allow=["files.test"]))
    lost = False
    async with DockerBackend().session(spec) as s:
        victim = asyncio.create_task(
            s.exec(["sh", "-c", "sleep 20; echo genuine; exit 7"], timeout=60)
        )
        hog = asyncio.create_task(s.exec(["python3", "-c", HOG], timeout=90))
        for name, task in (("hog", hog), ("victim", victim)):
            try:
                r = await asyncio.wait_for(task, 120)
                print(
                    f"{name}: exit {r.exit_code} signal {r.signal} oom {r.oom_killed} error={r.error!r} out={r.stdout[-600:]!r}"
                )
            except SandboxError as exc:
                print(f"{name}: session error: {exc}")
                lost = True
        t0 = time.monotonic()
        try:
            alive = await asyncio.wait_for(s.exec(["echo", "alive"], timeout=10), 30)
            print("after:", alive.exit_code, alive.stdout, f"{time.monotonic() - t0:.2f} s")
        except (SandboxError, TimeoutError) as exc:
            print(f"after: {exc!r}")
            lost = True
    return lost


if __name__ == "__main__":
    os.environ["AIRLOCK_EGRESS_RESOLVE"] = "files.test=127.0.0.1"
    runtime = sys.argv[1] if len(sys.argv) > 1 else "runc"
    broken = asyncio.run(attack(runtime))
    print("BROKEN (the session was lost)" if broken else "held")
    sys.exit(1 if broken else 0)
