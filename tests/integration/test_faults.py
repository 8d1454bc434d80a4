"""Faults end in clear errors, never hangs."""

from __future__ import annotations

import asyncio

import docker
import pytest

from sandbox.docker_backend import DockerBackend, SandboxError
from sandbox.engine import EngineUnavailable, connect
from sandbox.spec import SessionSpec

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
            running = asyncio.create_task(session.exec("echo begun; sleep 60", timeout=120))
            await asyncio.sleep(0.5)
            await asyncio.to_thread(docker_client.containers.get(session.container.id).kill)
            result = await asyncio.wait_for(running, 15)
            assert result.error is not None and "lost" in result.error
            assert result.stdout == b"begun\n"  # what came before the kill is kept
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
            running = asyncio.create_task(session.exec("echo begun; sleep 60", timeout=120))
            await asyncio.sleep(0.5)
            container = docker_client.containers.get(session.container.id)
            await asyncio.to_thread(container.stop, timeout=10)
            result = await asyncio.wait_for(running, 15)
            assert result.stdout == b"begun\n"
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
        await asyncio.to_thread(docker_client.containers.get(container.id).kill)
        dead = docker.DockerClient(base_url=f"unix://{tmp_path}/gone.sock", version="1.41")
        container.client, container.collection = dead, dead.containers
        with pytest.raises(SandboxError, match="engine does not answer"):
            await asyncio.wait_for(session.exec("echo hi"), 15)
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
