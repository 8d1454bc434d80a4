"""Approvals: a run's ask waits for a person instead of being denied.

Each run gets an approver (`ApprovalBox.approver_for`) that the permission gate calls
for what it would ask. The request becomes a row of the store (state ``pending``) and
an ``approval_requested`` event of the run, then waits: for `answer` (a person with the
approve role, over HTTP), or for its timeout, which denies (``expired``). Who answered
goes into the gate's result, and so into the run's audit log.

An allow may extend to the rest of its run for a prefix of words, as Codex offers: a
later ask of the same run whose whole shell line is plain words beginning with those
is allowed without asking, in the approver's name. Only a line of plain words (no
operators, quotes, expansions or redirections) can match, so a prefix such as
``git push`` never lets ``git push; curl ...`` through; and only asks reach an approver,
so a prefix never turns a deny into an allow.
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import sqlite3
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Literal

from fastapi import HTTPException
from pydantic import BaseModel, ConfigDict, Field

from orchestrator.events.bus import EventBus
from orchestrator.events.models import ApprovalRequestedEvent
from orchestrator.gate.permission_gate import ApprovalAnswer, ApprovalRequest

ApprovalState = Literal["pending", "allowed", "denied", "expired", "cancelled"]
PLAIN_WORD = re.compile(r"[A-Za-z0-9_./:=@%+,-]+")
LISTED = 200  # approvals `GET /v1/approvals` lists, newest first


class ApprovalError(HTTPException):
    """An answer that cannot be given: the HTTP answer that says why."""


class Finding(BaseModel):
    check: str
    title: str
    detail: str
    decision: str


class Approval(BaseModel):
    """One request for a person's answer, as `GET /v1/approvals` lists it."""

    id: str
    run_id: str
    tool: str
    command: str = Field(description="the whole shell line judged, or the request's summary")
    risk: Literal["low", "medium", "high"]
    reasons: list[str]
    findings: list[Finding]
    state: ApprovalState
    created_at: float
    expires_at: float
    decided_at: float | None = None
    decided_by: str | None = Field(None, description="TENANT/TOKEN_ID of who answered")
    reason: str | None = None
    allow_prefix: str | None = None


class ApprovalDecision(BaseModel):
    """`POST /v1/approvals/{id}`: the answer."""

    model_config = ConfigDict(extra="forbid")

    decision: Literal["allow", "deny"]
    reason: str = Field("", max_length=2000)
    allow_prefix: str | None = Field(
        None,
        min_length=1,
        max_length=1000,
        description="with allow: the words the command starts with; the run's later asks "
        "that are plain words starting with them are allowed too",
    )


def plain_words(line: str) -> list[str] | None:
    """The words of ``line`` when it is only plain words; None when it holds anything
    a shell would read as more than words."""
    words = [word for word in re.split("[ \t]+", line) if word]  # the shell's blanks only
    return words if words and all(PLAIN_WORD.fullmatch(word) for word in words) else None


@dataclass
class _RunRules:
    """A run's allow prefixes, each with who gave it."""

    prefixes: list[tuple[list[str], str]] = field(default_factory=list)

    def allowing(self, line: str) -> str | None:
        words = plain_words(line)
        if words is None:
            return None
        for prefix, who in self.prefixes:
            if words[: len(prefix)] == prefix:
                return who
        return None


