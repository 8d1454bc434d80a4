"""Reading a request head and body strictly: what follows the head stays in the
reader, framing that could hide a second request is refused, chunks are re-framed."""

from __future__ import annotations

import asyncio
import socket

import pytest

from sandbox.egress import EgressRefused
from sandbox.egress.http_body import BodyError, forward_body
from sandbox.egress.http_head import (
    RequestHead,
    Target,
    body_framing,
    parse_absolute_target,
    parse_authority,
    read_request_head,
    upstream_head,
)


def reader_of(data: bytes, eof: bool = True, limit: int = 1 << 16) -> asyncio.StreamReader:
    reader = asyncio.StreamReader(limit=limit)
    reader.feed_data(data)
    if eof:
        reader.feed_eof()
    return reader


def head_of(data: bytes, max_bytes: int = 1 << 16) -> RequestHead | None:
    async def read() -> RequestHead | None:
        return await read_request_head(reader_of(data), max_bytes)

    return asyncio.run(read())


def refused(data: bytes, max_bytes: int = 1 << 16) -> EgressRefused:
    with pytest.raises(EgressRefused) as caught:
        head_of(data, max_bytes)
    return caught.value


def test_a_head_is_read_and_what_follows_stays() -> None:
    async def read() -> tuple[RequestHead | None, bytes]:
        reader = reader_of(b"CONNECT a.test:443 HTTP/1.1\r\nHost:  a.test:443 \r\n\r\n\x16\x03")
        head = await read_request_head(reader, 1 << 16)
        return head, await reader.read()

    head, rest = asyncio.run(read())
    assert head == RequestHead("CONNECT", "a.test:443", "HTTP/1.1", (("Host", "a.test:443"),))
    assert rest == b"\x16\x03"


def test_nothing_at_all_is_no_head() -> None:
    assert head_of(b"") is None


@pytest.mark.parametrize(
    ("data", "status", "reason"),
    [
        (b"GET http://a.test/ HTTP/1.1\r\n", 400, "incomplete request head"),
        (b"GET http://a.test/ HTTP/1.1\r\nHost: a", 400, "incomplete"),
        (b"GET http://a.test/ HTTP/1.1\n\n", 400, "bare LF"),
        (b"\r\nGET http://a.test/ HTTP/1.1\r\n\r\n", 400, "empty line before"),
        (b"GET http://a.test/\r\n\r\n", 400, "malformed request line"),
        (b"G(T http://a.test/ HTTP/1.1\r\n\r\n", 400, "malformed request line"),
        (b"GET http://a.test/\x7f HTTP/1.1\r\n\r\n", 400, "malformed request line"),
        (b"GET http://a.test/ HTTP/0.9\r\n\r\n", 505, "unsupported HTTP version"),
        (b"GET http://a.test/ HTTP/1.1\r\nHost : a\r\n\r\n", 400, "malformed header line"),
        (b"GET http://a.test/ HTTP/1.1\r\nNo-colon\r\n\r\n", 400, "malformed header line"),
        (b"GET http://a.test/ HTTP/1.1\r\nA: b\r\n\tc\r\n\r\n", 400, "malformed header line"),
        (b"GET http://a.test/ HTTP/1.1\r\nA: b\rc\r\n\r\n", 400, "control character"),
    ],
)
def test_malformed_heads_are_refused(data: bytes, status: int, reason: str) -> None:
    error = refused(data)
    assert error.status == status
    assert reason in error.reason


def test_a_head_is_bounded_in_total_and_per_line() -> None:
    many = b"GET http://a.test/ HTTP/1.1\r\n" + b"A: b\r\n" * 100 + b"\r\n"
    assert refused(many, max_bytes=300).status == 431
    assert head_of(many, max_bytes=1000) is not None

    async def long_line() -> None:
        line = b"GET http://a.test/" + b"a" * 5000 + b" HTTP/1.1\r\n\r\n"
        await read_request_head(reader_of(line, limit=1024), 1 << 20)

    with pytest.raises(EgressRefused) as caught:
        asyncio.run(long_line())
    assert caught.value.status == 431


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("http://a.test/x?y", Target("a.test", 80, "/x?y")),
        ("HTTP://a.test:8080", Target("a.test", 8080, "/")),
        ("http://a.test?q=1", Target("a.test", 80, "/?q=1")),
        ("http://[::1]:81/", Target("[::1]", 81, "/")),
        ("http://127.0.0.1/", Target("127.0.0.1", 80, "/")),
    ],
)
def test_absolute_targets(target: str, expected: Target) -> None:
    assert parse_absolute_target(target) == expected


@pytest.mark.parametrize(
    "target",
    ["/x", "a.test/x", "https://a.test/", "http://u:p@a.test/", "http://a.test/#f",
     "http://a.test:/", "http://a.test:8o/", "http://[::1/", "http://[::1]x/"],
)  # fmt: skip
def test_other_targets_are_refused(target: str) -> None:
    with pytest.raises(EgressRefused) as caught:
        parse_absolute_target(target)
    assert caught.value.status == 400


