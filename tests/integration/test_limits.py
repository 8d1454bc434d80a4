"""ResourceLimits and faults: what a hostile command can do to a session, and what it cannot."""

from __future__ import annotations

import asyncio
import os
import resource
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable

import docker
import pytest

from sandbox import labels
from sandbox.docker_backend import DockerBackend, DockerSession, SandboxError
from sandbox.reaper import reap
from sandbox.results import ExecResult
from sandbox.spec import ResourceLimits, SessionSpec
from tests.integration.waiting import LIVENESS_S, START_S, eventually

pytestmark = pytest.mark.integration

SMALL = SessionSpec(limits=ResourceLimits(memory_mb=256, pids=64, workspace_mb=16, ttl_seconds=600))
Body = Callable[[DockerSession], Awaitable[None]]

# Raw syscalls, so that a missing tool cannot pass for a refusal.
SYSCALL_PROBE = r"""python3 - <<'PY'
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
def call(name, *args):
    code = getattr(libc, name)(*args)
    return "ok" if code == 0 else os.strerror(ctypes.get_errno())
print("no_new_privs", libc.prctl(39, 0, 0, 0, 0))  # PR_GET_NO_NEW_PRIVS
print("mount", call("mount", b"none", b"/tmp", b"tmpfs", 0, None))
print("unshare_mount", call("unshare", 0x00020000))  # CLONE_NEWNS
print("unshare_user", call("unshare", 0x10000000))  # CLONE_NEWUSER
PY"""


@pytest.fixture(params=["runc", "runsc"])
def runtime(request: pytest.FixtureRequest, runtimes: list[str]) -> str:
    if request.param not in runtimes:
        pytest.skip(f"{request.param} is not registered with the engine")
    return str(request.param)


def small(runtime: str) -> SessionSpec:
    return SMALL.model_copy(update={"runtime": runtime})


def in_session(body: Body, spec: SessionSpec = SMALL) -> None:
    async def main() -> None:
        async with DockerBackend().session(spec) as session:
            await body(session)

    asyncio.run(main())


async def assert_lost_for_memory(s: DockerSession, result: ExecResult) -> None:
    """gVisor: the host's memory cgroup kills gVisor's kernel, so the session ends.

    Contained all the same: the command returns (no hang), says why, and the session
    refuses further commands with the same reason.
    """
    assert result.status == "error" and result.oom_killed, result
    assert result.error is not None and "out of memory" in result.error
    with pytest.raises(SandboxError, match="out of memory"):
        await s.exec("echo after")


async def assert_answers_after_a_flood(s: DockerSession, runtime: str) -> None:
    """The session answers again once the flood's processes are gone.

    Or, under runsc only, the flood's memory ended gVisor's kernel after its command had
    returned (README, Known limits): then the session is over for that documented reason,
    and refuses every further command with it. Any other way of going is a failure.
    """

    async def ask() -> ExecResult | SandboxError:
        try:
            return await s.exec("echo alive", timeout=LIVENESS_S)
        except SandboxError as exc:
            return exc

    def settled(seen: ExecResult | SandboxError) -> bool:
        if isinstance(seen, SandboxError):
            return True
        return (seen.exit_code, seen.stdout) == (0, b"alive\n") or "sandbox lost" in (
            seen.error or ""
        )

    seen = await eventually(ask, settled)  # killed processes take a moment to go
    if isinstance(seen, ExecResult) and not seen.error:
        assert (seen.exit_code, seen.stdout) == (0, b"alive\n"), seen
        return
    assert runtime == "runsc", f"the session was lost under {runtime}: {seen}"
    assert "out of memory" in str(seen.error if isinstance(seen, ExecResult) else seen), seen
    for _ in range(2):  # and it stays over, for the same reason
        with pytest.raises(SandboxError, match="out of memory"):
            await s.exec("echo after")


def test_privileges_are_gone(runtime: str) -> None:
    async def body(s: DockerSession) -> None:
        status = (await s.exec("grep -E '^(CapEff|Seccomp):' /proc/self/status")).text
        assert "CapEff:\t0000000000000000" in status
        seen = dict(line.split(" ", 1) for line in (await s.exec(SYSCALL_PROBE)).text.splitlines())
        assert seen["no_new_privs"] == "1"
        assert seen["mount"] == "Operation not permitted"
        if runtime == "runc":
            assert "Seccomp:\t2" in status
            assert seen["unshare_mount"] == seen["unshare_user"] == "Operation not permitted"
        # Under gVisor, namespaces are the Sentry's own (user space) and the seccomp
        # profile is not applied without --oci-seccomp: README, Known limits.

    in_session(body, small(runtime))


