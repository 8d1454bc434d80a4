"""The TLS ClientHello a tunnel opens with: read within bounds, and its server name.

A CONNECT is judged by its host, but the bytes in the tunnel could name another server
behind the same front (domain fronting), so the proxy reads the ClientHello before
carrying anything and wants its SNI to be the CONNECT host. The hello may span several
TLS records and arrive in any number of reads; every length in it is checked against
what holds it, and the whole is bounded. What is read is kept, byte for byte, to be sent
upstream once the check passes.

`NotTLS` is raised when the tunnel does not start with a TLS handshake record;
`HelloRefused` when it does but the hello is malformed, too large or not alone.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from sandbox.egress.refusal import EgressRefused

HANDSHAKE = 22
CLIENT_HELLO = 1
MAX_RECORD = 1 << 14  # TLSPlaintext.length at most
EXT_SERVER_NAME = 0
EXT_ENCRYPTED_CLIENT_HELLO = 0xFE0D
HOST_NAME = 0


class NotTLS(EgressRefused):
    """The tunnel's first bytes are not a TLS handshake record."""


class HelloRefused(EgressRefused):
    """A TLS handshake that is not one well-formed ClientHello within bounds."""


@dataclass(frozen=True)
class ClientHello:
    """The records that carried the hello (``raw``), its SNI host name if any, and
    whether it carries an encrypted ClientHello (ECH hides the real server name)."""

    raw: bytes
    server_name: str | None
    encrypted: bool


async def read_client_hello(reader: asyncio.StreamReader, max_bytes: int) -> ClientHello:
    """Read records from ``reader`` until one whole ClientHello is in, at most
    ``max_bytes`` of records; nothing past the last record is read."""
    raw = bytearray()
    handshake = bytearray()
    while True:
        header = await _exactly(reader, 5, first=not raw)
        if header[0] != HANDSHAKE:
            if not raw:
                raise NotTLS("not TLS after CONNECT")
            raise HelloRefused("a TLS record other than the ClientHello came first")
        if header[1] != 3 or not 1 <= header[2] <= 3:
            raise (HelloRefused if raw else NotTLS)("not TLS after CONNECT")
        length = int.from_bytes(header[3:5], "big")
        if not 0 < length <= MAX_RECORD + 256:
            raise HelloRefused("malformed TLS record")
        if len(raw) + 5 + length > max_bytes:
            raise HelloRefused("ClientHello too large")
        raw += header
        body = await _exactly(reader, length, first=False)
        raw += body
        handshake += body
        if len(handshake) < 4:
            continue
        if handshake[0] != CLIENT_HELLO:
            raise HelloRefused("the first handshake message is not a ClientHello")
        size = int.from_bytes(handshake[1:4], "big")
        if 4 + size > max_bytes:
            raise HelloRefused("ClientHello too large")
        if len(handshake) < 4 + size:
            continue
        if len(handshake) > 4 + size:
            raise HelloRefused("more handshake data after the ClientHello")
        name, encrypted = parse_client_hello(bytes(handshake[4:]))
        return ClientHello(bytes(raw), name, encrypted)


async def _exactly(reader: asyncio.StreamReader, count: int, *, first: bool) -> bytes:
    try:
        return await reader.readexactly(count)
    except asyncio.IncompleteReadError as exc:
        if first and exc.partial and exc.partial[0] != HANDSHAKE:
            raise NotTLS("not TLS after CONNECT") from None
        raise HelloRefused("the client closed before its ClientHello ended") from None


class _Cursor:
    """Reads fields off a byte string; running past its end is a malformed hello."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.at = 0

    def left(self) -> int:
        return len(self.data) - self.at

    def take(self, count: int) -> bytes:
        if count > self.left():
            raise HelloRefused("malformed ClientHello")
        part = self.data[self.at : self.at + count]
        self.at += count
        return part

    def number(self, width: int) -> int:
        return int.from_bytes(self.take(width), "big")

    def vector(self, width: int) -> _Cursor:
        """The next length-prefixed field, as a cursor of its own."""
        return _Cursor(self.take(self.number(width)))


def parse_client_hello(body: bytes) -> tuple[str | None, bool]:
    """The SNI host name (None if there is none) and whether ECH is offered, from a
    ClientHello's body (after its 4-byte handshake header). `HelloRefused` when it is
    malformed: a length that overruns, a repeated extension, more than one name."""
    hello = _Cursor(body)
    hello.take(2 + 32)  # legacy_version, random
    if hello.vector(1).left() > 32:
        raise HelloRefused("malformed ClientHello")  # legacy_session_id
    suites = hello.vector(2).left()
    if suites == 0 or suites % 2:
        raise HelloRefused("malformed ClientHello")
    if hello.vector(1).left() == 0:  # legacy_compression_methods
        raise HelloRefused("malformed ClientHello")
    if hello.left() == 0:
        return None, False  # no extensions at all
    extensions = hello.vector(2)
    if hello.left():
        raise HelloRefused("malformed ClientHello")
    seen: set[int] = set()
    name: str | None = None
    while extensions.left():
        kind = extensions.number(2)
        data = extensions.vector(2)
        if kind in seen:
            raise HelloRefused("an extension repeated in the ClientHello")
        seen.add(kind)
        if kind == EXT_SERVER_NAME:
            name = _server_name(data)
    return name, EXT_ENCRYPTED_CLIENT_HELLO in seen


def _server_name(data: _Cursor) -> str:
    """The one host_name in a server_name extension, as ASCII text."""
    names = data.vector(2)
    if data.left():
        raise HelloRefused("malformed server_name extension")
    found: list[bytes] = []
    while names.left():
        kind = names.number(1)
        entry = names.vector(2)
        found.append(entry.take(entry.left()))
        if kind != HOST_NAME:
            raise HelloRefused("a server name that is not a host name")
    if len(found) != 1 or not found[0] or not found[0].isascii():
        raise HelloRefused("not exactly one ASCII server name")
    return found[0].decode("ascii")
