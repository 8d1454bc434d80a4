"""Fault: the Docker engine restarts while an agent's command runs.

An agent (the real loop, the real SDK against the fake Messages API, an audit log)
runs `echo begun; sleep 60` in its session. Once `begun` has streamed, dockerd gets
SIGTERM, stops, and is started again. Contained means:

- the running command ends promptly with its partial output and an error that says
  the sandbox stopped (not a plain exit, not a hang);
- the agent's next command gets a clear "session is lost" error as its tool result,
  and the loop still ends normally;
- every audit record written before the restart is still there, unchanged, and the
  whole log verifies;
- a new session on the restarted engine works (the clean retry);
- once the sessions are closed and the reaper has run, no container of this process
  is left.

It restarts the machine's engine, so it runs only in `make prove`, never in the shared
test suite, and only where this process may do it (root, a local dockerd process).
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import anthropic
from pydantic import BaseModel

from orchestrator.agent.loop import AgentLoop
from orchestrator.agent.prompts import SYSTEM_PROMPT
from orchestrator.devtools.checkout import source_checkout
from orchestrator.events.audit import AuditLog, verify
from orchestrator.events.bus import EventBus
from orchestrator.events.models import Event, ExecOutputEvent, ToolResultEvent
from orchestrator.gate.permission_gate import PermissionGate, Trust
from orchestrator.testing.fake_api import FakeMessagesAPI
from orchestrator.testing.replay import parse_replay
from orchestrator.tools.bash import Bash
from sandbox.docker_backend import DockerBackend
from sandbox.engine import engine
from sandbox.reaper import left_behind
from sandbox.spec import SessionSpec
from security import PRESETS

ENSURE_ENGINE_SCRIPT = Path("scripts") / "ensure-engine.sh"  # in the source checkout
STOP_WAIT_S = 60.0
START_WAIT_S = 120.0
SCENARIO_WAIT_S = 300.0
LONG_COMMAND = "echo begun; sleep 60; echo never"
REPLAY = {
    "responses": [
        {"content": [{"tool_use": {"name": "Bash", "input": {"command": LONG_COMMAND}}}]},
        {"content": [{"tool_use": {"name": "Bash", "input": {"command": "echo after"}}}]},
        {"content": [{"text": "The sandbox went away; stopping here."}]},
    ]
}


class Check(BaseModel):
    """One thing the scenario must show, and what it saw."""

    name: str
    ok: bool
    detail: str


class EngineRestartResult(BaseModel):
    """The scenario's outcome; ``skipped`` says why it could not run here."""

    skipped: str | None = None
    checks: list[Check] = []
    restart_s: float = 0.0
    records_before: int = 0
    lost_records: int = 0

    @property
    def contained(self) -> bool:
        return self.skipped is None and all(c.ok for c in self.checks)


def why_not_here() -> str | None:
    """Why this machine's engine cannot be restarted by this process, or None."""
    if os.geteuid() != 0:
        return "not root"
    if _dockerd_pid() is None:
        return "no local dockerd process (the engine is not ours to restart)"
    if _ensure_engine() is None:
        return f"no source checkout with {ENSURE_ENGINE_SCRIPT} to start the engine again"
    return None


def _ensure_engine() -> Path | None:
    """The checkout's script that starts dockerd again; None without a checkout."""
    checkout = source_checkout()
    if checkout is None or not (checkout / ENSURE_ENGINE_SCRIPT).is_file():
        return None
    return checkout / ENSURE_ENGINE_SCRIPT


def _dockerd_pid() -> int | None:
    found = subprocess.run(["pgrep", "-x", "dockerd"], capture_output=True, text=True)
    pids = found.stdout.split()
    return int(pids[0]) if pids else None


def restart_engine() -> float:
    """SIGTERM dockerd, wait for it to exit, start it again; seconds it took."""
    began = time.monotonic()
    pid = _dockerd_pid()
    if pid is None:
        raise RuntimeError("dockerd is not running")
    script = _ensure_engine()
    if script is None:
        raise RuntimeError(f"{ENSURE_ENGINE_SCRIPT} is missing: no source checkout")
    os.kill(pid, signal.SIGTERM)
    deadline = began + STOP_WAIT_S
    while Path(f"/proc/{pid}").exists():
        if time.monotonic() > deadline:
            raise RuntimeError(f"dockerd did not stop within {STOP_WAIT_S:g} s")
        time.sleep(0.2)
    subprocess.run(["bash", str(script)], check=True, timeout=START_WAIT_S, capture_output=True)
    return time.monotonic() - began


