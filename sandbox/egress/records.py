"""What the proxy tells the audit log: one `EgressRecord` per request or tunnel."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

EgressDecision = Literal["allowed", "refused"]


class EgressRecord(BaseModel):
    """One request through a session's egress proxy, emitted when it ends.

    ``decision`` is the proxy's: ``refused`` when the policy, an address check, the SNI
    check or a malformed request stopped it, ``allowed`` once the proxy let it through
    (an allowed request may still fail upstream: see ``status`` and ``error``).
    """

    model_config = ConfigDict(frozen=True)

    host: str = Field(description="the host asked for, as the client wrote it; '' if none")
    port: int = Field(ge=0, le=65535, description="0 when the request named none")
    method: str = Field(description="the HTTP method; CONNECT for a tunnel; '' if unread")
    decision: EgressDecision
    reason: str = Field(description="why, in a few words (the X-Airlock-Egress header)")
    status: int | None = Field(
        None,
        description="the status the proxy answered itself (403, 502, 200 for a tunnel); "
        "None when the upstream's response was relayed",
    )
    error: str | None = Field(None, description="what cut an allowed exchange short, if anything")
    bytes_up: int = Field(0, ge=0, description="bytes sent to the upstream (request or tunnel)")
    bytes_down: int = Field(0, ge=0, description="bytes relayed from the upstream to the client")
    duration_s: float = Field(ge=0)
    terminated: bool = Field(
        False, description="a tunnel whose TLS the proxy terminated to broker credentials"
    )
    brokered: list[str] = Field(
        default_factory=list,
        description="credentials (by variable name, never the value) put into the request",
    )
    withheld: list[str] = Field(
        default_factory=list,
        description="credentials whose placeholder went toward a host they are not for; "
        "the placeholder was sent unchanged",
    )


@dataclass
class RecordDraft:
    """A record being filled in while its request runs (the proxy's own bookkeeping)."""

    host: str = ""
    port: int = 0
    method: str = ""
    decision: EgressDecision = "refused"
    reason: str = ""
    status: int | None = None
    error: str | None = None
    bytes_up: int = 0
    bytes_down: int = 0
    terminated: bool = False
    brokered: set[str] = field(default_factory=set)
    withheld: set[str] = field(default_factory=set)
    started: float = field(default_factory=time.monotonic)

    def finish(self) -> EgressRecord:
        return EgressRecord(
            host=self.host,
            port=self.port,
            method=self.method,
            decision=self.decision,
            reason=self.reason,
            status=self.status,
            error=self.error,
            bytes_up=self.bytes_up,
            bytes_down=self.bytes_down,
            duration_s=max(0.0, time.monotonic() - self.started),
            terminated=self.terminated,
            brokered=sorted(self.brokered),
            withheld=sorted(self.withheld),
        )
