"""The `airlock` command line: the root app, and each command group registered on it.

Each group lives in its own module (``<group>_command.py``). Those modules import only
typer and rich at the top; a command imports what it needs when it runs, so `airlock
check` loads the analyzer and not Docker or the agent loop. Exit codes: `exit_codes`;
errors: the one handler in `errors`.
"""

from __future__ import annotations

from typing import Annotated

import typer

from orchestrator.cli import (
    audit_command,
    bench_command,
    check_command,
    demo_command,
    doctor_command,
    exec_command,
    images_command,
    policy_command,
    prove_command,
    run_command,
    serve_command,
    sessions_command,
    token_command,
)
from orchestrator.cli.consoles import out
from orchestrator.cli.exit_codes import ExitCode, help_table
from orchestrator.cli.help_format import HelpCommand

app = typer.Typer(
    help="airlock: run AI agents in sandboxed containers.",
    no_args_is_help=True,
    add_completion=False,
    # Plain click help: it reads the same in a terminal and in a CI log, rewraps each
    # paragraph to the width it has, keeps `\b` blocks (examples) as written, and shows
    # each option's metavar (never a type placeholder such as <bool>).
    rich_markup_mode=None,
    epilog=help_table(),
)


def _usage_errors_exit_64() -> None:
    """click (inside typer) exits 2 on a usage error, which is `check`'s code for deny:
    make it EX_USAGE, 64. Its UsageError is found through typer's public BadParameter,
    which derives from it, since typer ships its own copy of click."""
    for kind in typer.BadParameter.__mro__:
        if kind.__name__ == "UsageError":
            kind.exit_code = ExitCode.USAGE  # type: ignore[attr-defined]


_usage_errors_exit_64()


def _version_callback(value: bool) -> None:
    if value:
        from importlib.metadata import version as package_version

        out.print(f"airlock {package_version('airlock')}")
        raise typer.Exit(ExitCode.OK)


@app.callback()
def main(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version_callback, is_eager=True, help="Print version."),
    ] = False,
) -> None:
    """airlock: run AI agents in sandboxed containers."""


app.command("doctor", cls=HelpCommand)(doctor_command.doctor)
app.command("run", cls=HelpCommand)(run_command.run)
app.command("demo", cls=HelpCommand)(demo_command.demo)
app.command("check", cls=HelpCommand)(check_command.check)
app.command("exec", cls=HelpCommand)(exec_command.exec_)
app.command("sessions", cls=HelpCommand)(sessions_command.sessions)
app.command("reap", cls=HelpCommand)(sessions_command.reap)
app.command("fuzz-diff", cls=HelpCommand)(prove_command.fuzz_diff)
app.command("prove", cls=HelpCommand)(prove_command.prove)
app.command("serve", cls=HelpCommand)(serve_command.serve)
app.add_typer(images_command.images_app, name="images")
app.add_typer(audit_command.audit_app, name="audit")
app.add_typer(bench_command.bench_app, name="bench")
app.add_typer(policy_command.policy_app, name="policy")
app.add_typer(token_command.token_app, name="token")
