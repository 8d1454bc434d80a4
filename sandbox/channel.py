"""The host's end of the exec channel: frames to and from the in-container agent.

The container's main process is `sandbox/exec_agent.py` (its docstring has the frames);
the host holds one attached socket to its stdin/stdout. Docker multiplexes the
container's stdout and stderr on that socket (8-byte headers); the agent's frames travel
on stdout, its diagnostics on stderr. Many execs share the channel, told apart by id.

Flow control is per exec, so a slow reader holds back its own command and nothing else:
each exec request grants a window of output bytes (`OUTPUT_WINDOW`), and the host gives
credit back (``credit`` frames) as the exec's reader takes chunks out of its buffer. The
read loop never waits on a reader: it appends to the exec's buffer, which the credit
bounds (in bytes and, through `FRAME_CREDIT`, in frames). An agent that sends more than
it was granted ends that exec with an error.

The agent runs in the attacker's container, so nothing it sends may hang or crash the
host: an exec's timeout bounds the time its reader waits on the agent in all (not per
frame), an agent that stops reading the host's frames for `WRITE_STALL` seconds loses
the channel, a frame the host cannot make sense of ends the channel with the reason,
and what the host keeps of the agent's words is capped.

The same channel carries the session's egress: `serve_egress` asks the agent to listen
on a loopback port in the session and hands each connection to a handler on the host
(`sandbox/egress_transport.py`).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import math
import socket
import struct
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sandbox.confinement import Confinement
from sandbox.egress_relay import TCP_KINDS
from sandbox.egress_transport import (
    DOWN_WINDOW,
    MAX_CONNS,
    UP_WINDOW,
    EgressHandler,
    EgressTunnel,
    EgressUnavailable,
)
from sandbox.exec_agent import (
    FRAME_CREDIT,
    KILL_GRACE,
    FrameDecoder,
    encode_frame,
)
from sandbox.results import ConfinementReport, ExecExit, OutputChunk

# Output bytes of one exec the agent may send before its reader takes them: 16 chunks of
# 64 KiB, so a command streams on while its reader works on what came. It bounds each
# exec's buffer on the host; it is never less than one chunk (and its FRAME_CREDIT).
OUTPUT_WINDOW = 1024 * 1024
CREDIT_BATCH = 4  # credit goes back once a 1/CREDIT_BATCH of the window has been taken
STDIN_CHUNK = 64 * 1024
SAFETY_MARGIN = 10.0  # seconds past an exec's timeout before the host gives up on it
STDERR_LINES = 50
LINE_CHARS = 500  # what is kept of one diagnostic line of the agent
ERROR_CHARS = 4096  # what is kept of an exec's error message from the agent
WRITE_STALL = 30.0  # seconds the agent may leave the host's frames unread: then it is lost
POST_BACKLOG = 4 * 1024 * 1024  # bytes of control frames the agent may leave unread: then lost
CLOSE_GRACE = 5.0  # seconds close() waits for the agent to exit once its stdin is closed


class ChannelClosed(RuntimeError):
    """The agent or its container went away."""


class NoAgent(ChannelClosed):
    """The image cannot run the agent (no python3): use `docker exec` instead."""


NO_AGENT_MARKER = "airlock: no python3"


class DockerStreamDemux:
    """Split Docker's multiplexed attach stream into (stream number, payload) pieces."""

    HEADER = struct.Struct(">BxxxI")

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        self._buffer += data
        pieces: list[tuple[int, bytes]] = []
        while len(self._buffer) >= self.HEADER.size:
            stream, size = self.HEADER.unpack_from(self._buffer)
            end = self.HEADER.size + size
            if len(self._buffer) < end:
                break
            pieces.append((stream, bytes(self._buffer[self.HEADER.size : end])))
            del self._buffer[:end]
        return pieces


_LOST = object()


