"""`/v1/sessions`: a tenant's live sandboxes, started, listed and ended over HTTP.

Each belongs to the tenant of the token that started it; another tenant's answers 404,
as one that does not exist. A tenant holds at most its token's ``max_sessions`` at once
and the service at most its capacity (`ServiceConfig.max_sessions`): past either, 429
with ``Retry-After``. A slot is taken before the sandbox starts, so concurrent requests
cannot pass a cap together.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, Response

from orchestrator.service.auth import requires
from orchestrator.service.models import SessionCreate, SessionCreated, SessionInfo
from orchestrator.service.roles import Action
from orchestrator.service.tokens import Identity

if TYPE_CHECKING:
    from orchestrator.service.exec_log import ExecLog
    from sandbox import Backend, Session, SessionSpec
    from security import Policy

RETRY_AFTER_S = 5

router = APIRouter(prefix="/v1/sessions", tags=["sessions"])


@dataclass
class LiveSession:
    tenant: str
    request: SessionCreate
    policy: Policy  # the preset, with the session's allowed hosts
    session: Session
    created_at: float = field(default_factory=time.time)
    execs: dict[str, ExecLog] = field(default_factory=dict)  # by exec id, oldest first
    tasks: set[asyncio.Task[None]] = field(default_factory=set)  # execs running

    async def close(self) -> None:
        """Cancel its running execs (each says so in its exit event), then end it."""
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await self.session.close()

    def info(self, session_id: str) -> SessionInfo:
        return SessionInfo(
            id=session_id,
            image=self.request.image,
            runtime=self.request.runtime,
            policy=self.request.policy,
            allow_hosts=self.request.allow_hosts,
            created_at=self.created_at,
            alive=self.session.alive,
        )


class SessionRegistry:
    """The service's live sessions, and the slots they and their starts hold."""

    def __init__(self, backend: Backend, capacity: int) -> None:
        self.backend = backend
        self.capacity = capacity
        self.live: dict[str, LiveSession] = {}
        self.starting: dict[str, int] = {}  # tenant -> sessions being started

    def held(self, tenant: str | None = None) -> int:
        if tenant is None:
            return len(self.live) + sum(self.starting.values())
        mine = sum(1 for each in self.live.values() if each.tenant == tenant)
        return mine + self.starting.get(tenant, 0)

    def mine(self, who: Identity, session_id: str) -> LiveSession:
        found = self.live.get(session_id)
        if found is None or found.tenant != who.tenant:
            raise HTTPException(404, f"no session {session_id}")
        return found

    async def close_all(self) -> None:
        sessions = list(self.live.values())
        self.live.clear()
        await asyncio.gather(*(s.close() for s in sessions), return_exceptions=True)


def registry_of(request: Request) -> SessionRegistry:
    registry: SessionRegistry = request.app.state.sessions
    return registry


def _sandbox(body: SessionCreate) -> tuple[Policy, SessionSpec]:
    """The policy and sandbox for ``body``; 400 for a policy or host it cannot use."""
    from sandbox import SessionSpec
    from security import Policy, PolicyError
    from security.policy import PRESETS

    if body.policy not in PRESETS:  # never a path: the service's files are not the client's
        known = ", ".join(PRESETS)
        raise HTTPException(400, f"unknown policy {body.policy!r}: use one of {known}")
    try:
        policy = Policy.load(body.policy).allowing_hosts(body.allow_hosts)
    except PolicyError as exc:
        raise HTTPException(400, f"allow_hosts: {exc}") from None
    shell = "sh" if body.image.startswith("airlock/minimal") else "bash"
    spec = SessionSpec(image=body.image, runtime=body.runtime, shell=shell, egress=policy.network)
    return policy, spec


@router.post("", status_code=201, response_model=SessionCreated)
async def create_session(
    body: SessionCreate,
    who: Annotated[Identity, Depends(requires(Action.RUN))],
    registry: Annotated[SessionRegistry, Depends(registry_of)],
) -> SessionCreated:
    """Start a sandbox for the caller's tenant."""
    from sandbox import SandboxError

    policy, spec = _sandbox(body)
    retry = {"Retry-After": str(RETRY_AFTER_S)}
    if who.max_sessions is not None and registry.held(who.tenant) >= who.max_sessions:
        raise HTTPException(429, f"the tenant holds its {who.max_sessions} sessions", retry)
    if registry.held() >= registry.capacity:
        raise HTTPException(429, f"the service holds its {registry.capacity} sessions", retry)
    registry.starting[who.tenant] = registry.starting.get(who.tenant, 0) + 1
    try:
        session = await registry.backend.start(spec)
    except SandboxError as exc:
        raise HTTPException(503, f"the sandbox did not start: {exc}") from None
    finally:
        registry.starting[who.tenant] -= 1
    session_id = "ses_" + secrets.token_hex(8)
    registry.live[session_id] = LiveSession(who.tenant, body, policy, session)
    return SessionCreated(id=session_id)


@router.get("", response_model=list[SessionInfo])
async def list_sessions(
    who: Annotated[Identity, Depends(requires(Action.READ))],
    registry: Annotated[SessionRegistry, Depends(registry_of)],
) -> list[SessionInfo]:
    """The caller's tenant's live sessions."""
    return [s.info(i) for i, s in registry.live.items() if s.tenant == who.tenant]


@router.get("/{session_id}", response_model=SessionInfo)
async def get_session(
    session_id: str,
    who: Annotated[Identity, Depends(requires(Action.READ))],
    registry: Annotated[SessionRegistry, Depends(registry_of)],
) -> SessionInfo:
    """One live session of the caller's tenant."""
    return registry.mine(who, session_id).info(session_id)


@router.delete("/{session_id}", status_code=204)
async def delete_session(
    session_id: str,
    who: Annotated[Identity, Depends(requires(Action.RUN))],
    registry: Annotated[SessionRegistry, Depends(registry_of)],
) -> Response:
    """End a session: its sandbox is removed."""
    found = registry.mine(who, session_id)
    del registry.live[session_id]
    await found.close()
    return Response(status_code=204)
