"""The host's end of egress: each connection made in a session becomes a stream pair.

A session has no network interface but loopback. The exec agent listens on a loopback
port inside it (`sandbox/egress_relay.py` has the frames) and forwards every connection
to that port over the exec channel; here each one is handed to the session's egress
handler (its proxy) as a real ``(asyncio.StreamReader, asyncio.StreamWriter)`` pair,
exactly as ``asyncio.start_server`` would, with half-close (``write_eof``) and
backpressure (``drain``). It works the same under runc and runsc, needs no socket or
mount shared with the host, and goes wherever the exec channel goes.

The agent runs in the attacker's container, so what it sends is checked, and nothing it
sends can grow the host's memory without bound or stall the channel:

- at most ``max_conns`` connections at a time; a connection number must be new (higher
  than every one before); anything else is refused with ``tcp_close``;
- per connection, the agent may send ``up_window`` bytes (frame credit included) before
  the host grants more, and the host grants only as the handler's reader takes them (the
  reader pauses the transport above its limit, as a socket's would): the host holds at
  most ``max_conns`` times that. A connection that sends past its credit is reset, its
  handler sees ``ConnectionResetError``;
- frames never wait in the channel's read loop: a handler that does not read holds back
  its own connection only.

A handler that raises resets its connection (the client sees ECONNRESET); one that
returns has its writer closed (the client sees EOF after every byte written).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

from sandbox.base import SandboxError

EgressHandler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
"""Serves one connection from the session, like a callback of ``asyncio.start_server``."""

Send = Callable[[dict[str, Any], bytes], Awaitable[None]]
Post = Callable[[dict[str, Any]], None]

# Bytes in flight per connection. Down (to the sandbox) is buffered in the sandbox, up
# on the host: a larger down window makes downloads faster (measured: 1 MiB gives ~2/3
# of 4 MiB's throughput), while the up window bounds what the host keeps per connection.
DOWN_WINDOW = 4 * 1024 * 1024
UP_WINDOW = 1024 * 1024
CHUNK = 256 * 1024  # largest tcp_data payload the host sends
CREDIT_BATCH = 4  # credit goes back once 1/CREDIT_BATCH of the up window was taken
READER_LIMIT = 64 * 1024  # the handler's StreamReader pauses at twice this
WRITE_HIGH = 256 * 1024  # the handler's drain() waits above this many unsent bytes
MAX_CONNS = 64  # connections of one session at a time
ERROR_CHARS = 500  # what is kept of the agent's reason for a reset
MAX_PEER_HOST = 64  # characters of a peer address the agent reports (an IPv6 one fits)
CLOSE_GRACE = 5.0  # seconds closing waits for the handlers to end once cancelled


class EgressUnavailable(SandboxError):
    """The session cannot carry egress (its image has no python3 for the agent)."""


class EgressTunnel:
    """The connections of one session's exec channel, served by one handler.

    The channel calls `frame` for every ``tcp_*`` frame (it never waits), and `lost`
    when it goes away. ``send`` writes one frame and waits until the agent takes it;
    ``post`` queues a small control frame without waiting.
    """

    def __init__(
        self,
        handler: EgressHandler,
        send: Send,
        post: Post,
        *,
        frame_credit: int,
        down_window: int = DOWN_WINDOW,
        up_window: int = UP_WINDOW,
        max_conns: int = MAX_CONNS,
        port: int = 0,
    ) -> None:
        self.handler = handler
        self.send = send
        self.post = post
        self.frame_credit = frame_credit
        self.down_window = down_window
        self.up_window = up_window
        self.max_conns = max_conns
        self.port = port
        self.conns: dict[int, _TunnelTransport] = {}
        self.tasks: set[asyncio.Task[None]] = set()
        self.last_conn = 0
        self.opened = 0  # connections served so far
        self.refused = 0  # connections refused at open (over the cap, a reused number)

    def frame(self, kind: str, header: dict[str, Any], body: bytes) -> None:
        """Deliver one frame of the agent; frames of a connection already gone are dropped."""
        conn = header.get("conn")
        if not isinstance(conn, int) or isinstance(conn, bool):
            return
        if kind == "tcp_open":
            self._open(conn, header.get("peer"))
            return
        transport = self.conns.get(conn)
        if transport is None:
            return
        if kind == "tcp_data":
            transport.received(body)
        elif kind == "tcp_eof":
            transport.received_eof()
        elif kind == "tcp_close":
            error = header.get("error")
            transport.remote_closed(None if error is None else str(error)[:ERROR_CHARS])
        elif kind == "tcp_credit":
            size = header.get("bytes")
            if isinstance(size, int) and not isinstance(size, bool) and size > 0:
                transport.granted(size)

    def lost(self, reason: str) -> None:
        """The channel is gone: every connection is reset with ``reason``."""
        for transport in list(self.conns.values()):
            transport.remote_closed(f"the sandbox's channel was lost: {reason}")

    async def close(self) -> None:
        """Stop every handler (the session is closing)."""
        for transport in list(self.conns.values()):
            transport.abort()
        for task in list(self.tasks):
            task.cancel()
        if self.tasks:  # a handler that swallows its cancellation is not waited for long
            await asyncio.wait(list(self.tasks), timeout=CLOSE_GRACE)

    def _open(self, conn: int, peer: Any) -> None:
        why = None
        if conn <= self.last_conn:
            why = f"connection number {conn} is not new"
        elif len(self.conns) >= self.max_conns:
            why = f"the session has {self.max_conns} egress connections open already"
        if why is not None:
            self.refused += 1
            self.post({"type": "tcp_close", "conn": conn, "error": why})
            return
        self.last_conn = conn
        self.opened += 1
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader(limit=READER_LIMIT)
        # The server's side of a connection, as asyncio.start_server builds it: the
        # protocol makes the writer and hands it over (and start_tls then acts as server).
        writers: list[asyncio.StreamWriter] = []
        protocol = asyncio.StreamReaderProtocol(reader, lambda _, w: writers.append(w))
        peername = _peername(peer)
        transport = _TunnelTransport(self, conn, protocol, peername)
        self.conns[conn] = transport
        protocol.connection_made(transport)
        (writer,) = writers
        task = loop.create_task(self._serve(transport, reader, writer), name=f"egress-{conn}")
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _serve(
        self,
        transport: _TunnelTransport,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        try:
            await self.handler(reader, writer)
        except Exception as exc:
            transport.abort(f"the egress handler failed: {type(exc).__name__}: {exc}")
        finally:
            if not writer.transport.is_closing():  # TLS's, after start_tls: close_notify
                writer.close()


class _TunnelTransport(asyncio.Transport):
    """One connection seen as a socket transport: what the handler writes goes out as
    ``tcp_data`` within the agent's credit; what the agent sends is fed to the reader.
    ``StreamWriter.start_tls`` works on it (a proxy terminating TLS)."""

    _start_tls_compatible = True

    def __init__(
        self,
        tunnel: EgressTunnel,
        conn: int,
        protocol: asyncio.Protocol,
        peername: tuple[Any, ...] | None,
    ) -> None:
        super().__init__(
            extra={
                "peername": peername,
                "sockname": ("127.0.0.1", tunnel.port),
                "airlock_conn": conn,
            }
        )
        self._tunnel = tunnel
        self._conn = conn
        self._protocol: asyncio.Protocol | asyncio.BufferedProtocol = protocol
        self._credit = tunnel.down_window  # bytes (frame credit included) the host may send
        self._in_credit = tunnel.up_window  # bytes the agent may still send
        self._unacked = 0  # bytes taken in, not yet granted back
        self._out = bytearray()
        self._high, self._low = WRITE_HIGH, WRITE_HIGH // 4
        self._write_paused = False
        self._reading = True
        self._eof_wanted = False
        self._eof_sent = False
        self._remote_eof = False
        self._closing = False
        self._lost = False
        self._wake = asyncio.Event()
        self._sender = asyncio.get_running_loop().create_task(self._send_loop())

    # -- the handler's side (asyncio.Transport) -----------------------------------------

    def get_protocol(self) -> asyncio.BaseProtocol:
        return self._protocol

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        assert isinstance(protocol, asyncio.Protocol | asyncio.BufferedProtocol)
        self._protocol = protocol

    def is_closing(self) -> bool:
        return self._closing or self._lost

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self._eof_wanted:
            raise RuntimeError("cannot call write() after write_eof()")
        if self._closing or self._lost or not data:
            return
        self._out += data
        self._wake.set()
        if not self._write_paused and len(self._out) > self._high:
            self._write_paused = True
            self._protocol.pause_writing()

    def writelines(self, list_of_data: Any) -> None:
        for data in list_of_data:
            self.write(data)

    def write_eof(self) -> None:
        if not self._closing and not self._lost:
            self._eof_wanted = True
            self._wake.set()

    def can_write_eof(self) -> bool:
        return True

    def close(self) -> None:
        """Send what is buffered, then end the connection."""
        if not self._closing and not self._lost:
            self._closing = True
            self._wake.set()

    def abort(self, reason: str = "the host reset the connection") -> None:
        """Drop what is buffered and reset the connection at once."""
        if self._lost:
            return
        self._closing = True
        self._out.clear()
        self._tunnel.post({"type": "tcp_close", "conn": self._conn, "error": reason})
        self._finish(None)

    def get_write_buffer_size(self) -> int:
        return len(self._out)

    def get_write_buffer_limits(self) -> tuple[int, int]:
        return self._low, self._high

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        if high is None:
            high = WRITE_HIGH if low is None else 4 * low
        if low is None:
            low = high // 4
        if not high >= low >= 0:
            raise ValueError(f"high ({high!r}) must be >= low ({low!r}) must be >= 0")
        self._high, self._low = high, low

    def is_reading(self) -> bool:
        return self._reading and not self._lost

    def pause_reading(self) -> None:
        self._reading = False

    def resume_reading(self) -> None:
        if not self._reading:
            self._reading = True
            self._ack(force=True)

    # -- the agent's side ---------------------------------------------------------------

    def received(self, body: bytes) -> None:
        if self._lost:
            return
        cost = len(body) + self._tunnel.frame_credit
        if self._remote_eof or cost > self._in_credit:
            what = "data after its end" if self._remote_eof else "data past its credit"
            why = f"the sandbox sent {what} (a broken or hostile agent)"
            self._closing = True
            self._out.clear()
            self._tunnel.post({"type": "tcp_close", "conn": self._conn, "error": why})
            self._finish(ConnectionResetError(why))
            return
        self._in_credit -= cost
        self._unacked += cost
        self._deliver(body)
        self._ack()

    def received_eof(self) -> None:
        if self._lost or self._remote_eof:
            return
        self._remote_eof = True
        if not self._protocol.eof_received():
            self.close()

    def remote_closed(self, error: str | None) -> None:
        """The agent ended the connection (its client closed it, or the channel is gone)."""
        if self._lost:
            return
        self._closing = True
        self._out.clear()
        self._finish(ConnectionResetError(error) if error else None)

    def granted(self, size: int) -> None:
        self._credit += size
        self._wake.set()

    # -- internals ----------------------------------------------------------------------

    def _ack(self, force: bool = False) -> None:
        """Grant the agent credit for what the reader took, in batches, unless paused."""
        if not self._reading or self._lost or not self._unacked:
            return
        if force or self._unacked * CREDIT_BATCH >= self._tunnel.up_window:
            grant, self._unacked = self._unacked, 0
            self._in_credit += grant
            self._tunnel.post({"type": "tcp_credit", "conn": self._conn, "bytes": grant})

    def _deliver(self, body: bytes) -> None:
        """Hand bytes to the protocol: a plain one takes them, a buffered one (TLS after
        ``start_tls``) is filled through its own buffers."""
        protocol = self._protocol
        if isinstance(protocol, asyncio.Protocol):
            protocol.data_received(body)
            return
        data = memoryview(body)
        while data:
            buffer = memoryview(protocol.get_buffer(len(data))).cast("B")
            size = min(len(buffer), len(data))
            if not size:
                raise RuntimeError("the protocol gave an empty buffer")
            buffer[:size] = data[:size]
            protocol.buffer_updated(size)
            data = data[size:]

    def _finish(self, exc: Exception | None) -> None:
        if self._lost:
            return
        self._lost = True
        self._tunnel.conns.pop(self._conn, None)
        self._wake.set()
        self._protocol.connection_lost(exc)

    async def _send_loop(self) -> None:
        """Send what the handler wrote, as credit allows; then the half-close or close."""
        fc = self._tunnel.frame_credit
        try:
            while not self._lost:
                if self._out and self._credit > fc:
                    size = min(len(self._out), CHUNK, self._credit - fc)
                    piece = bytes(self._out[:size])
                    del self._out[:size]
                    self._credit -= size + fc
                    if self._write_paused and len(self._out) <= self._low:
                        self._write_paused = False
                        self._protocol.resume_writing()
                    await self._tunnel.send({"type": "tcp_data", "conn": self._conn}, piece)
                    continue
                if not self._out:
                    if self._eof_wanted and not self._eof_sent:
                        self._eof_sent = True
                        await self._tunnel.send({"type": "tcp_eof", "conn": self._conn}, b"")
                    if self._closing:
                        await self._tunnel.send(
                            {"type": "tcp_close", "conn": self._conn, "error": None}, b""
                        )
                        self._finish(None)
                        return
                self._wake.clear()
                await self._wake.wait()
        except Exception as exc:  # the channel is gone; `lost` says why to the others
            self._out.clear()
            with contextlib.suppress(Exception):
                self._finish(ConnectionResetError(f"the sandbox's channel was lost: {exc}"))


def _peername(peer: Any) -> tuple[str, int] | None:
    """The client's address as the agent reports it, if it is one: ``[host, port]``
    with a short host (the agent is the attacker's: anything else is dropped)."""
    if (
        isinstance(peer, list)
        and len(peer) == 2
        and isinstance(peer[0], str)
        and len(peer[0]) <= MAX_PEER_HOST
        and isinstance(peer[1], int)
        and 0 <= peer[1] <= 65535
    ):
        return (peer[0], peer[1])
    return None
