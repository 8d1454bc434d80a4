"""Limits and faults: what a hostile command can do to a session, and what it cannot."""

from __future__ import annotations

import asyncio
import os
import resource
import signal
import subprocess
import sys
import time

import docker
import pytest

from sandbox import labels
from sandbox.docker_backend import DockerBackend, DockerSession
from sandbox.reaper import reap
from sandbox.spec import Limits, SessionSpec

pytestmark = pytest.mark.integration

SMALL = SessionSpec(limits=Limits(memory_mb=256, pids=64, workspace_mb=16, ttl_seconds=600))


def in_session(body: object, spec: SessionSpec = SMALL) -> None:
    async def main() -> None:
        async with DockerBackend().session(spec) as session:
            await body(session)  # type: ignore[operator]

    asyncio.run(main())


def test_privileges_are_gone() -> None:
    async def body(s: DockerSession) -> None:
        status = (await s.exec("grep -E '^(NoNewPrivs|CapEff|Seccomp):' /proc/self/status")).text
        assert "NoNewPrivs:\t1" in status and "CapEff:\t0000000000000000" in status
        assert "Seccomp:\t2" in status
        for attempt in ("unshare -r true", "unshare -m true", "mount -t tmpfs none /tmp"):
            result = await s.exec(attempt)
            assert result.exit_code != 0, attempt

    in_session(body)


def test_fork_bomb_hits_the_pids_limit_and_the_session_survives() -> None:
    async def body(s: DockerSession) -> None:
        bomb = await s.exec("bomb() { bomb | bomb & }; bomb; sleep 2", timeout=4)
        assert bomb.timed_out or bomb.exit_code is not None
        for _ in range(20):  # the killed processes take a moment to go
            after = await s.exec("echo alive")
            if after.stdout == b"alive\n":
                break
            await asyncio.sleep(0.25)
        assert after.stdout == b"alive\n"

    in_session(body)


def test_memory_bomb_is_oom_killed_and_reported() -> None:
    async def body(s: DockerSession) -> None:
        result = await s.exec("python3 -c \"x = bytearray(600 * 2**20); x[::4096] = b'1' * "
                              "len(x[::4096]); print('survived')\"", timeout=60)  # fmt: skip
        assert result.signal == 9 and result.oom_killed, result
        assert result.status == "oom"
        assert (await s.exec("echo still-here")).stdout == b"still-here\n"

    in_session(body)


def test_filling_the_workspace_stops_at_its_size() -> None:
    async def body(s: DockerSession) -> None:
        result = await s.exec("head -c 40000000 /dev/zero > /workspace/big")
        assert result.exit_code != 0 and b"No space left" in result.stderr
        size = int((await s.exec("wc -c < /workspace/big")).text)
        assert size <= 16 * 2**20

    in_session(body)


def test_an_output_flood_is_capped_without_growing_our_memory() -> None:
    async def body(s: DockerSession) -> None:
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        result = await s.exec("timeout 10 yes", max_output=1_000_000, timeout=30)
        grown_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
        assert result.stdout_truncated and len(result.stdout) == 1_000_000
        assert grown_kb < 64 * 1024, f"orchestrator grew {grown_kb} KiB"

    in_session(body)


def test_timeout_kills_the_whole_tree() -> None:
    async def body(s: DockerSession) -> None:
        result = await s.exec("sleep 100 & sleep 100 & echo started; wait", timeout=1)
        assert result.timed_out and result.stdout == b"started\n"
        left = await s.exec("ps -eo comm | grep -c '^sleep$' || true")
        assert left.text.strip() == "0"

    in_session(body)


def test_twenty_sessions_at_once() -> None:
    async def main() -> None:
        backend = DockerBackend()
        started = await asyncio.gather(
            *(backend.start(SMALL) for _ in range(20)), return_exceptions=True
        )
        sessions = [s for s in started if isinstance(s, DockerSession)]
        try:
            failures = [s for s in started if isinstance(s, BaseException)]
            assert not failures, f"{len(failures)} of 20 starts failed: {failures[0]!r}"

            async def work(index: int, s: DockerSession) -> list[bytes]:
                return [(await s.exec(f"echo {index}-{i}")).stdout for i in range(5)]

            outputs = await asyncio.gather(*(work(i, s) for i, s in enumerate(sessions)))
            for index, lines in enumerate(outputs):
                assert lines == [f"{index}-{i}\n".encode() for i in range(5)]
        finally:
            await asyncio.gather(*(s.close() for s in sessions))

    asyncio.run(main())


ORCHESTRATOR = """
import asyncio, sys
from sandbox.docker_backend import DockerBackend
from sandbox.spec import SessionSpec
async def main():
    backend = DockerBackend()
    for _ in range(2):
        s = await backend.start(SessionSpec(labels={"crash-test": sys.argv[1]}))
        print(s.id, flush=True)
    await asyncio.sleep(600)
asyncio.run(main())
"""


def test_a_killed_orchestrator_leaves_nothing_after_the_reaper(
    docker_client: docker.DockerClient,
) -> None:
    tag = f"crash-{os.getpid()}-{time.time_ns()}"
    child = subprocess.Popen([sys.executable, "-c", ORCHESTRATOR, tag], stdout=subprocess.PIPE,
                             text=True)  # fmt: skip
    assert child.stdout is not None
    started = [child.stdout.readline().strip() for _ in range(2)]
    assert all(started)
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    found = docker_client.containers.list(all=True, filters={"label": f"crash-test={tag}"})
    assert len(found) == 2  # left behind by the dead orchestrator
    reaped = {item.session for item in reap(docker_client) if item.removed}
    assert set(started) <= reaped
    assert docker_client.containers.list(all=True, filters={"label": f"crash-test={tag}"}) == []
    assert all(c.labels.get(labels.SESSION) not in started
               for c in docker_client.containers.list(all=True))  # fmt: skip
