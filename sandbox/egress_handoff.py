"""The proxy takes each of the session's connections itself: the agent hands over the
connected socket (``SCM_RIGHTS``) instead of copying its bytes.

With the Unix socket transport alone (`sandbox/egress_socket.py`) every byte crosses the
agent's bridge, the Unix socket and the proxy: two relays, both on the session's two
cores. Under runc the agent's sockets are the host kernel's, so the agent passes the
accepted loopback connection to the proxy over a second socket in the same folder
(`HANDOFF_NAME`), and the proxy splices between it and the upstream directly: one relay,
the same checks (the proxy reads the request from the socket as it would from the
bridge). gVisor's sockets live in its Sentry and cannot cross to the host: there the
agent bridges as before.

What arrives is checked before anything reads it: exactly one descriptor, a connected
TCP socket (not a listener, not a file); anything else is closed unread. The agent's
bridge bounded a session's connections; the handoff leaves them with the agent at once,
so this side keeps that bound (`MAX_LIVE`), resetting any past it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import struct
from pathlib import Path

from sandbox.egress_bridge import wait_ready
from sandbox.egress_transport import EgressHandler

HANDOFF_NAME = "handoff.sock"
BACKLOG = 128
RECEIVE_TIMEOUT_S = 10.0  # for a connected agent to send its descriptor
MAX_RECEIVING = 64  # handoffs read at once; more wait in the backlog
MAX_LIVE = 128  # connections held at once (the agent's bridge keeps as many); more are reset

log = logging.getLogger(__name__)


class HandoffServer:
    """Accepts handoffs on a Unix socket and serves each socket with ``handler``. Runs on
    the proxy's loop (`sandbox.egress.run_on_proxy_loop`)."""

    def __init__(
        self, listener: socket.socket, handler: EgressHandler, max_live: int = MAX_LIVE
    ) -> None:
        self.listener = listener
        self.handler = handler
        self.max_live = max_live
        self.live = 0  # connections taken over and not yet ended
        self.tasks: set[asyncio.Task[None]] = set()
        self.receiving = asyncio.Semaphore(MAX_RECEIVING)
        self.received = 0  # connections taken over, for tests and diagnostics
        self.accepting = asyncio.ensure_future(self._accept())

    @classmethod
    async def start(
        cls, path: Path, handler: EgressHandler, max_live: int = MAX_LIVE
    ) -> HandoffServer:
        """Listen on ``path`` (its mode is the caller's to set)."""
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            listener.bind(str(path))
            listener.listen(BACKLOG)
            listener.setblocking(False)
        except OSError:
            listener.close()
            raise
        return cls(listener, handler, max_live)

    async def close(self) -> None:
        """Stop accepting, and drop the handoffs not yet received; connections already
        with ``handler`` end with the proxy."""
        self.accepting.cancel()
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(self.accepting, *self.tasks, return_exceptions=True)
        self.listener.close()

    async def _accept(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self.receiving.acquire()
            try:
                carrier, _ = await loop.sock_accept(self.listener)
            except OSError as exc:  # out of descriptors: try again soon
                self.receiving.release()
                log.warning("egress handoff: cannot accept: %s", exc)
                await asyncio.sleep(0.1)
                continue
            except BaseException:
                self.receiving.release()
                raise
            task = asyncio.ensure_future(self._serve(carrier))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    async def _serve(self, carrier: socket.socket) -> None:
        """Receive one socket from ``carrier``, then serve it."""
        try:
            with carrier:
                client = await asyncio.wait_for(receive_client(carrier), RECEIVE_TIMEOUT_S)
        except (OSError, TimeoutError):
            return
        finally:
            self.receiving.release()
        if client is None:
            return
        if self.live >= self.max_live:  # reset at once: nothing of it stays on the host
            with contextlib.suppress(OSError):
                client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            client.close()
            return
        self.received += 1
        self.live += 1
        try:
            try:
                reader, writer = await _accepted_streams(client)
            except OSError:
                client.close()
                return
            try:
                await self.handler(reader, writer)
            except asyncio.CancelledError:
                writer.transport.abort()
        finally:
            self.live -= 1


async def _accepted_streams(
    client: socket.socket,
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Streams on ``client`` as a server's are (the proxy's TLS termination starts TLS
    as the server side on them)."""
    loop = asyncio.get_running_loop()
    made: asyncio.Future[tuple[asyncio.StreamReader, asyncio.StreamWriter]]
    made = loop.create_future()

    def connected(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        made.set_result((reader, writer))

    protocol = asyncio.StreamReaderProtocol(asyncio.StreamReader(), connected)
    await loop.connect_accepted_socket(lambda: protocol, client)
    return await made


async def receive_client(carrier: socket.socket) -> socket.socket | None:
    """The connected TCP socket ``carrier`` brings, or None (what it brought closed)."""
    carrier.setblocking(False)
    loop = asyncio.get_running_loop()
    while True:
        try:
            data, fds, flags, _ = socket.recv_fds(carrier, 1, 1)
            break
        except BlockingIOError:
            await wait_ready(loop, carrier.fileno(), writing=False)
    if len(fds) != 1 or not data or flags & socket.MSG_CTRUNC:
        for fd in fds:
            os.close(fd)
        return None
    return as_client(fds[0])


def as_client(fd: int) -> socket.socket | None:
    """``fd`` as a socket when it is a connected TCP stream; else it is closed."""
    try:
        sock = socket.socket(fileno=fd)
    except OSError:  # not a socket at all
        os.close(fd)
        return None
    try:
        listening = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN)
        if sock.family not in (socket.AF_INET, socket.AF_INET6) or listening:
            raise OSError("not a TCP connection")
        if sock.type != socket.SOCK_STREAM:
            raise OSError("not a stream")
        sock.getpeername()  # raises ENOTCONN for one never connected
    except OSError:
        sock.close()
        return None
    return sock
