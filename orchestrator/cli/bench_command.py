"""`airlock bench analyzer|context|sandbox`: speed figures against the raw tool."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated

import typer

from orchestrator.cli.consoles import err, out
from orchestrator.cli.errors import exit_on_failure
from orchestrator.cli.help_format import HelpCommand

if TYPE_CHECKING:
    from pydantic import BaseModel

bench_app = typer.Typer(help="Speed figures, measured against the raw tool.", no_args_is_help=True)


@bench_app.command("analyzer", cls=HelpCommand)
def bench_analyzer(
    repeat: Annotated[int, typer.Option(min=1, metavar="N", help="Rounds over the corpus.")] = 5,
    json_output: Annotated[bool, typer.Option("--json", help="One JSON object.")] = False,
) -> None:
    """analyze() over the corpus vs a bare bashlex.parse of the same commands.

    \b
    Examples:
      airlock bench analyzer
      airlock bench analyzer --repeat 9 --json
    """
    from orchestrator.devtools import bench

    with exit_on_failure():
        commands = bench.corpus_commands()
        err.print(f"[dim]bench:[/] {len(commands)} commands x {repeat} rounds")
        _print_figures(bench.bench_analyzer(commands, repeat), "analyzer", json_output)


@bench_app.command("context", cls=HelpCommand)
def bench_context(
    tool_calls: Annotated[
        int, typer.Option(min=10, metavar="N", help="Bash calls in the session.")
    ] = 200,
    window: Annotated[
        int, typer.Option(min=10_000, metavar="TOKENS", help="Context window.")
    ] = 40_000,
    json_output: Annotated[bool, typer.Option("--json", help="One JSON object.")] = False,
) -> None:
    """Tokens a long scripted session sends with and without compaction.

    \b
    Examples:
      airlock bench context
      airlock bench context --tool-calls 400 --json
    """
    from orchestrator.devtools import bench_context as module

    with exit_on_failure():
        err.print(f"[dim]bench:[/] {tool_calls} tool calls, twice (window {window}, and unbounded)")
        _print_figures(module.bench_context(tool_calls, window), "context", json_output)


@bench_app.command("sandbox", cls=HelpCommand)
def bench_sandbox(
    runtime: Annotated[str, typer.Option(metavar="RUNTIME", help="runc or runsc.")] = "runc",
    runs: Annotated[int, typer.Option(min=10, metavar="N", help="Execs of `true` per path.")] = 200,
    starts: Annotated[int, typer.Option(min=2, metavar="N", help="Session starts to time.")] = 10,
    json_output: Annotated[bool, typer.Option("--json", help="One JSON object.")] = False,
) -> None:
    """The exec agent vs `docker exec`, session start vs a bare `docker run`.

    \b
    Examples:
      airlock bench sandbox
      airlock bench sandbox --runtime runsc --runs 100 --json
    """
    from orchestrator.devtools import bench

    with exit_on_failure():
        figures = bench.bench_sandbox(runtime, runs, starts)
        _print_figures(figures, f"sandbox ({runtime})", json_output)


def _print_figures(figures: BaseModel, title: str, json_output: bool) -> None:
    """A benchmark's figures as one JSON object, or as a two-column table."""
    from rich.table import Table

    if json_output:
        sys.stdout.write(figures.model_dump_json() + "\n")
        return
    table = Table(title=title)
    table.add_column("figure")
    table.add_column("value", justify="right")
    for name, value in figures.model_dump().items():
        table.add_row(name, str(value))
    out.print(table)
