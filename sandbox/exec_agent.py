"""In-container exec agent: runs commands for the host over one stdin/stdout channel.

It is the container's main process (a child of tini), runs as root with three
capabilities and starts every command as the session's user (`sandbox/command_user.py`:
why). It is shipped as
``python3 -c "<source>"`` (`sandbox/agent_bundle.py` packs it with the modules it
imports), so it is standard-library-only and runs on Python 3.8+. It writes no files
but the private TMPDIR of a confined exec (`sandbox/confine_exec.py`), removed when the
exec ends. The host imports the same module for the codec; importing it has no side
effects.

Wire format, both directions: a 4-byte big-endian length N, then N bytes holding a
UTF-8 JSON object (the header) terminated by ``\\n`` and followed by raw payload bytes.
Each header has a ``type`` and, for an exec, its ``id``.

- host to agent: ``exec`` (argv, cwd, env, timeout, stdin, max_output, chunk, window,
  confine), ``stdin`` (payload), ``stdin_close``, ``signal``, ``credit``, ``cancel``,
  ``ping``, ``shutdown``;
- agent to host: ``hello``, ``started``, ``output`` (payload), ``truncated``, ``error``,
  ``exit``, ``pong``.

Egress (`sandbox/egress_relay.py` has its frames): ``tcp_listen`` makes the agent listen
on a loopback port of the session; each connection to it travels as a stream of
``tcp_*`` frames with its own credit, to the session's proxy on the host.

Flow control, per exec: ``window`` is how many bytes of output the agent may send for
that exec before the host grants more with ``{"type": "credit", "id": X, "bytes": N}``
(sent as the host's reader takes the output). With no credit left, the exec's pumps stop
reading its pipes, so that command alone blocks writing; other execs, pings, stdin,
signals and exits go on, and its timeout still fires. Only ``output`` frames use credit,
their payload's size plus `FRAME_CREDIT`; output past ``max_output`` is counted and
dropped without it. ``cancel`` (the host stopped
reading) kills the exec's group and drops what output is left. Without ``window`` an exec
is paced only by the channel as a whole.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import functools
import json
import math
import os
import platform
import signal
import struct
import sys
import time
import traceback
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sandbox import command_spawn, command_user, confine_exec, egress_relay, user_helper

if TYPE_CHECKING:
    from typing import TypeGuard

PROTOCOL_VERSION = 1
MAX_FRAME = 16 * 1024 * 1024  # largest frame body accepted or produced
KILL_GRACE = 2.0  # seconds between SIGTERM and SIGKILL when an exec times out
DRAIN_GRACE = 0.2  # seconds the pipes may stay open once the main process exited
SHUTDOWN_GRACE = 1.0  # seconds to let killed execs report before the agent exits
DEFAULT_MAX_OUTPUT = 1024 * 1024
DEFAULT_CHUNK = 64 * 1024
MAX_CHUNK = 1024 * 1024
READ_SIZE = 1024 * 1024  # of the host's frames at a time (egress data comes in 256 KiB frames)
# Credit an output frame uses on top of its payload: the credit then bounds how many
# frames of an exec wait on the host, not only their bytes (1-byte frames would cost the
# host far more memory than the bytes they carry).
FRAME_CREDIT = 256
OOM_COUNTERS = ("/sys/fs/cgroup/memory.events", "/sys/fs/cgroup/memory/memory.oom_control")
STREAMS = ("stdout", "stderr")


class ProtocolError(Exception):
    """The byte stream is not a valid sequence of frames."""


class BadRequest(Exception):
    """A well-framed request that cannot be served; answered with an error frame."""


def encode_frame(header: dict[str, Any], payload: bytes = b"") -> bytes:
    """Serialize one frame: length prefix, one-line JSON header, raw payload."""
    head = json.dumps(header, separators=(",", ":")).encode("utf-8") + b"\n"
    size = len(head) + len(payload)
    if size > MAX_FRAME:
        raise ProtocolError(f"frame of {size} bytes exceeds the {MAX_FRAME}-byte limit")
    return b"".join((struct.pack(">I", size), head, payload))


class FrameDecoder:
    """Incremental decoder: feed it bytes as they arrive, get back complete frames."""

    def __init__(self, max_frame: int = MAX_FRAME) -> None:
        self._buf = bytearray()
        self._max = max_frame

    def feed(self, data: bytes) -> list[tuple[dict[str, Any], bytes]]:
        """Buffer ``data`` and return every ``(header, payload)`` now complete."""
        buf = self._buf
        buf += data
        frames: list[tuple[dict[str, Any], bytes]] = []
        pos = 0
        while len(buf) - pos >= 4:
            (size,) = struct.unpack_from(">I", buf, pos)
            if size > self._max:
                raise ProtocolError(f"frame of {size} bytes exceeds the {self._max}-byte limit")
            end = pos + 4 + size
            if len(buf) < end:
                break
            newline = buf.find(b"\n", pos + 4, end)
            if newline < 0:
                raise ProtocolError("frame header is not terminated by a newline")
            try:
                header = json.loads(bytes(buf[pos + 4 : newline]).decode("utf-8"))
            except (ValueError, RecursionError) as exc:
                raise ProtocolError(f"frame header is not valid JSON: {exc}") from None
            if not isinstance(header, dict):
                raise ProtocolError("frame header is not a JSON object")
            with memoryview(buf) as view:  # one copy of the payload, not two
                frames.append((header, bytes(view[newline + 1 : end])))
            pos = end
        del buf[:pos]
        return frames


def _oom_kills() -> int | None:
    """The cgroup's OOM-kill counter, or None when no counter is readable."""
    for path in OOM_COUNTERS:
        try:
            text = Path(path).read_text()
        except OSError:
            continue
        for line in text.splitlines():
            key, _, value = line.partition(" ")
            if key == "oom_kill" and value.strip().isdigit():
                return int(value)
    return None


