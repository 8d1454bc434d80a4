"""`airlock audit verify`: check a session's audit log from the command line."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from orchestrator.cli.consoles import out
from orchestrator.cli.errors import UsageError, exit_on_failure, unreadable
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
    key: Annotated[
        Path | None,
        typer.Option(metavar="KEYFILE", help="Also check every record's MAC with this key."),
    ] = None,
) -> None:
    """Verify FILE's hash chain. Exit 0 if intact, 1 if tampered, 2 if it cannot be read.

    With --key, every record must also carry a MAC made with that key (a signed log):
    rewriting the file then needs the key. Records removed from the end of the file
    cannot be seen: compare the count and the last hash with the run's summary.json
    (audit_records, audit_last_hash).

    \b
    Examples:
      airlock audit verify .airlock/runs/latest/events.jsonl
      airlock audit verify events.jsonl --json | jq .records
      airlock audit verify events.jsonl --key /etc/airlock/audit.key
    """
    from orchestrator.events.audit import AuditError, load_key
    from orchestrator.events.audit import verify as verify_log

    secret = None
    if key is not None:
        with exit_on_failure(unreadable(key)):
            try:
                secret = load_key(key)
            except AuditError as exc:
                raise UsageError(str(exc)) from None
    with exit_on_failure(unreadable(file)):
        report = verify_log(file, secret)
    if json_output:
        out.print_json(report.model_dump_json(), ensure_ascii=True)
    elif report.ok:
        last = f", last hash {report.last_hash}" if report.last_hash else ""
        out.print(
            text(
                ("ok", "green"),
                f" {file}: {report.records} records, chain intact"
                f"{', every record signed with the key' if report.signed else ''}{last} "
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


@audit_app.command(cls=HelpCommand)
def keygen(
    file: Annotated[Path, typer.Argument(metavar="KEYFILE", help="Where to write the key.")],
) -> None:
    """Write a new signing key to KEYFILE (mode 0600; never over an existing file).

    Keep it away from the logs it signs: whoever can rewrite a log and read its key
    can forge it.

    \b
    Examples:
      airlock audit keygen /etc/airlock/audit.key
    """
    from orchestrator.events.audit import new_key

    with exit_on_failure():
        try:
            new_key(file)
        except FileExistsError:
            raise UsageError(f"{file} exists: a key is never overwritten") from None
        except OSError as exc:
            raise UsageError(f"cannot write {file}: {exc.strerror or exc}") from None
    out.print(f"wrote a new key to {file}")
