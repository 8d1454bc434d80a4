"""The API's request and response bodies (the OpenAPI document is made from these)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from orchestrator.service.tokens import Role

_LABEL = "[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?"
_LAST = "[a-z](?:[a-z0-9_-]{0,61}[a-z0-9_])?"  # a letter first: never an IP literal
_PORT = "(?:[1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])"
HOST_ENTRY = rf"^(?:\*\.(?:{_LABEL}\.)+{_LAST}|(?:{_LABEL}\.)*{_LAST})(?::{_PORT})?$"
"""A host entry as the schema states it: a lowercase name (``*.`` for its subdomains,
never a whole top-level domain), an optional port; a subset of what policies take."""

Image = Literal["airlock/dev", "airlock/minimal"]
Preset = Literal["read-only", "dev", "ci-untrusted"]


class SessionCreate(BaseModel):
    """`POST /v1/sessions`: the sandbox to start, and what its commands may do."""

    model_config = ConfigDict(extra="forbid")

    image: Image = Field("airlock/dev", description="the service's images only")
    runtime: Literal["runc", "runsc"] = "runc"
    policy: Preset = Field("read-only", description="a preset policy (never a file)")
    allow_hosts: list[Annotated[str, StringConstraints(pattern=HOST_ENTRY, max_length=200)]] = (
        Field(default_factory=list, max_length=64, description="HOST[:PORT] its proxy may reach")
    )


class ErrorBody(BaseModel):
    """Every 4xx and 5xx answer: what went wrong, in words."""

    detail: str


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """The documented error answers of a route."""
    return {code: {"model": ErrorBody, "description": ERROR_TEXT[code]} for code in codes}


ERROR_TEXT = {
    400: "the request cannot be carried out as asked",
    401: "no token, or one the service does not know",
    403: "the token's role may not do this",
    404: "no such object for the token's tenant",
    409: "the object is not in a state for this",
    411: "a body must come with its Content-Length",
    413: "the body is over the route's cap",
    429: "a cap is reached; Retry-After says when to ask again",
    503: "the service cannot start the sandbox now",
}


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