def _exit_frame(xid: int, returncode: int, **extra: Any) -> dict[str, Any]:
    """An exit header; ``extra`` overrides the defaults of an exec that never ran."""
    frame: dict[str, Any] = {
        "type": "exit",
        "id": xid,
        "exit_code": returncode if returncode >= 0 else None,
        "signal": -returncode if returncode < 0 else None,
        "timed_out": False,
        "oom_killed": False,
        "duration": 0.0,
        "stdout_bytes": 0,
        "stderr_bytes": 0,
        "dropped": {"stdout": 0, "stderr": 0},
    }
    frame.update(extra)
    return frame


async def _all_done(futures: list[asyncio.Future[Any]], timeout: float | None) -> bool:
    """Wait up to ``timeout`` seconds (None: forever) for all futures; True if they are."""
    if not futures:
        return True
    _, pending = await asyncio.wait(futures, timeout=timeout)
    return not pending


def _is_int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _int_field(req: dict[str, Any], key: str, default: int, minimum: int) -> int:
    value = req.get(key)
    if value is None:
        return default
    if not _is_int(value) or value < minimum:
        raise BadRequest(f"{key} must be an integer >= {minimum}")
    return int(value)


class _Channel(asyncio.Protocol):
    """The single writer of the host channel; whole frames go out in order."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.transport: asyncio.WriteTransport | None = None
        self.lost: asyncio.Future[None] = loop.create_future()
        self._paused = False
        self._waiters: list[asyncio.Future[None]] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.WriteTransport)
        self.transport = transport

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.lost.done():
            self.lost.set_result(None)
        self.resume_writing()

    def pause_writing(self) -> None:
        self._paused = True

    def resume_writing(self) -> None:
        self._paused = False
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(None)
        self._waiters.clear()

    @property
    def paused(self) -> bool:
        return self._paused and not self.lost.done()

    def send(self, header: dict[str, Any], payload: bytes = b"") -> None:
        """Queue one frame (never blocks); dropped once the host is gone."""
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(encode_frame(header, payload))

    async def drain(self) -> None:
        """Wait while the host is not keeping up, so output is not buffered without bound."""
        while self._paused and not self.lost.done():
            waiter = self.loop.create_future()
            self._waiters.append(waiter)
            await waiter


class _PipeReader(asyncio.StreamReaderProtocol):
    """Feeds a StreamReader and resolves ``closed`` once the pipe's write end is gone."""

    def __init__(self, reader: asyncio.StreamReader, closed: asyncio.Future[None]) -> None:
        super().__init__(reader)
        self.closed = closed

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        if not self.closed.done():
            self.closed.set_result(None)


