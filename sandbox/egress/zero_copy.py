"""Bytes moved by the kernel (Linux ``splice(2)``), never copied through Python, from
one plain stream socket to another: what `splice.pump` switches to for a large
transfer.

Through asyncio streams every byte is copied four times on its way (recv, the stream's
buffer, read, send); through a pipe and ``splice`` it is not copied in user space at
all, which roughly triples a transfer's throughput on loopback. Each direction owns a
pipe of `PIPE_BYTES`: all it holds, so that is the memory bound. Setting it up costs a
few turns of the event loop, which is why small transfers stay on streams.

Taking a direction over from the streams: the source's transport stops reading
(``pause_reading``), what its stream already holds is sent first, the target's
transport is flushed empty, and the relay then works on duplicates of both sockets'
descriptors. The transports still own the sockets and close them at the end; the
opposite direction is not touched.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import socket
import sys
from collections.abc import Callable
from dataclasses import dataclass

from sandbox.egress.broker import StreamPair
from sandbox.egress_bridge import wait_ready

AVAILABLE = sys.platform == "linux" and hasattr(os, "splice")
PIPE_BYTES = 1024 * 1024
UNIX_SEND_BUFFER = 1024 * 1024  # asked of a Unix socket a relay writes to (the kernel
# doubles it): the proxy's side of the socket transport, which the pipe fills at once
SPLICE_AFTER = 256 * 1024  # bytes a direction moves on streams before it switches
_MOVE = getattr(os, "SPLICE_F_MOVE", 0) | getattr(os, "SPLICE_F_NONBLOCK", 0)


def eligible(writer: asyncio.StreamWriter) -> bool:
    """Whether ``writer``'s stream is on a plain (not TLS) stream socket whose
    transport can pause its reading."""
    sock = writer.get_extra_info("socket")
    return (
        AVAILABLE
        and sock is not None
        and sock.type == socket.SOCK_STREAM
        and writer.get_extra_info("sslcontext") is None
        and hasattr(writer.transport, "pause_reading")
        and not writer.transport.is_closing()
    )


@dataclass
class _Taken:
    sock: socket.socket  # a duplicate of the stream's socket
    held: bytes  # read by the stream, not yet handed out
    at_eof: bool


async def _take(pair: StreamPair) -> _Taken:
    reader, writer = pair
    transport = writer.transport
    held = bytearray()
    at_eof = False
    while True:
        transport.pause_reading()  # type: ignore[attr-defined]
        taking = asyncio.ensure_future(reader.read(1 << 20))
        await asyncio.sleep(0)  # one turn: a read of buffered bytes is done by now
        if not taking.done():
            taking.cancel()
            await asyncio.gather(taking, return_exceptions=True)
            break
        data = taking.result()
        if not data:
            at_eof = True
            break
        held += data
    transport.pause_reading()  # type: ignore[attr-defined]
    return _Taken(writer.get_extra_info("socket").dup(), bytes(held), at_eof)


async def _relay(source: _Taken, target: socket.socket, moved: Callable[[int], None]) -> None:
    """Move bytes from ``source`` to ``target`` through a pipe until EOF, then
    half-close ``target``."""
    loop = asyncio.get_running_loop()
    pipe_out, pipe_in = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    with contextlib.suppress(OSError):
        fcntl.fcntl(pipe_in, fcntl.F_SETPIPE_SZ, PIPE_BYTES)
    try:
        while not source.at_eof:
            try:
                count = os.splice(source.sock.fileno(), pipe_in, PIPE_BYTES, flags=_MOVE)
            except BlockingIOError:
                await wait_ready(loop, source.sock.fileno(), writing=False)
                continue
            if count == 0:
                break
            left = count
            while left:
                try:
                    left -= os.splice(pipe_out, target.fileno(), left, flags=_MOVE)
                except BlockingIOError:
                    await wait_ready(loop, target.fileno(), writing=True)
            moved(count)
        target.shutdown(socket.SHUT_WR)
    finally:
        os.close(pipe_out)
        os.close(pipe_in)


async def pump_sockets(
    source: StreamPair, target: asyncio.StreamWriter, *, moved: Callable[[int], None]
) -> None:
    """``source``'s bytes to ``target`` in the kernel until EOF, then half-close
    ``target``. Both writers must be `eligible`; nothing else may write to ``target``
    meanwhile (reading from it goes on as before)."""
    taken = await _take(source)
    try:
        if taken.held:
            target.write(taken.held)
            moved(len(taken.held))
        target.transport.set_write_buffer_limits(high=0)
        await target.drain()
        with target.get_extra_info("socket").dup() as sock:
            if sock.family == socket.AF_UNIX:
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, UNIX_SEND_BUFFER)
            await _relay(taken, sock, moved)
    finally:
        taken.sock.close()


class KernelBudget:
    """How many directions of one proxy may move in the kernel at once: each holds a
    pipe of `PIPE_BYTES` and, toward a Unix socket, a send buffer of twice
    `UNIX_SEND_BUFFER`, which a session that stops reading keeps full. The others stay
    on streams (a piece at a time)."""

    def __init__(self, directions: int) -> None:
        self.free = directions

    def take(self) -> bool:
        if self.free <= 0:
            return False
        self.free -= 1
        return True

    def give_back(self) -> None:
        self.free += 1
