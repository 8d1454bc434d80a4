"""Sandboxes for agents: a `Backend` starts isolated `Session`s that run commands.

What users may rely on is named here; the modules under it are the implementation.

    from sandbox import DockerBackend, SessionSpec

    async with DockerBackend().session(SessionSpec(runtime="runsc")) as session:
        result = await session.exec("pytest -q", timeout=300)
"""

from sandbox.base import (
    DEFAULT_MAX_OUTPUT,
    MAX_FILE_BYTES,
    Backend,
    Command,
    SandboxError,
    Session,
)
from sandbox.confinement import Confinement, failure_note, read_only_confinement, shows_refusal
from sandbox.docker_backend import DockerBackend, DockerSession
from sandbox.pool import WarmPool
from sandbox.results import ConfinementReport, ExecExit, ExecResult, OutputChunk, Stream
from sandbox.spec import DEFAULT_IMAGE, ResourceLimits, SessionSpec
from sandbox.workspace_seed import SplitArchive

__all__ = [
    "DEFAULT_IMAGE",
    "DEFAULT_MAX_OUTPUT",
    "MAX_FILE_BYTES",
    "Backend",
    "Command",
    "Confinement",
    "ConfinementReport",
    "DockerBackend",
    "DockerSession",
    "ExecExit",
    "ExecResult",
    "OutputChunk",
    "ResourceLimits",
    "SandboxError",
    "Session",
    "SessionSpec",
    "SplitArchive",
    "Stream",
    "WarmPool",
    "failure_note",
    "read_only_confinement",
    "shows_refusal",
]
