"""The service's runs: accepted, queued in order, started as capacity allows, watched,
cancelled, and never lost to a restart.

A run's folder (``DATA/runs/ID``) holds the unpacked repository, the replay script if
any, and ``out/``: the run's ``events.jsonl`` (its audit log, and the source of its
event stream), ``patch.diff`` and ``summary.json``, written by `run_task` however it
ends. Its row in the store holds its state.

Admission: a running run holds one of the service's sandboxes (`SessionRegistry`
counts it with the sessions), so the service never starts more than its capacity.
Past capacity, or past the tenant's ``max_sessions``, a run waits in the queue, in
order of arrival; the queue holds at most `max_queued` runs per tenant (429 past it),
and each queued run knows its position and a rough wait (ETA) from recent runs.

Restarts: at start (`recover`) runs the store holds as running are marked
``interrupted`` (their process died with them; the reaper removes their sandboxes) and
queued ones go back in the queue. A drain (SIGTERM) stops the running ones, which
write their summaries, and marks them ``interrupted``; queued ones wait for the next
start.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import secrets
import shutil
import sqlite3
import statistics
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from fastapi import HTTPException

from orchestrator.events.bus import EventBus
from orchestrator.events.models import Event
from orchestrator.service.approvals import ApprovalBox
from orchestrator.service.metering import MeteredBackend
from orchestrator.service.quotas import DailyUse, daily_use
from orchestrator.service.repo_upload import repo_root, unpack_repo
from orchestrator.service.run_events import RunSignal, follow_run
from orchestrator.service.run_models import ENDED, RunCreated, RunInfo, RunSpec, RunState
from orchestrator.service.sessions_api import SessionRegistry
from orchestrator.service.tokens import Identity

if TYPE_CHECKING:
    from orchestrator.runs.run import RunRequest

DEFAULT_RUN_S = 120.0  # the ETA's guess before any run has finished
RECENT_RUNS = 20  # finished runs the ETA averages
LISTED = 100
INTERRUPTED = "the service stopped without finishing it (killed or crashed); its sandbox is reaped"
DRAINED = "the service stopped (drained) while it ran; its summary says how far it got"


class RunRefused(HTTPException):
    """A run that cannot be accepted or changed: the HTTP answer that says so (with
    ``Retry-After`` when asking again later may succeed)."""

    def __init__(self, status: int, message: str, retry_after: int | None = None) -> None:
        headers = None if retry_after is None else {"Retry-After": str(retry_after)}
        super().__init__(status, message, headers)


@dataclass
class LiveRun:
    """A run this process holds: queued or running."""

    id: str
    tenant: str
    spec: RunSpec
    folder: Path
    signal: RunSignal
    task: asyncio.Task[None] | None = None
    session_id: str = "none"
    cancel_reason: str | None = None
    daily: DailyUse | None = None  # its tenant's use as it was admitted
    ended: bool = False  # its end is in the store


@dataclass(frozen=True)
class RunSettings:
    """What the service lets runs do (from `airlock serve`'s options)."""

    data: Path
    allow_replay: bool = False
    audit_key: Path | None = None
    max_queued: int = 16  # per tenant


class RunManager:
    """Every run of the service; the live ones in memory, all of them in the store."""

    def __init__(
        self, settings: RunSettings, store: sqlite3.Connection, registry: SessionRegistry,
        approvals: ApprovalBox,
    ) -> None:  # fmt: skip
        self.settings = settings
        self.store = store
        self.registry = registry
        self.approvals = approvals
        self.live: dict[str, LiveRun] = {}
        self.queue: list[str] = []  # run ids in order of arrival
        self.draining = False
        self._arriving: dict[str, int] = {}  # tenant -> runs being unpacked

    @property
    def folder(self) -> Path:
        return self.settings.data / "runs"

    def interrupted_at_start(self) -> int:
        """Mark the runs a previous process left running as interrupted; how many."""
        cursor = self.store.execute(
            "UPDATE runs SET state = 'interrupted', reason = ?, ended_at = ? "
            "WHERE state = 'running'",
            (INTERRUPTED, time.time()),
        )
        return cursor.rowcount

    def start(self) -> None:
        """Queue again what a previous process left queued, then start admitting."""
        rows = self.store.execute(
            "SELECT id, tenant, spec FROM runs WHERE state = 'queued' ORDER BY created_at"
        ).fetchall()
        for run_id, tenant, spec in rows:
            self._enqueue(run_id, tenant, RunSpec.model_validate_json(spec))
        self.wake()

    async def submit(self, who: Identity, spec: RunSpec, repo: BinaryIO) -> RunCreated:
        """Accept a run: unpack its repository, store it, queue it."""
        if self.draining:
            raise RunRefused(503, "the service is stopping: no new runs", 30)
        if spec.replay is not None:
            self._check_replay(spec.replay)
        use = daily_use(self.store, who.tenant)
        if (over := use.refusal()) is not None:
            raise RunRefused(429, over, use.retry_after())
        queued = sum(1 for run_id in self.queue if self.live[run_id].tenant == who.tenant)
        queued += self._arriving.get(who.tenant, 0)  # accepted, still unpacking
        if queued >= self.settings.max_queued:
            raise RunRefused(429, f"the tenant has {queued} runs queued, its most", 30)
        self._arriving[who.tenant] = self._arriving.get(who.tenant, 0) + 1
        try:
            return await self._accept(who, spec, repo)
        finally:
            self._arriving[who.tenant] -= 1

    async def _accept(self, who: Identity, spec: RunSpec, repo: BinaryIO) -> RunCreated:
        run_id = "run_" + secrets.token_hex(8)
        folder = self.folder / run_id
        folder.mkdir(parents=True, mode=0o700)
        try:
            await asyncio.to_thread(unpack_repo, repo, folder / "repo")
            if spec.replay is not None:
                (folder / "replay.yaml").write_text(spec.replay, encoding="utf-8")
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        self.store.execute(
            "INSERT INTO runs (id, tenant, started_by, spec, state, created_at) "
            "VALUES (?, ?, ?, ?, 'queued', ?)",
            (run_id, who.tenant, who.token_id, spec.model_dump_json(), time.time()),
        )
        self._enqueue(run_id, who.tenant, spec)
        self.wake()
        info = self.info(who, run_id)
        return RunCreated(id=run_id, state=info.state, queue_position=info.queue_position,
                          eta_s=info.eta_s)  # fmt: skip

    def _check_replay(self, text: str) -> None:
        import yaml

        from orchestrator.testing.replay import ReplayError, parse_replay

        if not self.settings.allow_replay:
            raise RunRefused(400, "this service takes no replay scripts (serve --allow-replay)")
        try:
            parse_replay(yaml.safe_load(text), source="spec.replay")
        except (ReplayError, yaml.YAMLError) as exc:
            raise RunRefused(400, f"spec.replay: {exc}") from None

    def _enqueue(self, run_id: str, tenant: str, spec: RunSpec) -> None:
        folder = self.folder / run_id
        self.live[run_id] = LiveRun(run_id, tenant, spec, folder, RunSignal())
        self.queue.append(run_id)

    # -- admission ---------------------------------------------------------------

    def wake(self) -> None:
        """Start queued runs, oldest first, while the service and their tenant have room
        (called when a run arrives and whenever a sandbox is freed)."""
        for run_id in list(self.queue):
            if self.draining:
                return
            if self.registry.containers() >= self.registry.capacity:
                self.registry.make_way()  # a warm session gives its place to the run
                return
            live = self.live[run_id]
            if not self._tenant_has_room(live.tenant):
                continue  # a later run of another tenant may start
            live.daily = daily_use(self.store, live.tenant)
            if live.daily.refusal() is not None:
                continue  # it waits for its tenant's day to free up
            self.queue.remove(run_id)
            self.registry.runs[live.tenant] = self.registry.runs.get(live.tenant, 0) + 1
            live.task = asyncio.create_task(self._execute(live), name=f"airlock-{run_id}")
            # the slot is given back however the task ends, even cancelled before it began
            live.task.add_done_callback(functools.partial(self._release, live))

    def _tenant_has_room(self, tenant: str) -> bool:
        row = self.store.execute(
            "SELECT MIN(max_sessions) FROM tokens WHERE tenant = ? AND max_sessions IS NOT NULL",
            (tenant,),
        ).fetchone()
        cap = row[0] if row else None
        return cap is None or self.registry.held(tenant) < cap

    # -- running -----------------------------------------------------------------

    async def _execute(self, live: LiveRun) -> None:
        from orchestrator.runs.run import run_task

        self.store.execute(
            "UPDATE runs SET state = 'running', started_at = ? WHERE id = ?", (time.time(), live.id)
        )
        bus = EventBus()
        bus.subscribe(lambda event: self._seen(live, event))
        approver = self.approvals.approver_for(
            live.tenant, live.id, bus, live.spec.approval_timeout_s, lambda: live.session_id
        )
        state: RunState = "failed"
        reason: str | None = None
        outcome: str | None = None
        cost = 0.0
        backend = MeteredBackend(self.registry.backend)
        try:
            summary = await run_task(self._request(live), bus, approver, backend=backend)
            state, outcome, cost = "finished", summary.outcome, summary.cost_usd
            reason = summary.error
        except asyncio.CancelledError:
            state, reason = self._stopped(live)
        except Exception as exc:
            reason = f"{type(exc).__name__}: {exc}"
        finally:
            summary_data = self._summary(live.folder)
            if summary_data is not None:
                outcome = outcome or summary_data.get("outcome")
                cost = cost or float(summary_data.get("cost_usd") or 0)
            self._ended(live.id, state, reason, outcome, cost, backend.cpu_s)
            live.ended = True

    def _stopped(self, live: LiveRun) -> tuple[RunState, str]:
        """How a cancelled run ended: drained with the service, or cancelled by a caller."""
        if self.draining:
            return "interrupted", live.cancel_reason or DRAINED
        return "cancelled", live.cancel_reason or "cancelled"

    def _release(self, live: LiveRun, _task: asyncio.Task[None]) -> None:
        """A run's task is over: its slot, its approvals and its followers are let go."""
        if not live.ended:  # cancelled before its first step: it never ran
            self._ended(live.id, *self._stopped(live))
        self.approvals.close_run(live.id)
        self.registry.runs[live.tenant] -= 1
        self.live.pop(live.id, None)
        live.signal.bump()
        self.wake()

    def _request(self, live: LiveRun) -> RunRequest:
        from orchestrator.agent.loop import RunLimits
        from orchestrator.runs.run import RunRequest

        spec = live.spec
        replay = live.folder / "replay.yaml"
        budget = spec.budget_usd
        left = live.daily.usd_left if live.daily is not None else None
        if left is not None:  # never past what the tenant has left today
            budget = left if budget is None else min(budget, left)
        return RunRequest(
            task=spec.task, repo=repo_root(live.folder / "repo"), policy=spec.policy,
            model=spec.model,
            limits=RunLimits(max_turns=spec.max_turns, budget_usd=budget,
                             budget_tokens=spec.budget_tokens, wall_clock_s=spec.wall_clock_s),
            replay=replay if replay.exists() else None, out=live.folder / "out",
            image=spec.image, runtime=spec.runtime, allow_hosts=spec.allow_hosts,
            verify=spec.verify, verify_timeout=spec.verify_timeout,
            audit_key=self.settings.audit_key,
        )  # fmt: skip

    @staticmethod
    def _seen(live: LiveRun, event: Event) -> None:
        if event.type == "session_started" and event.agent == "main":
            live.session_id = event.session_id
        live.signal.bump()

    def _ended(
        self, run_id: str, state: RunState, reason: str | None, outcome: str | None = None,
        cost: float = 0.0, cpu_s: float = 0.0,
    ) -> None:  # fmt: skip
        self.store.execute(
            "UPDATE runs SET state = ?, reason = ?, outcome = ?, cost_usd = ?, cpu_s = ?, "
            "ended_at = ? WHERE id = ?",
            (state, reason, outcome, cost, cpu_s, time.time(), run_id),
        )

    # -- reading -----------------------------------------------------------------

    def info(self, who: Identity, run_id: str) -> RunInfo:
        row = self.store.execute(
            _SELECT + " WHERE id = ? AND tenant = ?", (run_id, who.tenant)
        ).fetchone()
        if row is None:
            raise RunRefused(404, f"no run {run_id}")
        return self._info(row)

    def listing(self, who: Identity) -> list[RunInfo]:
        rows = self.store.execute(
            _SELECT + " WHERE tenant = ? ORDER BY created_at DESC LIMIT ?",
            (who.tenant, LISTED),
        ).fetchall()
        return [self._info(row) for row in rows]

    def _info(self, row: tuple[Any, ...]) -> RunInfo:
        run_id, spec, state, reason, outcome, created, started, ended = row
        asked = json.loads(spec)
        position = self.queue.index(run_id) + 1 if run_id in self.queue else None
        return RunInfo(
            id=run_id, task=asked["task"], policy=asked["policy"], state=state, status=state,
            created_at=created, started_at=started, ended_at=ended, reason=reason,
            outcome=outcome, queue_position=position,
            eta_s=None if position is None else round(position * self._typical_run_s(), 1),
            summary=self._summary(self.folder / run_id) if state in ENDED else None,
        )  # fmt: skip

    def _typical_run_s(self) -> float:
        rows = self.store.execute(
            "SELECT ended_at - started_at FROM runs WHERE state = 'finished' "
            "ORDER BY ended_at DESC LIMIT ?",
            (RECENT_RUNS,),
        ).fetchall()
        took = [row[0] for row in rows if row[0] is not None]
        typical = statistics.median(took) if took else DEFAULT_RUN_S
        return typical / max(1, self.registry.capacity)

    @staticmethod
    def _summary(folder: Path) -> dict[str, Any] | None:
        with contextlib.suppress(OSError, ValueError):
            data = json.loads((folder / "out" / "summary.json").read_text())
            return data if isinstance(data, dict) else None
        return None

    def patch(self, who: Identity, run_id: str) -> str:
        info = self.info(who, run_id)
        if info.state not in ENDED:
            raise RunRefused(409, f"run {run_id} is {info.state}: its patch comes when it ends")
        try:
            return (self.folder / run_id / "out" / "patch.diff").read_text(errors="replace")
        except FileNotFoundError:
            return ""  # it ended before its out folder was made

    def events(self, who: Identity, run_id: str, after: int) -> AsyncIterator[bytes]:
        self.info(who, run_id)  # 404 for another tenant's
        live = self.live.get(run_id)

        async def last() -> dict[str, Any]:
            info = self.info(who, run_id)
            return {"state": info.state, "reason": info.reason, "outcome": info.outcome,
                    "summary": info.summary}  # fmt: skip

        return follow_run(
            self.folder / run_id / "out" / "events.jsonl", after,
            lambda: run_id not in self.live, live.signal if live else None, last,
        )  # fmt: skip

    # -- ending ------------------------------------------------------------------

    async def cancel(self, who: Identity, run_id: str) -> RunInfo:
        info = self.info(who, run_id)
        if info.state in ENDED:
            raise RunRefused(409, f"run {run_id} is {info.state} already")
        reason = f"cancelled by {who.tenant}/{who.token_id}"
        live = self.live[run_id]
        if run_id in self.queue:
            self.queue.remove(run_id)
            self.live.pop(run_id)
            self._ended(run_id, "cancelled", reason)
            live.signal.bump()
            return self.info(who, run_id)
        live.cancel_reason = reason
        if live.task is not None:
            live.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.shield(live.task)
        return self.info(who, run_id)

    async def drain(self) -> None:
        """Stop admitting; stop the running runs (their summaries are written); queued
        runs stay queued for the next start."""
        self.draining = True
        running = [live.task for live in self.live.values() if live.task is not None]
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)

    def running(self) -> int:
        return sum(1 for live in self.live.values() if live.task is not None)


_SELECT = "SELECT id, spec, state, reason, outcome, created_at, started_at, ended_at FROM runs"
