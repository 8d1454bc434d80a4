"""What an exec produces: output chunks while it runs, then one exit."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Stream = Literal["stdout", "stderr"]


class OutputChunk(BaseModel):
    """Bytes a command wrote, as they were produced."""

    model_config = ConfigDict(frozen=True)

    stream: Stream
    data: bytes


class ExecExit(BaseModel):
    """How a command ended."""

    model_config = ConfigDict(frozen=True)

    exit_code: int | None = Field(description="exit status, or None if killed by a signal")
    signal: int | None = None
    timed_out: bool = False
    oom_killed: bool = False
    stdout_truncated: bool = False
    stderr_truncated: bool = False
    duration: float = Field(0.0, description="seconds from start to exit")
    error: str | None = Field(None, description="why it could not run or was lost")

    @property
    def truncated(self) -> bool:
        return self.stdout_truncated or self.stderr_truncated

    @property
    def status(self) -> str:
        """A one-word summary: ok, failed, timeout, oom, killed, error."""
        if self.error:
            return "error"
        if self.timed_out:
            return "timeout"
        if self.oom_killed:
            return "oom"
        if self.signal is not None:
            return "killed"
        return "ok" if self.exit_code == 0 else "failed"


class ExecResult(ExecExit):
    """A finished command with its (capped) output."""

    stdout: bytes = b""
    stderr: bytes = b""

    @property
    def text(self) -> str:
        return self.stdout.decode("utf-8", "replace")
