"""Differential execution fuzzing: run what the analyzer allows and watch what happens.

A campaign takes commands from `generate.Generator`, keeps those the ``read-only``
policy allows, runs each in the traced oracle (`oracle.Oracle`) from the fixture the
generator chose for it (a plain repository or a hostile one, `hostile.FIXTURES`) and
judges what it did (`oracle.judge`; the kinds of violation are listed there). A
violating command is shrunk (`shrink.shrink`) in the same fixture while the analyzer
still allows it and its program (or payload) still shows the same kinds, and saved as
one JSON file under `pending_dir()`: ``tests/corpus/regressions/pending/`` of the source
checkout, for the analyzer's owners to fix and move up (see the README there); an
installed copy saves under ``.airlock/regressions/pending/`` of the current directory.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import re
import time
from collections import Counter
from collections.abc import Callable
from datetime import date
from pathlib import Path

from docker.errors import DockerException
from pydantic import BaseModel, Field

from orchestrator.devtools.checkout import source_checkout, work_dir
from orchestrator.devtools.prove.generate import Generator
from orchestrator.devtools.prove.hostile import MARK, PLAIN
from orchestrator.devtools.prove.oracle import (
    KINDS,
    POLICY,
    Judgement,
    Observation,
    Oracle,
    OracleError,
    Violation,
    judge,
)
from orchestrator.devtools.prove.shrink import shrink
from sandbox import DockerBackend, SandboxError
from sandbox.spec import SessionSpec
from security import Decision, analyze

MAX_ORACLE_ERRORS = 5  # lost sessions tolerated per run (another process may reap them)


class Finding(BaseModel):
    """A violating command, shrunk, as saved under `regressions_dir()`."""

    cmd: str
    kind: str
    detail: str
    program: str | None = None
    kinds: list[str]
    trace: list[str]
    found: str
    original: str
    fixture: str = PLAIN  # the workspace the session started from (hostile.FIXTURES)
    payloads: list[str] = Field(default_factory=list)  # the fixture's payloads that ran


class FuzzReport(BaseModel):
    """What one `make fuzz-diff` run did and found."""

    seed: int
    seconds: float
    generated: int = 0
    allowed: int = 0
    by_source: dict[str, tuple[int, int]] = Field(default_factory=dict)  # generated, allowed
    by_fixture: dict[str, int] = Field(default_factory=dict)  # executed in each fixture
    executed: int = 0
    oracle_runs: int = 0  # executed plus the runs that shrinking made
    timeouts: int = 0
    truncated_traces: int = 0
    oracle_errors: int = 0
    scratch_writes: int = 0
    violating_commands: int = 0
    violations: dict[str, int] = Field(default_factory=dict)  # commands showing each kind
    exec_per_s: float = 0.0  # oracle runs (each: reset, traced run, read back) per second
    findings: list[Finding] = Field(default_factory=list)
    saved: list[str] = Field(default_factory=list)

    def summary(self) -> list[str]:
        """The figures, one per line, then each finding and each saved file."""
        figures = self.model_dump(
            exclude={"findings", "saved", "violations", "by_source", "by_fixture"}
        )
        by_kind = ", ".join(f"{kind} {n}" for kind, n in self.violations.items())
        lines = [f"{name:<20} {value}" for name, value in figures.items()]
        lines += [
            f"{'from ' + source:<20} {made} generated, {allowed} allowed"
            for source, (made, allowed) in sorted(self.by_source.items())
        ]
        fixtures = ", ".join(f"{name} {n}" for name, n in sorted(self.by_fixture.items()))
        lines.append(f"{'executed in':<20} {fixtures or 'none'}")
        lines.append(f"{'violations':<20} {by_kind or 'none'}")
        lines += [f"{f.kind}: {f.cmd!r} [{f.fixture}]: {f.detail}" for f in self.findings]
        return lines + [f"saved {path}" for path in self.saved]


def features(command: str) -> tuple[str, ...]:
    """Syntactic traits of a command: findings with the same traits are shrunk once."""
    traits = {
        "brace": r"\{[^}\s]*,", "subst": r"\$\(|`", "var": r"\$[A-Za-z_{]", "xargs": r"\bxargs\b",
        "find-exec": r"-exec", "pipe": r"[^|]\|[^|]", "loop": r"\b(for|while)\b",
        "redirect": r"[<>]", "assign": r"(^|\s)\w+=", "quote": r"['\"\\]",
        "wrapper": r"\b(timeout|env|nice|stdbuf|command|exec|builtin)\b",
    }  # fmt: skip
    return tuple(name for name, pattern in traits.items() if re.search(pattern, command))


def _primary(violations: list[Violation]) -> Violation:
    return min(violations, key=lambda v: KINDS.index(v.kind))


def regressions_dir() -> Path:
    """Where findings are kept, fixed ones at the top and new ones in ``pending/``.

    ``tests/corpus/regressions/`` of the source checkout this code runs from; for an
    installed copy ``.airlock/regressions/`` of the current directory, never site-packages.
    """
    checkout = source_checkout()
    if checkout is not None:
        return checkout / "tests" / "corpus" / "regressions"
    return work_dir() / "regressions"


def pending_dir() -> Path:
    """Where new findings are saved unless the caller names a folder."""
    return regressions_dir() / "pending"


def known_commands(*roots: Path) -> set[str]:
    """Commands already saved under any of ``roots``, fixed or pending."""
    return {json.loads(p.read_text())["cmd"] for root in roots for p in root.rglob("*.json")}


def save_finding(finding: Finding, directory: Path) -> Path:
    """Write ``<kind>-<sha256(cmd)[:10]>.json``; the path."""
    directory.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256(finding.cmd.encode()).hexdigest()[:10]
    path = directory / f"{finding.kind}-{digest}.json"
    path.write_text(json.dumps(finding.model_dump(), indent=2, ensure_ascii=False) + "\n")
    return path


class Campaign:
    """One fuzzing run: a generator, an oracle session, and what they found."""

    def __init__(self, seed: int, out_dir: Path | None, shrinking: bool, max_shrinks: int,
                 timeout: float, progress: Callable[[str], None] | None) -> None:  # fmt: skip
        self.report = FuzzReport(seed=seed, seconds=0.0)
        self.generator = Generator(seed)
        self.out_dir = out_dir
        self.shrinking = shrinking
        self.max_shrinks = max_shrinks
        self.timeout = timeout
        self.progress = progress
        self.known = known_commands(out_dir, regressions_dir()) if out_dir is not None else set()
        self.shrunk: set[tuple[str, str | None, tuple[str, ...]]] = set()  # kind, program, traits
        self.shrinks = 0
        self.by_kind: Counter[str] = Counter()
        self.deadline: float | None = None

    async def run(self, seconds: float | None, count: int | None) -> FuzzReport:
        report = self.report
        started = time.monotonic()
        deadline = self.deadline = None if seconds is None else started + seconds
        runs = 0
        while (count is None or report.generated < count) and (
            deadline is None or time.monotonic() < deadline
        ):
            session = await DockerBackend().start(SessionSpec(traced=True))
            oracle = Oracle(session, timeout=self.timeout)
            try:
                await oracle.prepare()
                await self._loop(oracle, deadline, count)
            except (OracleError, SandboxError) as exc:  # a lost session: count, start another
                report.oracle_errors += 1
                if report.oracle_errors > MAX_ORACLE_ERRORS:
                    raise
                if self.progress:
                    self.progress(f"oracle error, new session: {exc}")
            finally:
                runs += oracle.runs
                with contextlib.suppress(DockerException):
                    await session.close()
        report.oracle_runs = runs
        report.seconds = round(time.monotonic() - started, 1)
        report.violations = {k: self.by_kind[k] for k in KINDS if self.by_kind[k]}
        report.exec_per_s = round(runs / max(report.seconds, 1e-9), 2)
        return report

    async def _loop(self, oracle: Oracle, deadline: float | None, count: int | None) -> None:
        report = self.report
        while (count is None or report.generated < count) and (
            deadline is None or time.monotonic() < deadline
        ):
            command = self.generator.command()
            report.generated += 1
            verdict = await asyncio.to_thread(analyze, command, POLICY)
            allowed = verdict.decision is Decision.ALLOW
            generated_here, allowed_here = report.by_source.get(self.generator.source, (0, 0))
            report.by_source[self.generator.source] = (generated_here + 1, allowed_here + allowed)
            if not allowed:
                continue
            report.allowed += 1
            fixture = self.generator.fixture
            observation = await oracle.observe(command, fixture)
            report.executed += 1
            report.by_fixture[fixture] = report.by_fixture.get(fixture, 0) + 1
            report.timeouts += observation.timed_out
            report.truncated_traces += observation.trace_truncated
            judgement = judge(observation, verdict.commands)
            report.scratch_writes += judgement.scratch
            if judgement.violations:
                await self._record(oracle, observation, judgement)

    async def _record(self, oracle: Oracle, observation: Observation, judgement: Judgement) -> None:
        report, command = self.report, observation.command
        report.violating_commands += 1
        self.by_kind.update(judgement.kinds)
        main = _primary(judgement.violations)
        if self.progress:
            self.progress(f"{main.kind}: {main.detail} <- {command!r}")
        key = (main.kind, main.program, features(command))
        words = set(command.split())
        seen = any(
            f.kind == main.kind and f.program == main.program and set(f.cmd.split()) <= words
            for f in report.findings
        )  # an earlier, smaller finding of the same kind and program (or payload) is inside
        if seen or key in self.shrunk or self.shrinks >= self.max_shrinks:
            return
        self.shrinks += 1
        self.shrunk.add(key)
        finding = await make_finding(oracle, observation, self.shrinking, self.deadline)
        small_key = (finding.kind, finding.program, features(finding.cmd))
        if small_key in self.shrunk and small_key != key:
            return  # shrunk to the shape of an earlier finding
        self.shrunk.add(small_key)
        report.findings.append(finding)
        if self.out_dir is not None and finding.cmd not in self.known:
            self.known.add(finding.cmd)
            report.saved.append(str(save_finding(finding, self.out_dir)))


def signature(judgement: Judgement, program: str | None) -> set[str]:
    """The kinds a program's violations show (its workspace change counts with its writes)."""
    kinds = {v.kind for v in judgement.violations if v.program == program}
    return kinds | ({"workspace"} if "write" in kinds and "workspace" in judgement.kinds else set())


