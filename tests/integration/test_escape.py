"""The escape and abuse suite: every case contained on every registered runtime.

Also: the detectors can fail. A write the sandbox allows (the /workspace control) is
reported as not contained, and each judge flags a fake observation of an escape. And
the machine's speed decides nothing: a probe's work is bounded by counts, and a probe
that runs out of time is undecided (cannot judge), never contained.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from rich.console import Console

from orchestrator.devtools.prove import escape
from orchestrator.devtools.prove import report as prove_report
from orchestrator.devtools.prove.escape import (
    CONTROL,
    Case,
    CaseResult,
    Seen,
    run_suite,
    summary,
    table,
)
from sandbox.docker_backend import DockerBackend
from sandbox.results import ExecResult
from sandbox.spec import SessionSpec

pytestmark = pytest.mark.integration


def _render(results: list[CaseResult]) -> str:
    console = Console(record=True, width=200, force_terminal=False)
    console.print(table(results))
    return console.export_text()


@pytest.mark.slow
def test_every_escape_is_contained(runtimes: list[str]) -> None:
    if not runtimes:
        pytest.skip("no runtime registered with the engine")
    results = asyncio.run(run_suite(runtimes, (*escape.CASES, CONTROL)))
    control = [r for r in results if r.name == CONTROL.name]
    cases = [r for r in results if r.name != CONTROL.name]
    shown = _render(results)
    assert len(cases) == len(escape.CASES) * len(runtimes), shown
    assert control and not any(r.contained for r in control), f"control not flagged\n{shown}"
    assert "CHANGED" in control[0].evidence, shown
    counts = summary(cases)
    assert counts["violations"] == 0, f"{counts}\n{shown}"
    assert counts["undecided"] == 0, f"some probes could not judge: {counts}\n{shown}"


# The error of the host channel's safety net, when the agent never reported an exit.
HOST_SAFETY_NET = "the sandbox did not report an exit in time"


def _seen(
    report: Any,
    runtime: str = "runc",
    *,
    answered: bool = True,
    seconds: float = 0.5,
    after: Any = None,
    timed_out: bool = False,
    error: str | None = None,
) -> Seen:
    """A fake observation: the probe printed ``report``; the follow-up answered or not."""
    attempt = ExecResult(
        exit_code=None if timed_out else 0,
        stdout=json.dumps(report).encode() + b"\n",
        timed_out=timed_out,
        error=error,
    )
    follow = ExecResult(exit_code=0, stdout=(json.dumps(after) if after else "alive").encode())
    return Seen(
        SessionSpec(runtime=runtime),
        attempt,
        follow if answered else None,
        None if answered else "lost",
        seconds,
    )


UID = "1000"
SETUID_OK = {
    "uid": 1000,
    "no_new_privs": 1,
    "chown_root": "EPERM",
    "copy_mode": "0o4755",
    "copy_ids": [UID] * 6,
    "setuid_root": {"/usr/bin/su": [[UID] * 4, [UID] * 4]},
}
ESCAPES: list[tuple[Case, Seen]] = [
    (
        escape.PROC_SYS,
        _seen(
            [
                {
                    "path": "/proc/sys/kernel/hostname",
                    "before": "a",
                    "open": "ok",
                    "write": "ok",
                    "after": "airlock-escaped",
                }
            ]
        ),
    ),
    (escape.MKNOD, _seen([{"node": "block 8:0", "mknod": "ok", "open": "ENXIO"}])),  # runc
    (escape.MKNOD, _seen([{"node": "char 1:1", "mknod": "ok", "open": "ok"}], "runsc")),
    (escape.SOCKETS, _seen({"AF_INET/SOCK_RAW": "EPERM", "AF_PACKET/SOCK_RAW": "ok"})),
    (escape.CGROUP, _seen({"mount": {"cgroup:rdma": "ok"}, "open": {}, "unshare": "EPERM"})),
    (escape.MODULES, _seen({"machine": "x86_64", "calls": {"finit_module": "EBADF"}})),
    (
        escape.SETUID,
        _seen({**SETUID_OK, "setuid_root": {"/usr/bin/su": [[UID, "0", "0", "0"], [UID] * 4]}}),
    ),
    (
        escape.ENGINE,
        _seen(
            {
                "present": [],
                "sockets": ["/run/containerd/containerd.sock"],
                "unix": [],
                "env": [],
                "complete": True,
            }
        ),
    ),
    (
        escape.NETWORK,
        _seen(
            {"dev": ["lo", "eth0"], "route": [], "ipv6_route": [], "if_inet6": [], "sys": ["lo"]}
        ),
    ),
    (escape.FDS, _seen({"opened": 100000, "hit": None, "soft": 2**20, "hard": 2**20})),
    (
        escape.FDS,
        _seen({"opened": 19997, "hit": "EMFILE", "soft": 20000, "hard": 20000}, answered=False),
    ),
    (escape.FORK, _seen({"forked": 2000, "hit": None})),  # runc: no limit
    (
        escape.ZOMBIES,
        _seen(
            {"baseline": 4, "made": 150, "zombies": 150, "hit": None},
            after={"procs": 154, "zombies": 150, "argv": []},
        ),
    ),
    (  # the timeout fired but the sleep it started is still there
        escape.CLOSED_OUTPUT,
        _seen({}, timed_out=True, after={"procs": 3, "zombies": 0, "argv": ["sleep 30"]}),
    ),
    (  # the agent never reported: only the host's safety net ended the wait
        escape.CLOSED_OUTPUT,
        _seen(
            {}, timed_out=True, error=HOST_SAFETY_NET, after={"procs": 2, "zombies": 0, "argv": []}
        ),
    ),
    (  # the exec returned before its timeout: the sleep was not what held it
        escape.CLOSED_OUTPUT,
        _seen({}, after={"procs": 2, "zombies": 0, "argv": []}),
    ),
]


@pytest.mark.parametrize(("case", "seen"), ESCAPES, ids=lambda v: getattr(v, "name", ""))
def test_a_judge_reports_an_escape(case: Case, seen: Seen) -> None:
    contained, evidence = case.judge(seen)
    assert not contained, evidence


def test_mangled_bytes_are_reported() -> None:
    body = bytes(range(256)) * 16
    mangled = escape.PATTERN.decode("utf-8", "replace").encode() + body
    attempt = ExecResult(exit_code=0, stdout=mangled, stderr=escape.PATTERN_ERR + b"0" * 64)
    contained, evidence = escape.judge_binary(Seen(SessionSpec(), attempt))
    assert not contained and "stdout pattern" in evidence, evidence


class _GarbageSession:
    spec = SessionSpec()

    async def exec(self, *args: object, **kwargs: object) -> ExecResult:
        return ExecResult(exit_code=0, stdout=b"not json\n")


def test_unreadable_probe_output_is_a_violation() -> None:
    result = asyncio.run(escape.SOCKETS.run(_GarbageSession()))  # type: ignore[arg-type]
    assert not result.contained and result.evidence.startswith("cannot judge"), result


def test_a_slow_machine_does_not_make_closed_output_an_escape() -> None:
    """The agent's own timeout fired and nothing is left: contained however long it took."""
    seen = _seen({}, timed_out=True, seconds=60.0, after={"procs": 2, "zombies": 0, "argv": []})
    contained, evidence = escape.CLOSED_OUTPUT.judge(seen)
    assert contained, evidence