@dataclass
class _Pending:
    """One exec's events on their way to its reader, and the credit of its output."""

    window: int  # output bytes granted with the request
    confining: bool = False  # the request asked for confinement
    credit: int = 0  # output bytes the agent may still send
    taken: int = 0  # bytes the reader took, not yet given back as credit
    events: deque[object] = field(default_factory=deque)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    truncated: set[str] = field(default_factory=set)
    error: str | None = None
    ended: bool = False  # its last event is queued: what comes after is ignored

    def __post_init__(self) -> None:
        self.credit = self.window

    def put(self, event: object) -> None:
        self.events.append(event)
        self.arrived.set()

    def end(self, event: object) -> None:
        """Queue the exec's last event (once)."""
        if not self.ended:
            self.ended = True
            self.put(event)


class AgentChannel:
    """Run commands through the agent over one attached socket."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._write_lock = asyncio.Lock()
        self._pending: dict[int, _Pending] = {}
        self._ids = itertools.count(1)
        self._hello: asyncio.Future[dict[str, Any]] | None = None
        self._pongs: dict[int, asyncio.Future[None]] = {}
        self._listens: dict[int, asyncio.Future[int]] = {}  # tcp_listen requests, by id
        self.egress: EgressTunnel | None = None
        self.bridged_port: int | None = None  # egress through a Unix socket, not frames
        self._task: asyncio.Task[None] | None = None
        self._no_agent = False  # the image said it cannot run the agent
        self.closed_reason: str | None = None
        self._lost_reason: str | None = None  # why the host gave the channel up, if it did
        self.stderr_tail: deque[str] = deque(maxlen=STDERR_LINES)

    async def start(self, hello_timeout: float = 30.0) -> dict[str, Any]:
        """Begin reading; return the agent's hello frame."""
        self._sock.setblocking(False)
        self._reader, self._writer = await asyncio.open_connection(sock=self._sock)
        self._hello = asyncio.get_running_loop().create_future()
        self._task = asyncio.create_task(self._read_loop(), name="agent-channel")
        try:
            return await asyncio.wait_for(asyncio.shield(self._hello), hello_timeout)
        except TimeoutError as exc:
            tail = " | ".join(self.stderr_tail) or "no output"
            raise ChannelClosed(f"the exec agent did not start ({tail})") from exc

    @property
    def spawns_through(self) -> str | None:
        """How the agent starts commands: ``setpriv`` (`sandbox/user_helper.py`) or
        ``fork``; None before its hello (or from an agent that does not say)."""
        hello = self._hello
        if hello is None or not hello.done() or hello.cancelled() or hello.exception():
            return None
        mode = hello.result().get("spawn")
        return mode if isinstance(mode, str) else None

    @property
    def alive(self) -> bool:
        return self.closed_reason is None and self._task is not None and not self._task.done()

    async def ping(self, timeout: float = 5.0) -> None:
        """Wait for the agent's answer; raises TimeoutError after ``timeout`` seconds."""
        xid = next(self._ids)
        future = asyncio.get_running_loop().create_future()
        self._pongs[xid] = future

        async def answered() -> None:
            await self._send({"type": "ping", "id": xid})
            await future

        try:
            await asyncio.wait_for(answered(), timeout)  # sending counts: the agent may not read
        finally:
            self._pongs.pop(xid, None)

    async def serve_egress(
        self,
        handler: EgressHandler,
        port: int = 0,
        *,
        down_window: int = DOWN_WINDOW,
        up_window: int = UP_WINDOW,
        max_conns: int = MAX_CONNS,
        timeout: float = 30.0,
    ) -> int:
        """Make the agent listen on 127.0.0.1:``port`` in the sandbox (0: a free port) and
        serve each connection to it with ``handler``; return the port. Once per channel.

        Raises `EgressUnavailable` if the agent cannot listen (the port is taken, it was
        asked already), `ChannelClosed` if the channel is gone, and TimeoutError if the
        agent does not answer within ``timeout`` seconds.
        """
        if not self.alive:
            raise ChannelClosed(self.closed_reason or "the channel is not started")
        if self.egress is not None:
            raise EgressUnavailable(f"egress is served already, on port {self.egress.port}")
        tunnel = EgressTunnel(
            handler, self._send, self._post, frame_credit=FRAME_CREDIT,
            down_window=down_window, up_window=up_window, max_conns=max_conns,
        )  # fmt: skip
        self.egress = tunnel
        request = {"type": "tcp_listen", "port": port, "up_window": up_window,
                   "down_window": down_window, "max_conns": max_conns}  # fmt: skip
        try:
            tunnel.port = await self._listen(request, timeout)
        except BaseException:
            self.egress = None
            await tunnel.close()
            raise
        return tunnel.port

    async def bridge_egress(
        self,
        socket_path: str,
        port: int = 0,
        *,
        splice: bool = True,
        handoff: str | None = None,
        max_conns: int = MAX_CONNS,
        timeout: float = 30.0,
    ) -> int:
        """Make the agent listen on 127.0.0.1:``port`` in the sandbox and connect each
        connection to the Unix socket ``socket_path`` there (`sandbox/egress_socket.py`);
        no byte of it crosses this channel; ``splice`` false: the agent copies (gVisor);
        ``handoff``: the agent passes each connection to the proxy on that socket
        instead (`sandbox/egress_handoff.py`). Returns the port; raises as
        `serve_egress`."""
        if not self.alive:
            raise ChannelClosed(self.closed_reason or "the channel is not started")
        if self.egress is not None or self.bridged_port is not None:
            raise EgressUnavailable("egress is served already")
        request = {"type": "tcp_listen", "port": port, "max_conns": max_conns,
                   "socket": socket_path, "splice": splice}  # fmt: skip
        if handoff is not None:
            request["handoff"] = handoff
        self.bridged_port = await self._listen(request, timeout)
        return self.bridged_port

    async def _listen(self, request: dict[str, Any], timeout: float) -> int:
        """Send ``tcp_listen`` and wait for the port the agent listens on."""
        xid = next(self._ids)
        answer: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._listens[xid] = answer

        async def listening() -> int:
            await self._send({**request, "id": xid})
            return await answer

        try:
            return await asyncio.wait_for(listening(), timeout)
        finally:
            self._listens.pop(xid, None)

    async def stream(
        self,
        argv: Sequence[str],
        *,
        cwd: str | None = None,
        env: dict[str, str] | None = None,
        timeout: float | None = None,
        stdin: bytes | AsyncIterator[bytes] | None = None,
        max_output: int = 1024 * 1024,
        chunk: int = 64 * 1024,
        confinement: Confinement | None = None,
    ) -> AsyncIterator[OutputChunk | ExecExit]:
        """Run ``argv``; yield its output chunks as they come, then its exit.

        With ``confinement`` the agent runs it in a Landlock domain; the exit reports it.
        """
        if not self.alive:
            raise ChannelClosed(self.closed_reason or "the channel is not started")
        xid = next(self._ids)
        window = max(OUTPUT_WINDOW, chunk + FRAME_CREDIT)
        pending = _Pending(window=window, confining=confinement is not None)
        self._pending[xid] = pending
        finished = False
        feeder: asyncio.Task[None] | None = None
        try:
            request: dict[str, Any] = {
                "type": "exec",
                "id": xid,
                "argv": list(argv),
                "cwd": cwd,
                "env": env or {},
                "timeout": timeout,
                "stdin": stdin is not None,
                "max_output": max_output,
                "chunk": chunk,
                "window": pending.window,
                "confine": None if confinement is None else confinement.wire(),
            }
            await self._send(request)
            if stdin is not None:
                feeder = asyncio.create_task(self._feed_stdin(xid, stdin))
            # The time the reader waits on the agent, in all: an agent that trickles a byte
            # now and then must not keep an exec alive past its timeout. What the reader
            # itself takes between events does not count (the agent waits for its credit).
            waited = _Stopwatch(None if timeout is None else timeout + KILL_GRACE + SAFETY_MARGIN)
            while True:
                if not pending.events:
                    pending.arrived.clear()
                    try:
                        await waited.run(pending.arrived.wait())
                    except TimeoutError:
                        with contextlib.suppress(ChannelClosed, OSError):  # it says so itself
                            await self._send({"type": "cancel", "id": xid})
                        finished = True
                        yield ExecExit(
                            exit_code=None,
                            timed_out=True,
                            error="the sandbox did not report an exit in time",
                        )
                        return
                    continue
                event = pending.events.popleft()
                if event is _LOST:
                    finished = True
                    yield ExecExit(exit_code=None, error=f"sandbox lost: {self.closed_reason}")
                    return
                if isinstance(event, ExecExit):
                    finished = True
                    yield event
                    return
                assert isinstance(event, OutputChunk)
                await self._give_back(xid, pending, len(event.data))
                yield event
        finally:
            if feeder is not None:
                feeder.cancel()
            self._pending.pop(xid, None)
            pending.events.clear()
            if not finished and self.alive:  # abandoned: the agent kills it, drops its output
                with contextlib.suppress(Exception):
                    await self._send({"type": "cancel", "id": xid})

    async def close(self) -> None:
        """Stop the egress handlers, close stdin of the agent (it then kills what runs and exits).

        With no agent (`NoAgent`), nothing would ever close the output (the container's
        main process is a sleeper): the read loop is stopped and the socket closed at once.
        """
        if self.egress is not None:
            await self.egress.close()
        if self._no_agent:
            await self._abort()
            return
        if self._writer is not None and not self._writer.is_closing():
            with contextlib.suppress(OSError):
                self._sock.shutdown(socket.SHUT_WR)
        if self._task is not None:
            try:
                await asyncio.wait_for(self._task, CLOSE_GRACE)
            except (TimeoutError, asyncio.CancelledError):
                self._task.cancel()
        await self._close_socket()

    async def _abort(self) -> None:
        """Stop reading without waiting for the other end, then close the socket."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.wait({self._task})
        await self._close_socket()

    async def _close_socket(self) -> None:
        if self._writer is None:
            self._sock.close()
            return
        self._writer.close()
        with contextlib.suppress(Exception):
            await self._writer.wait_closed()

    # -- internals ----------------------------------------------------------------------

    async def _feed_stdin(self, xid: int, stdin: bytes | AsyncIterator[bytes]) -> None:
        pieces = _once(stdin) if isinstance(stdin, bytes) else stdin
        async for piece in pieces:
            for start in range(0, len(piece), STDIN_CHUNK):
                await self._send({"type": "stdin", "id": xid}, piece[start : start + STDIN_CHUNK])
        await self._send({"type": "stdin_close", "id": xid})

    async def _give_back(self, xid: int, pending: _Pending, size: int) -> None:
        """The reader took a chunk of ``size`` bytes: grant its credit again, in batches."""
        pending.taken += size + FRAME_CREDIT
        if pending.ended or pending.taken < pending.window // CREDIT_BATCH:
            return
        grant, pending.taken = pending.taken, 0
        pending.credit += grant
        with contextlib.suppress(ChannelClosed, OSError):  # a lost channel says so itself
            await self._send({"type": "credit", "id": xid, "bytes": grant})

    def _post(self, header: dict[str, Any]) -> None:
        """Queue one small control frame without waiting (for the read loop).

        The agent decides how many of these it provokes (a refused ``tcp_open`` is
        answered with one), so what waits unread is bounded: past `POST_BACKLOG` bytes
        the agent is not reading, and it loses the channel rather than grow our memory.
        """
        if self._writer is None or not self.alive or self._writer.is_closing():
            return
        if self._writer.transport.get_write_buffer_size() > POST_BACKLOG:
            self._give_up(f"the agent left over {POST_BACKLOG} bytes of the host's frames unread")
            return
        self._writer.write(encode_frame(header))

    async def _send(self, header: dict[str, Any], payload: bytes = b"") -> None:
        """Write one frame and wait until the agent takes it, `WRITE_STALL` seconds at most.

        Stops an agent that no longer reads its input from holding every sender (and the
        write lock) forever: it loses the channel instead.
        """
        if self._writer is None or not self.alive:
            raise ChannelClosed(self.closed_reason or "the channel is not started")
        async with self._write_lock:
            self._writer.write(encode_frame(header, payload))
            try:
                # asyncio.timeout, not wait_for: on 3.11 wait_for makes a Task per frame
                # (about 90 µs of every frame's cost, measured)
                async with asyncio.timeout(WRITE_STALL):
                    await self._writer.drain()
            except TimeoutError:
                self._give_up(f"the agent left the host's frames unread for {WRITE_STALL:g} s")
                raise ChannelClosed(self._lost_reason) from None

    def _give_up(self, reason: str) -> None:
        """Drop the connection: the read loop ends and every waiter learns ``reason``."""
        if self._lost_reason is None:
            self._lost_reason = reason
        if self._writer is not None:
            self._writer.transport.abort()

    async def _read_loop(self) -> None:
        assert self._reader is not None
        demux = DockerStreamDemux()
        decoder = FrameDecoder()
        reason = "the agent closed its output"
        try:
            while data := await self._reader.read(256 * 1024):
                for stream, payload in demux.feed(data):
                    if stream == 2:
                        self._note_stderr(payload)
                        continue
                    for header, body in decoder.feed(payload):
                        self._dispatch(header, body)
        except Exception as exc:  # a frame the host cannot take ends the channel, not the host
            reason = f"{type(exc).__name__}: {exc}"
        finally:
            self.closed_reason = reason = self._lost_reason or reason
            if self._hello is not None and not self._hello.done():
                self._hello.set_exception(ChannelClosed(reason))
            for pending in list(self._pending.values()):
                pending.end(_LOST)
            waiting: list[asyncio.Future[Any]] = [*self._pongs.values(), *self._listens.values()]
            for future in waiting:
                if not future.done():
                    future.set_exception(ChannelClosed(reason))
            if self.egress is not None:
                self.egress.lost(reason)

    def _note_stderr(self, payload: bytes) -> None:
        for line in payload.decode("utf-8", "replace").splitlines():
            if line.strip():
                self.stderr_tail.append(line[:LINE_CHARS])
            if line.startswith(NO_AGENT_MARKER) and self._hello and not self._hello.done():
                self._no_agent = True
                self._hello.set_exception(NoAgent(line))

    def _dispatch(self, header: dict[str, Any], body: bytes) -> None:
        """Deliver one frame. It never waits: one exec's reader cannot stall the others."""
        kind = header.get("type")
        xid = header.get("id")
        if kind == "hello":
            if self._hello is not None and not self._hello.done():
                self._hello.set_result(header)
            return
        if kind == "pong":
            future = self._pongs.get(xid) if isinstance(xid, int) else None
            if future is not None and not future.done():
                future.set_result(None)
            return
        if kind in TCP_KINDS or kind == "tcp_open":
            if self.egress is not None:
                self.egress.frame(kind, header, body)
            elif isinstance(header.get("conn"), int):
                self._post({"type": "tcp_close", "conn": header["conn"], "error": "no egress"})
            return
        listen = self._listens.get(xid) if isinstance(xid, int) else None
        if listen is not None and kind in ("tcp_listening", "error"):
            if not listen.done():
                self._answer_listen(listen, kind, header)
            return
        pending = self._pending.get(xid) if isinstance(xid, int) else None
        if pending is None or not isinstance(xid, int):
            if kind == "error":
                self.stderr_tail.append(f"agent error: {header.get('message')}"[:LINE_CHARS])
            return
        if pending.ended:
            return
        if kind == "output" and body:
            cost = len(body) + FRAME_CREDIT
            if cost > pending.credit:
                self._overrun(xid, pending, len(body))
                return
            pending.credit -= cost
            stream = "stderr" if header.get("stream") == "stderr" else "stdout"
            pending.put(OutputChunk(stream=stream, data=body))
        elif kind == "truncated" and header.get("stream") in ("stdout", "stderr"):
            pending.truncated.add(str(header.get("stream")))
        elif kind == "error":
            pending.error = _capped(str(header.get("message")), ERROR_CHARS)
        elif kind == "exit":
            pending.end(_exit_of(header, pending))

    def _answer_listen(
        self, listen: asyncio.Future[int], kind: str, header: dict[str, Any]
    ) -> None:
        """The agent's answer to ``tcp_listen``: the port it listens on, or why it cannot."""
        port = header.get("port")
        if kind == "error":
            why = _capped(str(header.get("message")), ERROR_CHARS)
            listen.set_exception(EgressUnavailable(f"the sandbox cannot serve egress: {why}"))
        elif isinstance(port, int) and not isinstance(port, bool) and 0 < port < 65536:
            listen.set_result(port)
        else:
            listen.set_exception(EgressUnavailable(f"the agent listens on port {port!r}"))

    def _overrun(self, xid: int, pending: _Pending, size: int) -> None:
        """The agent sent output it had no credit for: end that exec, fail closed.

        Stops an agent (the container runs the attacker's code) from growing the host's
        memory without bound by ignoring its window. What it sent within its credit is
        kept; the rest is dropped, and the agent is told to kill the command.
        """
        why = (
            f"the sandbox sent an output frame of {size} bytes with {pending.credit} bytes of "
            "credit left (a broken or hostile exec agent); the command was stopped and the "
            "rest of its output dropped"
        )
        pending.credit = 0
        pending.end(
            ExecExit(
                exit_code=None, error=why, confinement=_confinement_of(None, pending.confining)
            )
        )
        self._post({"type": "cancel", "id": xid})


