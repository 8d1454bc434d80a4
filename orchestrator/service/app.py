"""The HTTP application behind `airlock serve` (FastAPI: the OpenAPI document at
``/openapi.json`` is made from the routes and `models`).

Without a token: ``/healthz``, ``/metrics`` (Prometheus text) and ``/openapi.json``.
Everything under ``/v1`` needs ``Authorization: Bearer TOKEN`` (`auth`).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated

from fastapi import Depends, FastAPI
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, Field
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from orchestrator.service import approvals_api, exec_api, runs_api, sessions_api, ui_api
from orchestrator.service.approvals import ApprovalBox
from orchestrator.service.auth import identify
from orchestrator.service.body_limit import BodyLimit
from orchestrator.service.models import Health, WhoAmI, errors
from orchestrator.service.runs import RunManager, RunSettings
from orchestrator.service.store import open_store
from orchestrator.service.tokens import Identity

DEFAULT_PORT = 8700


class ServiceConfig(BaseModel):
    """How one service runs."""

    data: Path
    host: str = "127.0.0.1"
    port: int = Field(DEFAULT_PORT, ge=0, le=65535)
    max_sessions: int = Field(16, ge=1, description="sandboxes (sessions and runs) held at once")
    max_queued: int = Field(16, ge=1, description="runs a tenant may have queued")
    allow_replay: bool = Field(False, description="runs may bring a replay script")
    audit_key: Path | None = Field(None, description="signs every run's audit log")
    warm: int = Field(
        2, ge=0, description="ready sessions of the default create request (0: no pool); "
        "they count against max_sessions",
    )  # fmt: skip


def create_app(config: ServiceConfig) -> FastAPI:
    """The application for ``config``: its store opens at start-up, and every session
    it holds ends at shutdown."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        from sandbox import DockerBackend
        from sandbox.reaper import reap

        app.state.store = store = open_store(config.data)
        backend = DockerBackend()
        registry = sessions_api.SessionRegistry(backend, config.max_sessions, store)
        app.state.sessions = registry
        app.state.approvals = approvals = ApprovalBox(store)
        settings = RunSettings(config.data, config.allow_replay, config.audit_key,
                               config.max_queued)  # fmt: skip
        app.state.runs = runs = RunManager(settings, store, registry, approvals)
        registry.on_freed = runs.wake
        approvals.recover()
        interrupted = registry.recover() + runs.interrupted_at_start()
        if interrupted:  # a previous process died holding sandboxes: reap them now
            await asyncio.to_thread(reap, backend.client)
        runs.start()
        registry.keep_warm(config.warm)  # after the runs: they come first

        async def stop_everything() -> None:
            registry.draining = True
            await runs.drain()
            await registry.close_all("the service stopped")

        draining: list[asyncio.Task[None]] = []

        async def drain() -> None:
            """No new work; running runs stop with their summaries, sessions end (their
            running execs say so). A second call waits for the first's end."""
            if not draining:
                draining.append(asyncio.ensure_future(stop_everything()))
            await asyncio.shield(draining[0])

        app.state.drain = drain
        try:
            yield
        finally:
            await drain()
            store.close()

    app = FastAPI(title="airlock", version="1", lifespan=lifespan)
    app.state.responses = Counter()
    app.add_middleware(BodyLimit)

    app.add_middleware(ResponseCounter, counts=app.state.responses)

    @app.get("/healthz", response_model=Health, tags=["service"])
    async def healthz() -> Health:
        """Whether the service answers (no token needed); ``draining`` while it stops."""
        return Health(status="draining" if app.state.runs.draining else "ok")

    @app.get("/metrics", response_class=PlainTextResponse, tags=["service"])
    async def metrics() -> str:
        """Prometheus text: responses by status, sessions held (no token needed)."""
        lines = [
            "# HELP airlock_http_responses_total HTTP responses sent, by status.",
            "# TYPE airlock_http_responses_total counter",
        ]
        for status, total in sorted(app.state.responses.items()):
            lines.append(f'airlock_http_responses_total{{status="{status}"}} {total}')
        lines += [
            "# HELP airlock_sessions Sandboxes the service holds or is starting.",
            "# TYPE airlock_sessions gauge",
            f"airlock_sessions {app.state.sessions.held()}",
            "# HELP airlock_sessions_capacity Sandboxes the service may hold at once.",
            "# TYPE airlock_sessions_capacity gauge",
            f"airlock_sessions_capacity {app.state.sessions.capacity}",
            "# HELP airlock_runs_running Runs running now.",
            "# TYPE airlock_runs_running gauge",
            f"airlock_runs_running {app.state.runs.running()}",
            "# HELP airlock_runs_queued Runs waiting for room.",
            "# TYPE airlock_runs_queued gauge",
            f"airlock_runs_queued {len(app.state.runs.queue)}",
            "# HELP airlock_approvals_pending Requests waiting for a person.",
            "# TYPE airlock_approvals_pending gauge",
            f"airlock_approvals_pending {app.state.approvals.pending()}",
            *_warm_metrics(app.state.sessions),
        ]
        return "\n".join(lines) + "\n"

    @app.get("/v1/whoami", response_model=WhoAmI, tags=["service"], responses=errors(401))
    async def whoami(who: Annotated[Identity, Depends(identify)]) -> WhoAmI:
        """The caller's tenant and role."""
        return WhoAmI(**who.model_dump())

    app.include_router(sessions_api.router)
    app.include_router(exec_api.router)
    app.include_router(runs_api.router)
    app.include_router(approvals_api.router)
    app.include_router(ui_api.router)
    return app


class ResponseCounter:
    """Counts responses by status: a plain ASGI wrapper, so a request costs no task and
    a streamed body no extra copy (as `@app.middleware("http")` would)."""

    def __init__(self, app: ASGIApp, counts: Counter[int]) -> None:
        self.app = app
        self.counts = counts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def counted(message: Message) -> None:
            if message["type"] == "http.response.start":
                self.counts[message["status"]] += 1
            await send(message)

        await self.app(scope, receive, counted)


def _warm_metrics(registry: sessions_api.SessionRegistry) -> list[str]:
    pool = registry.pool
    return [
        "# HELP airlock_containers Sandboxes counted against the capacity (warm ones too).",
        "# TYPE airlock_containers gauge",
        f"airlock_containers {registry.containers()}",
        "# HELP airlock_warm_sessions Warm sessions ready for a handoff.",
        "# TYPE airlock_warm_sessions gauge",
        f"airlock_warm_sessions {pool.ready if pool is not None else 0}",
        "# HELP airlock_warm_handoffs_total Sessions created from the warm pool.",
        "# TYPE airlock_warm_handoffs_total counter",
        f"airlock_warm_handoffs_total {registry.handoffs}",
    ]