class _ScriptedSession:
    """Answers the attempt with ``attempt``, and every follow-up with ``alive``."""

    spec = SessionSpec(runtime="runsc")

    def __init__(self, attempt: ExecResult) -> None:
        self.replies = [attempt]

    async def exec(self, *args: object, **kwargs: object) -> ExecResult:
        if self.replies:
            return self.replies.pop(0)
        return ExecResult(exit_code=0, stdout=b"alive\n")


def _run(case: Case, attempt: ExecResult) -> CaseResult:
    return asyncio.run(case.run(_ScriptedSession(attempt)))  # type: ignore[arg-type]


OUT_OF_TIME = [
    ExecResult(exit_code=None, signal=15, timed_out=True),  # the agent's timeout: no output
    ExecResult(exit_code=None, timed_out=True, stdout=b'{"/workspace/.airl'),  # cut mid-line
    ExecResult(exit_code=None, timed_out=True, error=HOST_SAFETY_NET),  # the host's net
]


@pytest.mark.parametrize("attempt", OUT_OF_TIME, ids=["agent", "cut", "host"])
def test_a_probe_that_runs_out_of_time_is_undecided(attempt: ExecResult) -> None:
    """The fresh-machine failure: the inode flood outran its exec timeout under runsc."""
    result = _run(escape.INODES, attempt)
    assert result.undecided and not result.contained, result
    assert result.outcome == "undecided" and result.evidence.startswith("cannot judge"), result
    assert "ran out of time" in result.evidence, result
    assert summary([result]) == {"attempts": 1, "contained": 0, "undecided": 1, "violations": 0}
    assert "cannot judge" in _render([result])


