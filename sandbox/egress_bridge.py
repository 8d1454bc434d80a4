"""In-container end of egress over a Unix socket: loopback connections bridged to it.

Part of the exec agent (`sandbox/exec_agent.py`): standard library only, Python 3.8+.
When the host mounts its proxy's socket into the session (`sandbox/egress_socket.py`)
and asks ``tcp_listen`` with ``socket``, the agent listens on the loopback port as for
the channel transport (`sandbox/egress_relay.py`: same address, same single owner of the
port) and connects each accepted connection to that socket; the bytes then go between
the two in the kernel's buffers and this loop alone, never through the exec channel.
Nothing here resolves a name: what the connection may reach is the proxy's decision.

Asked a ``handoff`` socket too (runc, where the agent's sockets are the host kernel's),
the agent bridges nothing: it passes each accepted connection itself to the proxy
(`hand_off`, received by `sandbox/egress_handoff.py`), and bridges only one it could
not pass.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import os
import socket
import struct

PIECE = 1024 * 1024  # one read's (or splice's) most; a pump holds no more than this
BACKLOG = 128
WIDE_PIPES = 8  # directions of one agent's bridge with a pipe of PIECE at once
SPLICE = hasattr(os, "splice")  # Python 3.10+
SPLICE_F_MOVE = getattr(os, "SPLICE_F_MOVE", 1)
F_SETPIPE_SZ = getattr(fcntl, "F_SETPIPE_SZ", 1031)


class EgressBridge:
    """The agent's loopback listener whose connections go to the proxy's Unix socket."""

    def __init__(
        self, path: str, max_conns: int, splice: bool = True, handoff: str | None = None
    ) -> None:
        self.path = path
        self.handoff = handoff
        self.max_conns = max_conns
        self.splice = splice and SPLICE  # off under gVisor: see `_pump`
        # Pipes are charged to the user who makes them, and every session's agent is
        # the host's root: only this many directions at once get a wide pipe, the rest
        # keep the kernel's default (64 KiB), so one session cannot spend the quota.
        self.wide_pipes = WIDE_PIPES
        self.listener: socket.socket | None = None
        self.bridges: set[asyncio.Future[None]] = set()
        self.conns: set[socket.socket] = set()

    @property
    def port(self) -> int:
        assert self.listener is not None
        return int(self.listener.getsockname()[1])

    def listen(self, host: str, port: int) -> int:
        """Bind ``host:port`` (no address or port reuse: no other process of the session
        can take it) and accept from the event loop; returns the port."""
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            listener.bind((host, port))
            listener.listen(BACKLOG)
            listener.setblocking(False)
        except OSError:
            listener.close()
            raise
        self.listener = listener
        asyncio.get_running_loop().add_reader(listener.fileno(), self._accept)
        return self.port

    def close(self) -> None:
        """Stop listening and reset every bridged connection (the agent is stopping)."""
        if self.listener is not None:
            with contextlib.suppress(ValueError, RuntimeError):
                asyncio.get_running_loop().remove_reader(self.listener.fileno())
            self.listener.close()
            self.listener = None
        for bridge in list(self.bridges):
            bridge.cancel()  # each resets its client and closes both of its sockets

    def _accept(self) -> None:
        assert self.listener is not None
        while True:
            try:
                client, _ = self.listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return  # the client went away between the ready and the accept
            if len(self.bridges) >= self.max_conns:
                _reset(client)
                continue
            client.setblocking(False)
            task = asyncio.ensure_future(
                self._pass(client) if self.handoff else self._bridge(client)
            )
            self.bridges.add(task)
            task.add_done_callback(self.bridges.discard)

    async def _pass(self, client: socket.socket) -> None:
        """Hand ``client`` to the proxy; bridge it when that fails."""
        assert self.handoff is not None
        try:
            await hand_off(self.handoff, client)
        except OSError:
            await self._bridge(client)
            return
        except asyncio.CancelledError:
            _reset(client)
            raise
        client.close()  # the proxy holds it now

    async def _bridge(self, client: socket.socket) -> None:
        """Connect ``client`` to the proxy and copy both ways until both have ended."""
        loop = asyncio.get_running_loop()
        proxy = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        proxy.setblocking(False)
        self.conns.update((client, proxy))
        try:
            try:
                await loop.sock_connect(proxy, self.path)
            except OSError:
                _reset(client)  # the proxy is gone: the client sees a reset, not an answer
                return
            pumps = [
                asyncio.ensure_future(_pump(loop, client, proxy, self)),
                asyncio.ensure_future(_pump(loop, proxy, client, self)),
            ]
            try:
                await asyncio.wait(pumps, return_when=asyncio.FIRST_EXCEPTION)
            finally:
                for pump in pumps:
                    pump.cancel()
                outcomes = await asyncio.gather(*pumps, return_exceptions=True)
            if any(isinstance(o, BaseException) for o in outcomes):
                _reset(client)  # one side failed: the client must not read it as an end
        except asyncio.CancelledError:
            _reset(client)
        finally:
            self.conns.difference_update((client, proxy))
            client.close()
            proxy.close()


async def _pump(
    loop: asyncio.AbstractEventLoop,
    source: socket.socket,
    target: socket.socket,
    bridge: EgressBridge,
) -> None:
    """Copy ``source`` to ``target`` until ``source`` ends, then half-close ``target``:
    in the kernel (splice) when asked and it can, else through one buffer. Either way a
    piece is written out before the next is read, so a slow reader holds the writer back.

    The host asks no splice under gVisor: its splice from a pipe into a TCP socket
    repeated the pipe's first 64 KiB (runsc 2022-12, a pipe enlarged to 1 MiB)."""
    if not (bridge.splice and await _spliced(loop, source, target, bridge)):
        buffer = bytearray(PIECE)
        view = memoryview(buffer)
        while True:
            size = await loop.sock_recv_into(source, buffer)
            if not size:
                break
            await loop.sock_sendall(target, view[:size])
    with contextlib.suppress(OSError):
        target.shutdown(socket.SHUT_WR)


