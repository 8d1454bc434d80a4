"""Red team: every exec's child, between its change of user and its execve, is a copy
of the agent running as uid 1000 (CPython's `_posixsubprocess` calls setreuid, then the
``preexec_fn`` — `_child_setup` when the exec has a cwd, or confinement — then closes
the fds and execs), while the agent blocks in `subprocess.Popen` reading the child's
exec-status pipe.

A background command scans /proc for such a child (parent: the agent, uid 1000, the
agent's command line) and:

- ``stop``: SIGSTOPs it: the agent's event loop stays blocked in Popen (no other exec
  answers) until the attacker's SIGCONT;
- ``fds``: stops it and opens every fd the copy holds (the agent's, channel included);
- ``term``: SIGTERMs it: the copy's Python handler writes into the agent's wake-up
  socket, and the agent ends the session.

The host starts execs with ``cwd`` (so a Python ``preexec_fn`` runs in the window) one
after another; when one takes over 5 s it checks whether the agent still answers.

Run: .venv/bin/python -m tests.redteam_pending.popen_window [runc|runsc] [stop|term|fds] [nocwd]
(``nocwd``: execs without a cwd, so no Python ``preexec_fn``: the window is C code alone)
Exit 1 when the agent froze or the session ended.
"""

from __future__ import annotations

import asyncio
import sys
import time

from sandbox import DockerBackend, SandboxError, SessionSpec

WATCHER = r"""
import os, signal, sys, time
mode, hold = sys.argv[1], float(sys.argv[2])
agent = None
for p in os.listdir("/proc"):
    if p.isdigit():
        try:
            if open(f"/proc/{p}/cmdline", "rb").read().startswith(b"python3\0-I\0-S\0-c"):
                agent = p
        except OSError:
            pass
me = str(os.getpid())
print("agent", agent, flush=True)
end = time.time() + 40
while time.time() < end:
    for p in os.listdir("/proc"):
        if not p.isdigit() or p == me:
            continue
        try:
            st = open(f"/proc/{p}/stat", "rb").read()
            ppid = st[st.rfind(b")") + 2:].split()[1].decode()
            if ppid != agent:
                continue
            if not open(f"/proc/{p}/cmdline", "rb").read().startswith(b"python3\0-I\0-S\0-c"):
                continue
            uid = [l for l in open(f"/proc/{p}/status") if l.startswith("Uid:")][0].split()[1]
        except (OSError, IndexError):
            continue
        if uid != "1000":
            continue
        sig = signal.SIGTERM if mode == "term" else signal.SIGSTOP
        try:
            os.kill(int(p), sig)
        except OSError as e:
            print("missed", p, e, flush=True)
            continue
        time.sleep(0.05)  # the stop lands: is it still the agent's copy (before its execve)?
        try:
            still = open(f"/proc/{p}/cmdline", "rb").read().startswith(b"python3\0-I\0-S\0-c")
        except OSError:
            still = False
        if mode != "term" and not still:  # it had exec'd already: let it go, try again
            try:
                os.kill(int(p), signal.SIGCONT)
            except ProcessLookupError:
                pass
            print("late for", p, flush=True)
            continue
        print("sent", sig.name, "to the pre-exec child", p, "agent copy:", still, flush=True)
        if mode == "fds":  # the stopped copy holds every agent fd, as uid 1000
            try:
                fds = os.listdir(f"/proc/{p}/fd")
            except OSError as e:
                print("fd list refused:", e, flush=True)
                fds = [str(i) for i in range(64)]
            for fd in fds:
                path = f"/proc/{p}/fd/{fd}"
                try:
                    link = os.readlink(path)
                except OSError as e:
                    link = e.strerror
                try:
                    h = os.open(path, os.O_RDWR | os.O_NONBLOCK)
                    owner = os.fstat(h).st_uid
                    os.close(h)
                    mine = owner == 1000 or link == "/dev/null"
                    print("opened own" if mine else "OPENED", fd, link, owner, flush=True)
                except OSError as e:
                    print("refused", fd, link, e.strerror, flush=True)
        if mode != "term":
            time.sleep(hold)
            os.kill(int(p), signal.SIGCONT)
            print("SIGCONT", flush=True)
        sys.exit(0)
print("window never hit", flush=True)
sys.exit(5)
"""


async def attack(runtime: str, mode: str, cwd: str | None) -> bool:
    async with DockerBackend().session(SessionSpec(runtime=runtime)) as s:
        watcher = asyncio.create_task(s.exec(["python3", "-c", WATCHER, mode, "15"], timeout=60))
        await asyncio.sleep(1.0)
        broken = False
        t_end = time.monotonic() + 35
        count = 0
        while time.monotonic() < t_end and not watcher.done():
            count += 1
            t0 = time.monotonic()
            task = asyncio.create_task(s.exec(["true"], cwd=cwd, timeout=5))
            try:
                await asyncio.wait_for(asyncio.shield(task), 6)
                continue
            except SandboxError as exc:
                print(f"exec {count}: {exc}")
                broken = True
                break
            except TimeoutError:
                pass
            print(f"exec {count} did not end in {time.monotonic() - t0:.1f} s; is the agent alive?")
            try:
                await asyncio.wait_for(s.exec(["echo", "alive"], timeout=2), 4)
                print("agent answered")
            except (TimeoutError, SandboxError) as exc:
                print(f"agent frozen: {exc!r}")
                broken = True
            await asyncio.wait_for(task, 60)
            break
        print("execs started:", count)
        try:
            w = await asyncio.wait_for(watcher, 60)
            print("watcher:", w.exit_code, w.stdout.decode(), w.stderr.decode()[-300:])
            if b"OPENED" in w.stdout:
                broken = True
        except (SandboxError, TimeoutError) as exc:
            print("watcher:", repr(exc))
            broken = True
        return broken


if __name__ == "__main__":
    runtime = sys.argv[1] if len(sys.argv) > 1 else "runc"
    which = sys.argv[2] if len(sys.argv) > 2 else "stop"
    cwd = None if "nocwd" in sys.argv[3:] else "/workspace"
    broken = asyncio.run(attack(runtime, which, cwd))
    print("BROKEN" if broken else "held")
    sys.exit(1 if broken else 0)
