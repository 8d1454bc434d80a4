"""Sessions on the real engine: the exec channel, files, fork, limits and cleanup."""

from __future__ import annotations

import asyncio
from pathlib import Path

import docker
import pytest

from sandbox import labels
from sandbox.docker_backend import DockerBackend, DockerSession
from sandbox.results import ExecExit, OutputChunk
from sandbox.spec import SessionSpec
from tests.integration.waiting import LIVENESS_S, START_S

pytestmark = pytest.mark.integration


def run(coro: object) -> object:
    return asyncio.run(coro)  # type: ignore[arg-type]


async def _with_session(spec: SessionSpec, body: object) -> object:
    async with DockerBackend().session(spec) as session:
        return await body(session)  # type: ignore[operator]


def in_session(body: object, spec: SessionSpec | None = None) -> object:
    return asyncio.run(_with_session(spec or SessionSpec(), body))


def test_exec_reports_code_streams_and_status() -> None:
    async def body(s: DockerSession) -> None:
        result = await s.exec("echo out; echo err >&2; exit 3")
        assert (result.exit_code, result.stdout, result.stderr) == (3, b"out\n", b"err\n")
        assert result.status == "failed"
        killed = await s.exec("kill -9 $$")
        assert killed.signal == 9 and killed.exit_code is None

    in_session(body)


def test_output_streams_while_the_command_runs() -> None:
    async def body(s: DockerSession) -> None:
        # The command prints its second line only once the test, having received the
        # first, says so: had the output waited for the end, the command would never end.
        wait = "until [ -e /tmp/go ]; do sleep 0.05; done"
        seen: list[bytes] = []
        async for event in s.stream(f"echo first; {wait}; echo second", timeout=LIVENESS_S):
            if isinstance(event, OutputChunk):
                seen.append(event.data)
                if event.data == b"first\n":
                    assert (await s.exec("touch /tmp/go")).exit_code == 0
            else:
                assert isinstance(event, ExecExit) and event.exit_code == 0, event
        assert seen == [b"first\n", b"second\n"]

    in_session(body)


def test_timeout_kills_and_keeps_partial_output() -> None:
    async def body(s: DockerSession) -> None:
        result = await s.exec("echo partial; sleep 3600", timeout=START_S)
        assert result.timed_out and result.status == "timeout"
        assert result.error is None  # the agent's own timer, not the host's safety net
        assert result.stdout == b"partial\n"
        # the session is still usable afterwards
        assert (await s.exec("echo alive")).stdout == b"alive\n"

    in_session(body)


def test_output_cap_truncates_with_a_flag() -> None:
    async def body(s: DockerSession) -> None:
        result = await s.exec("head -c 5000000 /dev/zero", max_output=100_000)
        assert result.stdout_truncated and len(result.stdout) == 100_000
        assert result.exit_code == 0

    in_session(body)


def test_concurrent_execs_in_one_session() -> None:
    async def body(s: DockerSession) -> None:
        results = await asyncio.gather(*(s.exec(f"sleep 0.3; echo {i}") for i in range(8)))
        assert [r.stdout for r in results] == [f"{i}\n".encode() for i in range(8)]

    in_session(body)


def test_stdin_env_cwd_and_binary_output() -> None:
    async def body(s: DockerSession) -> None:
        assert (await s.exec("cat", stdin=b"\x00\xff bytes")).stdout == b"\x00\xff bytes"
        assert (await s.exec("echo $GREETING", env={"GREETING": "hi"})).stdout == b"hi\n"
        assert (await s.exec("pwd", cwd="/tmp")).stdout == b"/tmp\n"
        blob = await s.exec("head -c 4096 /dev/urandom | sha256sum; head -c 4096 /dev/urandom")
        assert blob.exit_code == 0 and len(blob.stdout) > 4096

    in_session(body)


