"""What the egress tests run against: loopback upstreams, a test CA, a proxy in a thread.

Everything listens on 127.0.0.1. Names such as ``pypi.test`` reach the upstreams through
the resolver's mapping (what ``AIRLOCK_EGRESS_RESOLVE`` gives), other names through a
lookup table that never asks real DNS, and the proxy's upstream connections go through a
guard that refuses (and remembers) any address off loopback, so a test that goes wrong
sends no packet anywhere.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from ipaddress import ip_address
from pathlib import Path
from typing import Any

import pytest

from sandbox.egress import (
    EgressLimits,
    EgressProxy,
    EgressRecord,
    Resolver,
    open_upstream,
    parse_resolve_spec,
)
from sandbox.egress.zero_copy import SPLICE_AFTER
from security import NetworkPolicy

MAPPED = ("pypi.test", "files.pypi.test", "bad.pypi.test", "other.test", "git.test")
RESOLVE_SPEC = ",".join(f"{name}=127.0.0.1" for name in MAPPED)
LOOKUP_TABLE: dict[str, list[str]] = {
    "internal.test": ["10.1.2.3"],
    "metadata.test": ["169.254.169.254"],
    "azure.test": ["168.63.129.16"],
    "mixed.test": ["93.184.215.14", "10.0.0.7"],
    "ula.test": ["fd12:3456::1"],
    "v4mapped.test": ["::ffff:127.0.0.1"],
    "cgnat.test": ["100.64.0.9"],
    "localhost.test": ["127.0.0.1"],
}
WAIT_S = 20.0
SPLICE_MODES = pytest.mark.parametrize(
    "splice_after", [0, SPLICE_AFTER, None], ids=["kernel", "switching", "streams"]
)
"""Runs a test with its bytes moved by splice(2) from the start, after the default
threshold, and never."""


async def table_lookup(name: str, port: int) -> list[str]:
    """A resolver's lookup that answers from `LOOKUP_TABLE` and never asks DNS."""
    if name not in LOOKUP_TABLE:
        raise socket.gaierror(socket.EAI_NONAME, "unknown name")
    return LOOKUP_TABLE[name]


def mapped_resolver() -> Resolver:
    return Resolver(parse_resolve_spec(RESOLVE_SPEC), lookup=table_lookup)


# --- certificates -----------------------------------------------------------------


@dataclass(frozen=True)
class Certificates:
    ca: Path
    cert: Path
    key: Path


def make_certificates(folder: Path, names: Sequence[str]) -> Certificates:
    """A throwaway CA and a server certificate for ``names``, made by the openssl CLI."""
    folder.mkdir(parents=True, exist_ok=True)
    names_of = ("ca.key", "ca.pem", "s.key", "s.csr", "s.pem")
    ca_key, ca, key, csr, cert = (folder / name for name in names_of)
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    _openssl(
        "req", "-x509", *ec, "-keyout", str(ca_key), "-out", str(ca), "-days", "2",
        "-subj", "/CN=airlock egress test CA",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
    )  # fmt: skip
    _openssl("req", *ec, "-keyout", str(key), "-out", str(csr), "-subj", f"/CN={names[0]}")
    extensions = folder / "ext.cnf"
    extensions.write_text(
        "subjectAltName=" + ",".join(f"DNS:{name}" for name in names) + "\n"
        "basicConstraints=critical,CA:FALSE\n"
        "keyUsage=critical,digitalSignature\n"
        "extendedKeyUsage=serverAuth\n"
        "authorityKeyIdentifier=keyid\n"
        "subjectKeyIdentifier=hash\n"
    )
    _openssl(
        "x509", "-req", "-in", str(csr), "-CA", str(ca), "-CAkey", str(ca_key),
        "-CAcreateserial", "-out", str(cert), "-days", "2", "-extfile", str(extensions),
    )  # fmt: skip
    return Certificates(ca, cert, key)


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=60)


# --- upstream servers -------------------------------------------------------------


