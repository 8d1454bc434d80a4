"""The escape and abuse suite: every case contained on every registered runtime.

Also: the detectors can fail. A write the sandbox allows (the /workspace control) is
reported as not contained, and each judge flags a fake observation of an escape.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from rich.console import Console

from orchestrator.prove import escape
from orchestrator.prove.escape import CONTROL, Case, CaseResult, Seen, run_suite, summary, table
from sandbox.results import ExecResult
from sandbox.spec import SessionSpec

pytestmark = pytest.mark.integration


def _render(results: list[CaseResult]) -> str:
    console = Console(record=True, width=200, force_terminal=False)
    console.print(table(results))
    return console.export_text()


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


def _seen(
    report: Any,
    runtime: str = "runc",
    *,
    answered: bool = True,
    seconds: float = 0.5,
    after: Any = None,
) -> Seen:
    """A fake observation: the probe printed ``report``; the follow-up answered or not."""
    attempt = ExecResult(exit_code=0, stdout=json.dumps(report).encode() + b"\n")
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
    (escape.SETUID, _seen({**SETUID_OK, "setuid_root": {"/usr/bin/su": None}})),  # unseen
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
    (escape.FORK, _seen({"forked": 2000, "hit": None, "seconds": 9.0})),  # runc: no limit
    (
        escape.ZOMBIES,
        _seen(
            {"baseline": 4, "made": 150, "zombies": 150, "hit": None},
            after={"procs": 154, "zombies": 150, "argv": []},
        ),
    ),
    (
        escape.CLOSED_OUTPUT,
        _seen({}, seconds=30.0, after={"procs": 3, "zombies": 0, "argv": ["sleep 30"]}),
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
