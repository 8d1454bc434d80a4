"""The contract of a sandbox: a `Backend` starts sessions, a `Session` runs commands in one.

The orchestrator depends on these two protocols and nothing under them. `DockerBackend`
is one implementation; a cluster backend is another, with no change to the agent loop,
the tools or the gate. Every implementation keeps the whole contract below, so one set of
tests holds for all of them.

A session is one isolated machine for one agent: a working directory (``spec.workdir``)
the agent may change, no network but what its spec allows, and the limits of its spec.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Protocol, runtime_checkable

from sandbox.confinement import Confinement
from sandbox.egress.records import EgressRecord
from sandbox.results import ExecExit, ExecResult, OutputChunk
from sandbox.spec import SessionSpec
from sandbox.workspace_seed import SplitArchive

Command = str | Sequence[str]
"""A string runs through the spec's shell (``bash -c``); a sequence runs as the argv."""

DEFAULT_MAX_OUTPUT = 1024 * 1024
MAX_FILE_BYTES = 64 * 1024 * 1024


class SandboxError(RuntimeError):
    """A session could not be started or used; the message says why."""


@runtime_checkable
class Session(Protocol):
    """One running sandbox. Commands and file transfers act inside it, never on the host."""

    @property
    def id(self) -> str:
        """Unique among live sessions; it names the session in events and labels."""
        ...

    @property
    def spec(self) -> SessionSpec:
        """What the session was started with."""
        ...

    @property
    def closed(self) -> bool:
        """True once `close` was called; every other call then raises `SandboxError`."""
        ...

    @property
    def alive(self) -> bool:
        """False once the sandbox is gone (killed, out of memory, its host lost)."""
        ...

    def stream(
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
        """Run ``command``: yield its output chunks as they come, then exactly one `ExecExit`.

        - Output past ``max_output`` bytes per stream is dropped and the exit says so
          (``stdout_truncated``/``stderr_truncated``).
        - At ``timeout`` seconds the command and its children are killed; the exit has
          ``timed_out``, and what it printed before is still yielded.
        - A reader that stops reading slows this command only, never the session's others.
        - Abandoning the iterator kills the command.
        - A lost sandbox ends the stream with an exit whose ``error`` says why.
        - With ``confinement``, the command runs read-only in a kernel domain; the exit's
          ``confinement`` report says whether it was, and why not.
        """
        ...

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
        """`stream` run to its end, the output collected (capped at ``max_output``)."""
        ...

    async def put_file(self, path: str, data: bytes, mode: int = 0o644) -> None:
        """Write ``data`` to ``path`` (parents created), owned by the session's user."""
        ...

    async def get_file(self, path: str, max_bytes: int = MAX_FILE_BYTES) -> bytes:
        """The bytes of ``path``; `SandboxError` if it is unreadable or over ``max_bytes``."""
        ...

    async def put_dir(
        self, source: Path, destination: str, exclude: frozenset[str] = frozenset()
    ) -> SplitArchive | None:
        """Copy a host folder's contents into ``destination``, but the paths in ``exclude``
        (relative to ``source``, each with all below it).

        Into the workdir it is a seed: the repository's git config and hooks become
        read-only to the agent and credentials are stripped; the split returned says what
        was protected and stripped. Elsewhere a plain copy, returning None.
        """
        ...

    async def get_dir(self, source: str, destination: Path, max_bytes: int | None = None) -> None:
        """Copy a folder's contents out to a host folder, never writing outside it, up to
        ``max_bytes`` (default: whatever the session's workspace can hold)."""
        ...

    async def fork(self) -> Session:
        """A new session of the same spec, seeded with a copy of this workdir; its egress
        records go to this session's listeners too."""
        ...

    def watch_egress(self, listener: Callable[[EgressRecord], None]) -> None:
        """Send ``listener`` one `EgressRecord` per request the session made through its
        egress proxy (allowed or refused), those made before first. A session whose spec
        allows no host makes none."""
        ...

    async def cpu_seconds(self) -> float | None:
        """CPU time the sandbox has used so far, by the engine's count (None when the
        engine cannot say): what a tenant's daily CPU cap is counted in."""
        ...

    async def close(self) -> None:
        """Stop everything and release the sandbox. Safe to call twice.

        If the sandbox cannot be released now, raises `SandboxError`; calling again later
        retries, and the backend's reaper removes it once its owner is gone.
        """
        ...


@runtime_checkable
class Backend(Protocol):
    """Starts sessions somewhere: the local engine, a cluster."""

    def session(self, spec: SessionSpec | None = None) -> AbstractAsyncContextManager[Session]:
        """A started session, closed when the block ends however it ends."""
        ...

    async def start(self, spec: SessionSpec, parent: str | None = None) -> Session:
        """Start a session; ``parent`` names the session it is forked from (same placement).

        Raises `SandboxError` with the reason when it cannot start.
        """
        ...
