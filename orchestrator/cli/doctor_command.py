"""`airlock doctor`: what this machine has (the checks themselves: `doctor`)."""

from __future__ import annotations

from typing import Annotated

import typer

from orchestrator.cli.consoles import out
from orchestrator.cli.errors import exit_on_failure
from orchestrator.cli.exit_codes import ExitCode

HEALTH_STYLE = {"ok": "green", "warn": "yellow", "fail": "bold red"}


def doctor(
    json_output: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Say what this machine has: engine, runtimes, images, seccomp. Exit 1 if a default lacks."""
    from rich.table import Table

    from orchestrator.cli import doctor as doctor_module

    with exit_on_failure():
        report = doctor_module.diagnose()
        if json_output:
            out.print_json(report.model_dump_json(), ensure_ascii=True)
        else:
            table = Table(title="airlock doctor")
            for column in ("check", "", "detail", "to fix"):
                table.add_column(column)
            for check in report.checks:
                style = HEALTH_STYLE[check.health.value]
                health = f"[{style}]{check.health.value}[/]"
                table.add_row(check.name, health, check.detail, check.fix)
            out.print(table)
        raise typer.Exit(ExitCode.OK if report.healthy else ExitCode.FAILED)
