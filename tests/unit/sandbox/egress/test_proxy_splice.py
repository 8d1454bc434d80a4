"""A tunnel carries every byte in order both ways, with half-closes, whether the
kernel moves them (splice(2) between two sockets) or asyncio streams do; bytes the
proxy had already read on either side when the tunnel opened come first."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from sandbox.egress import EgressLimits, EgressProxy, EgressRecord
from sandbox.egress import splice as splice_module  # the module, not the function
from sandbox.egress.zero_copy import AVAILABLE, eligible
from security import NetworkPolicy
from tests.unit.sandbox.egress.loopback import (
    SPLICE_MODES,
    ProxyThread,
    connect_tunnel,
    mapped_resolver,
    read_all,
    sni_extension,
    synthetic_hello,
)

pytestmark = pytest.mark.timeout(120)
Start = Callable[..., ProxyThread]
BANNER = b"BANNER from a server that speaks first\n"


class EchoUpstream:
    """Per connection: says `BANNER` at once, then echoes until EOF, then closes."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.received: list[bytes] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._echo, args=(conn,), daemon=True).start()

    def _echo(self, conn: socket.socket) -> None:
        got = b""
        with conn:
            conn.sendall(BANNER)
            while data := conn.recv(1 << 16):
                got += data
                conn.sendall(data)
        self.received.append(got)

    def wait_received(self, count: int, limit: float = 10.0) -> list[bytes]:
        """What ``count`` connections sent, once their threads have noted it (a thread
        notes it after closing, so the client may have read everything before)."""
        deadline = time.monotonic() + limit
        while len(self.received) < count and time.monotonic() < deadline:
            time.sleep(0.01)
        return self.received


@pytest.fixture
def echo() -> Iterator[EchoUpstream]:
    server = EchoUpstream()
    yield server
    server.listener.close()


@SPLICE_MODES
def test_a_tunnel_carries_everything_in_order_both_ways(
    start_proxy: Start, echo: EchoUpstream, splice_after: int | None
) -> None:
    proxy = start_proxy(splice_after=splice_after)
    hello = synthetic_hello([sni_extension(b"pypi.test")])
    later = bytes(range(256)) * 4096  # 1 MiB after the tunnel is up
    sock, response = connect_tunnel(proxy.port, f"pypi.test:{echo.port}")
    with sock:
        assert response.status == 200
        sock.sendall(hello + b"sent with the hello")  # held by the proxy's stream
        time.sleep(0.1)
        sock.sendall(later)
        sock.shutdown(socket.SHUT_WR)  # half-close: the echo still comes back
        answer = read_all(sock)
    sent = hello + b"sent with the hello" + later
    assert answer == BANNER + sent
    assert echo.wait_received(1) == [sent]
    (record,) = proxy.wait_records(1)
    assert (record.decision, record.error) == ("allowed", None)
    assert (record.bytes_up, record.bytes_down) == (len(sent), len(BANNER) + len(sent))


def test_socket_streams_are_eligible_for_splice_and_others_are_not() -> None:
    async def check() -> tuple[bool, bool]:
        ours, theirs = socket.socketpair()
        pair = await asyncio.open_connection(sock=ours)
        read_end, write_end = socket.socketpair()
        loop = asyncio.get_running_loop()
        transport, protocol = await loop.connect_write_pipe(
            asyncio.streams.FlowControlMixin, write_end.makefile("wb")
        )
        piped = (asyncio.StreamReader(), asyncio.StreamWriter(transport, protocol, None, loop))
        result = eligible(pair[1]), eligible(piped[1])
        pair[1].close()
        transport.close()
        for sock in (theirs, read_end, write_end):
            sock.close()
        return result

    assert asyncio.run(check()) == (AVAILABLE, False)


@SPLICE_MODES
def test_a_unix_socket_listener_carries_a_tunnel(
    echo: EchoUpstream, tmp_path: Path, splice_after: int | None
) -> None:
    """The Unix socket a container would see: the same tunnel, spliced or not."""
    records: list[EgressRecord] = []
    hello = synthetic_hello([sni_extension(b"pypi.test")])
    payload = hello + bytes(range(256)) * 4096
    path = tmp_path / "egress.sock"

    async def scenario() -> bytes:
        proxy = EgressProxy(
            NetworkPolicy(allow=["pypi.test"]),
            mapped_resolver(),
            records.append,
            splice_after=splice_after,
        )
        server = await proxy.listen_unix(path)
        reader, writer = await asyncio.open_unix_connection(str(path))
        writer.write(f"CONNECT pypi.test:{echo.port} HTTP/1.1\r\n\r\n".encode())
        assert (await reader.readuntil(b"\r\n\r\n")).startswith(b"HTTP/1.1 200")
        writer.write(payload)
        writer.write_eof()
        answer = await asyncio.wait_for(reader.read(), 30)
        writer.close()
        async with asyncio.timeout(30):
            while proxy.active:  # the record follows the end of the connection
                await asyncio.sleep(0.01)
        server.close()
        await server.wait_closed()
        return answer

    assert asyncio.run(scenario()) == BANNER + payload
    (record,) = records
    assert (record.bytes_up, record.bytes_down) == (len(payload), len(BANNER) + len(payload))


def test_past_the_kernel_budget_a_direction_stays_on_streams(
    start_proxy: Start, echo: EchoUpstream, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each direction in the kernel holds a pipe and a socket buffer a stalled session
    keeps full: a proxy has `max_kernel_directions` of them, the rest copy on streams,
    and every byte still arrives."""
    if not AVAILABLE:
        pytest.skip("no splice(2) here")
    in_kernel, most = [0], [0]
    original = splice_module.pump_sockets

    async def counted(*args: object, **kwargs: object) -> None:
        in_kernel[0] += 1
        most[0] = max(most[0], in_kernel[0])
        try:
            await original(*args, **kwargs)  # type: ignore[arg-type]
        finally:
            in_kernel[0] -= 1

    monkeypatch.setattr(splice_module, "pump_sockets", counted)
    proxy = start_proxy(splice_after=1024, limits=EgressLimits(max_kernel_directions=1))
    hello = synthetic_hello([sni_extension(b"pypi.test")])
    payload = hello + bytes(range(256)) * 8192  # 2 MiB each way, for each of three

    def one(results: list[bytes]) -> None:
        sock, response = connect_tunnel(proxy.port, f"pypi.test:{echo.port}")
        with sock:
            assert response.status == 200
            sock.sendall(payload)
            sock.shutdown(socket.SHUT_WR)
            results.append(read_all(sock))

    results: list[bytes] = []
    clients = [threading.Thread(target=one, args=(results,)) for _ in range(3)]
    for client in clients:
        client.start()
    for client in clients:
        client.join(60)
    assert results == [BANNER + payload] * 3
    assert most[0] == 1  # one direction at a time in the kernel, never more
    assert proxy.proxy.kernel_budget.free == 1  # each gave its place back