async def make_finding(
    oracle: Oracle, observation: Observation, shrinking: bool = True, deadline: float | None = None
) -> Finding:
    """Shrink a violating command and describe it for saving.

    A smaller command must still be allowed and make the same program show at least the
    same kinds (``sort -o x`` that wrote stays a command that writes, not just one the
    knowledge base rejects).
    """
    command, fixture = observation.command, observation.fixture
    judgement = judge(observation, (await asyncio.to_thread(analyze, command, POLICY)).commands)
    main = _primary(judgement.violations)
    wanted = signature(judgement, main.program)

    async def still_fails(candidate: str) -> bool:
        verdict = await asyncio.to_thread(analyze, candidate, POLICY)
        if verdict.decision is not Decision.ALLOW:
            return False
        again = judge(await oracle.observe(candidate, fixture), verdict.commands)
        return wanted <= signature(again, main.program)

    small = await shrink(command, still_fails, deadline=deadline) if shrinking else command
    if small != command:
        observation = await oracle.observe(small, fixture)
        judgement = judge(observation, (await asyncio.to_thread(analyze, small, POLICY)).commands)
        same = [v for v in judgement.violations if v.program == main.program]
        main = _primary(same) if same else main
    execs = [e.line for e in observation.trace.execs if e.ok][:6]
    behind = [line for v in judgement.violations if v.program == main.program for line in v.trace]
    return Finding(
        cmd=small, kind=main.kind, detail=main.detail, program=main.program,
        kinds=judgement.kinds, trace=list(dict.fromkeys([*execs, *main.trace, *behind]))[:12],
        found=date.today().isoformat(), original=command, fixture=fixture,
        payloads=[(v.program or "").removeprefix(MARK) for v in judgement.violations
                  if v.kind == "payload"],
    )  # fmt: skip


async def fuzz_async(
    *,
    seed: int = 0,
    seconds: float | None = 120.0,
    count: int | None = None,
    out_dir: Path | None,
    shrinking: bool = True,
    max_shrinks: int = 25,
    timeout: float = 5.0,
    progress: Callable[[str], None] | None = None,
) -> FuzzReport:
    """Generate, keep what the analyzer allows, run it in the oracle, judge, shrink, save
    new findings in ``out_dir`` (None: save nothing).

    Stops after ``seconds`` or ``count`` generated commands, whichever comes first.
    """
    campaign = Campaign(seed, out_dir, shrinking, max_shrinks, timeout, progress)
    return await campaign.run(seconds, count)
