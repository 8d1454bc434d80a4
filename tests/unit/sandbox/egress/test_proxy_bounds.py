"""The proxy's bounds: a stalled side holds the other back instead of filling memory,
and slow or excessive clients are cut off in bounded time.

The memory bound is shown from outside: every socket on the path has small kernel
buffers (the client's end is a socketpair handed to `EgressProxy.serve`, the upstream
connection is made with small buffers), so while the receiver stalls, what the sender
manages to push is the proxy's own buffering plus a little. It must stay far below the
20 MiB that pass once the receiver reads.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import socket
import threading
import time
from collections.abc import Callable
from ipaddress import ip_address

import pytest

from sandbox.egress import EgressLimits, EgressProxy, EgressRecord, Resolver
from sandbox.egress.zero_copy import SPLICE_AFTER
from security import NetworkPolicy
from tests.unit.sandbox.egress.loopback import (
    SPLICE_MODES,
    ProxyThread,
    exchange,
    parse_response,
    read_all,
    sni_extension,
    synthetic_hello,
)

pytestmark = pytest.mark.timeout(120)
Start = Callable[..., ProxyThread]
BODY = 20 * 1024 * 1024
SMALL = 16 * 1024  # kernel buffer sizes asked for (Linux doubles them)
HELD_AT_MOST = 2 * 1024 * 1024  # what the whole path may hold while the receiver stalls
STALL_S = 0.5  # no progress for this long: the sender is blocked


class StalledUpstream:
    """A TCP server on loopback with small buffers, for one connection, that reads
    nothing until ``release`` is set. With ``http``, it then reads one request (its body
    hashed) and answers 200; else it sends ``send`` bytes at once and, once released,
    reads until EOF."""

    def __init__(self, *, http: bool = False, send: int = 0) -> None:
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SMALL)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SMALL)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(1)
        self.port = self.listener.getsockname()[1]
        self.http, self.send = http, send
        self.release = threading.Event()
        self.body = hashlib.sha256()
        self.body_bytes = 0
        self.sent_bytes = 0
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        conn, _ = self.listener.accept()
        with conn:
            piece = bytes(range(256)) * 256
            while self.sent_bytes < self.send:
                self.sent_bytes += conn.send(piece[: self.send - self.sent_bytes])
            self.release.wait(60)
            if self.http:
                self._read_request(conn)
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
            else:
                while data := conn.recv(1 << 16):
                    self.body_bytes += len(data)

    def _read_request(self, conn: socket.socket) -> None:
        head = b""
        while not head.endswith(b"\r\n\r\n"):
            head += conn.recv(1)
        chunked = b"transfer-encoding: chunked" in head.lower()
        left = 0 if chunked else int(head.lower().split(b"content-length: ")[1].split(b"\r")[0])
        tail = b""
        while (chunked and not tail.endswith(b"\r\n0\r\n\r\n")) or left > 0:
            data = conn.recv(1 << 16 if chunked else min(left, 1 << 16))
            if not data:
                return
            self.body.update(data)
            self.body_bytes += len(data)
            left -= len(data)
            tail = (tail + data)[-7:]

    def close(self) -> None:
        self.release.set()
        self.thread.join(30)
        self.listener.close()


async def small_buffer_connect(
    address: str, port: int
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    assert ip_address(address).is_loopback
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SMALL)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SMALL)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, (address, port))
    return await asyncio.open_connection(sock=sock, limit=64 * 1024)


class ProxiedClient:
    """A client whose connection is a small-buffered socketpair served by ``proxy``."""

    def __init__(self, proxy: EgressProxy) -> None:
        self.sock, theirs = socket.socketpair()
        for end in (self.sock, theirs):
            end.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SMALL)
            end.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SMALL)
        self.sock.setblocking(False)
        self.loop = asyncio.get_running_loop()

        async def serve() -> None:
            reader, writer = await asyncio.open_connection(sock=theirs, limit=64 * 1024)
            await proxy.serve(reader, writer)

        self.served = asyncio.ensure_future(serve())

    async def send(self, data: bytes) -> None:
        await self.loop.sock_sendall(self.sock, data)

    async def push_until_stalled(self, data: bytes) -> int:
        """Send as much of ``data`` as goes without blocking for `STALL_S`; how much."""
        sent = 0
        last_progress = time.monotonic()
        while sent < len(data) and time.monotonic() - last_progress < STALL_S:
            try:
                count = self.sock.send(data[sent : sent + 65536])
            except BlockingIOError:
                await asyncio.sleep(0.01)
                continue
            sent += count
            last_progress = time.monotonic()
        return sent

    async def read_head(self) -> bytes:
        head = b""
        while not head.endswith(b"\r\n\r\n"):
            head += await self.loop.sock_recv(self.sock, 1)
        return head

    async def read_until_eof(self) -> bytes:
        chunks = []
        while chunk := await self.loop.sock_recv(self.sock, 1 << 16):
            chunks.append(chunk)
        return b"".join(chunks)


def bounded_proxy(
    upstream: StalledUpstream, records: list[EgressRecord], splice_after: int | None = SPLICE_AFTER
) -> EgressProxy:
    resolver = Resolver({"pypi.test": ip_address("127.0.0.1")})
    return EgressProxy(
        NetworkPolicy(allow=["pypi.test"]),
        resolver,
        records.append,
        connect=small_buffer_connect,
        splice_after=splice_after,
    )


@pytest.mark.parametrize("chunked", [False, True])
def test_an_upload_to_a_stalled_upstream_is_held_back(chunked: bool) -> None:
    body = os.urandom(BODY)
    upstream = StalledUpstream(http=True)
    records: list[EgressRecord] = []

    async def scenario() -> int:
        client = ProxiedClient(bounded_proxy(upstream, records))
        framing = "Transfer-Encoding: chunked" if chunked else f"Content-Length: {BODY}"
        head = f"POST http://pypi.test:{upstream.port}/ HTTP/1.1\r\n{framing}\r\n\r\n"
        payload = payload_of(body, chunked)
        await client.send(head.encode())
        pushed = await client.push_until_stalled(payload)
        upstream.release.set()
        await client.send(payload[pushed:])
        await client.read_until_eof()
        await client.served
        client.sock.close()
        return pushed

    pushed = asyncio.run(scenario())
    upstream.close()
    assert pushed < HELD_AT_MOST
    # Everything arrived once released, byte for byte (the chunks are re-framed as sent).
    assert upstream.body.hexdigest() == hashlib.sha256(payload_of(body, chunked)).hexdigest()
    (record,) = records
    assert record.decision == "allowed"
    assert record.error is None
    assert len(payload_of(body, chunked)) < record.bytes_up < len(payload_of(body, chunked)) + 300


def payload_of(body: bytes, chunked: bool) -> bytes:
    """``body`` as the client sends it: as is, or in 64 KiB chunks."""
    if not chunked:
        return body
    pieces = [body[i : i + 65536] for i in range(0, len(body), 65536)]
    return b"".join(b"%x\r\n%b\r\n" % (len(p), p) for p in pieces) + b"0\r\n\r\n"


@SPLICE_MODES
def test_a_download_to_a_stalled_client_is_held_back(splice_after: int | None) -> None:
    upstream = StalledUpstream(send=BODY)
    records: list[EgressRecord] = []
    hello = synthetic_hello([sni_extension(b"pypi.test")])

    async def scenario() -> bytes:
        client = ProxiedClient(bounded_proxy(upstream, records, splice_after))
        await client.send(f"CONNECT pypi.test:{upstream.port} HTTP/1.1\r\n\r\n".encode())
        assert (await client.read_head()).startswith(b"HTTP/1.1 200")
        await client.send(hello)
        deadline = time.monotonic() + 30
        last = -1
        while upstream.sent_bytes != last and time.monotonic() < deadline:
            last = upstream.sent_bytes
            await asyncio.sleep(STALL_S)
        assert upstream.sent_bytes < HELD_AT_MOST  # the client reads nothing yet
        upstream.release.set()
        client.sock.shutdown(socket.SHUT_WR)
        data = await client.read_until_eof()
        await client.served
        client.sock.close()
        return data

    data = asyncio.run(scenario())
    upstream.close()
    assert len(data) == BODY
    assert data == (bytes(range(256)) * (BODY // 256))
    (record,) = records
    assert (record.bytes_down, record.bytes_up) == (BODY, len(hello))


def test_a_slowloris_head_is_cut_off(start_proxy: Start) -> None:
    proxy = start_proxy(limits=EgressLimits(head_timeout_s=0.5))
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=10) as sock:
        answer = b""
        for byte in b"GET http://pypi.test/ HTTP/1.1\r\nX-Slow: " + b"a" * 200:
            try:
                sock.sendall(bytes([byte]))
            except OSError:
                break
            time.sleep(0.05)
            if time.monotonic() - started > 1.0:
                break
        answer = read_all(sock)
    response = parse_response(answer)
    assert response.status == 408
    assert response.headers["x-airlock-egress"] == "request head timeout"
    assert time.monotonic() - started < 5
    (record,) = proxy.wait_records(1)
    assert (record.decision, record.reason) == ("refused", "request head timeout")


def test_a_head_beyond_the_bound_is_refused(start_proxy: Start) -> None:
    proxy = start_proxy(limits=EgressLimits(max_head_bytes=1024))
    data = b"GET http://pypi.test/ HTTP/1.1\r\n" + b"X-Big: " + b"a" * 2000 + b"\r\n\r\n"
    response = parse_response(exchange(proxy.port, data))
    assert response.status == 431
    many = b"GET http://pypi.test/ HTTP/1.1\r\n" + b"X-A: b\r\n" * 200 + b"\r\n"
    assert parse_response(exchange(proxy.port, many)).status == 431


def test_connections_beyond_the_cap_are_turned_away(start_proxy: Start) -> None:
    proxy = start_proxy(limits=EgressLimits(max_connections=2))
    held = [socket.create_connection(("127.0.0.1", proxy.port), timeout=10) for _ in range(2)]
    for sock in held:
        sock.sendall(b"GET http://pypi.test/ HTTP/1.1\r\n")  # a head, not finished
    deadline = time.monotonic() + 10
    while proxy.proxy.active < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    response = parse_response(exchange(proxy.port, b"GET http://pypi.test/ HTTP/1.1\r\n\r\n"))
    assert response.status == 503
    assert response.headers["x-airlock-egress"] == "too many connections"
    for sock in held:
        sock.close()
    deadline = time.monotonic() + 10
    while proxy.proxy.active and time.monotonic() < deadline:
        time.sleep(0.01)
    again = parse_response(exchange(proxy.port, b"GET http://other.test/ HTTP/1.1\r\n\r\n"))
    assert again.status == 403  # served again, and judged


@SPLICE_MODES
def test_an_idle_tunnel_is_ended_and_recorded(splice_after: int | None) -> None:
    upstream = StalledUpstream()  # takes the connection, says nothing
    records: list[EgressRecord] = []

    async def scenario() -> None:
        proxy = bounded_proxy(upstream, records, splice_after)
        proxy.limits = EgressLimits(idle_timeout_s=0.3)
        client = ProxiedClient(proxy)
        await client.send(f"CONNECT pypi.test:{upstream.port} HTTP/1.1\r\n\r\n".encode())
        await client.read_head()
        await client.send(synthetic_hello([sni_extension(b"pypi.test")]))
        assert await asyncio.wait_for(client.read_until_eof(), 10) == b""
        await client.served
        client.sock.close()

    asyncio.run(scenario())
    upstream.close()
    (record,) = records
    assert (record.decision, record.error) == ("allowed", "idle timeout")


@SPLICE_MODES
def test_closing_the_proxy_ends_its_tunnels(splice_after: int | None) -> None:
    upstream = StalledUpstream()
    records: list[EgressRecord] = []

    async def scenario() -> None:
        proxy = bounded_proxy(upstream, records, splice_after)
        client = ProxiedClient(proxy)
        await client.send(f"CONNECT pypi.test:{upstream.port} HTTP/1.1\r\n\r\n".encode())
        await client.read_head()
        await client.send(synthetic_hello([sni_extension(b"pypi.test")]))
        await asyncio.sleep(0.3)
        assert proxy.active == 1
        await proxy.aclose()
        assert proxy.active == 0
        assert await asyncio.wait_for(client.read_until_eof(), 10) == b""
        client.sock.close()

    asyncio.run(scenario())
    upstream.close()
    (record,) = records
    assert record.error == "proxy stopped"
