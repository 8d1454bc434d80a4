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
    image: Annotated[
        str | None,
        typer.Option(
            metavar="IMAGE",
            help="Check this image instead: can airlock run it, and what does it lack.",
        ),
    ] = None,
    runtime: Annotated[
        str,
        typer.Option(metavar="RUNTIME", help="With --image: the runtime to try (runc, runsc)."),
    ] = "runc",
) -> None:
    """Say what this machine has: engine, runtimes, images, seccomp. Exit 1 if a default lacks.

    Each registered runtime is tried with a real session of the default image: the exec
    path, the user, a file through /workspace, the tools airlock's file tools run, and
    coreutils stat (Debian's runsc answers its statx with EINVAL).

    A custom image should be built FROM airlock/dev. It needs /bin/sh, uid 1000 able to
    run its tools, python3 3.8 or newer for the fast exec channel (without it each
    command is a docker exec: tens of ms instead of about 2), and coreutils, findutils
    and ripgrep for the file tools. airlock mounts /workspace itself. --image says what
    an image lacks.

    \b
    Examples:
      airlock doctor
      airlock doctor --json | jq '.checks[] | select(.health != "ok")'
      airlock doctor --image my-team/agent --runtime runsc
    """
    from rich.table import Table

    from orchestrator.cli import doctor as doctor_module

    with exit_on_failure():
        if image is None:
            report = doctor_module.diagnose()
        else:
            report = doctor_module.diagnose_image(image, runtime)
        if json_output:
            out.print_json(report.model_dump_json(), ensure_ascii=True)
        else:
            title = (
                "airlock doctor" if image is None else f"airlock doctor --image {image} ({runtime})"
            )
            table = Table(title=title)
            for column in ("check", "", "detail", "to fix"):
                table.add_column(column)
            for check in report.checks:
                style = HEALTH_STYLE[check.health.value]
                health = f"[{style}]{check.health.value}[/]"
                table.add_row(check.name, health, check.detail, check.fix)
            out.print(table)
        raise typer.Exit(ExitCode.OK if report.healthy else ExitCode.FAILED)