class _Exec:
    """One spawned command: its process group, output pumps and exit report."""

    def __init__(
        self,
        agent: ExecServer,
        xid: int,
        proc: command_spawn.SpawnedCommand,
        req: dict[str, Any],
        plan: confine_exec.Plan | None = None,
    ) -> None:
        self.agent = agent
        self.xid = xid
        self.proc = proc
        self.plan = plan
        self.timeout: float | None = req["timeout"]
        self.max_output: int = req["max_output"]
        self.chunk: int = req["chunk"]
        self.began: float = req["began"]
        self.oom_before: int | None = req["oom_before"]
        self.exited: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self.readers: dict[str, asyncio.StreamReader] = {}
        self.pipes: list[asyncio.BaseTransport] = []
        self.closed: list[asyncio.Future[Any]] = []
        self.stdin: asyncio.WriteTransport | None = None
        self.early_stdin: list[bytes] = []  # stdin frames before the pipes were attached
        self.early_eof = False
        self.sent = dict.fromkeys(STREAMS, 0)
        self.dropped = dict.fromkeys(STREAMS, 0)
        self.credit: int | None = req["window"]  # output bytes it may send; None: no window
        self.credited = asyncio.Event()
        self.starved = 0  # pumps waiting for credit
        self.cancelled = False  # the host stopped reading: drop what output is left

    async def connect(self) -> None:
        """Attach the child's pipes to the event loop."""
        loop = asyncio.get_running_loop()
        for name, pipe in (("stdout", self.proc.stdout), ("stderr", self.proc.stderr)):
            reader = asyncio.StreamReader(limit=self.chunk)
            closed: asyncio.Future[None] = loop.create_future()
            factory = functools.partial(_PipeReader, reader, closed)
            transport, _ = await loop.connect_read_pipe(factory, pipe)
            self.readers[name] = reader
            self.pipes.append(transport)
            self.closed.append(closed)
        if self.proc.stdin is not None:
            self.stdin, _ = await loop.connect_write_pipe(asyncio.Protocol, self.proc.stdin)
            for data in self.early_stdin:
                self.stdin.write(data)
            self.early_stdin.clear()
            if self.early_eof:
                self.stdin.close()

    def kill(self, sig: int) -> None:
        """Signal the exec's whole process group (a no-op once it is empty); before the
        child has a group of its own, the child."""
        try:
            os.killpg(self.proc.pid, sig)
        except ProcessLookupError:
            self.proc.kill_alone(sig)
        except PermissionError:
            pass

    def write_stdin(self, data: bytes) -> None:
        """Queue bytes for the child's stdin (the host paces what it sends); before the
        pipes are attached, they wait here."""
        if self.proc.stdin is None:
            raise BadRequest(f"exec {self.xid} was started without stdin")
        if self.stdin is None:
            self.early_stdin.append(data)
        elif not self.stdin.is_closing():
            self.stdin.write(data)

    def close_stdin(self) -> None:
        if self.stdin is not None:
            self.stdin.close()
        else:
            self.early_eof = True

    def close_pipes(self) -> None:
        """Close the pipes of a command that never ran (they were never attached)."""
        for pipe in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if pipe is not None:
                with contextlib.suppress(OSError):
                    pipe.close()

    def grant(self, size: int) -> None:
        """The host's credit: ``size`` more bytes of output may go."""
        if self.credit is not None:
            self.credit += size
            self.credited.set()

    def cancel(self) -> None:
        """The host stopped reading: kill the group; its output left is dropped, not sent."""
        self.cancelled = True
        self.credited.set()
        self.kill(signal.SIGKILL)

    async def run(self) -> None:
        """Forward output, enforce the timeout, then report exactly one exit frame."""
        pumps = [asyncio.ensure_future(self._pump(s, r)) for s, r in self.readers.items()]
        try:
            timed_out = not await _all_done([self.exited], self.timeout)
            if timed_out:
                self.kill(signal.SIGTERM)
                if not await _all_done([self.exited], KILL_GRACE):
                    self.kill(signal.SIGKILL)
                    await self.exited
                self.kill(signal.SIGKILL)  # anything in the group that ignored SIGTERM
            duration = time.monotonic() - self.began
            await self._wait_pipes()
            await asyncio.gather(*pumps)
        finally:
            self.agent.execs.pop(self.xid, None)
            for pipe in self.pipes:
                pipe.close()
            self.close_stdin()
            if self.plan is not None:
                self._finish_confined(self.plan)
        returncode = self.exited.result()
        oom_after = _oom_kills()
        oom = (  # killed, or a shell reporting its child killed (`head | tail`: 137)
            returncode in (-signal.SIGKILL, 128 + signal.SIGKILL)
            and self.oom_before is not None
            and oom_after is not None
            and oom_after > self.oom_before
        )
        frame = _exit_frame(
            self.xid,
            returncode,
            timed_out=timed_out,
            oom_killed=oom,
            duration=round(duration, 6),
            stdout_bytes=self.sent["stdout"],
            stderr_bytes=self.sent["stderr"],
            dropped=dict(self.dropped),
        )
        if self.plan is not None:
            frame["confinement"] = self.plan.report
        self.agent.chan.send(frame)

    def _finish_confined(self, plan: confine_exec.Plan) -> None:
        """End every process the confined exec left (its session: a background one with
        closed output would otherwise outlive it) and remove its TMPDIR. An error here
        is reported in the exit frame, never left to stop it from being sent."""
        try:
            plan.finish(session=self.proc.pid)
        except Exception as exc:
            plan.report["cleanup_error"] = repr(exc)

    async def _wait_pipes(self) -> None:
        """After the main process exited: give the pipes DRAIN_GRACE, then kill the group.

        A pipe still open after that is held by a process that left the group; stop
        reading it once no output is flowing (the host being slow counts as flowing).
        """
        if await _all_done(self.closed, DRAIN_GRACE):
            return
        self.kill(signal.SIGKILL)
        seen = -1
        while seen != self._consumed() or self.agent.chan.paused or self.starved:
            seen = self._consumed()
            if await _all_done(self.closed, DRAIN_GRACE):
                return
        for pipe in self.pipes:
            pipe.close()

    def _consumed(self) -> int:
        return sum(self.sent.values()) + sum(self.dropped.values())

    async def _pump(self, stream: str, reader: asyncio.StreamReader) -> None:
        """Copy one stream to the host in chunks as credit allows, up to max_output; then
        count and discard. It reads nothing while it waits for credit."""
        while True:
            if not self.cancelled and self.sent[stream] < self.max_output:
                await self._until_credit()
            try:
                data = await reader.read(self.chunk)
            except Exception:  # a broken pipe ends the stream like EOF does
                return
            if not data:
                return
            await self._forward(stream, data)

    async def _until_credit(self) -> None:
        """Wait while the host holds a full window of this exec's output (or until cancel).

        Its pipes are not read meanwhile, so the command blocks writing to them: the
        backpressure of a slow reader falls on its own command, never on the channel.
        """
        while self.credit is not None and self.credit <= FRAME_CREDIT and not self.cancelled:
            self.credited.clear()
            self.starved += 1
            try:
                await self.credited.wait()
            finally:
                self.starved -= 1

    async def _forward(self, stream: str, data: bytes) -> None:
        """Send what fits under max_output, never more than the credit at hand (two pumps
        share it); count the rest, and what a cancel leaves, as dropped."""
        chan = self.agent.chan
        room = max(self.max_output - self.sent[stream], 0)
        part, rest = data[:room], data[room:]
        while part:
            await self._until_credit()
            if self.cancelled:
                break
            size = len(part)
            if self.credit is not None:
                size = min(size, self.credit - FRAME_CREDIT)
                self.credit -= size + FRAME_CREDIT
            self.sent[stream] += size
            chan.send({"type": "output", "id": self.xid, "stream": stream}, part[:size])
            part = part[size:]
            await chan.drain()
        if rest and self.dropped[stream] == 0 and not self.cancelled:
            chan.send({"type": "truncated", "id": self.xid, "stream": stream})
        self.dropped[stream] += len(part) + len(rest)


