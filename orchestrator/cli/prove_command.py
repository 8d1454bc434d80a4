"""`airlock prove` and `airlock fuzz-diff`: attack airlock; exit 1 on any finding."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from orchestrator.cli.consoles import err, out
from orchestrator.cli.errors import exit_on_failure
from orchestrator.cli.exit_codes import ExitCode
from orchestrator.events import safe_text

FINDINGS_HELP = (
    "Folder for new findings (default: tests/corpus/regressions/pending/ of the source "
    "checkout; installed: .airlock/regressions/pending/ here)."
)


def fuzz_diff(
    seconds: Annotated[
        float,
        typer.Option(
            envvar="FUZZ_DIFF_SECONDS", min=1, metavar="SECONDS", help="How long to fuzz."
        ),
    ] = 120,
    count: Annotated[
        int | None,
        typer.Option(min=1, metavar="N", help="Stop after this many commands, not a time."),
    ] = None,
    seed: Annotated[
        int | None,
        typer.Option(envvar="FUZZ_DIFF_SEED", metavar="N", help="Generator seed (default: new)."),
    ] = None,
    shrink: Annotated[bool, typer.Option(help="Shrink violating commands first.")] = True,
    save: Annotated[bool, typer.Option(help="Save new findings (see --findings).")] = True,
    findings: Annotated[Path | None, typer.Option(metavar="DIR", help=FINDINGS_HELP)] = None,
    json_output: Annotated[bool, typer.Option("--json", help="One JSON object.")] = False,
) -> None:
    """Run what the read-only analyzer allows in a traced oracle sandbox; exit 1 on a violation.

    \b
    Examples:
      airlock fuzz-diff --seconds 60
      airlock fuzz-diff --count 500 --seed 7 --no-save --json
    """
    import asyncio
    import random

    from orchestrator.devtools.prove import diff_fuzz

    with exit_on_failure():
        seed = random.SystemRandom().randrange(2**32) if seed is None else seed
        err.print(
            f"fuzz-diff: seed {seed}, " + (f"{count} commands" if count else f"{seconds:g} s")
        )
        report = asyncio.run(
            diff_fuzz.fuzz_async(
                seed=seed,
                seconds=None if count else seconds,
                count=count,
                out_dir=(findings or diff_fuzz.pending_dir()) if save else None,
                shrinking=shrink,
                progress=lambda line: err.print(safe_text.text(line), soft_wrap=True),
            )
        )
        if json_output:
            sys.stdout.write(report.model_dump_json() + "\n")
        else:
            for line in report.summary():
                out.print(safe_text.text(line), soft_wrap=True)
        raise typer.Exit(ExitCode.FAILED if report.violating_commands else ExitCode.OK)


def prove(
    sessions: Annotated[int, typer.Option(min=1, metavar="N", help="Load: sessions at once.")] = 50,
    commands: Annotated[
        int, typer.Option(min=1, metavar="N", help="Load: commands per session.")
    ] = 100,
    fuzz_seconds: Annotated[
        float,
        typer.Option(min=0, metavar="SECONDS", help="Differential execution budget (0: skip)."),
    ] = 120,
    seed: Annotated[int, typer.Option(metavar="N", help="Seed of the differential fuzzer.")] = 1,
    findings: Annotated[Path | None, typer.Option(metavar="DIR", help=FINDINGS_HELP)] = None,
    engine_restart: Annotated[
        bool, typer.Option(help="Faults: restart this machine's dockerd mid-session (root).")
    ] = True,
    json_output: Annotated[bool, typer.Option("--json", help="One JSON object.")] = False,
) -> None:
    """Attack airlock: escape, load, fault and fuzz suites; one table; exit 1 unless clean.

    \b
    Examples:
      airlock prove
      airlock prove --sessions 5 --commands 20 --fuzz-seconds 0 --no-engine-restart --json
    """
    from orchestrator.devtools.prove import report as prove_report

    with exit_on_failure():
        rows = []
        for name, run_suite in (
            ("escape and abuse", prove_report.escape_row),
            ("load", lambda: prove_report.load_row(sessions, commands)),
            ("faults", lambda: prove_report.faults_row(engine_restart)),
            ("differential execution", lambda: prove_report.fuzz_row(fuzz_seconds, seed, findings)),
        ):
            if name == "differential execution" and not fuzz_seconds:
                continue
            err.print(f"[dim]prove:[/] {name} ...")
            rows.append(run_suite())
        result = prove_report.ProveReport(rows=rows, leaked_containers=prove_report.leaked())
        if json_output:
            out.print_json(result.model_dump_json(), ensure_ascii=True)
        else:
            out.print(prove_report.table(result))
        raise typer.Exit(ExitCode.OK if result.clean else ExitCode.FAILED)
