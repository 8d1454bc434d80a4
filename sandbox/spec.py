"""What a sandbox session is made of: image, runtime, network and limits."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from security.network_policy import NetworkPolicy

EGRESS_PORT = 3128  # inside the sandbox: where its clients find the egress proxy

DEFAULT_IMAGE = "airlock/dev"
AGENT_USER = "1000:1000"


class ResourceLimits(BaseModel):
    """Resource limits of one session's container."""

    model_config = ConfigDict(frozen=True)

    cpus: float = Field(1.0, gt=0, description="CPU cores")
    memory_mb: int = Field(1024, ge=16, description="memory limit, swap included")
    pids: int = Field(256, ge=8, description="processes and threads")
    workspace_mb: int = Field(512, ge=1, description="size of the writable /workspace")
    tmp_mb: int = Field(256, ge=1, description="size of the tmpfs /tmp")
    # tmpfs keeps inodes in memory: without a cap, a flood of empty files fills the
    # memory limit and ends the whole session instead of failing with ENOSPC
    workspace_inodes: int = Field(65_536, ge=1_024, description="files in /workspace")
    tmp_inodes: int = Field(16_384, ge=1_024, description="files in /tmp")
    ttl_seconds: int = Field(3600, ge=1, description="wall-clock lifetime of the session")


class SessionSpec(BaseModel):
    """Everything needed to start a session's container."""

    model_config = ConfigDict(frozen=True)

    image: str = DEFAULT_IMAGE
    runtime: Literal["runc", "runsc"] = "runc"
    network: Literal["none"] = Field(
        "none", description="the container's own network: none, only loopback, always"
    )
    egress: NetworkPolicy = Field(
        default_factory=NetworkPolicy,
        description="hosts the session's egress proxy may reach; empty allow: no proxy, "
        "no egress at all",
    )
    egress_transport: Literal["auto", "socket", "channel"] = Field(
        "auto",
        description="how egress reaches the proxy: a Unix socket mounted into the "
        "sandbox (fast; a local engine, and runsc with --host-uds=open), the exec channel "
        "(any engine), or auto: the socket where it works",
    )
    user: str = AGENT_USER
    shell: str = Field("bash", description="runs string commands: `<shell> -c <command>`")
    workdir: str = "/workspace"
    limits: ResourceLimits = ResourceLimits()
    env: dict[str, str] = Field(default_factory=dict)
    traced: bool = Field(
        False,
        description="oracle sessions only: ptrace is allowed so strace can follow every "
        "process of a command the analyzer allowed; never for agents",
    )
    labels: dict[str, str] = Field(default_factory=dict)
