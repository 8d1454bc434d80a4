"""`airlock exec`'s stdin, forwarded to the command as it comes.

A pipe or a socket is read without blocking, in bounded chunks (the channel's send waits
for the sandbox, so nothing piles up here); a regular file is read in a worker thread,
chunk by chunk. A terminal is not forwarded: a person would have to type an end of file
before any command could finish, so the command reads an empty stdin (/dev/null), as
when our stdin is closed.
"""

from __future__ import annotations

import asyncio
import os
import stat
from collections.abc import AsyncIterator
from typing import TextIO

CHUNK = 64 * 1024


def forwarded_stdin(stream: TextIO | None) -> AsyncIterator[bytes] | None:
    """What the command's stdin gets from ``stream``: its bytes, or None (empty)."""
    if stream is None:
        return None
    try:
        fd = stream.fileno()
        mode = os.fstat(fd).st_mode
    except (OSError, ValueError):  # closed, or not backed by a file descriptor
        return None
    if os.isatty(fd):
        return None
    if stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode):
        return _pipe_chunks(fd)
    return _file_chunks(fd)


async def _pipe_chunks(fd: int) -> AsyncIterator[bytes]:
    """A pipe's bytes without a blocked thread: a writer that never closes cannot keep
    `airlock exec` from ending once the command has."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=CHUNK)
    pipe = os.fdopen(os.dup(fd), "rb", buffering=0)
    transport, _ = await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), pipe)
    try:
        while piece := await reader.read(CHUNK):
            yield piece
    finally:
        transport.close()


async def _file_chunks(fd: int) -> AsyncIterator[bytes]:
    """A file's (or a device's such as /dev/null) bytes; each read returns at once."""
    while piece := await asyncio.to_thread(os.read, fd, CHUNK):
        yield piece
