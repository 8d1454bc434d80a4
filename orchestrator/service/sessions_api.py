"""`/v1/sessions`: a tenant's sandboxes, started, listed and ended over HTTP.

Each belongs to the tenant of the token that started it; another tenant's answers 404,
as one that does not exist. A tenant holds at most its token's ``max_sessions`` at once
and the service at most its capacity (`ServiceConfig.max_sessions`): past either, 429
with ``Retry-After``. A slot is taken before the sandbox starts, so concurrent requests
cannot pass a cap together.

The warm pool (`airlock serve --warm N`) keeps N started sessions of the default create
request (``{}``: airlock/dev, runc, read-only, no hosts); a create that asks for exactly
that sandbox takes one (a handoff, no start), others start their own. Warm sessions are
containers too: they count against the capacity, with the sessions held, being started
and being removed (`SessionRegistry.containers`), so the service never holds more than
its capacity. The pool refills only into the room left; at capacity, a create that needs
a fresh start removes a warm session first, so warm ones never cost a tenant its place.

Every session is a row in the store, so none is lost to a restart: one the service
ends says why (``ended``); one that was live when the service died without stopping
(SIGKILL, a crash) is marked ``interrupted`` at the next start (`recover`), and the
reaper removes its container (its owner, the old process, is gone).
"""

from __future__ import annotations

import asyncio
import json
import secrets
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, Response

from orchestrator.service.auth import requires
from orchestrator.service.models import SessionCreate, SessionCreated, SessionInfo, errors
from orchestrator.service.quotas import daily_use
from orchestrator.service.roles import Action
from orchestrator.service.tokens import Identity

if TYPE_CHECKING:
    from orchestrator.service.exec_log import ExecLog
    from sandbox import Backend, Session, SessionSpec
    from sandbox.pool import WarmPool
    from security import Policy

RETRY_AFTER_S = 5
LISTED = 100  # sessions `GET /v1/sessions` lists, newest first
INTERRUPTED = "the service stopped without ending it (killed or crashed); its sandbox is reaped"

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

    async def close(self) -> float:
        """Cancel its running execs (each says so in its exit event), then end it; the
        CPU-seconds its sandbox used."""
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        try:
            used = await self.session.cpu_seconds() or 0.0
        finally:
            await self.session.close()
        return used


