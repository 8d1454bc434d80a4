"""Faults that kill or starve the orchestrator itself.

- SIGKILL of an orchestrator process with live sessions (and a sub-agent's fork):
  once the reaper runs, none of its containers is left.
- The audit log's disk fills up during a run: the run stops with a clear error, and
  every record written before the disk filled still verifies.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from orchestrator.events.audit import AuditLog, verify
from orchestrator.events.bus import EventBus
from orchestrator.testing.replay import parse_replay
from sandbox import labels
from sandbox.reaper import reap
from tests.integration.agent_harness import run_agent_async

pytestmark = pytest.mark.integration

ORCHESTRATOR = textwrap.dedent(
    """
    import asyncio, sys
    from sandbox.docker_backend import DockerBackend
    from sandbox.spec import SessionSpec

    async def main():
        backend = DockerBackend()
        first = await backend.start(SessionSpec())
        second = await backend.start(SessionSpec())
        child = await first.fork()
        print(first.id, second.id, child.id, flush=True)
        await asyncio.sleep(300)

    asyncio.run(main())
    """
)


def test_a_killed_orchestrator_leaves_nothing_once_the_reaper_runs(
    docker_client: docker.DockerClient,
) -> None:
    process = subprocess.Popen(
        [sys.executable, "-c", ORCHESTRATOR], stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        sessions = process.stdout.readline().split()
        assert len(sessions) == 3, "the orchestrator did not start its sessions"
        mine = [f"{labels.OWNER_PID}={process.pid}"]
        assert len(docker_client.containers.list(filters={"label": mine})) == 3
    finally:
        process.send_signal(signal.SIGKILL)  # no cleanup code runs
        process.wait(timeout=10)
    left = docker_client.containers.list(all=True, filters={"label": mine})
    assert len(left) == 3  # SIGKILL ran no cleanup: the containers are orphans now
    reaped = {r.session: r.reason for r in reap(docker_client) if r.removed}
    # another orchestrator on this engine (a concurrent run) may sweep some of them first
    for session in set(sessions) & reaped.keys():
        assert f"owner pid {process.pid} is gone" == reaped[session]
    assert docker_client.containers.list(all=True, filters={"label": mine}) == []


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A 64 KB tmpfs (the tests run as root on this machine's engine host)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mount = tmp_path / "disk"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_full_audit_disk_stops_the_run_and_keeps_what_was_written(tiny_disk: Path) -> None:
    call = {"tool_use": {"name": "Bash", "input": {"command": "seq 500"}}}
    chatty = {"content": [{"text": "x" * 2000}, call]}
    replay = parse_replay({"responses": [chatty] * 200})
    path = tiny_disk / "events.jsonl"

    async def scenario() -> str:
        bus = EventBus()
        with AuditLog(path) as audit:
            bus.subscribe(audit.write, critical=True)
            run = await run_agent_async(replay, "fill the disk", bus=bus, max_retries=2)
        assert run.result.outcome == "error"
        return run.result.error or ""

    try:
        error = asyncio.run(scenario())
    except OSError as exc:  # closing the log on a full disk may fail too: that is fine
        error = str(exc)
    assert "No space left on device" in error or "could not be recorded" in error
    report = verify(path)
    # every complete record verifies; at most the one being written when the disk
    # filled is cut off, and it is the last line
    assert report.records > 10
    assert report.ok or report.first_bad_line == report.records + 1, report
