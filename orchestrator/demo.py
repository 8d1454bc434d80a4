"""`airlock demo`: the main job, until the agent loop exists.

Starts a hardened session container under each registered runtime and shows, from
inside, what the sandbox looks like: user, read-only root, workspace, network,
seccomp and capabilities.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from sandbox.engine import engine
from sandbox.hardening import container_settings
from sandbox.spec import SessionSpec

PROBE = r"""
echo "user        $(id -un) ($(id -u))"
echo "root fs     $(touch /etc/probe 2>&1 | sed 's/.*: //')"
size=$(df -m /workspace | awk 'NR==2{print $2}')
echo "workspace   $(touch /workspace/probe && echo writable), $size MB"
echo "interfaces  $(awk -F: 'NR>2{gsub(/ /,"",$1); printf "%s ", $1}' /proc/net/dev)"
echo "routes      $(($(wc -l < /proc/net/route) - 1))"
echo "seccomp     $(awk '/^Seccomp:/{print $2}' /proc/self/status) (2 = filtering)"
echo "caps        $(awk '/^CapEff:/{print $2}' /proc/self/status)"
echo "kernel      $(uname -sr)"
"""


def run_probe(runtime: Literal["runc", "runsc"], print_line: Callable[[str], None]) -> int:
    """Run the probe in a fresh hardened container; return its exit code."""
    spec = SessionSpec(runtime=runtime, labels={"airlock.purpose": "demo"})
    with engine() as client:
        container = client.containers.create(
            command=["bash", "-c", PROBE], **container_settings(spec)
        )
        try:
            container.start()
            exit_code = int(container.wait(timeout=60)["StatusCode"])
            for line in container.logs().decode(errors="replace").splitlines():
                print_line(line)
        finally:
            container.remove(force=True)
    return exit_code


def available_runtimes() -> list[Literal["runc", "runsc"]]:
    with engine() as client:
        registered = set(client.info().get("Runtimes", {}))
    return [r for r in ("runc", "runsc") if r in registered]