class ExecServer:
    """Serves exec requests read from ``in_fd`` and writes frames to ``out_fd``."""

    def __init__(
        self,
        in_fd: int = 0,
        out_fd: int = 1,
        user: command_user.CommandUser | None = None,
        helper: user_helper.UserHelper | None = None,
    ) -> None:
        self.in_fd = in_fd
        self.out_fd = out_fd
        self.user = user or command_user.parse(None)
        self.helper = helper
        self.execs: dict[int, _Exec] = {}
        self.tasks: set[asyncio.Future[None]] = set()
        self.stop_reason = "the host closed the session"

    async def serve(self) -> int:
        """Run until the channel closes or the host asks to stop; return the exit code."""
        loop = asyncio.get_running_loop()
        self.done: asyncio.Future[int] = loop.create_future()
        self.chan = _Channel(loop)
        out = os.fdopen(self.out_fd, "wb", buffering=0)
        await loop.connect_write_pipe(lambda: self.chan, out)
        reader = asyncio.StreamReader(limit=READ_SIZE)
        await loop.connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(self.in_fd, "rb", buffering=0)
        )
        loop.add_signal_handler(signal.SIGCHLD, self._reap)
        for sig in (signal.SIGTERM, signal.SIGINT):
            why = f"it got {sig.name}, as when the engine stops it"
            loop.add_signal_handler(sig, self._finish, 0, why)
        self.chan.lost.add_done_callback(lambda _: self._finish(0, "the host went away"))
        self.egress = egress_relay.EgressRelay(self.chan.send, FRAME_CREDIT)
        self.chan.send(
            {
                "type": "hello",
                "version": PROTOCOL_VERSION,
                "pid": os.getpid(),
                "python": platform.python_version(),
                "uid": os.getuid(),
                "command_uid": self.user.uid,
                "spawn": "setpriv" if self.helper else "fork",
            }
        )
        reading = asyncio.ensure_future(self._read_loop(reader))
        code = await self.done
        reading.cancel()
        await self._stop_all()
        return code

    def _finish(self, code: int, reason: str | None = None) -> None:
        if not self.done.done():
            self.stop_reason = reason or self.stop_reason
            self.done.set_result(code)

    def _error(self, xid: Any, message: str) -> None:
        self.chan.send({"type": "error", "id": xid if _is_int(xid) else None, "message": message})

    def _reap(self) -> None:
        """SIGCHLD handler: resolve the exit future of every exec whose process ended."""
        for ex in list(self.execs.values()):
            if not ex.exited.done():
                returncode = ex.proc.poll()
                if returncode is not None:
                    ex.exited.set_result(returncode)

    async def _read_loop(self, reader: asyncio.StreamReader) -> None:
        decoder = FrameDecoder()
        while not self.done.done():
            data = await reader.read(READ_SIZE)
            if not data:
                self._finish(0, "the host went away")
                return
            try:
                frames = decoder.feed(data)
            except ProtocolError as exc:
                self._error(None, f"protocol error: {exc}")
                self._finish(2, f"protocol error: {exc}")
                return
            for header, payload in frames:
                await self._dispatch(header, payload)

    async def _dispatch(self, header: dict[str, Any], payload: bytes) -> None:
        """Serve one request; any failure becomes an error frame, never a crash."""
        kind, xid = header.get("type"), header.get("id")
        try:
            if kind == "exec":
                await self._start(header)
            elif kind == "ping":
                self.chan.send({"type": "pong", "id": xid})
            elif kind == "shutdown":
                self._finish(0)
            elif kind in ("credit", "cancel"):
                self._flow(kind, xid, header)
            elif kind == "tcp_listen" or kind in egress_relay.TCP_KINDS:
                await self._egress(kind, header, payload)
            elif kind in ("stdin", "stdin_close", "signal"):
                ex = self.execs.get(xid) if _is_int(xid) else None
                if ex is None:
                    raise BadRequest(f"no running exec with id {xid!r}")
                if kind == "stdin":
                    ex.write_stdin(payload)
                elif kind == "stdin_close":
                    ex.close_stdin()
                else:
                    sig = header.get("signal")
                    if not _is_int(sig) or not 0 < sig < signal.NSIG:
                        raise BadRequest(f"invalid signal {sig!r}")
                    ex.kill(sig)
            else:
                raise BadRequest(f"unknown frame type {kind!r}")
        except BadRequest as exc:
            self._error(xid, str(exc))
            self._never_started(kind, xid)
        except Exception as exc:
            traceback.print_exc()
            self._error(xid, f"internal error: {exc!r}")
            self._never_started(kind, xid)

    def _never_started(self, kind: Any, xid: Any) -> None:
        """An exec refused before it started still ends, with 126: the host waits for it."""
        if kind == "exec" and _is_int(xid) and xid not in self.execs:
            self.chan.send(_exit_frame(xid, 126))

    async def _egress(self, kind: str, header: dict[str, Any], payload: bytes) -> None:
        """A frame of egress; what the relay cannot do is a bad request, answered by id."""
        try:
            if kind == "tcp_listen":
                await self.egress.listen(header)
            else:
                self.egress.handle(kind, header, payload)
        except ValueError as exc:
            raise BadRequest(str(exc)) from None

    def _flow(self, kind: str, xid: Any, header: dict[str, Any]) -> None:
        """Credit or cancel for an exec. One that has just ended is no error: the host
        sends these as its reader goes, without knowing yet that the exit is on its way."""
        ex = self.execs.get(xid) if _is_int(xid) else None
        if kind == "cancel":
            if ex is not None:
                ex.cancel()
            return
        size = header.get("bytes")
        if not _is_int(size) or size < 1:
            raise BadRequest(f"invalid credit {size!r}")
        if ex is not None:
            ex.grant(size)

    async def _start(self, req: dict[str, Any]) -> None:
        """Validate an exec request, spawn it in its own session and start its task."""
        xid = req.get("id")
        if not _is_int(xid):
            raise BadRequest("exec needs an integer id")
        if xid in self.execs:
            raise BadRequest(f"exec {xid} is already running")
        argv, cwd, env = req.get("argv"), req.get("cwd"), req.get("env") or {}
        if not isinstance(argv, list) or not argv or not all(isinstance(a, str) for a in argv):
            raise BadRequest("argv must be a non-empty list of strings")
        if cwd is not None and not isinstance(cwd, str):
            raise BadRequest("cwd must be a string")
        if not isinstance(env, dict) or not all(isinstance(v, str) for v in env.values()):
            raise BadRequest("env must map strings to strings")
        timeout = req.get("timeout")
        if timeout is not None and not (
            isinstance(timeout, (int, float)) and math.isfinite(timeout) and timeout >= 0
        ):
            raise BadRequest("timeout must be a non-negative number or null")
        want_stdin = req.get("stdin", False)
        if not isinstance(want_stdin, bool):
            raise BadRequest("stdin must be a boolean")
        window = req.get("window")
        if window is not None and (not _is_int(window) or window <= FRAME_CREDIT):
            raise BadRequest(f"window must be an integer > {FRAME_CREDIT} or null")
        try:
            confine = confine_exec.parse(req.get("confine"))
        except ValueError as exc:
            raise BadRequest(str(exc)) from None
        opts = {
            "timeout": None if timeout is None else float(timeout),
            "max_output": _int_field(req, "max_output", DEFAULT_MAX_OUTPUT, 0),
            "chunk": min(_int_field(req, "chunk", DEFAULT_CHUNK, 1), MAX_CHUNK),
            "window": window,
            "oom_before": _oom_kills(),
            "began": time.monotonic(),
        }
        full_env = {**os.environ, **env}
        plan: confine_exec.Plan | None = None
        if confine is not None:
            try:
                owner = (self.user.uid, self.user.gid) if self.user.popen_options() else None
                plan = confine_exec.prepare(confine, argv, cwd, full_env, owner)
            except confine_exec.Refused as exc:
                self._error(xid, f"not run: {exc}")
                report = {"confined": False, "reason": str(exc)}
                self.chan.send(_exit_frame(xid, 126, confinement=report))
                return
            full_env.update(plan.env)
        confined = plan.preexec if plan and plan.ruleset_fd is not None else None
        try:
            if self.user.popen_options() and cwd:
                # a missing directory is reported before a fork; looked up as the user:
                # root's look would tell what exists where the user may not see
                with self.user.owning(), contextlib.suppress(PermissionError):
                    Path(cwd).stat()
            proc, status = command_spawn.spawn(
                argv,
                self.user,
                want_stdin,
                executable=plan.executable if plan else None,
                env=full_env,
                cwd=cwd,
                confine=confined,
                helper=self.helper,
            )
        except (OSError, ValueError) as exc:
            self._not_started(xid, argv, plan, 127 if isinstance(exc, FileNotFoundError) else 126,
                              str(exc))  # fmt: skip
            return
        finally:
            if plan is not None:
                plan.started()
        ex = _Exec(self, xid, proc, opts, plan)
        self.execs[xid] = ex
        task = asyncio.ensure_future(self._launch(ex, status, argv))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _launch(self, ex: _Exec, status: int | None, argv: list[str]) -> None:
        """Wait (from the loop) until the child has become its command (a forked one,
        with a ``status`` pipe), then run it; or report why it could not. A child
        stopped before ``exec`` is killed at its exec's timeout; the agent never waits
        on it."""
        failed = None
        try:
            if status is not None:
                failed = await command_spawn.exec_status(status, ex.timeout)
        except TimeoutError:
            ex.proc.kill_alone(signal.SIGKILL)
            failed = command_spawn.SpawnFailed(126, "exec", "it did not start within its timeout")
        if failed is not None:
            ex.proc.kill_alone(signal.SIGKILL)  # it exits by itself; a stopped one would not
            with contextlib.suppress(ChildProcessError):
                os.waitpid(ex.proc.pid, 0)
            self.execs.pop(ex.xid, None)
            ex.close_pipes()
            reason = failed.error
            if failed.step in ("working directory", "confinement"):
                reason = f"the child could not enter its {failed.step} ({failed.error})"
            self._not_started(ex.xid, argv, ex.plan, failed.code, reason, ex.proc.pid)
            return
        try:
            await ex.connect()
        except BaseException:
            ex.kill(signal.SIGKILL)
            self.execs.pop(ex.xid, None)
            if ex.plan is not None:
                ex.plan.finish(session=ex.proc.pid)
            raise
        self.chan.send({"type": "started", "id": ex.xid, "pid": ex.proc.pid})
        self._reap()  # in case it exited before its pipes were attached
        await ex.run()

    def _not_started(
        self,
        xid: int,
        argv: list[str],
        plan: confine_exec.Plan | None,
        code: int,
        reason: str,
        pid: int | None = None,
    ) -> None:
        """The error and exit frames of an exec whose command never ran."""
        extra: dict[str, Any] = {}
        if plan is not None:
            plan.finish(session=pid)
            extra["confinement"] = {**plan.report, "confined": False, "reason": reason}
        self._error(xid, f"cannot start {argv[0]!r}: {reason}")
        self.chan.send(_exit_frame(xid, code, **extra))

    async def _stop_all(self) -> None:
        """Kill every exec's group, let them report briefly, then flush the channel.

        Each exec still running is told why first (an error frame), so its exit reads
        "the sandbox is stopping" and not as a kill the command brought on itself.
        """
        for xid, ex in list(self.execs.items()):
            why = f"the sandbox is stopping ({self.stop_reason}); the command was killed"
            self._error(xid, why)
            ex.cancel()
        self.egress.close()
        await _all_done(list(self.tasks), SHUTDOWN_GRACE)
        if self.chan.transport is not None:
            self.chan.transport.close()
        await _all_done([self.chan.lost], SHUTDOWN_GRACE)


