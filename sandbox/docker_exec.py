"""The fallback exec path for images without python3: one `docker exec` per command.

Same events as the agent's channel (output chunks, then one exit), with the caps
and the timeout enforced from the host. Slower (tens of ms per command) and the
timeout kills only the exec's own process, not its children.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any, cast

import docker

from sandbox.channel import DockerStreamDemux
from sandbox.confinement import Confinement
from sandbox.results import ConfinementReport, ExecExit, OutputChunk, Stream

STREAMS: dict[int, Stream] = {1: "stdout", 2: "stderr"}
NOT_CONFINED = (
    "the image has no python3, so commands run through `docker exec`, which cannot apply Landlock"
)


class DockerExecExecutor:
    """The session's executor when its image cannot run the agent: `docker exec` each time.

    A command that must be confined is not run; one that asked for confinement without
    requiring it runs, and its exit reports it unconfined.
    """

    closed_reason: str | None = None

    def __init__(self, client: docker.DockerClient, container_id: str, user: str) -> None:
        self._client = client
        self._container_id = container_id
        self._user = user

    @property
    def alive(self) -> bool:
        return True  # each exec is its own; a lost container fails that exec

    async def stream(
        self,
        argv: Sequence[str],
        *,
        cwd: str | None = None,
        env: dict[str, str] | None = None,
        timeout: float | None = None,
        stdin: bytes | AsyncIterator[bytes] | None = None,
        max_output: int = 1024 * 1024,
        confinement: Confinement | None = None,
    ) -> AsyncIterator[OutputChunk | ExecExit]:
        """Output chunks, then the exit (see `sandbox.Session.stream`)."""
        report = ConfinementReport(confined=False, reason=NOT_CONFINED)
        if confinement is not None and confinement.required:
            yield ExecExit(exit_code=None, error=f"not run: {NOT_CONFINED}", confinement=report)
            return
        if stdin is not None and not isinstance(stdin, bytes):
            stdin = b"".join([piece async for piece in stdin])
        async for event in docker_exec_stream(
            self._client, self._container_id, argv, user=self._user, cwd=cwd or "/", env=env,
            timeout=timeout, stdin=stdin, max_output=max_output,
        ):  # fmt: skip
            if isinstance(event, ExecExit) and confinement is not None:
                event = event.model_copy(update={"confinement": report})
            yield event

    async def close(self) -> None:
        """Nothing is held between execs."""


async def docker_exec_stream(
    client: docker.DockerClient,
    container_id: str,
    argv: Sequence[str],
    *,
    user: str,
    cwd: str,
    env: dict[str, str] | None,
    timeout: float | None,
    stdin: bytes | None,
    max_output: int,
) -> AsyncIterator[OutputChunk | ExecExit]:
    """Run ``argv`` with `docker exec`; yield output chunks, then the exit."""
    api = client.api
    created = await asyncio.to_thread(
        api.exec_create, container_id, list(argv), stdin=stdin is not None, user=user,
        workdir=cwd, environment=env or {},
    )  # fmt: skip
    exec_id = created["Id"]
    started = time.monotonic()
    attached = await asyncio.to_thread(api.exec_start, exec_id, socket=True)
    raw = cast(socket.socket, getattr(attached, "_sock", attached))
    raw.setblocking(False)
    reader, writer = await asyncio.open_connection(sock=raw)
    if stdin:
        writer.write(stdin)
        # drain() returns below the high-water mark; the shutdown below would cut off
        # what the transport still holds, so wait until it holds nothing
        writer.transport.set_write_buffer_limits(high=0)
        await writer.drain()
    with contextlib.suppress(OSError):
        raw.shutdown(socket.SHUT_WR)
    demux = DockerStreamDemux()
    sent = {"stdout": 0, "stderr": 0}
    truncated: set[str] = set()
    timed_out = False
    try:
        while True:
            remaining = None if timeout is None else timeout - (time.monotonic() - started)
            if remaining is not None and remaining <= 0:
                timed_out = True
                await asyncio.to_thread(_kill, api, exec_id)
                break
            try:
                data = await asyncio.wait_for(reader.read(64 * 1024), remaining)
            except TimeoutError:
                continue
            if not data:
                break
            for number, payload in demux.feed(data):
                stream: Stream = STREAMS.get(number, "stdout")
                room = max_output - sent[stream]
                if room <= 0:
                    truncated.add(stream)
                    continue
                piece = payload[:room]
                if len(piece) < len(payload):
                    truncated.add(stream)
                sent[stream] += len(piece)
                yield OutputChunk(stream=stream, data=piece)
    finally:
        writer.close()
    yield await _exit(api, exec_id, started, timed_out, truncated)


def _kill(api: Any, exec_id: str) -> None:
    """SIGKILL the exec's process; it runs on this host, seen by its host pid."""
    pid = api.exec_inspect(exec_id).get("Pid")
    if pid:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(int(pid), signal.SIGKILL)


async def _exit(api: Any, exec_id: str, started: float, timed_out: bool,
                truncated: set[str]) -> ExecExit:  # fmt: skip
    info: dict[str, Any] = {}
    for _ in range(50):  # the exit code appears shortly after the stream closes
        info = await asyncio.to_thread(api.exec_inspect, exec_id)
        if not info.get("Running"):
            break
        await asyncio.sleep(0.02)
    code = info.get("ExitCode")
    killed = isinstance(code, int) and code > 128 and (timed_out or code in (137, 143))
    return ExecExit(
        exit_code=None if timed_out or killed else code,
        signal=(code - 128) if killed and isinstance(code, int) else (9 if timed_out else None),
        timed_out=timed_out,
        stdout_truncated="stdout" in truncated,
        stderr_truncated="stderr" in truncated,
        duration=round(time.monotonic() - started, 4),
        error=None if isinstance(code, int) else "docker exec reported no exit code",
    )