def test_connect_authority_needs_a_port() -> None:
    assert parse_authority("a.test:443", None) == ("a.test", 443)
    assert parse_authority("[::1]:443", None) == ("[::1]", 443)
    assert parse_authority("::1:443", None) == ("::1", 443)  # the policy refuses "::1"
    with pytest.raises(EgressRefused):
        parse_authority("a.test", None)


def head(*headers: tuple[str, str], version: str = "HTTP/1.1") -> RequestHead:
    return RequestHead("POST", "http://a.test/", version, headers)


def test_body_framing() -> None:
    assert body_framing(head()).kind == "none"
    assert body_framing(head(("Content-Length", "12"))).length == 12
    assert body_framing(head(("Transfer-Encoding", "Chunked"))).kind == "chunked"
    for bad in (
        head(("Content-Length", "1"), ("Transfer-Encoding", "chunked")),
        head(("Content-Length", "1"), ("content-length", "1")),
        head(("Content-Length", "-1")),
        head(("Content-Length", "1 ")),
        head(("Content-Length", "0x10")),
        head(("Transfer-Encoding", "chunked"), ("Transfer-Encoding", "chunked")),
        head(("Transfer-Encoding", "identity")),
        head(("Transfer-Encoding", "chunked"), version="HTTP/1.0"),
    ):
        with pytest.raises(EgressRefused):
            body_framing(bad)


def test_the_upstream_head_drops_hop_by_hop_headers_but_never_the_framing() -> None:
    request = RequestHead(
        "POST",
        "http://a.test:81/p",
        "HTTP/1.1",
        (
            ("Connection", "content-length, host, X-Secret"),
            ("X-Secret", "s"),
            ("Content-Length", "3"),
            ("Proxy-Authorization", "Basic x"),
            ("Proxy-Anything", "x"),
            ("Upgrade", "websocket"),
            ("TE", "trailers"),
            ("Accept", "*/*"),
        ),
    )
    text = upstream_head(request, Target("a.test", 81, "/p")).decode()
    assert text == (
        "POST /p HTTP/1.1\r\nHost: a.test:81\r\nContent-Length: 3\r\nAccept: */*\r\n"
        "Connection: close\r\n\r\n"
    )


def forwarded(framing_head: RequestHead, body: bytes, piece: int = 4) -> tuple[bytes, int]:
    """What ``forward_body`` writes to a real socket, and what it counted."""

    async def run() -> tuple[bytes, int]:
        ours, theirs = socket.socketpair()
        _, writer = await asyncio.open_connection(sock=ours)
        counted = 0

        def sent(count: int) -> None:
            nonlocal counted
            counted += count

        await forward_body(
            body_framing(framing_head), reader_of(body), writer, piece=piece,
            max_trailer=64, sent=sent,
        )  # fmt: skip
        writer.close()
        await writer.wait_closed()
        with theirs:
            return b"".join(iter(lambda: theirs.recv(1 << 16), b"")), counted

    return asyncio.run(run())


def test_a_length_body_is_copied_exactly_and_nothing_after_it() -> None:
    data, counted = forwarded(head(("Content-Length", "10")), b"0123456789GET http://b/")
    assert (data, counted) == (b"0123456789", 10)


def test_a_chunked_body_is_reframed() -> None:
    body = b"3;name=v\r\nabc\r\n000A\r\n0123456789\r\n0;x\r\nTrailer: t\r\n\r\nGET http://b/"
    data, counted = forwarded(head(("Transfer-Encoding", "chunked")), body)
    assert data == b"3\r\nabc\r\na\r\n0123456789\r\n0\r\n\r\n"
    assert counted == len(data)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"0x3\r\nabc\r\n0\r\n\r\n", "malformed chunk size"),
        (b"+3\r\nabc\r\n0\r\n\r\n", "malformed chunk size"),
        (b"\r\n", "malformed chunk size"),
        (b"10000000000\r\n", "malformed chunk size"),
        (b"3\r\nabcX\r\n0\r\n\r\n", "chunk not followed by CRLF"),
        (b"3\nabc\r\n0\r\n\r\n", "malformed chunk line"),
        (b"3\r\nab", "cut short"),
        (b"0\r\n" + b"T: " + b"x" * 100 + b"\r\n\r\n", "trailer too large"),
    ],
)
def test_malformed_chunks_end_the_body(body: bytes, reason: str) -> None:
    with pytest.raises(BodyError) as caught:
        forwarded(head(("Transfer-Encoding", "chunked")), body)
    assert reason in str(caught.value)


def test_a_short_length_body_is_an_error() -> None:
    with pytest.raises(BodyError):
        forwarded(head(("Content-Length", "10")), b"01234")
