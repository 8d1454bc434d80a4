"""Reading a proxy request's head, strictly and within bounds, and rewriting it upstream.

The head is read line by line (a line ends in CRLF; a bare LF, a folded header, a control
character or a malformed line is a 400), at most ``max_bytes`` in all (a 431 beyond),
and what follows the head stays in the reader: a CONNECT's ClientHello, a body.

What reaches the upstream is the origin-form request line and the client's headers
without the hop-by-hop ones (``Connection`` and what it names, every ``Proxy-*``,
``Keep-Alive``, ``TE``, ``Trailer``, ``Upgrade``), with ``Connection: close``: the proxy
carries one request per connection.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from typing import Literal

from sandbox.egress.refusal import EgressRefused

_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_TARGET = re.compile(r"[\x21-\x7e]+")
_VALUE = re.compile(r"[\t\x20-\x7e\x80-\xff]*")
VERSIONS = ("HTTP/1.0", "HTTP/1.1")
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-connection",
        "proxy-authorization",
        "proxy-authenticate",
        "te",
        "trailer",
        "upgrade",
    }
)
_FRAMING = frozenset({"host", "content-length", "transfer-encoding"})  # never dropped
MAX_CONTENT_LENGTH = 1 << 50


@dataclass(frozen=True)
class RequestHead:
    """A request line and its headers, as the client sent them (decoded as Latin-1)."""

    method: str
    target: str
    version: str
    headers: tuple[tuple[str, str], ...]

    def values(self, name: str) -> list[str]:
        """Every value of header ``name`` (any case), in order."""
        wanted = name.lower()
        return [value for key, value in self.headers if key.lower() == wanted]

    def single(self, name: str) -> str | None:
        """The value of header ``name``, None if absent, a 400 if given twice."""
        found = self.values(name)
        if len(found) > 1:
            raise EgressRefused(f"{name} header given twice", 400)
        return found[0] if found else None


@dataclass(frozen=True)
class Target:
    """Where a request goes: a host as written (not yet judged), a port, and for plain
    HTTP the origin-form path (``/`` at least)."""

    host: str
    port: int
    path: str = ""


@dataclass(frozen=True)
class BodyFraming:
    """How the request's body ends: no body, ``length`` bytes, or chunked."""

    kind: Literal["none", "length", "chunked"]
    length: int = 0


async def read_request_head(reader: asyncio.StreamReader, max_bytes: int) -> RequestHead | None:
    """The next request head, or None when the client closed before sending a byte.
    `EgressRefused` (400 or 431) when the head is malformed, cut short or too large.
    A single line is also bounded by the reader's own limit."""
    lines: list[bytes] = []
    total = 0
    while True:
        try:
            line = await reader.readline()
        except ValueError:  # longer than the reader's limit
            raise EgressRefused("request head too large", 431) from None
        total += len(line)
        if total > max_bytes:
            raise EgressRefused("request head too large", 431)
        if not line:
            if total == 0:
                return None
            raise EgressRefused("incomplete request head", 400)
        if not line.endswith(b"\r\n"):
            problem = "bare LF in request head" if line.endswith(b"\n") else "incomplete head"
            raise EgressRefused(problem, 400)
        if line == b"\r\n":
            if not lines:
                raise EgressRefused("empty line before the request line", 400)
            return _parsed(lines)
        lines.append(line[:-2])


def _parsed(lines: list[bytes]) -> RequestHead:
    parts = lines[0].decode("latin-1").split(" ")
    if len(parts) != 3 or not _TOKEN.fullmatch(parts[0]) or not _TARGET.fullmatch(parts[1]):
        raise EgressRefused("malformed request line", 400)
    if parts[2] not in VERSIONS:
        raise EgressRefused("unsupported HTTP version", 505)
    headers: list[tuple[str, str]] = []
    for raw in lines[1:]:
        text = raw.decode("latin-1")
        name, colon, value = text.partition(":")
        if not colon or not _TOKEN.fullmatch(name):  # also a folded line: it starts with SP
            raise EgressRefused("malformed header line", 400)
        value = value.strip(" \t")
        if not _VALUE.fullmatch(value):
            raise EgressRefused("control character in a header", 400)
        headers.append((name, value))
    return RequestHead(parts[0], parts[1], parts[2], tuple(headers))