def test_fork_bomb_is_contained(runtime: str) -> None:
    """A fork bomb ends with its command, or (runsc) ends its own session for the
    documented reason; either way another session on the engine keeps answering."""

    async def main() -> None:
        backend = DockerBackend()
        async with backend.session(small(runtime)) as s, backend.session(small(runtime)) as other:
            assert (await other.exec("echo alive")).stdout == b"alive\n"
            bomb = await s.exec("bomb() { bomb | bomb & }; bomb; sleep 2", timeout=4)
            if runtime == "runsc" and bomb.error:  # its memory ran out while it ran
                await assert_lost_for_memory(s, bomb)
            else:  # it returned: on its own, or by its timeout
                assert bomb.timed_out or bomb.exit_code is not None, bomb
                await assert_answers_after_a_flood(s, runtime)
            # contained: the bomb reached no further than its own session
            answer = await other.exec("echo alive", timeout=LIVENESS_S)
            assert (answer.exit_code, answer.stdout) == (0, b"alive\n"), answer

    asyncio.run(main())


def test_memory_bomb_is_oom_killed_and_reported(runtime: str) -> None:
    async def body(s: DockerSession) -> None:
        bomb = "x = bytearray(600 * 2**20); x[::4096] = b'1' * len(x[::4096]); print('survived')"
        result = await s.exec(["python3", "-c", bomb], timeout=LIVENESS_S)
        assert b"survived" not in result.stdout
        if runtime == "runsc":
            await assert_lost_for_memory(s, result)
            return
        assert result.signal == 9 and result.oom_killed, result
        assert result.status == "oom"
        assert (await s.exec("echo still-here")).stdout == b"still-here\n"

    in_session(body, small(runtime))


def test_gvisor_runs_hundreds_of_processes(runtimes: list[str]) -> None:
    """The host pids floor under runsc (GVISOR_MIN_HOST_PIDS) leaves gVisor room."""
    if "runsc" not in runtimes:
        pytest.skip("runsc is not registered with the engine")

    async def body(s: DockerSession) -> None:
        # each sleep outlives any start-up time: the count is of processes, not of speed
        many = "for i in $(seq 300); do sleep 3600 & done; n=$(jobs -p | wc -l); kill $(jobs -p)"
        result = await s.exec(f"{many}; echo $n", timeout=LIVENESS_S)
        assert result.exit_code == 0 and result.stdout == b"300\n", result
        assert (await s.exec("echo alive")).stdout == b"alive\n"

    in_session(body, small("runsc"))


def test_filling_the_workspace_stops_at_its_size(runtime: str) -> None:
    async def body(s: DockerSession) -> None:
        result = await s.exec("head -c 40000000 /dev/zero > /workspace/big")
        assert result.exit_code != 0 and b"No space left" in result.stderr
        size = int((await s.exec("wc -c < /workspace/big")).text)
        assert size <= 16 * 2**20

    in_session(body, small(runtime))


def test_an_output_flood_is_capped_without_growing_our_memory(runtime: str) -> None:
    async def body(s: DockerSession) -> None:
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        result = await s.exec("timeout 10 yes", max_output=1_000_000, timeout=30)
        grown_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
        assert result.stdout_truncated and len(result.stdout) == 1_000_000
        assert grown_kb < 64 * 1024, f"orchestrator grew {grown_kb} KiB"

    in_session(body, small(runtime))


def test_timeout_kills_the_whole_tree(runtime: str) -> None:
    async def body(s: DockerSession) -> None:
        tree = "sleep 3600 & sleep 3600 & echo started; wait"
        result = await s.exec(tree, timeout=START_S)
        # the agent's own timer fired (the host's safety net would set an error)
        assert result.timed_out and result.error is None, result
        assert result.stdout == b"started\n"
        # live sleeps, not the zombies of killed ones; SIGKILLed processes take a moment to
        # go, but these would live an hour: the budget tells killed from left alone
        live = "ps -eo stat=,comm= | awk '$2 == \"sleep\" && $1 !~ /^Z/' | wc -l"
        left = await eventually(lambda: s.exec(live), lambda r: r.text.strip() == "0")
        assert left.exit_code == 0 and left.text.strip() == "0", left

    in_session(body, small(runtime))


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
    for session in started:  # asked of the engine: another run may remove its own meanwhile
        named = {"label": f"{labels.SESSION}={session}"}
        assert docker_client.containers.list(all=True, filters=named) == []