NOT_SEEN = [
    (escape.SETUID, {**SETUID_OK, "setuid_root": {"/usr/bin/su": None}}),
    (
        escape.ENGINE,
        {"present": [], "sockets": [], "unix": [], "env": [], "complete": False},
    ),
    (escape.MODULES, {"machine": "aarch64", "calls": {"init_module": "EPERM"}}),
]


@pytest.mark.parametrize(("case", "report"), NOT_SEEN, ids=lambda v: getattr(v, "name", ""))
def test_a_judge_that_saw_too_little_is_undecided(case: Case, report: Any) -> None:
    attempt = ExecResult(exit_code=0, stdout=json.dumps(report).encode() + b"\n")
    result = _run(case, attempt)
    assert result.outcome == "undecided" and not result.contained, result


def test_a_follow_up_that_does_not_answer_after_an_expected_timeout_is_a_violation() -> None:
    """closed stdout/stderr times out on purpose: that timeout does not excuse the rest."""
    attempt = ExecResult(exit_code=None, signal=15, timed_out=True)
    seen = Seen(SessionSpec(), attempt, None, "lost: its container stopped", 3.0)
    with pytest.raises(ValueError, match="did not answer"):
        escape.CLOSED_OUTPUT.judge(seen)  # Case.run turns this into a violation
    result = _run(escape.CLOSED_OUTPUT, attempt)  # the scripted follow-up answers "alive"
    assert result.outcome == "violation", result  # "alive" is no process listing


def test_an_escape_seen_by_an_incomplete_walk_is_still_a_violation() -> None:
    found = ["/run/docker.sock"]
    report = {"present": found, "sockets": [], "unix": [], "env": [], "complete": False}
    result = _run(escape.ENGINE, ExecResult(exit_code=0, stdout=json.dumps(report).encode()))
    assert result.outcome == "violation", result


def test_an_undecided_row_keeps_prove_from_being_clean() -> None:
    row = prove_report.SuiteRow(
        suite="escape and abuse", attempts=2, contained=1, violations=0, undecided=1
    )
    report = prove_report.ProveReport(rows=[row], leaked_containers=0)
    assert not report.clean
    assert report.model_copy(update={"rows": [row.model_copy(update={"undecided": 0})]}).clean
    console = Console(record=True, width=200, force_terminal=False)
    console.print(prove_report.table(report))
    assert "cannot judge" in console.export_text()


# Every clock call jumps an hour and every sleep returns at once: a probe whose work or
# judgement hangs on the clock or on a sleep stops early or misses what it waits for.
FAST_CLOCK = """
import subprocess, sys, time  # the stdlib's own timeouts keep the real clock
now = [0.0]
def jump():
    now[0] += 3600.0
    return now[0]
time.monotonic = time.time = time.perf_counter = jump
time.sleep = lambda seconds: None
source = sys.argv.pop(1)
exec(compile(source, "probe", "exec"))
"""


def test_probe_work_is_bounded_by_counts_not_the_clock(runtimes: list[str]) -> None:
    """The fresh-machine class: on a slow machine, a clock-bounded probe did less, or
    nothing, before it reported; an event waited for by a sleep was not there yet."""
    if "runc" not in runtimes:
        pytest.skip("runc is not registered with the engine")
    probes = {
        "fds": (escape.FD_PROBE, 64),
        "inodes": (escape.INODE_PROBE, 64),
        "fork": (escape.FORK_PROBE, 16),
        "zombies": (escape.ZOMBIE_PROBE, 16),
        "engine": (escape.ENGINE_PROBE, escape.ENGINE_WALK_ENTRIES),
        "setuid": (escape.SETUID_PROBE, 60),
    }

    async def main() -> dict[str, Any]:
        async with DockerBackend().session(SessionSpec()) as session:
            out = {}
            for name, (source, argument) in probes.items():
                command = ["python3", "-c", FAST_CLOCK, source, str(argument)]
                result = await session.exec(command, timeout=escape.ATTEMPT_BUDGET)
                assert result.exit_code == 0, (name, result)
                out[name] = json.loads(result.stdout.decode().splitlines()[-1])
            return out

    out = asyncio.run(main())
    assert out["fds"]["opened"] == 64, out["fds"]
    assert [v["made"] for v in out["inodes"].values()] == [64, 64], out["inodes"]
    assert out["fork"]["forked"] == 16, out["fork"]
    assert out["zombies"]["made"] == out["zombies"]["zombies"] == 16, out["zombies"]
    assert out["engine"]["complete"], out["engine"]
    seen = out["setuid"]["setuid_root"]
    assert seen and all(ids is not None for ids in seen.values()), out["setuid"]
