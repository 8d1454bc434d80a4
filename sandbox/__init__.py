"""Sandboxes for agents: a `Backend` starts isolated `Session`s that run commands.

What users may rely on is named here; the modules under it are the implementation.
Names load on first use, so importing one submodule does not load the others.

    from sandbox import DockerBackend, SessionSpec

    async with DockerBackend().session(SessionSpec(runtime="runsc")) as session:
        result = await session.exec("pytest -q", timeout=300)
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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
    from sandbox.egress import EgressRecord, scrub_placeholders
    from sandbox.egress_transport import EgressUnavailable
    from sandbox.pool import WarmPool
    from sandbox.results import ConfinementReport, ExecExit, ExecResult, OutputChunk, Stream
    from sandbox.session_egress import proxy_environment
    from sandbox.spec import DEFAULT_IMAGE, EGRESS_PORT, ResourceLimits, SessionSpec
    from sandbox.workspace_seed import SplitArchive

_HOMES = {
    "DEFAULT_IMAGE": "sandbox.spec",
    "DEFAULT_MAX_OUTPUT": "sandbox.base",
    "MAX_FILE_BYTES": "sandbox.base",
    "Backend": "sandbox.base",
    "Command": "sandbox.base",
    "Confinement": "sandbox.confinement",
    "ConfinementReport": "sandbox.results",
    "DockerBackend": "sandbox.docker_backend",
    "DockerSession": "sandbox.docker_backend",
    "EGRESS_PORT": "sandbox.spec",
    "EgressRecord": "sandbox.egress",
    "EgressUnavailable": "sandbox.egress_transport",
    "ExecExit": "sandbox.results",
    "ExecResult": "sandbox.results",
    "OutputChunk": "sandbox.results",
    "ResourceLimits": "sandbox.spec",
    "SandboxError": "sandbox.base",
    "Session": "sandbox.base",
    "SessionSpec": "sandbox.spec",
    "SplitArchive": "sandbox.workspace_seed",
    "Stream": "sandbox.results",
    "WarmPool": "sandbox.pool",
    "failure_note": "sandbox.confinement",
    "proxy_environment": "sandbox.session_egress",
    "read_only_confinement": "sandbox.confinement",
    "scrub_placeholders": "sandbox.egress",
    "shows_refusal": "sandbox.confinement",
}

__all__ = [
    "DEFAULT_IMAGE",
    "DEFAULT_MAX_OUTPUT",
    "EGRESS_PORT",
    "MAX_FILE_BYTES",
    "Backend",
    "Command",
    "Confinement",
    "ConfinementReport",
    "DockerBackend",
    "DockerSession",
    "EgressRecord",
    "EgressUnavailable",
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
    "proxy_environment",
    "read_only_confinement",
    "scrub_placeholders",
    "shows_refusal",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'sandbox' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_HOMES])
