"""`airlock bench analyzer|context|sandbox|egress|service`: speed figures against the raw
tool."""

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


@bench_app.command("egress", cls=HelpCommand)
def bench_egress(
    runtime: Annotated[str, typer.Option(metavar="RUNTIME", help="runc or runsc.")] = "runc",
    mb: Annotated[
        float, typer.Option(min=0.001, metavar="MB", help="Size of the download, in MB.")
    ] = 100.0,
    requests: Annotated[
        int, typer.Option(min=1, metavar="N", help="Small requests to time on each path.")
    ] = 200,
    burst: Annotated[
        int, typer.Option(min=1, max=200, metavar="N", help="Requests of 1 MiB at once.")
    ] = 50,
    transport: Annotated[
        str,
        typer.Option(
            metavar="auto|socket|channel",
            help="How the session reaches its proxy: the mounted Unix socket, the exec "
            "channel, or auto (the socket where it works).",
        ),
    ] = "auto",
    json_output: Annotated[bool, typer.Option("--json", help="One JSON object.")] = False,
) -> None:
    """A session's egress proxy vs the same traffic direct on the host's loopback.

    One upstream on 127.0.0.1, the same clients on both paths (curl for the download,
    a Python urllib client for the rest), timed inside the client: download rate,
    added latency per request, a burst of connections at once, and the issue's
    targets (proxied >= 0.5 of direct throughput, <= 2 ms added at p50).

    \b
    Examples:
      airlock bench egress
      airlock bench egress --runtime runsc --mb 20 --requests 100 --json
      airlock bench egress --transport channel --json
    """
    from orchestrator.devtools import bench_egress as module

    if transport not in ("auto", "socket", "channel"):
        raise typer.BadParameter(
            f"{transport!r} is not auto, socket or channel", param_hint="--transport"
        )
    with exit_on_failure():
        config = module.BenchConfig(mb=mb, requests=requests, burst=burst)
        err.print(
            f"[dim]bench:[/] {config.download_bytes / module.MB:g} MB x "
            f"{module.DOWNLOAD_ROUNDS}, {requests} requests, a burst of {burst}, "
            f"through a session's proxy ({runtime}) and direct"
        )
        figures = module.bench_egress(runtime, config, transport)
        _print_figures(figures, f"egress ({runtime}, {figures.transport})", json_output)


@bench_app.command("service", cls=HelpCommand)
def bench_service(
    samples: Annotated[
        int, typer.Option(min=2, metavar="N", help="Exec round trips per path.")
    ] = 200,
    creates: Annotated[int, typer.Option(min=1, metavar="N", help="Session creates to time.")] = 20,
    streams: Annotated[
        int, typer.Option(min=1, metavar="N", help="Concurrent SSE readers of one exec.")
    ] = 200,
    stream_mb: Annotated[
        float, typer.Option(min=0.001, metavar="MB", help="Output of the exec they read.")
    ] = 2.0,
    max_sessions: Annotated[
        int, typer.Option(min=1, metavar="N", help="The service's capacity (overload: 5x).")
    ] = 8,
    warm: Annotated[int, typer.Option(min=1, metavar="N", help="Its warm pool.")] = 2,
    json_output: Annotated[bool, typer.Option("--json", help="One JSON object.")] = False,
) -> None:
    """`airlock serve` on loopback vs the same exec in-process, in one run.

    It starts its own service (a free port on 127.0.0.1, a temporary --data, a token
    from `airlock token create`) and measures: an exec round trip over HTTP+SSE (with
    AirlockClient, and with a lean http.client one) and in-process (the target: HTTP
    adds <= 1.5 ms p50), session create from the warm pool (<= 20 ms p50), concurrent
    SSE streams of one exec's output, and 5x the capacity of creates at once (only 201
    or 429). The service and every container are gone after, Ctrl-C included.

    \b
    Examples:
      airlock bench service
      airlock bench service --samples 50 --streams 20 --json
    """
    from orchestrator.devtools import bench_service as module

    with exit_on_failure():
        config = module.ServiceBenchConfig(samples=samples, creates=creates, streams=streams,
                                           stream_mb=stream_mb, max_sessions=max_sessions,
                                           warm=warm)  # fmt: skip
        figures = module.bench_service(config, lambda line: err.print(f"[dim]bench:[/] {line}"))
        _print_figures(figures, "service (runc, loopback)", json_output)


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
