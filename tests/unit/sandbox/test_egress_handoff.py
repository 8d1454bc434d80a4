"""The agent passes connections to the proxy (SCM_RIGHTS): real sockets on this host.

What the proxy accepts is a connected TCP stream and nothing else; whatever else
arrives is closed unread, and the handler never sees it.
"""

from __future__ import annotations

import asyncio
import os
import socket
import struct
from collections.abc import Callable
from pathlib import Path

from sandbox.egress_bridge import EgressBridge, hand_off
from sandbox.egress_handoff import HandoffServer


async def echo_upper(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    data = await reader.read(100)
    writer.write(data.upper())
    await writer.drain()
    writer.close()


async def tcp_pair() -> tuple[socket.socket, socket.socket]:
    """A connected loopback pair: (the client's end, the accepted end)."""
    listener = socket.create_server(("127.0.0.1", 0))
    client = socket.create_connection(listener.getsockname())
    accepted, _ = listener.accept()
    listener.close()
    return client, accepted


def test_a_connection_handed_over_is_served_by_the_proxy(tmp_path: Path) -> None:
    async def scenario() -> bytes:
        path = tmp_path / "handoff.sock"
        server = await HandoffServer.start(path, echo_upper)
        client, accepted = await tcp_pair()
        try:
            await hand_off(str(path), accepted)
            accepted.close()  # the agent's copy goes: the proxy holds the connection now
            client.setblocking(False)
            loop = asyncio.get_running_loop()
            await loop.sock_sendall(client, b"through the proxy")
            answer = await asyncio.wait_for(loop.sock_recv(client, 100), 10)
            assert server.received == 1
            return answer
        finally:
            client.close()
            await server.close()

    assert asyncio.run(scenario()) == b"THROUGH THE PROXY"


def test_anything_but_one_connected_tcp_socket_is_closed_unread(tmp_path: Path) -> None:
    """Each is sent, then the test closes its own copy: the far end sees the close only
    once the proxy closed the copy it received."""
    served: list[object] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        served.append(writer)
        writer.close()

    def send(path: Path, fds: list[int]) -> None:
        carrier = socket.socket(socket.AF_UNIX)
        carrier.connect(str(path))
        if fds:
            carrier.sendmsg([b"\0"], [(socket.SOL_SOCKET, socket.SCM_RIGHTS,
                                       struct.pack(f"{len(fds)}i", *fds))])  # fmt: skip
        else:
            carrier.send(b"\0")
        carrier.close()

    async def closed_everywhere(probe: Callable[[], object]) -> bool:
        for _ in range(500):
            try:
                if probe() == b"":
                    return True
            except (BrokenPipeError, ConnectionError):
                return True
            await asyncio.sleep(0.02)
        return False

    async def scenario() -> list[bool]:
        path = tmp_path / "handoff.sock"
        server = await HandoffServer.start(path, handler)
        pipe_out, pipe_in = os.pipe()
        listener = socket.create_server(("127.0.0.1", 0))
        address = listener.getsockname()
        unconnected = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        datagram = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        datagram.connect(("127.0.0.1", 9))
        local, far = socket.socketpair()
        client, accepted = await tcp_pair()
        client.settimeout(0.01)
        send(path, [pipe_out])
        send(path, [listener.fileno()])
        send(path, [unconnected.fileno()])
        send(path, [datagram.fileno()])
        send(path, [local.fileno()])
        send(path, [accepted.fileno(), client.fileno()])  # two at once
        send(path, [])  # none
        for mine in (pipe_out,):
            os.close(mine)
        for each in (listener, unconnected, datagram, local, accepted):
            each.close()

        def recv_or_eof() -> bytes | None:
            try:
                return client.recv(1)
            except TimeoutError:
                return None

        def connect_refused() -> bytes | None:
            try:
                socket.create_connection(address, timeout=1).close()
            except ConnectionRefusedError:
                return b""
            return None

        seen = [
            await closed_everywhere(lambda: os.write(pipe_in, b"x") and None),
            await closed_everywhere(lambda: far.send(b"x") and None),
            await closed_everywhere(recv_or_eof),
            await closed_everywhere(connect_refused),
        ]
        for each in (client, far):
            each.close()
        os.close(pipe_in)
        await server.close()
        return seen

    assert asyncio.run(scenario()) == [True] * 4  # every descriptor it received, closed
    assert served == []


def test_the_agent_bridges_a_connection_it_cannot_pass(tmp_path: Path) -> None:
    """No handoff socket (the proxy took it away, or a runtime that cannot pass one):
    the agent's bridge carries the connection to the proxy's socket as before."""

    async def scenario() -> bytes:
        proxy_path = str(tmp_path / "proxy.sock")
        proxy = await asyncio.start_unix_server(echo_upper, path=proxy_path)
        bridge = EgressBridge(proxy_path, 8, handoff=str(tmp_path / "missing.sock"))
        port = bridge.listen("127.0.0.1", 0)
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"bridged")
            answer = await asyncio.wait_for(reader.read(100), 10)
            writer.close()
            return answer
        finally:
            bridge.close()
            proxy.close()

    assert asyncio.run(scenario()) == b"BRIDGED"


def test_past_its_bound_the_proxy_resets_a_connection_and_keeps_nothing(tmp_path: Path) -> None:
    """The agent's bridge bounded a session's connections; handed over, they leave the
    agent at once, so the proxy's side keeps the bound."""
    release = asyncio.Event()

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await release.wait()
        writer.close()

    async def scenario() -> tuple[int, bytes | str, int]:
        path = tmp_path / "handoff.sock"
        server = await HandoffServer.start(path, hold, max_live=1)
        first, first_accepted = await tcp_pair()
        second, second_accepted = await tcp_pair()
        try:
            await hand_off(str(path), first_accepted)
            for _ in range(500):
                if server.live:
                    break
                await asyncio.sleep(0.01)
            await hand_off(str(path), second_accepted)
            first_accepted.close()
            second_accepted.close()
            second.settimeout(10)
            try:
                answer: bytes | str = await asyncio.to_thread(second.recv, 1)
            except ConnectionResetError:
                answer = "reset"
            held = server.live
            release.set()
            for _ in range(500):
                if not server.live:
                    break
                await asyncio.sleep(0.01)
            return held, answer, server.live
        finally:
            first.close()
            second.close()
            await server.close()

    assert asyncio.run(scenario()) == (1, "reset", 0)
