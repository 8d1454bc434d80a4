"""`airlock prove`: run every attack suite and print one table.

Rows: the escape and abuse suite (every case, every registered runtime), the load suite
(concurrent sessions through the analyzer and the sandbox), the fault tests (run by
pytest, each a fault and its expected clean outcome) with the engine restart scenario
(`engine_restart`: it restarts dockerd, so it runs here only), and the differential-execution
fuzzer for a time budget. Then the reaper runs and whatever this process still
owns is counted as leaked.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import tempfile
from pathlib import Path
from xml.etree import ElementTree

from pydantic import BaseModel
from rich.table import Table

from orchestrator.devtools.checkout import source_checkout
from orchestrator.devtools.prove import engine_restart as engine_restart_scenario
from orchestrator.devtools.prove import escape
from orchestrator.devtools.prove.load import run_load
from sandbox.engine import engine
from sandbox.reaper import left_behind

FAULT_TESTS = [  # in the source checkout
    "tests/integration/test_crash_faults.py",  # SIGKILLed orchestrator, full audit disk
    "tests/integration/test_faults.py",  # engine down, missing image, container killed
    "tests/integration/test_loop.py",  # API faults: 429/529/500, hung or broken streams
]
FAULT_SELECTION = "killed or full_audit or engine or image or hangs or never_recovers or stream or connection or breaker or audit_log or cancel or rate_limit"  # noqa: E501


class SuiteRow(BaseModel):
    """One suite's line in the table.

    ``undecided``: attempts whose probe could not judge (e.g. it ran out of time); they are
    neither contained nor violations, and a report with any is not clean.
    """

    suite: str
    attempts: int
    contained: int
    violations: int
    undecided: int = 0
    lost_records: int = 0
    figures: str = ""


class ProveReport(BaseModel):
    rows: list[SuiteRow]
    leaked_containers: int

    @property
    def clean(self) -> bool:
        return self.leaked_containers == 0 and all(
            r.violations == 0 and r.undecided == 0 and r.lost_records == 0 for r in self.rows
        )


def _runtimes() -> list[str]:
    with engine() as client:
        registered = set(client.info().get("Runtimes", {}))
    return [r for r in ("runc", "runsc") if r in registered]


def escape_row() -> SuiteRow:
    results = asyncio.run(escape.run_suite(_runtimes()))
    counts = escape.summary(results)
    listed = {
        outcome: ", ".join(f"{r.name} ({r.runtime})" for r in results if r.outcome == outcome)
        for outcome in ("violation", "undecided")
    }
    figures = [f"NOT contained: {listed['violation']}"] if listed["violation"] else []
    figures += [f"cannot judge: {listed['undecided']}"] if listed["undecided"] else []
    return SuiteRow(
        suite="escape and abuse",
        attempts=counts["attempts"],
        contained=counts["contained"],
        violations=counts["violations"],
        undecided=counts["undecided"],
        figures="; ".join(figures) or f"{len(escape.CASES)} cases x {_runtimes()}",
    )


def load_row(sessions: int, commands: int) -> SuiteRow:
    small = run_load(sessions, commands, output_bytes=100)
    large = run_load(max(2, sessions // 10), 3, output_bytes=25_000_000)
    wrong = small.wrong + small.refused + large.wrong + large.refused
    return SuiteRow(
        suite="load",
        attempts=small.commands + large.commands,
        contained=small.commands + large.commands - wrong,
        violations=wrong,
        figures=f"{sessions} sessions x {commands}: p50 {small.p50_ms} ms, p99 {small.p99_ms} "
        f"ms, {small.commands_per_s}/s; RSS {small.peak_rss_mb} MB, +{large.rss_growth_mb} MB "
        f"under {large.commands} x 25 MB of output",
    )


def faults_row(engine_restart: bool = True) -> SuiteRow:
    """The fault tests (pytest, one case per fault), then the engine restart scenario."""
    cases = _fault_cases()
    failed = [name for name, ok in cases.items() if not ok]
    audit_lost = sum(1 for name in failed if "audit" in name)
    attempts, contained = len(cases), len(cases) - len(failed)
    figures = [f"{contained}/{attempts} fault tests pass"] + [f"FAILED {n}" for n in failed]
    if engine_restart:
        restart = engine_restart_scenario.run()
        if restart.skipped:
            figures.append(f"engine restart not run: {restart.skipped}")
        else:
            attempts += 1
            contained += restart.contained
            audit_lost += restart.lost_records
            broken = [f"{c.name}: {c.detail}" for c in restart.checks if not c.ok]
            figures.append(
                f"engine restart ({restart.restart_s} s): "
                + ("; ".join(broken) if broken else f"{len(restart.checks)} checks hold")
            )
    return SuiteRow(
        suite="faults",
        attempts=attempts,
        contained=contained,
        violations=attempts - contained,
        lost_records=audit_lost,
        figures="; ".join(figures),
    )


def _fault_cases() -> dict[str, bool]:
    """Each selected fault test's name and whether it passed (from pytest's JUnit XML).

    The fault tests are the source checkout's; an installed copy has none, and says so as
    a failed case (never as a clean row).
    """
    checkout = source_checkout()
    if checkout is None:
        return {"fault tests not run: they are in airlock's source checkout": False}
    with tempfile.TemporaryDirectory(prefix="airlock-faults-") as tmp:
        xml = Path(tmp) / "faults.xml"
        command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
        done = subprocess.run(
            [*command, f"--junitxml={xml}", *FAULT_TESTS, "-k", FAULT_SELECTION],
            cwd=checkout, capture_output=True, text=True, check=False,
        )  # fmt: skip
        if not xml.exists():
            return {f"pytest did not run: {done.stderr.strip()[-300:]}": False}
        cases = ElementTree.parse(xml).getroot().iter("testcase")  # noqa: S314 (our pytest's)
        return {
            f"{case.get('classname')}.{case.get('name')}": not any(
                child.tag in ("failure", "error") for child in case
            )
            for case in cases
            if case.find("skipped") is None
        }


def fuzz_row(seconds: float, seed: int, findings: Path | None = None) -> SuiteRow:
    """Differential execution: what the analyzer allows, run in a traced oracle.

    New findings are shrunk and saved in ``findings`` (default `diff_fuzz.pending_dir`).
    """
    from orchestrator.devtools.prove import diff_fuzz

    out_dir = findings or diff_fuzz.pending_dir()
    report = asyncio.run(diff_fuzz.fuzz_async(seed=seed, seconds=seconds, out_dir=out_dir))
    kinds = ", ".join(f"{kind} {n}" for kind, n in report.violations.items()) or "none"
    saved = f"; saved {len(report.saved)} to {out_dir}"
    sources = ", ".join(
        f"{source} {made}/{allowed}" for source, (made, allowed) in sorted(report.by_source.items())
    )
    return SuiteRow(
        suite="differential execution",
        attempts=report.executed,
        contained=report.executed - report.violating_commands,
        violations=report.violating_commands,
        figures=f"seed {seed}, {seconds:g} s: {report.generated} generated, {report.allowed} "
        f"allowed ({sources}), {report.exec_per_s}/s, run from {len(report.by_fixture)} "
        f"fixtures (plain {report.by_fixture.get('plain', 0)}, hostile "
        f"{sum(report.by_fixture.values()) - report.by_fixture.get('plain', 0)}); "
        f"violations: {kinds}" + (saved if report.saved else ""),
    )


def leaked() -> int:
    """Reap, then count the containers this process still owns."""
    with engine() as client:
        return len(left_behind(client))


def table(report: ProveReport) -> Table:
    grid = Table(title="airlock prove", show_lines=True)
    columns = ("suite", "attempts", "contained", "violations", "cannot judge", "lost records")
    for column in (*columns, "figures"):
        grid.add_column(column, overflow="fold")
    for row in report.rows:
        grid.add_row(row.suite, str(row.attempts), str(row.contained), str(row.violations),
                     str(row.undecided), str(row.lost_records), row.figures)  # fmt: skip
    grid.add_row("leaked containers", "", "", str(report.leaked_containers), "", "",
                 "after the reaper")  # fmt: skip
    return grid
