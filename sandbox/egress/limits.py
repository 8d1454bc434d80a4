"""The bounds one egress proxy keeps: sizes, timeouts, connections."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

KIB = 1024


class EgressLimits(BaseModel):
    """What a proxy holds at most and waits at most. The defaults suit a session."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_head_bytes: int = Field(64 * KIB, gt=0, description="a request head, all lines")
    max_hello_bytes: int = Field(64 * KIB, gt=0, description="the TLS records of a ClientHello")
    head_timeout_s: float = Field(10.0, gt=0, description="to read a request head")
    hello_timeout_s: float = Field(10.0, gt=0, description="to read a ClientHello after CONNECT")
    connect_timeout_s: float = Field(10.0, gt=0, description="to connect to the upstream")
    idle_timeout_s: float = Field(300.0, gt=0, description="an exchange with no bytes moving")
    answer_timeout_s: float = Field(5.0, gt=0, description="to hand the client a refusal")
    linger_s: float = Field(1.0, ge=0, description="after a refusal, for the client to close")
    max_connections: int = Field(64, gt=0, description="client connections served at once")
    piece_bytes: int = Field(64 * KIB, gt=0, description="read at once per direction")
    max_kernel_directions: int = Field(
        16, ge=0, description="directions moving in the kernel (splice) at once, 3 MiB each"
    )
