"""`airlock audit verify`: check a session's audit log from the command line."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from orchestrator.cli.consoles import out
from orchestrator.cli.errors import exit_on_failure, unreadable
from orchestrator.cli.exit_codes import ExitCode
from orchestrator.cli.help_format import HelpCommand
from orchestrator.events.safe_text import text

audit_app = typer.Typer(help="Check audit logs.", no_args_is_help=True, add_completion=False)


@audit_app.callback()
def audit() -> None:
    """Check audit logs."""


@audit_app.command(cls=HelpCommand)
def verify(
    file: Annotated[Path, typer.Argument(metavar="FILE", help="The audit log (JSON lines).")],
    json_output: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Verify FILE's hash chain. Exit 0 if intact, 1 if tampered, 2 if it cannot be read.

    Records removed from the end of the file cannot be seen: compare the count and the
    last hash with the run's summary.json (audit_records, audit_last_hash).

    \b
    Examples:
      airlock audit verify .airlock/runs/latest/events.jsonl
      airlock audit verify events.jsonl --json | jq .records
    """
    from orchestrator.events.audit import verify as verify_log

    with exit_on_failure(unreadable(file)):
        report = verify_log(file)
    if json_output:
        out.print_json(report.model_dump_json(), ensure_ascii=True)
    elif report.ok:
        last = f", last hash {report.last_hash}" if report.last_hash else ""
        out.print(
            text(
                ("ok", "green"),
                f" {file}: {report.records} records, chain intact{last} "
                "(records removed from the end cannot be seen: compare the count)",
            )
        )
    else:
        out.print(
            text(
                ("tampered", "bold red"),
                f" {file}: line {report.first_bad_line}: {report.problem or ''} "
                f"({report.records} records verified before it)",
            )
        )
    raise typer.Exit(ExitCode.OK if report.ok else ExitCode.TAMPERED)