class SessionRegistry:
    """The service's sessions: the live ones in memory, every one in the store."""

    def __init__(self, backend: Backend, capacity: int, store: sqlite3.Connection) -> None:
        self.backend = backend
        self.capacity = capacity
        self.store = store
        self.live: dict[str, LiveSession] = {}
        self.starting: dict[str, int] = {}  # tenant -> sessions being started
        self.runs: dict[str, int] = {}  # tenant -> runs running (each holds a sandbox)
        self.draining = False  # the service stops: no new sessions
        self.on_freed: Callable[[], None] = lambda: None  # a sandbox ended: room for a run
        self.ending = 0  # sessions ended whose sandbox is being removed
        self.pool: WarmPool | None = None
        self.handoffs = 0  # sessions the pool served
        self._making_way: asyncio.Task[None] | None = None

    def keep_warm(self, size: int) -> None:
        """Keep ``size`` sessions of the default create request ready (0: none); the
        pool fills in the background, within the capacity left."""
        from sandbox.pool import WarmPool

        if size:
            _, spec = sandbox_for(SessionCreate())
            self.pool = WarmPool(self.backend, spec, size, room=self._room)
            self.pool.refill()

    def make_way(self) -> None:
        """At capacity with a queued run: remove one warm session (one at a time), so
        warm ones never keep a run waiting; its end calls `on_freed`, which starts it."""
        if self.pool is None or self.pool.ready == 0 or self._making_way is not None:
            return

        async def evict() -> None:
            try:
                assert self.pool is not None
                await self.pool.evict()
            finally:
                self._making_way = None
                self.on_freed()

        self._making_way = asyncio.create_task(evict(), name="warm-make-way")

    def _room(self) -> int:
        return self.capacity - self.containers()

    def containers(self) -> int:
        """Sandboxes counted against the capacity: held, starting, ending, and warm."""
        return self.held() + self.ending + (self.pool.held if self.pool else 0)

    def recover(self) -> int:
        """Mark the sessions a previous process left live as interrupted; how many."""
        cursor = self.store.execute(
            "UPDATE sessions SET state = 'interrupted', reason = ?, ended_at = ? "
            "WHERE state = 'live'",
            (INTERRUPTED, time.time()),
        )
        return cursor.rowcount

    def held(self, tenant: str | None = None) -> int:
        if tenant is None:
            return len(self.live) + sum(self.starting.values()) + sum(self.runs.values())
        mine = sum(1 for each in self.live.values() if each.tenant == tenant)
        return mine + self.starting.get(tenant, 0) + self.runs.get(tenant, 0)

    def add(self, session_id: str, live: LiveSession) -> None:
        self.live[session_id] = live
        self.store.execute(
            "INSERT INTO sessions (id, tenant, request, state, sandbox, created_at) "
            "VALUES (?, ?, ?, 'live', ?, ?)",
            (session_id, live.tenant, live.request.model_dump_json(), live.session.id,
             live.created_at),
        )  # fmt: skip

    async def end(self, session_id: str, reason: str) -> None:
        live = self.live.pop(session_id)
        self.ending += 1
        self.store.execute(
            "UPDATE sessions SET state = 'ended', reason = ?, ended_at = ? WHERE id = ?",
            (reason, time.time(), session_id),
        )
        try:
            used = await live.close()
            self.store.execute("UPDATE sessions SET cpu_s = ? WHERE id = ?", (used, session_id))
        finally:
            self.ending -= 1
            self.on_freed()  # a queued run first, then the pool, into the place it left
            if self.pool is not None:
                self.pool.refill()

    def mine(self, who: Identity, session_id: str) -> LiveSession:
        """The caller's tenant's live session; 404 for none, 409 for one that ended."""
        found = self.live.get(session_id)
        if found is not None and found.tenant == who.tenant:
            return found
        info = self.info(who, session_id)
        raise HTTPException(409, f"session {session_id} is {info.state}: {info.reason}")

    def info(self, who: Identity, session_id: str) -> SessionInfo:
        """Any session of the caller's tenant, as the store has it; 404 for none."""
        row = self.store.execute(
            "SELECT id, request, state, reason, created_at, ended_at FROM sessions "
            "WHERE id = ? AND tenant = ?",
            (session_id, who.tenant),
        ).fetchone()
        if row is None:
            raise HTTPException(404, f"no session {session_id}")
        return self._info(row)

    def listing(self, who: Identity) -> list[SessionInfo]:
        rows = self.store.execute(
            "SELECT id, request, state, reason, created_at, ended_at FROM sessions "
            "WHERE tenant = ? ORDER BY created_at DESC LIMIT ?",
            (who.tenant, LISTED),
        ).fetchall()
        return [self._info(row) for row in rows]

    def _info(self, row: tuple[str, str, str, str | None, float, float | None]) -> SessionInfo:
        session_id, request, state, reason, created_at, ended_at = row
        asked = SessionCreate.model_validate(json.loads(request))
        live = self.live.get(session_id)
        return SessionInfo(
            id=session_id, image=asked.image, runtime=asked.runtime, policy=asked.policy,
            allow_hosts=asked.allow_hosts, created_at=created_at, ended_at=ended_at,
            state=state, reason=reason,
            alive=live is not None and live.session.alive,
        )  # fmt: skip

    async def close_all(self, reason: str) -> None:
        """Close the pool (no refill from here), then end every session."""
        if self.pool is not None:
            await self.pool.close()
        await asyncio.gather(
            *(self.end(session_id, reason) for session_id in list(self.live)),
            return_exceptions=True,
        )


async def registry_of(request: Request) -> SessionRegistry:
    """A dependency (async: FastAPI runs a plain one in a thread, a hop per request)."""
    registry: SessionRegistry = request.app.state.sessions
    return registry