async def _spliced(
    loop: asyncio.AbstractEventLoop,
    source: socket.socket,
    target: socket.socket,
    bridge: EgressBridge,
) -> bool:
    """Move ``source`` to ``target`` through a pipe until EOF; False (nothing moved) when
    this kernel cannot splice these sockets, and the caller copies instead."""
    pipe_out, pipe_in = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    wide = bridge.wide_pipes > 0
    if wide:
        bridge.wide_pipes -= 1
        with contextlib.suppress(OSError):
            fcntl.fcntl(pipe_in, F_SETPIPE_SZ, PIECE)
    moved = False
    try:
        while True:
            try:
                count = os.splice(source.fileno(), pipe_in, PIECE, flags=SPLICE_F_MOVE)
            except BlockingIOError:
                await wait_ready(loop, source.fileno(), writing=False)
                continue
            except OSError as exc:
                if not moved and exc.errno in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
                    return False
                raise
            if count == 0:
                return True
            moved = True
            while count:
                try:
                    count -= os.splice(pipe_out, target.fileno(), count, flags=SPLICE_F_MOVE)
                except BlockingIOError:
                    await wait_ready(loop, target.fileno(), writing=True)
    finally:
        os.close(pipe_out)
        os.close(pipe_in)
        if wide:
            bridge.wide_pipes += 1


async def wait_ready(loop: asyncio.AbstractEventLoop, fd: int, *, writing: bool) -> None:
    """Wait until ``fd`` can be read (or written). The host's splice relay
    (`sandbox/egress/zero_copy.py`) waits with it too."""
    waiter = loop.create_future()

    def wake() -> None:
        if not waiter.done():
            waiter.set_result(None)

    (loop.add_writer if writing else loop.add_reader)(fd, wake)
    try:
        await waiter
    finally:
        (loop.remove_writer if writing else loop.remove_reader)(fd)


async def hand_off(path: str, client: socket.socket) -> None:
    """Pass ``client`` to the proxy listening on ``path`` (one byte, carrying the
    descriptor). Raises OSError when it could not."""
    loop = asyncio.get_running_loop()
    carrier = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    with contextlib.closing(carrier):
        carrier.setblocking(False)
        await loop.sock_connect(carrier, path)
        rights = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, struct.pack("i", client.fileno()))]
        while True:
            try:
                carrier.sendmsg([b"\0"], rights)
                return
            except BlockingIOError:
                await wait_ready(loop, carrier.fileno(), writing=True)


def _reset(sock: socket.socket) -> None:
    """Close with a reset where it is TCP (SO_LINGER 0): the client sees ECONNRESET."""
    if sock.family == socket.AF_INET:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()
