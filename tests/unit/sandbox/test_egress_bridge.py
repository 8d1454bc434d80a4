"""The agent's bridge from its loopback port to the proxy's Unix socket, in-process:
real TCP and Unix sockets, the bytes checked end to end, both copy paths."""

from __future__ import annotations

import asyncio
import functools
import hashlib
import os
import socket
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from sandbox import egress_bridge
from sandbox.egress_bridge import EgressBridge

BIG = 24 * 1024 * 1024


def in_loop(test: Callable[..., Coroutine[Any, Any, None]]) -> Callable[..., None]:
    """Run an async test in a fresh event loop (its fixtures pass through)."""

    @functools.wraps(test)
    def run(*args: Any, **kwargs: Any) -> None:
        asyncio.run(test(*args, **kwargs))

    return run


async def _answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """The 'proxy': read until the client's EOF, answer the digest and size, then close."""
    digest, size = hashlib.sha256(), 0
    while chunk := await reader.read(1 << 20):
        digest.update(chunk)
        size += len(chunk)
    writer.write(f"{size} {digest.hexdigest()}\n".encode())
    if size == 1:  # asked for a big answer
        writer.write(os.urandom(BIG))
    await writer.drain()
    writer.close()


@asynccontextmanager
async def bridged(tmp_path: Path, max_conns: int = 8) -> AsyncIterator[tuple[EgressBridge, int]]:
    path = str(tmp_path / "proxy.sock")
    server = await asyncio.start_unix_server(_answer, path=path)
    bridge = EgressBridge(path, max_conns)
    port = bridge.listen("127.0.0.1", 0)
    try:
        yield bridge, port
    finally:
        bridge.close()
        server.close()


async def _exchange(port: int, payload: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(payload)
    await writer.drain()
    writer.write_eof()  # half-close: the answer still comes back
    answer = await reader.read()
    writer.close()
    return answer


@pytest.mark.parametrize("splice", [True, False])
@in_loop
async def test_bytes_go_both_ways_whole_with_half_close(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, splice: bool
) -> None:
    monkeypatch.setattr(egress_bridge, "SPLICE", splice and egress_bridge.SPLICE)
    payload = os.urandom(BIG + 12345)
    async with bridged(tmp_path) as (_, port):
        answer = await _exchange(port, payload)
        assert answer == f"{len(payload)} {hashlib.sha256(payload).hexdigest()}\n".encode()
        big = await _exchange(port, b"x")  # one byte up, 24 MiB down
        assert big.startswith(b"1 ") and len(big) == len(big.split(b"\n")[0]) + 1 + BIG


@in_loop
async def test_concurrent_connections_each_get_their_own_answer(tmp_path: Path) -> None:
    async with bridged(tmp_path) as (_, port):
        payloads = [os.urandom(n * 1000 + 1) for n in range(1, 7)]
        answers = await asyncio.gather(*(_exchange(port, p) for p in payloads))
        for payload, answer in zip(payloads, answers, strict=True):
            assert answer.split()[0] == str(len(payload)).encode()


@in_loop
async def test_past_max_conns_a_connection_is_reset(tmp_path: Path) -> None:
    async with bridged(tmp_path, max_conns=1) as (bridge, port):
        held_reader, held = await asyncio.open_connection("127.0.0.1", port)
        while not bridge.bridges:
            await asyncio.sleep(0.01)
        with pytest.raises(ConnectionResetError):  # at connect, or at the first read
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"x")
            await writer.drain()
            assert await reader.read() == b"never"
        held.write_eof()
        assert (await held_reader.read()).startswith(b"0 ")  # the first one still works
        held.close()


@in_loop
async def test_no_proxy_behind_the_socket_resets_the_client(tmp_path: Path) -> None:
    bridge = EgressBridge(str(tmp_path / "absent.sock"), 4)
    port = bridge.listen("127.0.0.1", 0)
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        with pytest.raises(ConnectionResetError):
            assert await reader.read() == b"an answer it cannot have"
        writer.close()
    finally:
        bridge.close()


@in_loop
async def test_close_resets_open_connections_and_stops_listening(tmp_path: Path) -> None:
    async with bridged(tmp_path) as (bridge, port):
        reader, _ = await asyncio.open_connection("127.0.0.1", port)
        while not bridge.conns:
            await asyncio.sleep(0.01)
        bridge.close()
        with pytest.raises(ConnectionResetError):
            assert await reader.read() == b"an answer after the close"
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", port), timeout=2).close()


@in_loop
async def test_the_port_is_nobody_elses(tmp_path: Path) -> None:
    async with bridged(tmp_path) as (_, port):
        other = socket.socket()
        with pytest.raises(OSError):
            other.bind(("127.0.0.1", port))
        other.close()


@in_loop
async def test_only_a_few_directions_get_a_wide_pipe_and_each_gives_it_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pipes count against their maker's quota, and every session's agent is the
    host's root: past `WIDE_PIPES` directions keep the default pipe, and all bytes
    still arrive."""
    if not egress_bridge.SPLICE:
        pytest.skip("no os.splice in this Python")
    monkeypatch.setattr(egress_bridge, "WIDE_PIPES", 1)
    async with bridged(tmp_path) as (bridge, port):
        lowest = [bridge.wide_pipes]

        async def watch() -> None:
            while True:
                lowest[0] = min(lowest[0], bridge.wide_pipes)
                await asyncio.sleep(0)

        watcher = asyncio.ensure_future(watch())
        payloads = [os.urandom(4 * 1024 * 1024 + n) for n in range(3)]
        answers = await asyncio.gather(*(_exchange(port, p) for p in payloads))
        watcher.cancel()
        for payload, answer in zip(payloads, answers, strict=True):
            assert answer == f"{len(payload)} {hashlib.sha256(payload).hexdigest()}\n".encode()
        assert lowest[0] == 0  # the one wide pipe was used
        assert bridge.wide_pipes == 1  # and given back
