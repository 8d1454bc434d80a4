"""In-container end of egress: a loopback listener whose connections travel to the host.

Part of the exec agent (`sandbox/exec_agent.py`): standard library only, Python 3.8+.
The session has no network interface but loopback. When the host asks (``tcp_listen``),
the agent listens on PORT inside the session, on every IPv4 address (`listen_address`:
loopback is the only interface), so that no other process of the session can listen on
that port of another loopback address, where a confined command's Landlock port rule
would let it connect (`sandbox/confinement.py`). Each connection a program makes to it
becomes a stream on the agent's channel, numbered by the agent (``conn``, never
reused), and the host hands the stream to the session's egress proxy
(`sandbox/egress_transport.py`). Nothing here resolves a name or opens a connection.

Frames (the exec channel's format; every one but the first two carries ``conn``):

- host to agent: ``tcp_listen`` (id, port, up_window, down_window, max_conns, and
  ``socket``: bridge to that Unix socket instead, `sandbox/egress_bridge.py`, with
  ``splice`` false: copy, never splice, and ``handoff``: pass each connection itself
  to the proxy over that Unix socket), answered with
  ``tcp_listening`` (id, port) or ``error`` (id); ``tcp_data`` (payload), ``tcp_eof``,
  ``tcp_close`` (``error`` set: reset the connection), ``tcp_credit`` (bytes);
- agent to host: ``tcp_open`` (peer), ``tcp_data``, ``tcp_eof``, ``tcp_close`` (error),
  ``tcp_credit``.

Flow control, per connection and direction, as for an exec's output: the agent may send
``up_window`` bytes of ``tcp_data`` (each frame's payload plus the frame credit), the host
``down_window`` bytes, before the other side grants more with ``tcp_credit``. The agent
grants as its socket takes the host's bytes and stops reading a connection whose credit
is spent, so a slow reader holds back its own connection and nothing else on the channel.

``tcp_eof`` is a half-close (the sender will send no more; the other direction goes on).
``tcp_close`` ends the connection; the side that receives it sends nothing back.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from typing import TYPE_CHECKING, Any

from sandbox.egress_bridge import EgressBridge

if TYPE_CHECKING:
    from collections.abc import Callable

CHUNK = 256 * 1024  # largest tcp_data payload the agent sends
ACK_BATCH = 4  # credit goes back once 1/ACK_BATCH of down_window was written to the socket
BACKLOG = 128
DEFAULT_UP_WINDOW = 1024 * 1024
DEFAULT_DOWN_WINDOW = 4 * 1024 * 1024
DEFAULT_MAX_CONNS = 128
TCP_KINDS = ("tcp_data", "tcp_eof", "tcp_close", "tcp_credit")


def _reset(transport: asyncio.BaseTransport) -> None:
    """Close with a TCP reset (SO_LINGER 0), so the client sees ECONNRESET, not an EOF."""
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()  # type: ignore[attr-defined]


def _positive_int(req: dict[str, Any], key: str, default: int, minimum: int) -> int:
    value = req.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{key} must be an integer >= {minimum}")
    return value


def listen_address() -> str:
    """Where the relay listens: every IPv4 address when the session's only interface is
    loopback (all of 127.0.0.0/8 then: nothing else of the session can take the port
    on 127.0.0.2), else, or when that cannot be told, 127.0.0.1 alone."""
    try:
        names = {name for _, name in socket.if_nameindex()}
    except OSError:
        return "127.0.0.1"
    return "0.0.0.0" if names == {"lo"} else "127.0.0.1"  # noqa: S104 (loopback only)


class EgressRelay:
    """The agent's loopback listener and the connections it accepted."""

    def __init__(self, send: Callable[..., None], frame_credit: int) -> None:
        self.send = send  # the channel's send(header, payload=b""): never blocks
        self.frame_credit = frame_credit
        self.server: asyncio.Server | None = None
        self.bridge: EgressBridge | None = None  # the Unix socket transport, when asked
        self.conns: dict[int, _Connection] = {}
        self.next_conn = 1
        self.up_window = DEFAULT_UP_WINDOW  # bytes a connection may send the host unacked
        self.down_window = DEFAULT_DOWN_WINDOW  # bytes the host may send a connection unacked
        self.max_conns = DEFAULT_MAX_CONNS

    async def listen(self, req: dict[str, Any]) -> None:
        """Serve ``tcp_listen``: bind 127.0.0.1:port (0: any free port) and say which."""
        if self.server is not None or self.bridge is not None:
            port = self.bridge.port if self.bridge else self.server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
            raise ValueError(f"egress already listens on port {port}")
        port = _positive_int(req, "port", 0, 0)
        if port > 65535:
            raise ValueError("port must be at most 65535")
        least = self.frame_credit + 1
        self.up_window = _positive_int(req, "up_window", DEFAULT_UP_WINDOW, least)
        self.down_window = _positive_int(req, "down_window", DEFAULT_DOWN_WINDOW, least)
        self.max_conns = _positive_int(req, "max_conns", DEFAULT_MAX_CONNS, 1)
        loop = asyncio.get_running_loop()
        host = listen_address()
        path = req.get("socket")
        if path is not None:
            if not isinstance(path, str) or not path.startswith("/"):
                raise ValueError("socket must be an absolute path")
            splice = req.get("splice", True)
            if not isinstance(splice, bool):
                raise ValueError("splice must be a boolean")
            handoff = req.get("handoff")
            if handoff is not None and not (isinstance(handoff, str) and handoff.startswith("/")):
                raise ValueError("handoff must be an absolute path")
            bridge = EgressBridge(path, self.max_conns, splice, handoff)
            try:
                bound = bridge.listen(host, port)
            except OSError as exc:
                raise ValueError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
            self.bridge = bridge
            self.send({"type": "tcp_listening", "id": req.get("id"), "port": bound})
            return
        try:
            # neither SO_REUSEPORT nor SO_REUSEADDR: no other process of the session can
            # bind the same port (gVisor lets two SO_REUSEADDR sockets share it, one on
            # 0.0.0.0 and one on 127.0.0.1, while the first listens)
            self.server = await loop.create_server(
                lambda: _Connection(self),
                host,
                port,
                backlog=BACKLOG,
                reuse_port=False,
                reuse_address=False,
            )
        except OSError as exc:
            raise ValueError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
        bound = self.server.sockets[0].getsockname()[1]
        self.send({"type": "tcp_listening", "id": req.get("id"), "port": bound})

    def handle(self, kind: str, header: dict[str, Any], payload: bytes) -> None:
        """One of `TCP_KINDS` from the host. A connection that has just ended is no error:
        the host sends as it goes, without knowing yet that the close is on its way."""
        conn = header.get("conn")
        target = self.conns.get(conn) if isinstance(conn, int) else None
        if kind == "tcp_credit":
            size = header.get("bytes")
            if not isinstance(size, int) or isinstance(size, bool) or size < 1:
                raise ValueError(f"invalid credit {size!r}")
            if target is not None:
                target.grant(size)
        elif target is None:
            return
        elif kind == "tcp_data":
            target.host_data(payload)
        elif kind == "tcp_eof":
            target.host_eof()
        else:
            target.host_close(header.get("error"))

    def close(self) -> None:
        """Stop listening and reset every connection (the agent is stopping)."""
        if self.server is not None:
            self.server.close()
        if self.bridge is not None:
            self.bridge.close()
        for conn in list(self.conns.values()):
            conn.host_close("the sandbox is stopping")


