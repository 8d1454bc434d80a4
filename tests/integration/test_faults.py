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