PR_SET_DUMPABLE = 4


def _keep_descriptors_private() -> None:
    """Make this process not dumpable, a second lock on its fds (the first: commands run
    as another user, `sandbox/command_user.py`). A program it execs is dumpable again, as
    usual. Where the call fails (an old gVisor) the agent runs as before."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)


def main() -> int:
    """Serve on fds 0/1; fd 1 is then pointed at stderr so stray prints cannot corrupt frames.

    Commands run as ``AIRLOCK_USER`` (`sandbox/command_user.py`), whose ``HOME`` they get;
    through ``setpriv`` where the image's works (`sandbox/user_helper.py`), else forked.
    """
    _keep_descriptors_private()
    try:
        user = command_user.parse(os.environ.pop(command_user.ENV_NAME, None))
    except command_user.CommandUserError as exc:
        print(f"airlock agent: {exc}", file=sys.stderr)
        return 2
    os.environ["HOME"] = user.home
    out_fd = os.dup(1)
    with contextlib.suppress(OSError):
        os.dup2(2, 1)
    user_helper.keep_descriptors_from_commands()
    helper = user_helper.probe(user)  # before any command of the user exists
    return asyncio.run(ExecServer(0, out_fd, user, helper).serve())


if __name__ == "__main__":
    sys.exit(main())
