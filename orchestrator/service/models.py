"""The API's request and response bodies (the OpenAPI document is made from these)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from orchestrator.service.tokens import Role


class SessionCreate(BaseModel):
    """`POST /v1/sessions`: the sandbox to start, and what its commands may do."""

    model_config = ConfigDict(extra="forbid")

    image: str = Field("airlock/dev", min_length=1, max_length=200)
    runtime: Literal["runc", "runsc"] = "runc"
    policy: str = Field("read-only", description="a preset: read-only, dev or ci-untrusted")
    allow_hosts: list[str] = Field(
        default_factory=list, max_length=64, description="HOST[:PORT] its proxy may reach"
    )


class SessionCreated(BaseModel):
    id: str


class SessionInfo(BaseModel):
    """A session of the caller's tenant."""

    id: str
    image: str
    runtime: str
    policy: str
    allow_hosts: list[str]
    created_at: float
    ended_at: float | None = None
    state: Literal["live", "ended", "interrupted"]
    reason: str | None = Field(None, description="why it ended")
    alive: bool = Field(description="its sandbox answers")


class WhoAmI(BaseModel):
    tenant: str
    role: Role
    max_sessions: int | None
    token_id: str


class Health(BaseModel):
    status: Literal["ok", "draining"]
