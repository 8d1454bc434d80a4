"""Egress over the exec channel in real sessions, under runc and runsc.

A handler on the host (standing in for the session's proxy) relays each connection the
sandbox makes to its egress port on to an echo server on the host's loopback. Bytes go
both ways, half-closes pass, a refused upstream resets the sandbox's connection, and
the sandbox still has no network interface but loopback. No packet leaves loopback.
"""

from __future__ import annotations

import asyncio

import docker
import pytest

from sandbox.docker_backend import DockerBackend
from sandbox.egress_transport import EgressUnavailable
from sandbox.spec import SessionSpec
from tests.integration.egress_upstream import CLIENT, closed_port, echo_server, forward
from tests.integration.waiting import LIVENESS_S

pytestmark = pytest.mark.integration
EGRESS_PORT = 3128

INTERFACES = "import socket; print(' '.join(sorted(n for _, n in socket.if_nameindex())))"
PROC_NET_DEV = "tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '"


@pytest.mark.parametrize("runtime", ["runc", "runsc"])
def test_egress_moves_bytes_both_ways_and_the_sandbox_keeps_only_loopback(
    docker_client: docker.DockerClient, runtime: str
) -> None:
    async def scenario() -> None:
        upstream = await echo_server()
        upstream_port = int(upstream.sockets[0].getsockname()[1])
        try:
            async with DockerBackend().session(SessionSpec(runtime=runtime)) as session:
                assert await session.serve_egress(forward, EGRESS_PORT) == EGRESS_PORT

                async def client(egress: int, target: int, size: int, conns: int = 1) -> str:
                    argv = ["python3", "-c", CLIENT, str(egress), str(target), str(size)]
                    result = await asyncio.wait_for(
                        session.exec([*argv, str(conns)], timeout=LIVENESS_S), LIVENESS_S * 2
                    )
                    assert result.exit_code == 0, result
                    return result.stdout.decode().strip()

                # 4 connections at once, 2 MiB each way, each half-closed by the client
                assert await client(EGRESS_PORT, upstream_port, 2 << 20, 4) == "ok ok ok ok"
                # the handler cannot reach its upstream: the sandbox's connection is reset
                assert await client(EGRESS_PORT, closed_port(), 1000) == "reset"
                # the host's loopback is not the sandbox's: only the egress port leads out
                assert await client(upstream_port, upstream_port, 1000) == "refused"
                assert await client(EGRESS_PORT, upstream_port, 10) == "ok"

                names = await session.exec(["python3", "-c", INTERFACES])
                assert names.stdout.decode().split() == ["lo"]
                listed = await session.exec(["sh", "-c", PROC_NET_DEV])
                assert listed.stdout.decode().split() == ["lo"]
                assert session.channel is not None and session.channel.egress is not None
                assert session.channel.egress.opened == 6
        finally:
            upstream.close()

    asyncio.run(scenario())


def test_an_image_without_python3_refuses_egress_plainly(
    docker_client: docker.DockerClient,
) -> None:
    async def scenario() -> None:
        async with DockerBackend().session(SessionSpec(image="airlock/minimal")) as session:
            assert not session.uses_agent
            with pytest.raises(EgressUnavailable, match="has no python3"):
                await session.serve_egress(forward, EGRESS_PORT)

    asyncio.run(scenario())
