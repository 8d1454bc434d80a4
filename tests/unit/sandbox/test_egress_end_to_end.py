"""Egress end to end without an engine: the real agent (as it ships, in a subprocess) and
the host's channel, joined as Docker's attach stream joins them, real TCP clients and an
echo upstream on 127.0.0.1. The integration test does the same in real containers."""

from __future__ import annotations

import asyncio
import socket
import ssl
import struct
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from sandbox.agent_bundle import agent_source
from sandbox.channel import AgentChannel
from sandbox.results import ExecExit, OutputChunk
from tests.integration.egress_upstream import CLIENT, closed_port, echo_server, forward

pytestmark = pytest.mark.timeout(300)
WAIT_S = 120.0
SOURCE = agent_source()


@asynccontextmanager
async def agent_channel() -> AsyncIterator[AgentChannel]:
    """A channel to the agent in a subprocess; its stdout reaches the host as Docker's
    stream 1, as the attach socket carries it."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-I", "-S", "-c", SOURCE,
        stdin=subprocess.PIPE, stdout=subprocess.PIPE,
    )  # fmt: skip
    assert proc.stdin is not None and proc.stdout is not None
    agent_in, agent_out = proc.stdin, proc.stdout
    host, bridge = socket.socketpair()
    bridge.setblocking(False)
    bridge_reader, bridge_writer = await asyncio.open_connection(sock=bridge)

    async def to_agent() -> None:
        while data := await bridge_reader.read(1 << 20):
            agent_in.write(data)
            await agent_in.drain()
        agent_in.close()

    async def to_host() -> None:
        while data := await agent_out.read(1 << 20):
            bridge_writer.write(struct.pack(">BxxxI", 1, len(data)) + data)
            await bridge_writer.drain()
        bridge_writer.close()

    pumps = [asyncio.create_task(to_agent()), asyncio.create_task(to_host())]
    channel = AgentChannel(host)
    try:
        await asyncio.wait_for(channel.start(), WAIT_S)
        yield channel
    finally:
        await channel.close()
        await asyncio.wait_for(proc.wait(), WAIT_S)
        await asyncio.gather(*pumps, return_exceptions=True)


async def run_client(channel: AgentChannel, *args: int) -> str:
    out = bytearray()
    final: ExecExit | None = None
    async for event in channel.stream([sys.executable, "-c", CLIENT, *map(str, args)]):
        if isinstance(event, OutputChunk):
            out += event.data
        else:
            final = event
    assert final is not None and final.exit_code == 0, final
    return out.decode().strip()


def scenario(body: Callable[[AgentChannel, int], Awaitable[None]]) -> None:
    async def run() -> None:
        upstream = await echo_server()
        port = int(upstream.sockets[0].getsockname()[1])
        try:
            async with agent_channel() as channel:
                await body(channel, port)
        finally:
            upstream.close()

    asyncio.run(run())


def test_connections_move_bytes_both_ways_through_the_agent_and_the_channel() -> None:
    async def body(channel: AgentChannel, upstream: int) -> None:
        port = await channel.serve_egress(forward)
        # 8 connections at once, each 3 MiB each way (more than a window), half-closed.
        answer = await asyncio.wait_for(run_client(channel, port, upstream, 3 << 20, 8), WAIT_S)
        assert answer == " ".join(["ok"] * 8)
        assert channel.egress is not None and channel.egress.opened == 8
        assert not channel.egress.conns  # every connection ended

    scenario(body)


def test_a_refused_upstream_resets_and_a_closed_port_refuses() -> None:
    async def body(channel: AgentChannel, upstream: int) -> None:
        port = await channel.serve_egress(forward)
        assert await run_client(channel, port, closed_port(), 1000) == "reset"
        assert await run_client(channel, closed_port(), upstream, 1000) == "refused"
        assert await run_client(channel, port, upstream, 1000) == "ok"  # it goes on

    scenario(body)


def test_execs_run_while_a_connection_is_held() -> None:
    held = asyncio.Event()

    async def stall(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.set()
        await asyncio.Event().wait()  # reads nothing, ever

    async def body(channel: AgentChannel, upstream: int) -> None:
        port = await channel.serve_egress(stall)
        client = asyncio.create_task(run_client(channel, port, upstream, 8 << 20))
        await asyncio.wait_for(held.wait(), WAIT_S)
        echo = await asyncio.wait_for(run_client_echo(channel), WAIT_S)
        assert echo == "still here"
        await channel.ping(timeout=WAIT_S)
        client.cancel()

    scenario(body)


async def run_client_echo(channel: AgentChannel) -> str:
    out = bytearray()
    async for event in channel.stream(["echo", "still here"]):
        if isinstance(event, OutputChunk):
            out += event.data
    return out.decode().strip()


def self_signed(folder: Path, name: str) -> tuple[Path, Path]:
    """A certificate for ``name`` and its key (openssl, argv only)."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "1", "-subj", f"/CN={name}",
         "-addext", f"subjectAltName=DNS:{name}"],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


def tls_client(port: int, cert: Path, name: str) -> tuple[str | None, bytes]:
    context = ssl.create_default_context(cafile=str(cert))
    with socket.create_connection(("127.0.0.1", port), timeout=WAIT_S) as raw:
        raw.sendall(b"STARTTLS\n")  # as after CONNECT: the client speaks TLS once told to
        assert raw.recv(3) == b"GO\n"
        sock = context.wrap_socket(raw, server_hostname=name)
        sock.sendall(b"hello\n")
        got = bytearray()
        while data := sock.recv(1 << 16):
            got += data
        return sock.version(), bytes(got)


def test_a_handler_can_terminate_tls_on_the_stream(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path, "egress.test")
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert, key)

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        assert await reader.readline() == b"STARTTLS\n"
        writer.write(b"GO\n")
        await writer.start_tls(server)
        line = await reader.readline()
        writer.write(b"over tls: " + line + bytes(1 << 20))  # past every window
        await writer.drain()

    async def body(channel: AgentChannel, upstream: int) -> None:
        port = await channel.serve_egress(handler)
        version, answer = await asyncio.wait_for(
            asyncio.to_thread(tls_client, port, cert, "egress.test"), WAIT_S
        )
        assert version is not None and version.startswith("TLS")
        assert answer == b"over tls: hello\n" + bytes(1 << 20)

    scenario(body)
