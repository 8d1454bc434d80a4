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


class ConfinementReport(BaseModel):
    """Whether an exec asked to run confined did, under what, and why not."""

    model_config = ConfigDict(frozen=True)

    confined: bool = Field(description="it ran in a Landlock domain")
    reason: str | None = Field(None, description="why it was not confined")
    mechanism: Literal["landlock"] | None = None
    abi: int | None = Field(None, description="the kernel's Landlock ABI")
    rights_abi: int | None = Field(None, description="the ABI whose access rights were used")
    network: bool = Field(
        False, description="TCP bind was denied, and TCP connect but to ``connect_ports``"
    )
    connect_ports: tuple[int, ...] = Field(
        (),
        description="the only TCP ports it could connect to (the session's egress proxy, "
        "on loopback); empty: none",
    )
    scoped: bool = Field(False, description="signals and abstract unix sockets were scoped")
    syscall_filter: bool = Field(
        False,
        description="a seccomp filter refused sockets other than AF_UNIX and listening ones, "
        "file metadata changes, System V and POSIX IPC, keyrings, changes to other processes' "
        "limits and scheduling, new sessions, io_uring and foreign syscall ABIs",
    )
    syscall_filter_reason: str | None = Field(None, description="why there was no such filter")
    shell: str | None = Field(None, description="the file that ran the line")
    private_shell: bool = Field(False, description="a shell copy no PATH name reaches")
    programs: tuple[str, ...] = Field((), description="files it was allowed to exec")
    missing: tuple[str, ...] = Field((), description="names that found no program")
    writable: tuple[str, ...] = Field(
        (), description="names refused: their file is one the session could change"
    )
    tmpdir: str | None = Field(None, description="its private TMPDIR, removed afterwards")
    tmpdir_left: str | None = Field(None, description="set if that TMPDIR could not be removed")
    processes_left: int = Field(
        0, description="processes of the exec still found after it was ended (0: none)"
    )
    cleanup_error: str | None = Field(None, description="set if ending the exec failed")

    def summary(self) -> str:
        """One line for a person or a model."""
        if not self.confined:
            return f"not confined: {self.reason or 'no reason given'}"
        parts = [f"Landlock ABI {self.abi}", "no writes outside its TMPDIR"]
        parts.append(f"exec limited to {len(self.programs)} files")
        ports = ", ".join(str(port) for port in self.connect_ports)
        if self.network and self.connect_ports:
            parts.append(f"TCP connect only to the egress proxy (port {ports})")
            parts.append("no other network sockets" if self.syscall_filter else "no TCP bind")
        elif self.network and self.syscall_filter:
            parts.append("no network sockets")
        elif self.network:
            parts.append("no TCP")
        if self.scoped:
            parts.append("no signals outside itself")
        return "confined (" + ", ".join(parts) + ")"


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
    confinement: ConfinementReport | None = Field(
        None, description="set when the exec asked to run confined: what happened"
    )

    @property
    def confined(self) -> bool:
        """It ran in a Landlock domain (as a proven read-only command)."""
        return self.confinement is not None and self.confinement.confined

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