def run() -> EngineRestartResult:
    """Run the scenario (it restarts the engine); never raises for a failed check."""
    reason = why_not_here()
    if reason is not None:
        return EngineRestartResult(skipped=reason)
    with tempfile.TemporaryDirectory(prefix="airlock-engine-restart-") as tmp:
        return asyncio.run(_scenario(Path(tmp) / "events.jsonl"))


async def _scenario(audit_path: Path) -> EngineRestartResult:
    result = EngineRestartResult()
    backend = DockerBackend()
    bus = EventBus()
    begun = asyncio.Event()
    tool_results: list[ToolResultEvent] = []

    def watch(event: Event) -> None:
        if isinstance(event, ExecOutputEvent) and "begun" in event.data:
            begun.set()
        if isinstance(event, ToolResultEvent):
            tool_results.append(event)

    bus.subscribe(watch)
    check = result.checks.append
    with AuditLog(audit_path) as audit, FakeMessagesAPI(parse_replay(REPLAY)) as api:
        bus.subscribe(audit.write, critical=True)
        client = anthropic.AsyncAnthropic(api_key="fake", base_url=api.base_url)
        session = await backend.start(SessionSpec())
        agent = AgentLoop(
            name="main", session_id=session.id, client=client, model="claude-sonnet-4-6",
            session=session, gate=PermissionGate(PRESETS["dev"], Trust(trusted=True, by="flag")),
            tools=[Bash()], bus=bus, system=SYSTEM_PROMPT,
        )  # fmt: skip
        running = asyncio.create_task(agent.run("run the long command"))
        before = b""
        outcome = None
        try:
            await asyncio.wait_for(begun.wait(), 60)
            before = audit_path.read_bytes()
            result.records_before = before.count(b"\n")
            result.restart_s = round(await asyncio.to_thread(restart_engine), 1)
            outcome = await asyncio.wait_for(running, SCENARIO_WAIT_S)
            check(Check(name="no hang", ok=True, detail=f"the run ended: {outcome.outcome}"))
        except TimeoutError:
            stage = "restart" if before else "the command to start"
            check(Check(name="no hang", ok=False, detail=f"timed out waiting for {stage}"))
        finally:
            running.cancel()
            await client.close()
        check(_first_command(tool_results))
        check(_next_command(tool_results))
        if outcome is not None:
            ok = outcome.outcome == "end_turn"
            check(Check(name="loop ends normally", ok=ok, detail=f"outcome {outcome.outcome}"))
        try:
            fresh = await backend.start(SessionSpec())
            answer = await fresh.exec("echo fresh")
            await fresh.close()
            ok = answer.status == "ok" and answer.stdout == b"fresh\n"
            check(Check(name="clean retry", ok=ok, detail=f"new session: {answer.status}"))
        except Exception as exc:  # the check, not the scenario, fails
            check(Check(name="clean retry", ok=False, detail=f"{type(exc).__name__}: {exc}"))
        try:
            await session.close()
        except Exception as exc:
            check(Check(name="old session closes", ok=False, detail=str(exc)))
    after = audit_path.read_bytes()
    report = verify(audit_path)
    kept = after.startswith(before) if result.records_before else False
    result.lost_records = 0 if kept else result.records_before
    check(Check(name="audit kept", ok=kept and report.ok, detail=f"{report.records} records"))
    check(_nothing_left())
    return result


def _first_command(results: list[ToolResultEvent]) -> Check:
    if not results:
        return Check(name="running command ends", ok=False, detail="no tool result")
    first = results[0]
    ok = first.is_error and "begun" in first.content and "stopping" in first.content
    return Check(name="running command ends", ok=ok, detail=first.content[-200:])


def _next_command(results: list[ToolResultEvent]) -> Check:
    if len(results) < 2:
        return Check(name="next command refused", ok=False, detail="no second tool result")
    second = results[1]
    ok = second.is_error and "lost" in second.content
    return Check(name="next command refused", ok=ok, detail=second.content[-200:])


def _nothing_left() -> Check:
    with engine() as client:
        left = left_behind(client)
    return Check(name="nothing left", ok=not left, detail=f"{len(left)} containers left")