def parse_authority(text: str, default_port: int | None) -> tuple[str, int]:
    """``host[:port]`` split; the host as written (a bracketed IPv6 kept whole, for the
    policy to refuse), the port ``default_port`` when absent. A 400 when malformed."""
    if "@" in text:
        raise EgressRefused("user info in the request target", 400)
    if text.startswith("["):
        end = text.find("]")
        host, rest = text[: end + 1], text[end + 1 :]
        port_text = rest[1:] if rest.startswith(":") else None
        if end < 0 or (rest and port_text is None):
            raise EgressRefused("malformed authority", 400)
    elif ":" in text:
        host, _, port_text = text.rpartition(":")
    else:
        host, port_text = text, None
    if port_text is None:
        if default_port is None:
            raise EgressRefused("CONNECT needs host:port", 400)
        return host, default_port
    if not port_text.isascii() or not port_text.isdigit() or len(port_text) > 5:
        raise EgressRefused("malformed port", 400)
    if not 1 <= int(port_text) <= 65535:
        raise EgressRefused("invalid port", 400)
    return host, int(port_text)


def parse_absolute_target(target: str) -> Target:
    """An absolute-form ``http://host[:port]/path`` request target. Anything else
    (origin-form, ``https://``, another scheme) is refused: a client speaks HTTPS
    through CONNECT."""
    scheme, sep, rest = target.partition("://")
    if not sep or not scheme.isascii():
        raise EgressRefused("not a proxy request (absolute http:// URL expected)", 400)
    if scheme.lower() != "http":
        raise EgressRefused(f"{scheme.lower()}:// through a plain request (use CONNECT)", 400)
    if "#" in rest:
        raise EgressRefused("fragment in the request target", 400)
    end = min((i for i in (rest.find("/"), rest.find("?")) if i >= 0), default=len(rest))
    host, port = parse_authority(rest[:end], 80)
    path = rest[end:]
    path = path if path.startswith("/") else "/" + path
    return Target(host, port, path)


def body_framing(head: RequestHead) -> BodyFraming:
    """How ``head``'s body is framed; a 400 or 501 when it is ambiguous (both
    Content-Length and Transfer-Encoding, a repeated or malformed length, a coding
    other than chunked): the proxy never guesses where one request ends."""
    codings = head.values("transfer-encoding")
    lengths = head.values("content-length")
    if codings:
        if lengths:
            raise EgressRefused("both Content-Length and Transfer-Encoding", 400)
        if head.version == "HTTP/1.0":
            raise EgressRefused("Transfer-Encoding in an HTTP/1.0 request", 400)
        if len(codings) > 1 or codings[0].lower() != "chunked":
            raise EgressRefused("unsupported Transfer-Encoding", 501)
        return BodyFraming("chunked")
    if not lengths:
        return BodyFraming("none")
    if len(lengths) > 1:
        raise EgressRefused("Content-Length given twice", 400)
    text = lengths[0]
    if not text.isascii() or not text.isdigit() or int(text) > MAX_CONTENT_LENGTH:
        raise EgressRefused("malformed Content-Length", 400)
    return BodyFraming("length", int(text))


def _is_proxy_header(name: str) -> bool:
    """``Proxy-*`` headers are for the proxy (credentials, keep-alive): never sent on."""
    return name.lower().startswith("proxy-")


def upstream_head(
    head: RequestHead, target: Target, headers: list[tuple[str, str]] | None = None
) -> bytes:
    """The head to send upstream: origin-form, hop-by-hop headers dropped, a Host
    added when the client sent none, and ``Connection: close``. ``headers`` replaces the
    client's headers when given (a credential broker's rewrite)."""
    named = {
        token.strip().lower()
        for value in head.values("connection")
        for token in value.split(",")
        if token.strip()
    }
    dropped = (HOP_BY_HOP | named) - _FRAMING
    given = headers if headers is not None else head.headers
    kept = [(k, v) for k, v in given if k.lower() not in dropped and not _is_proxy_header(k)]
    if not any(k.lower() == "host" for k, _ in kept):
        authority = target.host if target.port == 80 else f"{target.host}:{target.port}"
        kept.insert(0, ("Host", authority))
    lines = [f"{head.method} {target.path} {head.version}", *(f"{k}: {v}" for k, v in kept)]
    lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