class ApprovalBox:
    """The service's pending approvals: rows in the store, futures in memory."""

    def __init__(self, store: sqlite3.Connection) -> None:
        self.store = store
        self._waiting: dict[str, asyncio.Future[ApprovalAnswer]] = {}
        self._rules: dict[str, _RunRules] = {}  # by run id

    def recover(self) -> int:
        """Expire what a previous process left pending (its runs are gone); how many."""
        cursor = self.store.execute(
            "UPDATE approvals SET state = 'expired', decided_at = ?, decided_by = 'service', "
            "reason = 'the service restarted while it waited' WHERE state = 'pending'",
            (time.time(),),
        )
        return cursor.rowcount

    def approver_for(
        self, tenant: str, run_id: str, bus: EventBus, timeout: float, session: Callable[[], str]
    ) -> Callable[[ApprovalRequest], Awaitable[ApprovalAnswer]]:
        """The gate's approver for one run; ``session`` names the run's session."""
        rules = self._rules.setdefault(run_id, _RunRules())

        async def approve(request: ApprovalRequest) -> ApprovalAnswer:
            command = request.line or request.summary
            who = rules.allowing(request.line) if request.line else None
            if who is not None:
                why = "a prefix allowed for the rest of this run"
                return ApprovalAnswer(allowed=True, by_whom=who, reason=why)
            approval_id = self._open(tenant, run_id, request, command, timeout)
            bus.publish(
                ApprovalRequestedEvent(
                    session_id=session(), agent="main", approval_id=approval_id,
                    tool=request.tool, command=command, risk=request.risk.value,
                    reasons=request.reasons, expires_in_s=timeout,
                )
            )  # fmt: skip
            return await self._wait(approval_id, timeout)

        return approve

    def close_run(self, run_id: str) -> None:
        """The run ended: what it still waits for is cancelled, its prefixes forgotten."""
        self._rules.pop(run_id, None)
        rows = self.store.execute(
            "SELECT id FROM approvals WHERE run_id = ? AND state = 'pending'", (run_id,)
        ).fetchall()
        for (approval_id,) in rows:
            self._close(approval_id, "cancelled", "service", "the run ended first")
            waiting = self._waiting.pop(approval_id, None)
            if waiting is not None and not waiting.done():
                waiting.cancel()

    def answer(self, tenant: str, who: str, approval_id: str, body: ApprovalDecision) -> Approval:
        """A person's answer to a pending approval of ``tenant``."""
        approval = self.get(tenant, approval_id)
        if approval.state != "pending" or approval_id not in self._waiting:
            raise ApprovalError(409, f"approval {approval_id} is {approval.state}, not pending")
        prefix = body.allow_prefix
        if prefix is not None:
            self._check_prefix(body, approval.command, prefix)
        allowed = body.decision == "allow"
        state: ApprovalState = "allowed" if allowed else "denied"
        self._close(approval_id, state, who, body.reason or None, prefix)
        if prefix is not None:
            words = plain_words(prefix) or []
            self._rules.setdefault(approval.run_id, _RunRules()).prefixes.append((words, who))
        self._waiting.pop(approval_id).set_result(
            ApprovalAnswer(allowed=allowed, by_whom=who, reason=body.reason)
        )
        return self.get(tenant, approval_id)

    def get(self, tenant: str, approval_id: str) -> Approval:
        row = self.store.execute(
            _SELECT + " WHERE id = ? AND tenant = ?", (approval_id, tenant)
        ).fetchone()
        if row is None:
            raise ApprovalError(404, f"no approval {approval_id}")
        return _approval(row)

    def listing(self, tenant: str, state: ApprovalState | None) -> list[Approval]:
        rows = self.store.execute(
            _SELECT + " WHERE tenant = ? AND (? IS NULL OR state = ?) "
            "ORDER BY created_at DESC LIMIT ?",
            (tenant, state, state, LISTED),
        ).fetchall()
        return [_approval(row) for row in rows]

    def pending(self) -> int:
        return len(self._waiting)

    @staticmethod
    def _check_prefix(body: ApprovalDecision, command: str, prefix: str) -> None:
        if body.decision != "allow":
            raise ApprovalError(400, "allow_prefix goes with decision allow only")
        words, asked = plain_words(prefix), plain_words(command)
        if words is None or asked is None:
            raise ApprovalError(
                400, "allow_prefix needs a command of plain words (no operators, quotes or "
                "expansions), and plain words itself",
            )  # fmt: skip
        if asked[: len(words)] != words:
            raise ApprovalError(400, f"the command does not start with {prefix!r}")

    def _open(
        self, tenant: str, run_id: str, request: ApprovalRequest, command: str, timeout: float
    ) -> str:
        approval_id = "apr_" + secrets.token_hex(8)
        findings = [
            {"check": f.check, "title": f.title, "detail": f.detail, "decision": f.decision.value}
            for f in (request.verdict.findings if request.verdict else [])
        ]
        now = time.time()
        self.store.execute(
            "INSERT INTO approvals (id, tenant, run_id, tool, command, risk, reasons, findings, "
            "state, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?)",
            (approval_id, tenant, run_id, request.tool, command, request.risk.value,
             json.dumps(request.reasons), json.dumps(findings), now, now + timeout),
        )  # fmt: skip
        self._waiting[approval_id] = asyncio.get_running_loop().create_future()
        return approval_id

    async def _wait(self, approval_id: str, timeout: float) -> ApprovalAnswer:
        waiting = self._waiting[approval_id]
        try:
            return await asyncio.wait_for(asyncio.shield(waiting), timeout)
        except TimeoutError:
            self._waiting.pop(approval_id, None)
            self._close(approval_id, "expired", "service", f"nobody answered in {timeout:g} s")
            return ApprovalAnswer(allowed=False, by_whom="service",
                                  reason=f"nobody answered in {timeout:g} s")  # fmt: skip
        except asyncio.CancelledError:
            if self._waiting.pop(approval_id, None) is not None:
                self._close(approval_id, "cancelled", "service", "the run ended first")
            raise

    def _close(
        self,
        approval_id: str,
        state: ApprovalState,
        who: str,
        reason: str | None,
        prefix: str | None = None,
    ) -> None:
        self.store.execute(
            "UPDATE approvals SET state = ?, decided_at = ?, decided_by = ?, reason = ?, "
            "allow_prefix = ? WHERE id = ? AND state = 'pending'",
            (state, time.time(), who, reason, prefix, approval_id),
        )


_SELECT = (
    "SELECT id, run_id, tool, command, risk, reasons, findings, state, created_at, expires_at, "
    "decided_at, decided_by, reason, allow_prefix FROM approvals"
)
_COLUMNS = _SELECT.removeprefix("SELECT ").removesuffix(" FROM approvals")


def _approval(row: tuple[object, ...]) -> Approval:
    names = [name.strip() for name in _COLUMNS.split(",")]
    values = dict(zip(names, row, strict=True))
    values["reasons"] = json.loads(str(values["reasons"]))
    values["findings"] = json.loads(str(values["findings"]))
    return Approval.model_validate(values)
