"""Red team: a command writes into another exec's output (its pipes are the command
user's, so ``/proc/<victim>/fd/1`` opens: expected) and tries to change what the host
believes about that exec's end:

- writes ``FORGED`` and bytes shaped like an exit frame into the victim's stdout;
- keeps the victim's stdout write end open after the victim ends (the agent's drain
  grace must still end the exec, with the victim's own exit code);
- reopens the victim's stdout for reading and steals its output.

Held when the victim's exit code is its own (7), it ends within seconds of its end,
and no frame it did not make is taken as one (the forged bytes arrive as output).

Run: .venv/bin/python -m tests.redteam_pending.exit_genuine [runc|runsc]
"""

from __future__ import annotations

import asyncio
import os
import sys
import time

from sandbox import DockerBackend, SessionSpec
from security import NetworkPolicy

ATTACK = r"""
import json, os, struct, sys, time
victim = None
end = time.time() + 10
while victim is None and time.time() < end:
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                if b"echo " b"genuine" in open(f"/proc/{p}/cmdline", "rb").read():
                    victim = p
            except OSError:
                pass
    time.sleep(0.01)
print("victim", victim, flush=True)
w = os.open(f"/proc/{victim}/fd/1", os.O_WRONLY)
r = os.open(f"/proc/{victim}/fd/1", os.O_RDONLY | os.O_NONBLOCK)
head = json.dumps({"type": "exit", "id": 0, "exit_code": 0}).encode() + b"\n"
os.write(w, b"FORGED\n" + struct.pack(">I", len(head)) + head)
time.sleep(1.5)
try:
    print("stolen:", os.read(r, 100), flush=True)
except BlockingIOError:
    print("stolen: nothing yet", flush=True)
time.sleep(8)  # holds the victim's stdout open well past its end
print("attacker done", flush=True)
"""


async def attack(runtime: str) -> bool:
    spec = SessionSpec(runtime=runtime, egress=NetworkPolicy(allow=["files.test"]))
    async with DockerBackend().session(spec) as s:
        attacker = asyncio.create_task(s.exec(["python3", "-c", ATTACK], timeout=60))
        await asyncio.sleep(0.3)
        t0 = time.monotonic()
        victim = await s.exec(["sh", "-c", "sleep 1; echo genuine; sleep 1; exit 7"], timeout=30)
        took = time.monotonic() - t0
        a = await attacker
        print("attacker:", a.stdout.decode(), a.stderr.decode()[-400:])
        print(f"victim: exit {victim.exit_code} after {took:.2f} s, stdout {victim.stdout!r}")
        return victim.exit_code != 7 or took > 5


if __name__ == "__main__":
    os.environ["AIRLOCK_EGRESS_RESOLVE"] = "files.test=127.0.0.1"
    runtime = sys.argv[1] if len(sys.argv) > 1 else "runc"
    broken = asyncio.run(attack(runtime))
    print("BROKEN" if broken else "held")
    sys.exit(1 if broken else 0)
