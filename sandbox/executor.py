"""How a Docker session runs one command: two executors behind one interface.

- `AgentChannel` (`sandbox.channel`): the in-container exec agent, over the attached
  stdio of the container's main process. Many execs share it; it can confine a command.
- `DockerExecExecutor` (`sandbox.docker_exec`): one `docker exec` per command, for
  images without python3. It cannot confine, and says so in the exit.

The session picks one when it starts and never looks at which it has again.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Protocol

from sandbox.confinement import Confinement
from sandbox.results import ExecExit, OutputChunk


class Executor(Protocol):
    """Runs argv inside a started container; the session adds what is common to both."""

    @property
    def alive(self) -> bool:
        """False once the executor can run nothing more (its agent went away)."""
        ...

    @property
    def closed_reason(self) -> str | None:
        """Why it is no longer alive, as the executor saw it."""
        ...

    def stream(
        self,
        argv: Sequence[str],
        *,
        cwd: str | None = None,
        env: dict[str, str] | None = None,
        timeout: float | None = None,
        stdin: bytes | AsyncIterator[bytes] | None = None,
        max_output: int = ...,
        confinement: Confinement | None = None,
    ) -> AsyncIterator[OutputChunk | ExecExit]:
        """Output chunks as they come, then one exit (see `sandbox.Session.stream`)."""
        ...

    async def close(self) -> None:
        """Stop what runs and release the executor's resources."""
        ...
