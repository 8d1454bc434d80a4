"""Shared fixtures. Integration tests use the real engine that `make test` starts."""

from __future__ import annotations

from collections.abc import Iterator

import docker
import pytest

from sandbox.engine import EngineUnavailable, connect


@pytest.fixture(scope="session")
def docker_client() -> Iterator[docker.DockerClient]:
    try:
        client = connect()
    except EngineUnavailable as exc:
        pytest.fail(f"integration tests need the engine: {exc}")
    yield client
    client.close()


@pytest.fixture(scope="session")
def runtimes(docker_client: docker.DockerClient) -> list[str]:
    registered = set(docker_client.info().get("Runtimes", {}))
    return [r for r in ("runc", "runsc") if r in registered]
