"""Shared fixtures. Integration tests use the real engine that `make test` starts."""

from __future__ import annotations

from collections.abc import Iterator

import docker
import pytest

from sandbox import labels
from sandbox.engine import EngineUnavailable, connect


@pytest.fixture(scope="session")
def docker_client() -> Iterator[docker.DockerClient]:
    try:
        client = connect()
    except EngineUnavailable as exc:
        pytest.fail(f"integration tests need the engine: {exc}")
    yield client
    # The suite must leave no sandbox behind: whatever is left is a leak.
    leftovers = client.containers.list(all=True, filters={"label": f"{labels.MANAGED}=1"})
    for container in leftovers:
        container.remove(force=True)
    client.close()
    assert not leftovers, f"sessions left behind: {[c.name for c in leftovers]}"


@pytest.fixture(scope="session")
def runtimes(docker_client: docker.DockerClient) -> list[str]:
    registered = set(docker_client.info().get("Runtimes", {}))
    return [r for r in ("runc", "runsc") if r in registered]