def sandbox_for(body: SessionCreate) -> tuple[Policy, SessionSpec]:
    """The policy and sandbox for ``body``; 400 for a policy or host it cannot use."""
    from sandbox import SessionSpec
    from security import Policy, PolicyError
    from security.policy import PRESETS

    if body.policy not in PRESETS:  # never a path: the service's files are not the client's
        raise HTTPException(400, f"unknown policy {body.policy!r}")
    try:
        policy = Policy.load(body.policy).allowing_hosts(body.allow_hosts)
    except PolicyError as exc:
        raise HTTPException(400, f"allow_hosts: {exc}") from None
    shell = "sh" if body.image.startswith("airlock/minimal") else "bash"
    spec = SessionSpec(image=body.image, runtime=body.runtime, shell=shell, egress=policy.network)
    return policy, spec


@router.post(
    "", status_code=201, response_model=SessionCreated,
    responses=errors(400, 401, 403, 429, 503),
)  # fmt: skip
async def create_session(
    body: SessionCreate,
    who: Annotated[Identity, Depends(requires(Action.RUN))],
    registry: Annotated[SessionRegistry, Depends(registry_of)],
) -> SessionCreated:
    """Start a sandbox for the caller's tenant."""
    from sandbox import SandboxError

    policy, spec = sandbox_for(body)
    if registry.draining:
        raise HTTPException(503, "the service is stopping: no new sessions", {"Retry-After": "30"})
    use = daily_use(registry.store, who.tenant)
    if (over := use.refusal(spends=False)) is not None:
        raise HTTPException(429, over, {"Retry-After": str(use.retry_after())})
    retry = {"Retry-After": str(RETRY_AFTER_S)}
    if who.max_sessions is not None and registry.held(who.tenant) >= who.max_sessions:
        raise HTTPException(429, f"the tenant holds its {who.max_sessions} sessions", retry)
    pool = registry.pool
    session = pool.take() if pool is not None and spec == pool.spec else None
    if session is not None:  # a handoff: the pool's container is now the tenant's
        registry.handoffs += 1
    else:
        warm = pool.ready if pool is not None else 0
        if registry.containers() >= registry.capacity and not warm:
            raise HTTPException(429, f"the service holds its {registry.capacity} sessions",
                                retry)  # fmt: skip
        registry.starting[who.tenant] = registry.starting.get(who.tenant, 0) + 1
        try:
            if pool is not None and registry.containers() > registry.capacity:
                await pool.evict()  # the place is a warm session's: it goes first
            session = await registry.backend.start(spec)
        except SandboxError as exc:
            registry.starting[who.tenant] -= 1
            registry.on_freed()  # a failed start frees its slot
            raise HTTPException(503, f"the sandbox did not start: {exc}") from None
        except BaseException:
            registry.starting[who.tenant] -= 1
            registry.on_freed()
            raise
        registry.starting[who.tenant] -= 1  # and at once (no await) a live session
    session_id = "ses_" + secrets.token_hex(8)
    registry.add(session_id, LiveSession(who.tenant, body, policy, session))
    return SessionCreated(id=session_id)


@router.get("", response_model=list[SessionInfo], responses=errors(401, 403))
async def list_sessions(
    who: Annotated[Identity, Depends(requires(Action.READ))],
    registry: Annotated[SessionRegistry, Depends(registry_of)],
) -> list[SessionInfo]:
    """The caller's tenant's sessions, newest first (the last 100, live or not)."""
    return registry.listing(who)


@router.get("/{session_id}", response_model=SessionInfo, responses=errors(401, 403, 404))
async def get_session(
    session_id: str,
    who: Annotated[Identity, Depends(requires(Action.READ))],
    registry: Annotated[SessionRegistry, Depends(registry_of)],
) -> SessionInfo:
    """One session of the caller's tenant, live or not."""
    return registry.info(who, session_id)


@router.delete("/{session_id}", status_code=204, responses=errors(401, 403, 404))
async def delete_session(
    session_id: str,
    who: Annotated[Identity, Depends(requires(Action.RUN))],
    registry: Annotated[SessionRegistry, Depends(registry_of)],
) -> Response:
    """End a session: its sandbox is removed. One already ended: 204 again."""
    if session_id in registry.live:
        registry.mine(who, session_id)  # another tenant's: 404
        await registry.end(session_id, f"deleted by a token of {who.tenant} ({who.token_id})")
    else:
        registry.info(who, session_id)
    return Response(status_code=204)