class UpstreamHandler(BaseHTTPRequestHandler):
    """``GET /echo``: the head it received; ``GET /bytes/N``: N bytes; ``POST
    /upload``: the body's length and sha256 (Content-Length or chunked)."""

    server: Upstream

    def setup(self) -> None:
        if self.server.tls is not None:
            self.request = self.server.tls.wrap_socket(self.request, server_side=True)
        super().setup()

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        if self.path == "/echo":
            self._reply(self._received_head())
        elif self.path.startswith("/bytes/"):
            size = int(self.path.removeprefix("/bytes/"))
            self.send_response(200)
            self.send_header("Content-Length", str(size))
            self.end_headers()
            piece = bytes(range(256)) * 256
            while size:
                sent = min(size, len(piece))
                self.wfile.write(piece[:sent])
                size -= sent
        else:
            self._reply(b"hello from upstream\n")

    def do_POST(self) -> None:
        digest = hashlib.sha256()
        total = 0
        for piece in self._body():
            digest.update(piece)
            total += len(piece)
        self._reply(f"{total} {digest.hexdigest()}\n{self._received_head().decode()}".encode())

    def _received_head(self) -> bytes:
        return (self.requestline + "\r\n" + str(self.headers)).encode("latin-1")

    def _body(self) -> Any:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            while size := int(self.rfile.readline().split(b";")[0], 16):
                yield self.rfile.read(size)
                self.rfile.readline()
            while self.rfile.readline() not in (b"\r\n", b""):
                pass
            return
        left = int(self.headers.get("Content-Length", "0"))
        while left:
            piece = self.rfile.read(min(left, 1 << 16))
            left -= len(piece)
            yield piece

    def _reply(self, body: bytes) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class Upstream(ThreadingHTTPServer):
    """An HTTP (or, with ``tls``, HTTPS) server on a loopback port, in a thread."""

    daemon_threads = True

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self.tls = tls
        super().__init__(("127.0.0.1", 0), UpstreamHandler)
        self.port = self.server_address[1]
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)
        self.thread.start()

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Quiet: the proxy connects before its SNI check, so refused tunnels end in
        failed handshakes here, as they should."""

    def stop(self) -> None:
        self.shutdown()
        self.server_close()


def server_tls(certs: Certificates) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certs.cert, certs.key)
    return context


def client_tls(certs: Certificates) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(certs.ca))


# --- the proxy in a thread --------------------------------------------------------


class ProxyThread:
    """An `EgressProxy` listening on a loopback port, its loop in a thread of its own so
    that blocking clients (urllib, curl, raw sockets) can drive it."""

    def __init__(
        self,
        policy: NetworkPolicy,
        *,
        resolver: Resolver | None = None,
        limits: EgressLimits | None = None,
        splice_after: int | None = SPLICE_AFTER,
    ) -> None:
        self.records: list[EgressRecord] = []
        self.off_loopback: list[str] = []
        self.connected: list[str] = []
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.proxy = EgressProxy(
            policy,
            resolver or mapped_resolver(),
            self.records.append,
            limits=limits,
            connect=self.guarded_connect,
            splice_after=splice_after,
        )
        self.server = self.run(self.proxy.listen_tcp())
        self.port: int = self.server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"

    async def guarded_connect(
        self, address: str, port: int
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        self.connected.append(address)
        if not ip_address(address).is_loopback:
            self.off_loopback.append(address)
            raise ConnectionRefusedError(111, "the test guard refuses addresses off loopback")
        return await open_upstream(address, port)

    def run(self, coroutine: Any, timeout: float = WAIT_S) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def wait_records(self, count: int, timeout: float = WAIT_S) -> list[EgressRecord]:
        """The first ``count`` records, once they are in (a record follows the close)."""
        deadline = time.monotonic() + timeout
        while len(self.records) < count and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(self.records) >= count, self.records
        return self.records[:count]

    def close(self) -> None:
        async def stop() -> None:
            self.server.close()
            await self.proxy.aclose()

        self.run(stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(WAIT_S)
        self.loop.close()
        assert self.off_loopback == []


# --- raw clients --------------------------------------------------------------------


def exchange(port: int, data: bytes, timeout: float = WAIT_S) -> bytes:
    """Send ``data`` to the proxy and read until it closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        return read_all(sock)


def read_all(sock: socket.socket) -> bytes:
    chunks = []
    while chunk := sock.recv(1 << 16):
        chunks.append(chunk)
    return b"".join(chunks)


@dataclass(frozen=True)
class Response:
    status: int
    headers: dict[str, str]
    body: bytes


