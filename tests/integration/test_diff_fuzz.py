"""Differential execution fuzzing: regressions replay, the oracle can fail, a short fuzz runs."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from orchestrator.devtools.prove.diff_fuzz import Finding, fuzz_async
from orchestrator.devtools.prove.oracle import KINDS, POLICY, Oracle, judge
from orchestrator.devtools.prove.shrink import shrink
from sandbox.docker_backend import DockerBackend
from sandbox.spec import SessionSpec
from security import Decision, analyze
from tests.integration.waiting import LIVENESS_S, START_S

pytestmark = pytest.mark.integration

REGRESSIONS = Path(__file__).resolve().parents[1] / "corpus" / "regressions"
PENDING = REGRESSIONS / "pending"
FIXED = sorted(REGRESSIONS.glob("*.json"))


def _names(command: str) -> set[str]:
    return {argv[0].rsplit("/", 1)[-1] for argv in analyze(command, POLICY).commands if argv}


def _fixed(finding: Finding) -> bool:
    if analyze(finding.cmd, POLICY).decision is not Decision.ALLOW:
        return True
    return finding.kind == "differential" and finding.program in _names(finding.cmd)


@pytest.mark.parametrize("path", FIXED, ids=[p.name for p in FIXED])
def test_a_fixed_regression_is_no_longer_allowed(path: Path) -> None:
    finding = Finding.model_validate(json.loads(path.read_text()))
    assert _fixed(finding), f"{path.name}: the analyzer allows {finding.cmd!r} again"


def test_pending_regressions_wait_for_an_analyzer_fix() -> None:
    pending = sorted(PENDING.glob("*.json"))
    findings = {p.name: Finding.model_validate(json.loads(p.read_text())) for p in pending}
    assert all(f.kind in KINDS and f.trace for f in findings.values())
    fixed = [name for name, finding in findings.items() if _fixed(finding)]
    assert not fixed, f"fixed now: git mv them from {PENDING} to {REGRESSIONS}: {fixed}"
    if pending:
        pytest.skip(
            f"{len(pending)} pending false allows in tests/corpus/regressions/pending/ "
            "wait for an analyzer fix (see its README)"
        )


# Commands given straight to the oracle, bypassing the analyzer, with what it must see.
# `commands` stands in for Verdict.commands (None: the analyzer's own).
KNOWN_BAD: list[tuple[str, list[list[str]] | None, set[str]]] = [
    ("touch /workspace/x", None, {"exec", "write", "workspace"}),
    ("python3 -c 'import socket; socket.socket()'", None, {"exec", "socket"}),
    ("ls; id", [["ls"]], {"differential"}),
    ("cat /etc/hostname > /etc/x", None, {"write-attempt"}),
]
BENIGN = [
    "ls -la; cat notes.txt; git log --oneline -n 3; grep -rn foo . | head -5",
    "seq 1000 | tac | head -1",  # tac's scratch file in /tmp is not a write
    "zgrep foo docs/notes.gz; ls -l; id",  # zgrep's gzip, and the nscd probe, are fine
    "git status",  # sessions set GIT_OPTIONAL_LOCKS=0: no index refresh behind our back
    "bash -c x=; sh -c 'ls src'",  # a shell running analyzed code is judged by that code
    "diff -l notes.txt README.md",  # diff runs pr for -l, as its own implementation
]


@pytest.mark.slow
def test_the_oracle_sees_violations_and_only_them() -> None:
    async def body() -> dict[str, tuple[set[str], bool]]:
        seen: dict[str, tuple[set[str], bool]] = {}
        async with DockerBackend().session(SessionSpec(traced=True)) as session:
            oracle = Oracle(session, timeout=LIVENESS_S)  # room for strace on a loaded machine
            await oracle.prepare()
            for command, commands in [(c, v) for c, v, _ in KNOWN_BAD] + [
                (c, None) for c in [*BENIGN, "sleep 3600"]
            ]:
                if command == "sleep 3600":  # the timeout must fire, after strace started
                    oracle.timeout = START_S
                observation = await oracle.observe(command)
                view = analyze(command, POLICY).commands if commands is None else commands
                kinds = set(judge(observation, view).kinds)
                seen[command] = (kinds, observation.timed_out)
        return seen

    seen = asyncio.run(body())
    for command, _, expected in KNOWN_BAD:
        assert expected <= seen[command][0], (command, seen[command])
    assert "workspace" not in seen["cat /etc/hostname > /etc/x"][0]
    for command in BENIGN:
        assert seen[command] == (set(), False), (command, seen[command])
    assert seen["sleep 3600"] == (set(), True)


@pytest.mark.slow
def test_a_short_fuzz_runs_allowed_commands_and_counts() -> None:
    report = asyncio.run(
        fuzz_async(seed=7, count=40, seconds=None, out_dir=None, shrinking=False, timeout=60.0)
    )
    assert report.generated == 40
    assert sum(made for made, _ in report.by_source.values()) == 40
    assert sum(allowed for _, allowed in report.by_source.values()) == report.allowed
    assert 5 <= report.allowed <= 40
    assert report.executed == report.allowed == report.oracle_runs
    assert report.violating_commands <= report.executed
    assert set(report.violations) <= set(KINDS)
    assert all(0 < n <= report.violating_commands for n in report.violations.values())
    assert report.exec_per_s > 0 and report.saved == []
    assert sum(report.by_fixture.values()) == report.executed
    assert len(report.by_fixture) > 1, report.by_fixture  # plain and hostile fixtures


def test_shrinking_keeps_the_failure_and_drops_the_rest() -> None:
    async def fails(candidate: str) -> bool:  # stands in for "allowed, and sort still writes"
        return candidate.startswith("echo") and " -o " in candidate and "| xargs sort" in candidate

    command = "ls -la; for x in a b; do echo --foo -o pwn | xargs sort; done && cat notes.txt"
    assert asyncio.run(shrink(command, fails)) == "echo -o | xargs sort"
