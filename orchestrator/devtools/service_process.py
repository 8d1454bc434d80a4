"""An `airlock serve` of the bench's own: a child process on 127.0.0.1, a free port and a
temporary data folder, tokens from `airlock token create`, stopped with everything it
holds however the bench ends.

The child runs in a process group of its own, so a Ctrl-C reaches the bench only, and
the bench stops it: SIGTERM (the service ends its sessions and its warm pool), then
SIGKILL if it does not go, after which its containers (labelled with its pid as their
owner) are removed here.
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from orchestrator.devtools.ci_job import find_airlock

STOP_S = 60.0  # a graceful stop ends every session; past this, SIGKILL
START_S = 60.0


class ServiceStartError(RuntimeError):
    """The service did not come up."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class RunningService:
    url: str
    data: Path
    process: subprocess.Popen[bytes]
    log: Path  # its stderr (uvicorn logs there)

    def token(self, tenant: str, role: str = "runner") -> str:
        """A new token, made by `airlock token create`."""
        argv = [find_airlock(), "token", "create", "--data", str(self.data),
                "--tenant", tenant, "--role", role]  # fmt: skip
        made = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=True)
        return made.stdout.strip()

    def metrics(self) -> dict[str, float]:
        """Its /metrics, unlabelled series only, by name."""
        with urllib.request.urlopen(f"{self.url}/metrics", timeout=30) as answer:  # noqa: S310 (loopback)
            text = answer.read().decode()
        found: dict[str, float] = {}
        for line in text.splitlines():
            name, _, value = line.partition(" ")
            if line and not line.startswith("#") and "{" not in name:
                found[name] = float(value)
        return found


def _wait_healthy(running: RunningService) -> None:
    deadline = time.monotonic() + START_S
    while True:
        if running.process.poll() is not None:
            tail = running.log.read_text(errors="replace")[-2000:]
            raise ServiceStartError(f"`airlock serve` exited {running.process.returncode}: {tail}")
        try:
            with urllib.request.urlopen(f"{running.url}/healthz", timeout=5):  # noqa: S310
                return
        except OSError:
            if time.monotonic() > deadline:
                raise ServiceStartError(f"the service did not answer in {START_S:g} s") from None
            time.sleep(0.1)


def _stop(running: RunningService) -> None:
    process = running.process
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(STOP_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(STOP_S)
    _remove_containers_of(process.pid)


def _remove_containers_of(pid: int) -> None:
    """Whatever a killed service left (none after a graceful stop)."""
    from sandbox import labels
    from sandbox.engine import connect

    client = connect()
    owned: dict[str, str | list[str] | bool] = {
        "label": [f"{labels.MANAGED}=1", f"{labels.OWNER_PID}={pid}"]
    }
    for container in client.containers.list(all=True, filters=owned):
        with contextlib.suppress(Exception):
            container.remove(force=True)


@contextlib.contextmanager
def running_service(max_sessions: int, warm: int) -> Iterator[RunningService]:
    """A started service; stopped, its containers and its folder gone, on exit."""
    folder = Path(tempfile.mkdtemp(prefix="airlock-bench-service-"))
    port = free_port()
    argv = [find_airlock(), "serve", "--data", str(folder / "state"), "--host",
            "127.0.0.1", "--port", str(port), "--max-sessions", str(max_sessions),
            "--warm", str(warm)]  # fmt: skip
    log = folder / "serve.log"
    try:
        with log.open("wb") as sink:
            process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                       stderr=sink, start_new_session=True)  # fmt: skip
        running = RunningService(f"http://127.0.0.1:{port}", folder / "state", process, log)
        try:
            _wait_healthy(running)
            yield running
        finally:
            _stop(running)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
