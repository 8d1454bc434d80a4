"""`airlock run`: one agent task on a copy of a project, from start to patch.

The project is copied into a fresh session's /workspace; the agent loop runs with
every tool; events go to the terminal and to the audit log. However the run ends
(finished, failed, cancelled), the out folder gets ``events.jsonl`` (the audit log),
``patch.diff`` (the workspace's changes against the project) and ``summary.json``.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Literal

import anthropic
from pydantic import BaseModel, Field

from orchestrator.agent.context import ContextConfig
from orchestrator.agent.loop import AgentLoop, AgentResult, Outcome, RunLimits
from orchestrator.agent.prompts import SYSTEM_PROMPT
from orchestrator.agent.routing import ModelRouter
from orchestrator.agent.subagents import SubAgents
from orchestrator.agent.usage import Tally, Usage
from orchestrator.events.audit import AuditLog, load_key
from orchestrator.events.bus import EventBus
from orchestrator.events.models import DoneEvent, EgressEvent, ErrorEvent, SessionStartedEvent
from orchestrator.gate.permission_gate import Approver, PermissionGate, Trust
from orchestrator.runs.patch import diff_trees, scrub_tree
from orchestrator.runs.verify import Verification, verify
from orchestrator.testing.fake_api import FakeMessagesAPI
from orchestrator.testing.replay import load_replay
from orchestrator.tools import default_tools
from sandbox import (
    DEFAULT_IMAGE,
    Backend,
    EgressRecord,
    Session,
    SessionSpec,
    SplitArchive,
    scrub_placeholders,
)
from security import Policy

RUNS_DIR = Path(".airlock/runs")
MEMORY_FILES = ("AIRLOCK.md", "AGENTS.md", "CLAUDE.md")
PROJECT_POLICY = ".airlock/policy.yaml"
CREDENTIALS = ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN")
MAX_MEMORY_CHARS = 20_000
NO_SESSION = "none"  # the session of records written before one started


class RunError(Exception):
    """A run that cannot start; the message says what to fix."""


class RunRequest(BaseModel):
    """Everything `airlock run` was asked to do."""

    task: str = Field(min_length=1)
    repo: Path
    policy: str | None = Field(None, description="preset or YAML file; default dev")
    model: str | None = Field(None, description="the main agent's model (default: routing)")
    limits: RunLimits = Field(default_factory=lambda: RunLimits(wall_clock_s=3600))
    context: ContextConfig = Field(default_factory=ContextConfig)
    replay: Path | None = None
    out: Path | None = None
    image: str = DEFAULT_IMAGE
    runtime: Literal["runc", "runsc"] = "runc"
    trust: bool = Field(False, description="trust the project: load its memory and policy files")
    allow_hosts: list[str] = Field(
        default_factory=list,
        description="hosts added to the policy's network allow list (--allow-host)",
    )
    credentials: list[str] = Field(
        default_factory=list,
        description="NAME=HOST[,HOST]: secrets of the orchestrator's environment brokered "
        "to those hosts (--credential)",
    )
    trusted_by: Literal["flag", "person"] = "flag"  # who established the trust, when given
    plan: bool = Field(False, description="a plan-kind model writes a plan before the loop")
    exclude: list[str] = Field(
        default_factory=list,
        description="paths relative to the repo left out of the copy and of the patch",
    )
    verify: str | None = Field(
        None, description="success criterion: a command that must exit 0 in the final workspace"
    )
    verify_timeout: float = Field(600, gt=0, description="seconds the verify command may take")
    audit_key: Path | None = Field(
        None, description="a key file: every record of events.jsonl is signed with it"
    )


class RunSummary(BaseModel):
    """`summary.json`: how a run went."""

    outcome: Outcome
    error: str | None = None
    turns: int
    tool_calls: dict[str, int]
    verdicts: dict[str, int]
    input_tokens: int
    output_tokens: int
    cache_read_input_tokens: int
    cache_creation_input_tokens: int
    cost_usd: float
    by_kind: dict[str, Usage] = Field(description="calls, tokens and cost by kind of call")
    models: dict[str, str] = Field(description="the model each kind of call was routed to")
    duration_s: float
    model: str
    replay: str | None
    policy: str
    trusted: bool
    files_changed: int
    out: str
    copy_in: list[str] = Field(
        default_factory=list,
        description="what the copy-in changed in the session's copy of the project: "
        "protected git files, credentials stripped (keys only, never values)",
    )
    verification: Verification | None = Field(
        None, description="the --verify command: the gate's answer, its exit, its output's end"
    )
    audit_records: int = Field(0, description="records in events.jsonl: compare after copying")
    audit_last_hash: str = Field("", description="the hash of its last record")
    audit_signed: bool = Field(False, description="its records carry MACs (--audit-key)")


class Project(BaseModel):
    """What the run takes from the project, given its trust."""

    trust: Trust
    policy: Policy
    memory: str  # notes appended to the system prompt ('' when untrusted or none)
    ignored: list[str]  # project files not loaded because the project is untrusted


def load_project(request: RunRequest) -> Project:
    """Step 1 of the gate: settle trust, then load only what trust allows.

    Trust comes from the person running it (``--trust``, or a yes at the terminal) or
    from the policy they chose (``trust_projects``); a project never trusts itself.
    """
    repo = request.repo
    if not repo.is_dir():
        raise RunError(f"--repo {repo}: not a folder")
    chosen = _policy(request.policy)
    if request.trust:
        trust = Trust(trusted=True, by=request.trusted_by)
    elif chosen.trust_projects:
        trust = Trust(trusted=True, by="policy")
    else:
        trust = Trust(trusted=False, by="default")
    present = [name for name in (*MEMORY_FILES, PROJECT_POLICY) if (repo / name).is_file()]
    if not trust.trusted:
        policy = _with_hosts(chosen, request.allow_hosts, request.credentials)
        return Project(trust=trust, policy=policy, memory="", ignored=present)
    notes = [
        f"Notes from the project's {name}:\n{(repo / name).read_text(errors='replace')}"
        for name in MEMORY_FILES
        if name in present
    ]
    policy = chosen
    if request.policy is None and PROJECT_POLICY in present:
        policy = _policy(str(repo / PROJECT_POLICY))
        if policy.network.credentials:
            # the repository is the attacker's: a trusted project still may not send the
            # orchestrator's secrets anywhere; only the operator names credentials
            names = ", ".join(c.env for c in policy.network.credentials)
            raise RunError(
                f"{PROJECT_POLICY} names credentials ({names}); a project's policy cannot: "
                "give them with --credential or an operator's --policy"
            )
    memory = "\n\n".join(notes)[:MAX_MEMORY_CHARS]
    policy = _with_hosts(policy, request.allow_hosts, request.credentials)
    return Project(trust=trust, policy=policy, memory=memory, ignored=[])


def _policy(name: str | None) -> Policy:
    try:
        return Policy.load(name or "dev")
    except ValueError as exc:
        raise RunError(str(exc)) from exc


def _with_hosts(policy: Policy, hosts: list[str], credentials: list[str]) -> Policy:
    try:
        return policy.allowing_hosts(hosts).brokering(credentials)
    except ValueError as exc:
        raise RunError(str(exc)) from exc


def copy_exclusions(request: RunRequest, out: Path) -> frozenset[str]:
    """What stays out of the session's copy of the repo, and so out of the patch: the
    ``--exclude`` paths, and the run folders when they lie inside the repo (with ``--repo
    .``, the patch would otherwise delete earlier runs' logs, and the agent read them)."""
    repo = request.repo.resolve()
    paths: set[str] = set()
    for given in request.exclude:
        path = PurePosixPath(given)
        if path.is_absolute() or ".." in path.parts or not path.parts or str(path) == ".":
            raise RunError(f"--exclude {given!r}: give a path inside the repo, relative to it")
        paths.add(path.as_posix())
    for folder in (out, RUNS_DIR):
        with contextlib.suppress(ValueError):
            inside = folder.resolve().relative_to(repo).as_posix()
            if inside != ".":
                paths.add(inside)
    return frozenset(paths)


def out_dir(request: RunRequest) -> Path:
    """``--out``, or a new folder under `RUNS_DIR` named by time and repo (``-2``, ``-3``
    ... when runs start in the same second: a run never writes into another's folder)."""
    if request.out is not None:
        return request.out
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    base = RUNS_DIR / f"{stamp}-{request.repo.resolve().name}"
    RUNS_DIR.mkdir(parents=True, exist_ok=True)
    for number in itertools.count(1):
        folder = base if number == 1 else base.with_name(f"{base.name}-{number}")
        try:
            folder.mkdir()  # claimed atomically, also against a concurrent run
        except FileExistsError:
            continue
        return folder
    raise AssertionError("unreachable")


@contextlib.contextmanager
def api_client(request: RunRequest) -> Iterator[anthropic.AsyncAnthropic]:
    """The SDK's client: from the environment, or pointed at a local replay."""
    if request.replay is None:
        if not any(os.environ.get(name) for name in CREDENTIALS):
            raise RunError(
                "no API key: set ANTHROPIC_API_KEY (and ANTHROPIC_BASE_URL for a gateway), "
                "or pass --replay FILE to run a scripted model"
            )
        yield anthropic.AsyncAnthropic()  # the SDK reads its settings from the environment
        return
    with FakeMessagesAPI(load_replay(request.replay)) as api:
        yield anthropic.AsyncAnthropic(api_key="replay", base_url=api.base_url)


@dataclass(frozen=True)
class _Setup:
    """What a run settled before it began."""

    request: RunRequest
    project: Project
    router: ModelRouter
    out: Path
    exclusions: frozenset[str]


@dataclass
class _Progress:
    """How far a run got: what its summary is made of, however it ends."""

    agent: AgentLoop | None = None
    result: AgentResult | None = None
    changed: int = 0
    copy_in: list[str] = field(default_factory=list)
    patch_error: str | None = None
    verification: Verification | None = None
    audit_records: int = 0
    audit_last_hash: str = ""


async def run_task(
    request: RunRequest, bus: EventBus, approver: Approver | None = None, *, backend: Backend
) -> RunSummary:
    """Run ``request`` in a session of ``backend`` and write the out folder; returns the
    summary.

    Once the out folder exists, ``events.jsonl``, ``patch.diff`` and ``summary.json`` are
    all written however the run ends: finished, stopped by a limit, cancelled (a signal),
    or failed (no engine, a bad image, a broken replay, a lost sandbox). The exception
    that ended it is raised again after the summary holds its reason.
    """
    project = load_project(request)
    out = out_dir(request)
    exclusions = copy_exclusions(request, out)
    out.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    router = ModelRouter.configured({"main": request.model} if request.model else None)
    progress = _Progress()
    ended: BaseException | None = None
    try:
        key = load_key(request.audit_key) if request.audit_key else None
        with AuditLog(out / "events.jsonl", key) as audit:
            unsubscribe = bus.subscribe(audit.write, critical=True)
            try:
                await _run(
                    _Setup(request, project, router, out, exclusions),
                    bus,
                    approver,
                    backend,
                    progress,
                )
            except BaseException as exc:
                if progress.agent is None:  # the loop never started, so it said nothing
                    _record_early_end(bus, exc)
                raise
            finally:
                unsubscribe()
                progress.audit_records, progress.audit_last_hash = audit.records, audit.last_hash
    except BaseException as exc:
        ended = exc
        raise
    finally:
        if not (out / "patch.diff").exists():
            (out / "patch.diff").write_text("")  # the run ended before its patch
        summary = _summary(request, project, router, progress, ended,
                           time.monotonic() - started, out)  # fmt: skip
        (out / "summary.json").write_text(summary.model_dump_json(indent=2) + "\n")
    return summary


def _egress_to(bus: EventBus, session_id: str) -> Callable[[EgressRecord], None]:
    """Each request through the session's egress proxy (and its forks') as an event."""

    def publish(record: EgressRecord) -> None:
        bus.publish(EgressEvent(session_id=session_id, agent="main", **record.model_dump()))

    return publish


def _record_early_end(bus: EventBus, exc: BaseException) -> None:
    """The audit log's last records for a run that ended before its loop began."""
    outcome, reason = _ending(None, exc)
    with contextlib.suppress(Exception):  # the log itself may be what failed
        bus.publish(ErrorEvent(session_id=NO_SESSION, agent="main", message=reason or outcome))
        bus.publish(DoneEvent(session_id=NO_SESSION, agent="main", outcome=outcome, turns=0))


async def _run(
    setup: _Setup,
    bus: EventBus,
    approver: Approver | None,
    backend: Backend,
    progress: _Progress,
) -> None:
    """The session and the loop; ``progress`` records how far they got."""
    request, project, router = setup.request, setup.project, setup.router
    model = router.model_for("main")
    with api_client(request) as client:
        try:
            spec = SessionSpec(
                image=request.image, runtime=request.runtime, egress=project.policy.network
            )
            async with backend.session(spec) as session:
                session.watch_egress(_egress_to(bus, session.id))
                seeded = await session.put_dir(request.repo, spec.workdir, setup.exclusions)
                progress.copy_in = _copy_in_notes(seeded)
                bus.publish(
                    SessionStartedEvent(
                        session_id=session.id,
                        agent="main",
                        task=request.task,
                        policy=project.policy.name,
                        model=model,
                        image=request.image,
                        runtime=request.runtime,
                    )
                )
                agent = progress.agent = AgentLoop(
                    name="main",
                    session_id=session.id,
                    client=client,
                    model=model,
                    router=router,
                    session=session,
                    gate=PermissionGate(
                        project.policy, project.trust, approver, approver_kind="person"
                    ),
                    tools=default_tools(),
                    bus=bus,
                    system="\n\n".join(filter(None, [SYSTEM_PROMPT, project.memory])),
                    limits=request.limits,
                    context=request.context,
                    sub_agents=SubAgents(),
                )
                try:
                    task = request.task
                    if request.plan:
                        task = await _planned(agent, session, task)
                    progress.result = await agent.run(task)
                    if request.verify and progress.result.outcome == "end_turn":
                        progress.verification = await verify(
                            request.verify, session, agent.gate, bus, session.id,
                            request.verify_timeout,
                        )  # fmt: skip
                finally:
                    await asyncio.shield(_write_patch(session, setup, progress))
        finally:
            await client.close()


def _copy_in_notes(seeded: SplitArchive | None) -> list[str]:
    """What the copy-in did to the session's copy (the host repository is never changed)."""
    if seeded is None:
        return []
    notes = [f"{path} is root-owned in the session (the agent cannot change it)"
             for path in seeded.protected]  # fmt: skip
    notes += [f"credential stripped: {what}" for what in seeded.stripped]
    return notes


async def _planned(agent: AgentLoop, session: Session, task: str) -> str:
    """The task with a plan from the plan-kind model (kept as the agent's active plan)."""
    listing = await session.exec(
        ["sh", "-c", "find . -path ./.git -prune -o -type f -print | sort | head -n 300"],
        cwd=session.spec.workdir,
    )
    plan = await agent.make_plan(task, listing.text)
    return f"{task}\n\n## Plan (from a planning model; adapt it as you learn)\n{plan}"


async def _write_patch(session: Session, setup: _Setup, progress: _Progress) -> None:
    """Copy the workspace out and write ``patch.diff``. A failure is kept for the summary
    (the patch is then empty): it never costs the run its other records."""
    try:
        with tempfile.TemporaryDirectory(prefix="airlock-workspace-") as tmp:
            after = Path(tmp)
            await session.get_dir(session.spec.workdir, after)
            # a brokered credential's placeholder, written into a file by the agent,
            # goes into the patch as ${NAME}: never the session's value; both off the
            # event loop (a service runs other tenants' work on it)
            await asyncio.to_thread(scrub_tree, after, scrub_placeholders)
            diff = await asyncio.to_thread(diff_trees, setup.request.repo, after, setup.exclusions)
    except Exception as exc:
        progress.patch_error = f"the patch could not be made: {type(exc).__name__}: {exc}"
        (setup.out / "patch.diff").write_text("")
        return
    await asyncio.to_thread((setup.out / "patch.diff").write_text, diff.text)
    progress.changed = len(diff.changed)


def _summary(
    request: RunRequest,
    project: Project,
    router: ModelRouter,
    progress: _Progress,
    ended: BaseException | None,
    duration: float,
    out: Path,
) -> RunSummary:
    tally = progress.agent.tally if progress.agent else Tally()
    outcome, error = _ending(progress.result, ended)
    if progress.patch_error:
        error = f"{error}; {progress.patch_error}" if error else progress.patch_error
    return RunSummary(
        outcome=outcome,
        error=error,
        turns=tally.turns,
        tool_calls=tally.tool_calls,
        verdicts=tally.verdicts,
        input_tokens=tally.input_tokens,
        output_tokens=tally.output_tokens,
        cache_read_input_tokens=tally.cache_read_input_tokens,
        cache_creation_input_tokens=tally.cache_creation_input_tokens,
        cost_usd=round(tally.cost_usd, 6),
        by_kind=tally.by_kind,
        models=router.models,
        duration_s=round(duration, 3),
        model=router.model_for("main"),
        replay=str(request.replay) if request.replay else None,
        policy=project.policy.name,
        trusted=project.trust.trusted,
        files_changed=progress.changed,
        out=str(out),
        copy_in=progress.copy_in,
        verification=progress.verification,
        audit_records=progress.audit_records,
        audit_last_hash=progress.audit_last_hash,
        audit_signed=request.audit_key is not None and progress.audit_records > 0,
    )


def _ending(result: AgentResult | None, ended: BaseException | None) -> tuple[Outcome, str | None]:
    """The outcome and its reason: the loop's own, or what stopped the run around it."""
    if isinstance(ended, asyncio.CancelledError | KeyboardInterrupt):
        return "cancelled", "cancelled"
    if ended is not None:
        return "error", f"{type(ended).__name__}: {ended}"
    if result is None:
        return "cancelled", "cancelled"
    return result.outcome, result.error