def test_files_and_folders_round_trip(tmp_path: Path) -> None:
    (tmp_path / "src" / "pkg").mkdir(parents=True)
    (tmp_path / "src" / "pkg" / "mod.py").write_text("print('hi')\n")
    (tmp_path / "src" / "README").write_text("readme\n")

    async def body(s: DockerSession) -> None:
        await s.put_file("/workspace/deep/dir/f.bin", b"\x00\x01\x02", mode=0o600)
        assert await s.get_file("/workspace/deep/dir/f.bin") == b"\x00\x01\x02"
        await s.put_dir(tmp_path / "src", "/workspace/project")
        assert (await s.exec("python3 project/pkg/mod.py")).stdout == b"hi\n"
        await s.get_dir("/workspace/project", tmp_path / "back")
        assert (tmp_path / "back" / "README").read_text() == "readme\n"
        with pytest.raises(RuntimeError, match="cannot read"):
            await s.get_file("/workspace/missing")

    in_session(body)


def test_a_workspace_past_64_mib_copies_out_whole(tmp_path: Path) -> None:
    """Copy-out streams to disk up to what the workspace holds (it was capped at 64 MiB,
    far below the 512 MiB a session's workspace takes in)."""

    async def body(s: DockerSession) -> None:
        made = await s.exec("head -c 100M /dev/zero > big && printf x > small && sync")
        assert made.exit_code == 0, made.text
        await s.get_dir("/workspace", tmp_path / "out")
        assert (tmp_path / "out" / "big").stat().st_size == 100 * 2**20
        assert (tmp_path / "out" / "small").read_text() == "x"
        with pytest.raises(RuntimeError, match="more than 1000 bytes"):
            await s.get_dir("/workspace", tmp_path / "capped", max_bytes=1000)

    in_session(body)


def test_fork_copies_the_workspace_into_its_own_container() -> None:
    async def body(s: DockerSession) -> None:
        await s.put_file("/workspace/state.txt", b"parent")
        child = await s.fork()
        try:
            assert child.container.id != s.container.id
            assert await child.get_file("/workspace/state.txt") == b"parent"
            await child.put_file("/workspace/state.txt", b"child")
            assert await s.get_file("/workspace/state.txt") == b"parent"
            assert child.container.labels[labels.PARENT] == s.id
        finally:
            await child.close()

    in_session(body)


def test_hardening_seen_from_inside() -> None:
    async def body(s: DockerSession) -> None:
        probe = await s.exec(
            "id -u; grep -c . /proc/net/route; ls /sys/class/net; "
            "grep ^Seccomp: /proc/self/status; touch /etc/x 2>&1 || true"
        )
        lines = probe.stdout.decode().splitlines()
        assert lines[0] == "1000"
        assert lines[1] == "1"  # the header only: no routes
        assert lines[2] == "lo"  # no interface but loopback
        assert lines[3].split() == ["Seccomp:", "2"]
        assert "Read-only file system" in lines[4]

    in_session(body)


def test_runsc_session(runtimes: list[str]) -> None:
    if "runsc" not in runtimes:
        pytest.skip("runsc is not registered")

    async def body(s: DockerSession) -> None:
        result = await s.exec("echo gvisor; uname -r")
        assert result.stdout.startswith(b"gvisor\n")

    in_session(body, SessionSpec(runtime="runsc"))


def test_close_removes_the_container(docker_client: docker.DockerClient) -> None:
    async def scenario() -> str:
        backend = DockerBackend()
        session = await backend.start(SessionSpec(image="airlock/minimal", shell="sh"))
        name = session.container.name
        assert session.uses_agent is False  # busybox has no python3
        await session.close()
        await session.close()  # twice is fine
        return str(name)

    name = run(scenario())
    assert docker_client.containers.list(all=True, filters={"name": name}) == []


def test_images_without_python_fall_back_to_docker_exec() -> None:
    async def body(s: DockerSession) -> None:
        assert s.uses_agent is False
        result = await s.exec("echo out; echo err >&2; exit 4")
        assert (result.exit_code, result.stdout, result.stderr) == (4, b"out\n", b"err\n")
        assert (await s.exec("cat", stdin=b"fed")).stdout == b"fed"
        capped = await s.exec("head -c 300000 /dev/zero", max_output=1000)
        assert capped.stdout_truncated and len(capped.stdout) == 1000
        slow = await s.exec("echo begun; sleep 3600", timeout=START_S)
        assert slow.timed_out and slow.stdout == b"begun\n"
        await s.put_file("/workspace/f.txt", b"via tar")
        assert await s.get_file("/workspace/f.txt") == b"via tar"

    in_session(body, SessionSpec(image="airlock/minimal", shell="sh"))
