# ruff: noqa: E501  (raw protocol bytes and shell probes read best on one line)
"""Probe: the session's environment, HOME, and what clients see."""

import asyncio
import os
import sys

from sandbox import DockerBackend, SessionSpec
from security import NetworkPolicy


async def main(runtime: str) -> None:
    spec = SessionSpec(runtime=runtime, egress=NetworkPolicy(allow=["files.test"]))
    async with DockerBackend().session(spec) as s:
        for argv in (
            ["env"],
            [
                "sh",
                "-c",
                "id; ls -ld $HOME /home/agent /tmp /workspace; touch $HOME/x; ip a 2>&1 || cat /proc/net/if_inet6 /proc/net/dev; curl --version | head -1; wget --version | head -1; pip --version; npm --version; cat /proc/sys/kernel/yama/ptrace_scope; cat /proc/net/unix | head -20",
            ],
        ):
            r = await s.exec(argv)
            print(r.exit_code, r.stdout.decode(), r.stderr.decode())


if __name__ == "__main__":
    os.environ["AIRLOCK_EGRESS_RESOLVE"] = "files.test=127.0.0.1"
    asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else "runc"))