def _exit_of(header: dict[str, Any], pending: _Pending) -> ExecExit:
    def number(key: str) -> int | None:
        value = header.get(key)
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    duration = header.get("duration")
    try:
        seconds = float(duration) if isinstance(duration, int | float) else 0.0
    except OverflowError:  # an integer too large for a float
        seconds = 0.0
    return ExecExit(
        exit_code=number("exit_code"),
        signal=number("signal"),
        timed_out=bool(header.get("timed_out")),
        oom_killed=bool(header.get("oom_killed")),
        stdout_truncated="stdout" in pending.truncated,
        stderr_truncated="stderr" in pending.truncated,
        duration=seconds if math.isfinite(seconds) and seconds >= 0 else 0.0,
        error=pending.error,
        confinement=_confinement_of(header.get("confinement"), pending.confining),
    )


def _confinement_of(raw: Any, asked: bool) -> ConfinementReport | None:
    """The agent's confinement report. Asked for and missing, or unreadable, it says
    unconfined: an agent that ignored the request ran the command as it was."""
    if raw is None:
        if asked:
            return ConfinementReport(confined=False, reason="the agent sent no confinement report")
        return None
    try:
        return ConfinementReport.model_validate(raw)
    except ValueError as exc:
        return ConfinementReport(confined=False, reason=f"unreadable confinement report: {exc}")


def _capped(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, saying how much was cut."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text) - limit} more characters)"


class _Stopwatch:
    """Time spent in `run`, in all, against a limit (``None``: no limit)."""

    def __init__(self, limit: float | None) -> None:
        self.left = limit

    async def run(self, awaitable: Awaitable[Any]) -> None:
        """Await it; raises TimeoutError once the time spent here in all passes the limit."""
        if self.left is None:
            await awaitable
            return
        loop = asyncio.get_running_loop()
        started = loop.time()
        try:
            await asyncio.wait_for(awaitable, max(self.left, 0.0))
        finally:
            self.left -= loop.time() - started


async def _once(data: bytes) -> AsyncIterator[bytes]:
    yield data
