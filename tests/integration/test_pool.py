"""WarmPool hands out started sessions once each and refills behind them."""

from __future__ import annotations

import asyncio
import os
import time

import docker
import pytest

from sandbox import labels
from sandbox.docker_backend import DockerBackend
from sandbox.pool import WarmPool
from sandbox.spec import SessionSpec
from tests.integration.waiting import eventually

pytestmark = pytest.mark.integration


def pool_containers(client: docker.DockerClient, tag: str) -> list[object]:
    return list(client.containers.list(filters={"label": [f"{labels.MANAGED}=1",
                                                          f"pool-test={tag}"]}))  # fmt: skip


def test_pool_hands_over_refills_and_cleans_up(docker_client: docker.DockerClient) -> None:
    tag = f"p1-{os.getpid()}-{time.time_ns()}"  # this run's pool only, on a shared engine
    spec = SessionSpec(labels={"pool-test": tag})

    async def scenario() -> None:
        async with WarmPool(DockerBackend(), spec, size=2) as pool:
            assert pool.ready == 2
            first = await pool.acquire()
            second = await pool.acquire()
            assert first.container.id != second.container.id
            assert (await first.exec("echo handed")).stdout == b"handed\n"

            async def ready() -> int:  # the background refill brings it back to two
                return pool.ready

            assert await eventually(ready, lambda n: n == 2) == 2
            assert len(pool_containers(docker_client, tag)) == 4
            await first.close()
            await second.close()
        assert pool_containers(docker_client, tag) == []

    asyncio.run(scenario())


def test_pool_size_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least one"):
        WarmPool(DockerBackend(), SessionSpec(), size=0)
