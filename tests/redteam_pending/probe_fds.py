"""Probe: which processes in a session hold the exec channel, and can a command open them."""

import asyncio
import os
import sys

from sandbox import DockerBackend, SessionSpec
from security import NetworkPolicy

PROBE = r"""
import os
for pid in sorted(int(p) for p in os.listdir("/proc") if p.isdigit()):
    try:
        cmd = open(f"/proc/{pid}/cmdline","rb").read().replace(b"\0", b" ")[:60]
    except Exception as e:
        cmd = repr(e)
    st = {}
    for line in open(f"/proc/{pid}/status"):
        if line.startswith(("Uid","PPid")): st[line.split(":")[0]] = line.split()[1]
    fds = {}
    for fd in ("0", "1", "2"):
        try:
            fds[fd] = os.readlink(f"/proc/{pid}/fd/{fd}")
        except Exception as e:
            fds[fd] = type(e).__name__
    w = None
    try:
        f = os.open(f"/proc/{pid}/fd/1", os.O_WRONLY | os.O_NONBLOCK); w = "OPENED"; os.close(f)
    except Exception as e:
        w = type(e).__name__
    print(pid, st, cmd, fds, "write fd1:", w)
"""


async def main(runtime: str) -> None:
    spec = SessionSpec(runtime=runtime, egress=NetworkPolicy(allow=["files.test"]))
    async with DockerBackend().session(spec) as s:
        r = await s.exec(["python3", "-c", PROBE])
        print(r.stdout.decode(), r.stderr.decode())


if __name__ == "__main__":
    os.environ["AIRLOCK_EGRESS_RESOLVE"] = "files.test=127.0.0.1"
    asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else "runc"))
