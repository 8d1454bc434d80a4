"""Shared fixtures. Integration tests use the real engine that `make test` starts."""

from __future__ import annotations

import os
from collections.abc import Iterator

import docker
import pytest
from hypothesis import settings

from sandbox import labels
from sandbox.engine import EngineUnavailable, connect

# Speed is measured by `make bench`, never asserted by tests: no per-example deadline
# (hypothesis' default 200 ms fails on a busy machine, not on a slow analyzer).
settings.register_profile("airlock", deadline=None)
settings.load_profile("airlock")


def pytest_configure(config: pytest.Config) -> None:
    # `make test` runs on xdist workers: which tests share a worker (tests/xdist_scopes.py)
    if config.pluginmanager.hasplugin("xdist"):
        from tests import xdist_scopes

        config.pluginmanager.register(xdist_scopes, "airlock-xdist-scopes")


@pytest.fixture(scope="session")
def docker_client() -> Iterator[docker.DockerClient]:
    try:
        client = connect()
    except EngineUnavailable as exc:
        pytest.fail(f"integration tests need the engine: {exc}")
    yield client
    # The suite must leave no sandbox behind: whatever this run left is a leak. (Only
    # this process's: other runs may share the engine.)
    mine = [f"{labels.MANAGED}=1", f"{labels.OWNER_PID}={os.getpid()}"]
    leftovers = client.containers.list(all=True, filters={"label": mine})
    for container in leftovers:
        container.remove(force=True)
    client.close()
    assert not leftovers, f"sessions left behind: {[c.name for c in leftovers]}"


@pytest.fixture(scope="session")
def runtimes(docker_client: docker.DockerClient) -> list[str]:
    registered = set(docker_client.info().get("Runtimes", {}))
    return [r for r in ("runc", "runsc") if r in registered]
