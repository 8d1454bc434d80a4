"""Faults end in clear errors, never hangs."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import docker
import pytest

from sandbox.docker_backend import DockerBackend, DockerSession, SandboxError
from sandbox.engine import EngineUnavailable, connect
from sandbox.results import ExecExit, OutputChunk
from sandbox.spec import SessionSpec
from tests.integration.waiting import LIVENESS_S, eventually

# Runs for an hour unless something ends it: an exec that returns within LIVENESS_S was
# ended by the fault under test, not by the command finishing or by its timeout.
BEGUN_THEN_SLEEP = "echo begun; sleep 3600"


async def begun(session: DockerSession) -> tuple[AsyncIterator[OutputChunk | ExecExit], bytes]:
    """Start the sleeper; return its event stream once its first line has come."""
    events = session.stream(BEGUN_THEN_SLEEP, timeout=3600)
    out = b""
    while b"begun\n" not in out:
        event = await anext(events)
        assert isinstance(event, OutputChunk), event
        out += event.data
    return events, out


async def rest(events: AsyncIterator[OutputChunk | ExecExit], out: bytes) -> tuple[ExecExit, bytes]:
    """The stream's remaining output and its exit."""
    async for event in events:
        if isinstance(event, ExecExit):
            return event, out
        out += event.data
    raise AssertionError("the stream ended without an exit")


pytestmark = pytest.mark.integration


def test_missing_image_is_a_clear_error() -> None:
    async def main() -> None:
        with pytest.raises(SandboxError, match="airlock/no-such-image"):
            await DockerBackend().start(SessionSpec(image="airlock/no-such-image"))

    asyncio.run(main())


def test_engine_down_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-engine.sock")
    with pytest.raises(EngineUnavailable, match="make setup"):
        connect(timeout=2)


def test_container_killed_mid_command_ends_the_exec(docker_client: docker.DockerClient) -> None:
    async def main() -> None:
        async with DockerBackend().session(SessionSpec()) as session:
            events, out = await begun(session)
            await asyncio.to_thread(docker_client.containers.get(session.container.id).kill)
            result, out = await asyncio.wait_for(rest(events, out), LIVENESS_S)
            assert result.error is not None and "lost" in result.error
            assert out == b"begun\n"  # what came before the kill is kept
            assert result.status == "error"
            assert "container stopped" in result.error, result.error  # the engine's view
            with pytest.raises(SandboxError, match="is lost: its container stopped"):
                await session.exec("echo after")

    asyncio.run(main())


def test_a_stopped_container_says_the_sandbox_is_stopping(
    docker_client: docker.DockerClient,
) -> None:
    """`docker stop` (what a stopping engine does): the command's exit says why it ended."""

    async def main() -> None:
        async with DockerBackend().session(SessionSpec()) as session:
            events, out = await begun(session)
            container = docker_client.containers.get(session.container.id)
            # docker's grace before SIGKILL: the agent reports long before, however loaded
            await asyncio.to_thread(container.stop, timeout=int(LIVENESS_S))
            result, out = await asyncio.wait_for(rest(events, out), LIVENESS_S)
            assert out == b"begun\n"
            assert result.status == "error"
            assert result.error is not None and "stopping" in result.error, result.error
            assert "SIGTERM" in result.error

    asyncio.run(main())


def test_an_engine_that_stops_answering_is_a_sandbox_error_and_close_can_retry(
    docker_client: docker.DockerClient, tmp_path: object
) -> None:
    """The session's engine calls go to a dead socket, as while dockerd restarts."""

    async def main() -> None:
        session = await DockerBackend().start(SessionSpec())
        container = session.container
        real = container.client
        killed = docker_client.containers.get(container.id)
        await asyncio.to_thread(killed.kill)
        # the events the rest relies on: the container is down and the session has seen
        # its channel close (under load, either can lag the kill)
        await asyncio.to_thread(killed.wait, timeout=LIVENESS_S)

        async def channel_open() -> bool:
            return session.channel is not None and session.channel.alive

        assert not await eventually(channel_open, lambda alive: not alive)
        dead = docker.DockerClient(base_url=f"unix://{tmp_path}/gone.sock", version="1.41")
        container.client, container.collection = dead, dead.containers
        with pytest.raises(SandboxError, match="engine does not answer"):
            await asyncio.wait_for(session.exec("echo hi"), LIVENESS_S)
        container.client, container.collection = real, real.containers  # the engine is back
        with pytest.raises(SandboxError, match="its container stopped"):
            await session.exec("echo hi")  # the loss is read again, now that it answers
        container.client, container.collection = dead, dead.containers
        with pytest.raises(SandboxError, match="cannot remove its container"):
            await session.close()
        container.client, container.collection = real, real.containers
        await session.close()
        assert not docker_client.containers.list(all=True, filters={"id": container.id})

    asyncio.run(main())