def parse_response(raw: bytes) -> Response:
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    return Response(int(lines[0].split(" ")[1]), {k.lower(): v for k, v in headers.items()}, body)


def client_hello(server_name: str | None) -> bytes:
    """A real ClientHello (OpenSSL's, through Python's ssl) naming ``server_name``."""
    context = ssl.create_default_context()
    if server_name is None:
        context.check_hostname = False
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = context.wrap_bio(incoming, outgoing, server_hostname=server_name)
    with contextlib.suppress(ssl.SSLWantReadError):
        tls.do_handshake()
    return outgoing.read()


def reframed(hello: bytes, sizes: Sequence[int]) -> bytes:
    """``hello``'s handshake bytes split into TLS records of ``sizes`` (the rest last)."""
    handshake = b""
    at = 0
    while at < len(hello):
        length = int.from_bytes(hello[at + 3 : at + 5], "big")
        handshake += hello[at + 5 : at + 5 + length]
        at += 5 + length
    records = b""
    for size in [*sizes, len(handshake)]:
        part, handshake = handshake[:size], handshake[size:]
        if part:
            records += b"\x16\x03\x01" + len(part).to_bytes(2, "big") + part
    return records


def synthetic_hello(extensions: Sequence[tuple[int, bytes]], version: bytes = b"\x03\x03") -> bytes:
    """A minimal ClientHello record carrying ``extensions`` as given (type, data)."""
    block = b"".join(kind.to_bytes(2, "big") + len(data).to_bytes(2, "big") + data
                     for kind, data in extensions)  # fmt: skip
    body = version + bytes(32) + b"\x00" + b"\x00\x02\x13\x01" + b"\x01\x00"
    body += len(block).to_bytes(2, "big") + block
    handshake = b"\x01" + len(body).to_bytes(3, "big") + body
    return b"\x16\x03\x01" + len(handshake).to_bytes(2, "big") + handshake


def sni_extension(*names: bytes, name_type: int = 0) -> tuple[int, bytes]:
    """A server_name extension listing ``names``."""
    entries = b"".join(bytes([name_type]) + len(n).to_bytes(2, "big") + n for n in names)
    return 0, len(entries).to_bytes(2, "big") + entries


class TLSClient:
    """A TLS client driven over a raw socket (already through CONNECT), so that a test
    can choose how its ClientHello is framed and sent."""

    def __init__(self, sock: socket.socket, context: ssl.SSLContext, server_name: str) -> None:
        self.sock = sock
        self.incoming, self.outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.tls = context.wrap_bio(self.incoming, self.outgoing, server_hostname=server_name)
        with contextlib.suppress(ssl.SSLWantReadError):
            self.tls.do_handshake()
        self.hello = self.outgoing.read()

    def finish_handshake(self) -> None:
        while True:
            try:
                self.tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                self._flush()
                data = self.sock.recv(1 << 16)
                if not data:
                    raise ConnectionError("closed during the handshake") from None
                self.incoming.write(data)
        self._flush()

    def request(self, data: bytes) -> bytes:
        """Send ``data`` over TLS; what comes back until the server closes."""
        self.tls.write(data)
        self._flush()
        answer = b""
        while True:
            try:
                piece = self.tls.read(1 << 16)
            except ssl.SSLWantReadError:
                received = self.sock.recv(1 << 16)
                if not received:
                    return answer
                self.incoming.write(received)
                continue
            except ssl.SSLZeroReturnError:
                return answer
            if not piece:
                return answer
            answer += piece

    def _flush(self) -> None:
        if pending := self.outgoing.read():
            self.sock.sendall(pending)


def connect_tunnel(port: int, target: str, *headers: str) -> tuple[socket.socket, Response]:
    """A socket to the proxy after ``CONNECT target``, and the proxy's answer head."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=WAIT_S)
    lines = [f"CONNECT {target} HTTP/1.1", *headers, "", ""]
    sock.sendall("\r\n".join(lines).encode())
    head = b""
    while b"\r\n\r\n" not in head:
        piece = sock.recv(1)
        if not piece:
            break
        head += piece
    if head.startswith(b"HTTP/1.1 200"):
        return sock, parse_response(head)
    return sock, parse_response(head + read_all(sock))
