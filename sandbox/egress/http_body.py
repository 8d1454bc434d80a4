"""Carrying a request body upstream as it arrives, never more than one piece at a time.

A Content-Length body is copied byte for byte; a chunked one is parsed and written out
again in plain chunks (extensions and trailers dropped), so the upstream sees exactly
where the request ends and nothing the client sent after it. Each piece is written and
drained before the next is read: memory stays bounded whatever the body's size.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable

from sandbox.egress.http_head import BodyFraming

MAX_CHUNK_LINE = 4096
_HEX_SIZE = re.compile(rb"[0-9a-fA-F]{1,10}")  # 1 TiB at most


class BodyError(ValueError):
    """A request body that is cut short or malformed: the exchange is abandoned."""


async def forward_body(
    framing: BodyFraming,
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    *,
    piece: int,
    max_trailer: int,
    sent: Callable[[int], None],
) -> None:
    """Copy the body ``framing`` describes from ``reader`` to ``writer``, ``piece`` bytes
    at most at a time; ``sent(n)`` counts what went upstream."""
    if framing.kind == "length":
        await _copy(reader, writer, framing.length, piece, sent)
    elif framing.kind == "chunked":
        await _chunked(reader, writer, piece, max_trailer, sent)


async def _copy(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    length: int,
    piece: int,
    sent: Callable[[int], None],
) -> None:
    left = length
    while left:
        data = await reader.read(min(piece, left))
        if not data:
            raise BodyError("request body cut short")
        left -= len(data)
        writer.write(data)
        sent(len(data))
        await writer.drain()


async def _line(reader: asyncio.StreamReader) -> bytes:
    try:
        line = await reader.readline()
    except ValueError:
        raise BodyError("chunk line too long") from None
    if not line.endswith(b"\r\n"):
        raise BodyError("malformed chunk line" if line else "request body cut short")
    if len(line) > MAX_CHUNK_LINE:
        raise BodyError("chunk line too long")
    return line[:-2]


async def _chunked(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    piece: int,
    max_trailer: int,
    sent: Callable[[int], None],
) -> None:
    while True:
        size_text = (await _line(reader)).split(b";", 1)[0].strip(b" \t")
        if not _HEX_SIZE.fullmatch(size_text):
            raise BodyError("malformed chunk size")
        size = int(size_text, 16)
        if size == 0:
            await _skip_trailer(reader, max_trailer)
            writer.write(b"0\r\n\r\n")
            sent(5)
            await writer.drain()
            return
        head = f"{size:x}\r\n".encode()
        writer.write(head)
        sent(len(head))
        await _copy(reader, writer, size, piece, sent)
        if await reader.readexactly(2) != b"\r\n":
            raise BodyError("chunk not followed by CRLF")
        writer.write(b"\r\n")
        sent(2)


async def _skip_trailer(reader: asyncio.StreamReader, max_trailer: int) -> None:
    total = 0
    while line := await _line(reader):
        total += len(line) + 2
        if total > max_trailer:
            raise BodyError("trailer too large")