class _Connection(asyncio.Protocol):
    """One accepted connection: its bytes go to the host as its credit allows, and back."""

    def __init__(self, relay: EgressRelay) -> None:
        self.relay = relay
        self.conn = 0  # 0: refused at accept, never announced
        self.transport: asyncio.Transport | None = None
        self.credit = relay.up_window  # bytes of tcp_data (frame credit included) it may send
        self.owed = 0  # the host's bytes written to the socket, not yet granted back
        self.pending = bytearray()  # the client's bytes waiting for credit
        self.eof = False  # the client will send no more
        self.eof_sent = False
        self.read_paused = False
        self.write_paused = False
        self.ended = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        relay = self.relay
        if len(relay.conns) >= relay.max_conns:
            self.ended = True
            _reset(transport)
            return
        self.conn = relay.next_conn
        relay.next_conn += 1
        relay.conns[self.conn] = self
        peer = transport.get_extra_info("peername")
        peer = list(peer[:2]) if peer else None
        relay.send({"type": "tcp_open", "conn": self.conn, "peer": peer})

    def data_received(self, data: bytes) -> None:
        if self.ended:
            return
        self.pending += data
        self._flush()

    def eof_received(self) -> bool:
        self.eof = True
        self._flush()
        return True  # half-close: the host may still answer

    def connection_lost(self, exc: Exception | None) -> None:
        if self.conn and self.relay.conns.pop(self.conn, None) is not None and not self.ended:
            self.ended = True
            error = f"{type(exc).__name__}: {exc}" if exc is not None else None
            self.relay.send({"type": "tcp_close", "conn": self.conn, "error": error})

    def pause_writing(self) -> None:
        self.write_paused = True

    def resume_writing(self) -> None:
        self.write_paused = False
        self._ack()

    def _flush(self) -> None:
        """Send the client's bytes as far as the credit goes; stop reading while some wait."""
        assert self.transport is not None
        fc = self.relay.frame_credit
        while self.pending and self.credit > fc:
            size = min(len(self.pending), CHUNK, self.credit - fc)
            if size == len(self.pending):
                piece, self.pending = bytes(self.pending), bytearray()
            else:
                piece = bytes(self.pending[:size])
                del self.pending[:size]
            self.credit -= size + fc
            self.relay.send({"type": "tcp_data", "conn": self.conn}, piece)
        if self.pending:
            if not self.read_paused and not self.eof:
                self.read_paused = True
                self.transport.pause_reading()
            return
        if self.read_paused:
            self.read_paused = False
            self.transport.resume_reading()
        if self.eof and not self.eof_sent:
            self.eof_sent = True
            self.relay.send({"type": "tcp_eof", "conn": self.conn})

    def _ack(self) -> None:
        """Grant the host's credit back once a batch of its bytes left for the socket."""
        if self.owed and not self.write_paused and self.owed * ACK_BATCH >= self.relay.down_window:
            owed, self.owed = self.owed, 0
            self.relay.send({"type": "tcp_credit", "conn": self.conn, "bytes": owed})

    def grant(self, size: int) -> None:
        self.credit += size
        self._flush()

    def host_data(self, payload: bytes) -> None:
        assert self.transport is not None
        if self.ended or self.transport.is_closing():
            return
        self.transport.write(payload)
        self.owed += len(payload) + self.relay.frame_credit
        self._ack()

    def host_eof(self) -> None:
        assert self.transport is not None
        if not self.ended and not self.transport.is_closing():
            with contextlib.suppress(OSError, RuntimeError):
                self.transport.write_eof()

    def host_close(self, error: Any) -> None:
        """The host ended it: flush and close, or reset when it says why (an error)."""
        assert self.transport is not None
        self.ended = True
        self.relay.conns.pop(self.conn, None)
        if error:
            _reset(self.transport)
        else:
            self.transport.close()
