"""`POST /v1/sessions/{id}/exec` and its replay: a command judged by the session's
policy, run in its sandbox, its output and exit streamed as server-sent events.

The exec goes on when its client goes away; `GET .../execs/{exec_id}/events` reads its
events again from ``Last-Event-ID`` (or the start) and follows it live (`exec_log`). A
command the policy does not allow (as a headless policy answers: nobody confirms a
session's command) is never run: its only event is an ``exit`` with status
``refused`` and the verdict. One the analyzer proves read-only runs under the kernel's
confinement, as `airlock exec` runs it.
"""

from __future__ import annotations

import asyncio
import functools
import secrets
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends, Header, HTTPException, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from orchestrator.service.auth import requires
from orchestrator.service.exec_log import MAX_EXECS_PER_SESSION, SESSION_OUTPUT_BYTES, ExecLog
from orchestrator.service.exec_stream import ExecEventStream
from orchestrator.service.models import errors
from orchestrator.service.roles import Action
from orchestrator.service.sessions_api import LiveSession, SessionRegistry, registry_of
from orchestrator.service.tokens import Identity

if TYPE_CHECKING:
    from security import Policy, Verdict

EXEC_ID = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
MAX_TIMEOUT_S = 24 * 3600.0
# A command this short is judged on the event loop: the thread hop would cost more
# than the analysis (well under a millisecond for a short plain line; a few for the
# worst one, about what the loop waits for the GIL when a thread analyzes anyway).
INLINE_GATE_CHARS = 32

router = APIRouter(prefix="/v1/sessions/{session_id}", tags=["execs"])


class ExecRequest(BaseModel):
    """One shell line to run in the session."""

    model_config = ConfigDict(extra="forbid")

    command: str = Field(min_length=1, max_length=100_000)
    timeout: float | None = Field(None, gt=0, le=MAX_TIMEOUT_S, description="seconds")
    exec_id: str | None = Field(None, pattern=EXEC_ID, description="the client's own id")


EVENTS_DOC: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "text/event-stream: `output` events (data: stream, data_b64), at "
        "most one `truncated`, then one `exit` (data: exit_code, status, ...); each has an id",
        "content": {"text/event-stream": {"schema": {"type": "string"}}},
    }
}


def _judge(command: str, policy: Policy) -> Verdict:
    """The session's verdict on ``command`` (nobody confirms a session's command)."""
    from orchestrator.gate.headless import headless_answer
    from security import analyze

    return headless_answer(analyze(command, policy), policy)


def _status(final: Any) -> str:
    if final.timed_out:
        return "timed_out"
    if final.oom_killed:
        return "oom_killed"
    if final.error and final.exit_code is None and final.signal is None:
        return "error"
    if final.signal is not None:
        return "killed"
    return "exited"


async def _run(live: LiveSession, command: str, timeout: float | None, log: ExecLog) -> None:
    """Run an allowed ``command`` to its end, everything into ``log``."""
    from sandbox import ExecExit, OutputChunk, SandboxError, read_only_confinement

    confinement = read_only_confinement(command, live.policy.network)
    try:
        running = live.session.stream(
            command, timeout=timeout, confinement=confinement, max_output=log.max_output
        )
        async for item in running:
            if isinstance(item, OutputChunk):
                await log.output(item.stream, item.data)
            elif isinstance(item, ExecExit):
                data = item.model_dump(mode="json", exclude={"confinement"})
                await log.exit({**data, "status": _status(item)})
    except SandboxError as exc:
        if not log.ended:
            await log.exit({"exit_code": None, "status": "error", "error": str(exc)})
    except asyncio.CancelledError:
        if not log.ended:
            await log.exit({"exit_code": None, "status": "cancelled",
                            "error": "the session ended while the command ran"})  # fmt: skip
        raise


def _keep(live: LiveSession, log: ExecLog) -> None:
    """Add ``log``, dropping the oldest ended execs past the session's bounds: at most
    `MAX_EXECS_PER_SESSION` kept, and `SESSION_OUTPUT_BYTES` of output held (a running
    exec holds room for its whole cap). 429 when the running ones alone fill them.
    The session's sum is counted once per exec, over its execs (at most 256)."""
    if log.exec_id in live.execs:
        raise HTTPException(409, f"exec {log.exec_id} exists in this session")
    held = sum(each.held for each in live.execs.values()) + log.max_output
    count = len(live.execs) + 1
    if count > MAX_EXECS_PER_SESSION or held > SESSION_OUTPUT_BYTES:
        for key in [key for key, each in live.execs.items() if each.ended]:  # oldest first
            held -= live.execs.pop(key).held
            count -= 1
            if count <= MAX_EXECS_PER_SESSION and held <= SESSION_OUTPUT_BYTES:
                break
    if count > MAX_EXECS_PER_SESSION or held > SESSION_OUTPUT_BYTES:
        raise HTTPException(429, "the session's running execs hold all the output it keeps",
                            {"Retry-After": "5"})  # fmt: skip
    live.execs[log.exec_id] = log


@router.post(
    "/exec", response_class=StreamingResponse,
    responses={**EVENTS_DOC, **errors(401, 403, 404, 409, 429)},
)  # fmt: skip
async def exec_command(
    session_id: str,
    body: ExecRequest,
    who: Annotated[Identity, Depends(requires(Action.RUN))],
    registry: Annotated[SessionRegistry, Depends(registry_of)],
) -> ExecEventStream:
    """Judge and run a command; stream its events."""
    from security import Decision

    live = registry.mine(who, session_id)
    log = ExecLog(body.exec_id or "exe_" + secrets.token_hex(8))
    _keep(live, log)
    judge = functools.partial(_judge, body.command, live.policy)
    verdict = judge() if len(body.command) <= INLINE_GATE_CHARS else await asyncio.to_thread(judge)
    if verdict.decision is not Decision.ALLOW:
        findings = [
            {"check": f.check, "title": f.title, "detail": f.detail} for f in verdict.findings
        ]
        await log.exit({"exit_code": None, "status": "refused", "verdict": {
            "decision": verdict.decision.value, "risk": verdict.risk.value,
            "policy": live.policy.name, "findings": findings}})  # fmt: skip
    else:
        task = asyncio.create_task(_run(live, body.command, body.timeout, log))
        live.tasks.add(task)
        task.add_done_callback(live.tasks.discard)
    return ExecEventStream(log)


@router.get(
    "/execs/{exec_id}/events", response_class=StreamingResponse,
    responses={**EVENTS_DOC, **errors(401, 403, 404)},
)  # fmt: skip
async def exec_events(
    session_id: str,
    exec_id: str,
    request: Request,
    who: Annotated[Identity, Depends(requires(Action.READ))],
    registry: Annotated[SessionRegistry, Depends(registry_of)],
    last_event_id: Annotated[str, Header(pattern="^[0-9]{1,18}$")] = "0",
) -> ExecEventStream:
    """An exec's events after ``Last-Event-ID`` (all without it), then live ones."""
    live = registry.mine(who, session_id)
    log = live.execs.get(exec_id)
    if log is None:
        raise HTTPException(404, f"no exec {exec_id} in session {session_id}")
    return ExecEventStream(log, int(last_event_id))
