"""A second `sandbox.Backend`: it runs on Docker but exposes only the protocol.

The orchestrator given this backend sees sessions that are not `DockerSession`s and have
nothing but the protocol's members, so a run through it proves the loop, tools and gate
depend on the protocol alone. It records every command, for the test to check.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from sandbox import (
    DEFAULT_MAX_OUTPUT,
    MAX_FILE_BYTES,
    Backend,
    Command,
    Confinement,
    DockerBackend,
    EgressRecord,
    ExecExit,
    ExecResult,
    OutputChunk,
    Session,
    SessionSpec,
    SplitArchive,
)


class RecordingSession:
    """Delegates each protocol member to an inner session; has no other members."""

    __slots__ = ("_inner", "_log")

    def __init__(self, inner: Session, log: list[str]) -> None:
        self._inner = inner
        self._log = log

    @property
    def id(self) -> str:
        return self._inner.id

    @property
    def spec(self) -> SessionSpec:
        return self._inner.spec

    @property
    def closed(self) -> bool:
        return self._inner.closed

    @property
    def alive(self) -> bool:
        return self._inner.alive

    async def stream(
        self,
        command: Command,
        *,
        timeout: float | None = None,
        cwd: str | None = None,
        env: dict[str, str] | None = None,
        stdin: bytes | AsyncIterator[bytes] | None = None,
        max_output: int = DEFAULT_MAX_OUTPUT,
        confinement: Confinement | None = None,
    ) -> AsyncIterator[OutputChunk | ExecExit]:
        self._log.append(command if isinstance(command, str) else " ".join(command))
        async for event in self._inner.stream(
            command, timeout=timeout, cwd=cwd, env=env, stdin=stdin, max_output=max_output,
            confinement=confinement,
        ):  # fmt: skip
            yield event

    async def exec(
        self,
        command: Command,
        *,
        timeout: float | None = None,
        cwd: str | None = None,
        env: dict[str, str] | None = None,
        stdin: bytes | None = None,
        max_output: int = DEFAULT_MAX_OUTPUT,
        confinement: Confinement | None = None,
    ) -> ExecResult:
        self._log.append(command if isinstance(command, str) else " ".join(command))
        return await self._inner.exec(
            command, timeout=timeout, cwd=cwd, env=env, stdin=stdin, max_output=max_output,
            confinement=confinement,
        )  # fmt: skip

    async def put_file(self, path: str, data: bytes, mode: int = 0o644) -> None:
        self._log.append(f"put_file {path}")
        await self._inner.put_file(path, data, mode)

    async def get_file(self, path: str, max_bytes: int = MAX_FILE_BYTES) -> bytes:
        self._log.append(f"get_file {path}")
        return await self._inner.get_file(path, max_bytes)

    async def put_dir(
        self, source: Path, destination: str, exclude: frozenset[str] = frozenset()
    ) -> SplitArchive | None:
        self._log.append(f"put_dir {destination}")
        return await self._inner.put_dir(source, destination, exclude)

    async def get_dir(self, source: str, destination: Path, max_bytes: int | None = None) -> None:
        self._log.append(f"get_dir {source}")
        await self._inner.get_dir(source, destination, max_bytes)

    async def fork(self) -> Session:
        self._log.append("fork")
        return RecordingSession(await self._inner.fork(), self._log)

    def watch_egress(self, listener: Callable[[EgressRecord], None]) -> None:
        self._log.append("watch_egress")
        self._inner.watch_egress(listener)

    async def cpu_seconds(self) -> float | None:
        return await self._inner.cpu_seconds()

    async def close(self) -> None:
        await self._inner.close()


class RecordingBackend:
    """Starts Docker sessions and hands them out wrapped."""

    def __init__(self) -> None:
        self._docker = DockerBackend()
        self.log: list[str] = []
        self.started = 0

    @asynccontextmanager
    async def session(self, spec: SessionSpec | None = None) -> AsyncIterator[Session]:
        session = await self.start(spec or SessionSpec())
        try:
            yield session
        finally:
            await session.close()

    async def start(self, spec: SessionSpec, parent: str | None = None) -> Session:
        self.started += 1
        return RecordingSession(await self._docker.start(spec, parent), self.log)


def _conforms(backend: Backend) -> Backend:
    """Type-checks that the wrappers keep the protocols (mypy checks this call)."""
    return backend


_conforms(RecordingBackend())
