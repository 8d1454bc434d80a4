"""The `airlock` command line."""

from __future__ import annotations

import sys
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Annotated

import typer
from pydantic import BaseModel
from rich.console import Console
from rich.table import Table

from orchestrator.cli import doctor as doctor_module
from orchestrator.cli.audit_command import audit_app
from orchestrator.events import safe_text
from sandbox import images as images_module
from sandbox.engine import EngineUnavailable, engine

app = typer.Typer(
    help="airlock: run AI agents in sandboxed containers.",
    no_args_is_help=True,
    add_completion=False,
)
images_app = typer.Typer(help="Build and inspect the sandbox images.", no_args_is_help=True)
app.add_typer(images_app, name="images")
app.add_typer(audit_app, name="audit")

out = Console()
err = Console(stderr=True, soft_wrap=True)  # an error line is never cut: scripts read paths in it

HEALTH_STYLE = {"ok": "green", "warn": "yellow", "fail": "bold red"}


def _version_callback(value: bool) -> None:
    if value:
        out.print(f"airlock {package_version('airlock')}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version_callback, is_eager=True, help="Print version."),
    ] = False,
) -> None:
    """airlock: run AI agents in sandboxed containers."""


@app.command()
def doctor(
    json_output: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Say what this machine has: engine, runtimes, images, seccomp. Exit 1 if a default lacks."""
    report = doctor_module.diagnose()
    if json_output:
        out.print_json(report.model_dump_json(), ensure_ascii=True)
    else:
        table = Table(title="airlock doctor")
        for column in ("check", "", "detail", "to fix"):
            table.add_column(column)
        for check in report.checks:
            style = HEALTH_STYLE[check.health.value]
            table.add_row(check.name, f"[{style}]{check.health.value}[/]", check.detail, check.fix)
        out.print(table)
    if not report.healthy:
        raise typer.Exit(1)


@images_app.command("build")
def images_build(
    names: Annotated[
        list[str] | None, typer.Argument(help="Images to build (default: all).")
    ] = None,
    force: Annotated[bool, typer.Option(help="Rebuild even if the recipe is unchanged.")] = False,
) -> None:
    """Build the images whose recipe changed (or that are missing)."""
    try:
        recipes = tuple(images_module.recipe_named(n) for n in names) if names else None
        with engine() as client:
            statuses = images_module.ensure(
                client,
                recipes or images_module.RECIPES,
                force=force,
                log=lambda line: err.print(safe_text.text(("images:", "dim"), f" {line}")),
            )
    except (EngineUnavailable, images_module.ImageBuildError) as exc:
        err.print(safe_text.error(exc))
        raise typer.Exit(1) from exc
    for status in statuses:
        err.print(f"[dim]images:[/] {status.tag} {status.state.value}")


@images_app.command("list")
def images_list() -> None:
    """Show each image, its recipe hash and whether it is current."""
    try:
        with engine() as client:
            statuses = [images_module.status(client, r) for r in images_module.RECIPES]
    except EngineUnavailable as exc:
        err.print(safe_text.error(exc))
        raise typer.Exit(1) from exc
    table = Table()
    for column in ("image", "recipe", "state", "size"):
        table.add_column(column)
    for s in statuses:
        size = f"{s.size_bytes / 1e6:.1f} MB" if s.size_bytes else ""
        table.add_row(s.name, s.recipe_hash, s.state.value, size)
    out.print(table)


@app.command()
def run(
    task: Annotated[str, typer.Argument(help="What the agent should do.")],
    repo: Annotated[Path, typer.Option(help="The project; the agent works on a copy.")],
    policy: Annotated[
        str | None, typer.Option(help="Policy preset or YAML file (default: dev).")
    ] = None,
    model: Annotated[
        str | None,
        typer.Option(
            help="The main agent's model (default claude-sonnet-4-6, or AIRLOCK_MODEL_MAIN)."
        ),
    ] = None,
    max_turns: Annotated[int, typer.Option(min=1, help="Stop after this many turns.")] = 40,
    budget_usd: Annotated[
        float | None, typer.Option(min=0.0001, help="Stop once this much is spent.")
    ] = None,
    budget_tokens: Annotated[
        int | None, typer.Option(min=1, help="Stop once this many tokens are used.")
    ] = None,
    timeout: Annotated[float, typer.Option(min=1, help="Wall-clock limit, seconds.")] = 3600,
    context_window: Annotated[
        int, typer.Option(min=2000, help="Context window, tokens (smaller: compaction sooner).")
    ] = 200_000,
    replay: Annotated[
        Path | None, typer.Option(help="Serve a scripted conversation (YAML) instead of the API.")
    ] = None,
    out_dir: Annotated[
        Path | None, typer.Option("--out", help="Where to write the run's files.")
    ] = None,
    image: Annotated[str, typer.Option(help="Sandbox image.")] = "airlock/dev",
    runtime: Annotated[str, typer.Option(help="runc, or runsc for gVisor.")] = "runc",
    trust: Annotated[
        bool, typer.Option(help="Trust the project: load its AGENTS.md and policy.")
    ] = False,
    plan: Annotated[
        bool, typer.Option(help="First have the plan model (AIRLOCK_MODEL_PLAN) write a plan.")
    ] = False,
) -> None:
    """Run an agent on TASK in a sandbox holding a copy of --repo; write the patch."""
    from pydantic import ValidationError

    from orchestrator.agent.context import ContextConfig
    from orchestrator.agent.loop import RunLimits
    from orchestrator.agent.pricing import PricingError
    from orchestrator.cli import run_command as run_cli
    from orchestrator.events.bus import SubscriberFailed
    from orchestrator.runs.run import RunError, RunRequest
    from orchestrator.testing.replay import ReplayError
    from sandbox import SandboxError

    try:
        request = RunRequest(
            task=task,
            repo=repo,
            policy=policy,
            model=model,
            limits=RunLimits(
                max_turns=max_turns,
                budget_usd=budget_usd,
                budget_tokens=budget_tokens,
                wall_clock_s=timeout,
            ),
            replay=replay,
            context=ContextConfig(window=context_window),
            out=out_dir,
            image=image,
            runtime=runtime,
            trust=trust,
            plan=plan,
        )
        summary = run_cli.execute(request, out)
    except (RunError, ReplayError, ValidationError, PricingError) as exc:
        err.print(safe_text.error(exc))
        raise typer.Exit(run_cli.USAGE_ERROR) from exc
    except (EngineUnavailable, SandboxError, SubscriberFailed) as exc:
        err.print(safe_text.error(exc))
        raise typer.Exit(1) from exc
    except KeyboardInterrupt:
        err.print("[yellow]cancelled[/]: the session's containers are removed")
        raise typer.Exit(130) from None
    run_cli.print_summary(summary, out)
    raise typer.Exit(0 if summary.outcome == "end_turn" else 1)


@app.command()
def demo() -> None:
    """The main job: an agent fixes a failing test in an example project, in sandboxes."""
    from orchestrator.devtools import demo as demo_module
    from orchestrator.devtools.package_data import PackageDataMissing
    from sandbox import SandboxError

    try:
        code = demo_module.run_demo(out)
    except (EngineUnavailable, SandboxError, PackageDataMissing) as exc:
        err.print(safe_text.error(exc))
        raise typer.Exit(1) from exc
    raise typer.Exit(code)


@app.command()
def check(
    command: Annotated[
        list[str] | None, typer.Argument(help="The command line to analyze (after --).")
    ] = None,
    policy: Annotated[
        str, typer.Option(help="Preset (read-only, dev, ci-untrusted) or a YAML file.")
    ] = "read-only",
    json_output: Annotated[bool, typer.Option("--json", help="Print the whole Verdict.")] = False,
    jsonl: Annotated[
        bool, typer.Option("--jsonl", help='Batch: read {"cmd": ...} lines on stdin.')
    ] = False,
) -> None:
    """Analyze a shell command: allow, ask or deny, and why. Exit 0/1/2 for allow/ask/deny."""
    from orchestrator.cli import check as check_module
    from security import Policy, PolicyError

    try:
        loaded = Policy.load(policy)
    except PolicyError as exc:
        err.print(safe_text.error(exc))
        raise typer.Exit(64) from exc
    if jsonl:
        if command:
            err.print("[red]error:[/] --jsonl reads commands from stdin; give no COMMAND")
            raise typer.Exit(64)
        raise typer.Exit(check_module.run_batch(sys.stdin, sys.stdout, loaded))
    if not command:
        err.print("[red]error:[/] give a command after --, or use --jsonl")
        raise typer.Exit(64)
    verdict = check_module.judge(" ".join(command), loaded)
    if json_output:
        sys.stdout.write(check_module.verdict_json(verdict) + "\n")
    else:
        check_module.render(verdict, out)
    raise typer.Exit(check_module.EXIT_CODES[verdict.decision])


bench_app = typer.Typer(help="Speed figures, measured against the raw tool.", no_args_is_help=True)
app.add_typer(bench_app, name="bench")


@bench_app.command("analyzer")
def bench_analyzer(
    repeat: Annotated[int, typer.Option(min=1, help="Rounds over the corpus.")] = 5,
    json_output: Annotated[bool, typer.Option("--json", help="One JSON object.")] = False,
) -> None:
    """analyze() over the corpus vs a bare bashlex.parse of the same commands."""
    from orchestrator.devtools import bench
    from orchestrator.devtools.package_data import PackageDataMissing

    try:
        commands = bench.corpus_commands()
    except PackageDataMissing as exc:
        err.print(safe_text.error(exc))
        raise typer.Exit(1) from exc
    err.print(f"[dim]bench:[/] {len(commands)} commands x {repeat} rounds")
    _print_figures(bench.bench_analyzer(commands, repeat), "analyzer", json_output)


@app.command("exec")
def exec_command(
    command: Annotated[list[str], typer.Argument(help="The command line to run (after --).")],
    image: Annotated[str, typer.Option(help="Sandbox image.")] = "airlock/dev",
    runtime: Annotated[str, typer.Option(help="runc, or runsc for gVisor.")] = "runc",
    policy: Annotated[str, typer.Option(help="Policy preset or YAML file.")] = "dev",
    timeout: Annotated[float | None, typer.Option(help="Seconds before it is killed.")] = None,
) -> None:
    """Analyze COMMAND, run it in a fresh sandbox, stream its output, exit with its code."""
    from orchestrator.cli import exec_command as exec_cli
    from sandbox import SandboxError
    from security import Policy, PolicyError

    if runtime not in ("runc", "runsc"):
        err.print(f"[red]error:[/] --runtime must be runc or runsc, not {runtime!r}")
        raise typer.Exit(64)
    try:
        loaded = Policy.load(policy)
    except PolicyError as exc:
        err.print(safe_text.error(exc))
        raise typer.Exit(64) from exc
    line = " ".join(command)
    try:
        code = exec_cli.execute(line, image, runtime, loaded, timeout)  # type: ignore[arg-type]
    except (EngineUnavailable, SandboxError) as exc:
        err.print(safe_text.error(exc))
        raise typer.Exit(exec_cli.SANDBOX_ERROR) from exc
    raise typer.Exit(code)


@app.command()
def sessions(
    json_output: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
) -> None:
    """List live sandbox sessions (containers labelled by airlock)."""
    from orchestrator.cli import exec_command as exec_cli

    rows = exec_cli.list_sessions()
    if json_output:
        for row in rows:
            sys.stdout.write(row.model_dump_json() + "\n")
        return
    table = Table()
    for column in ("container", "session", "image", "state", "owner", "age s", "expires in s"):
        table.add_column(column)
    for r in rows:
        cells = (r.container, r.session, r.image, r.state, r.owner_pid, r.age_s, r.expires_in_s)
        table.add_row(*(safe_text.text(str(cell)) for cell in cells))
    out.print(table)


@app.command()
def reap(
    dry_run: Annotated[bool, typer.Option(help="Only say what would go.")] = False,
) -> None:
    """Remove sessions whose owner process is gone or whose TTL passed."""
    from sandbox.reaper import reap as reap_leftovers

    with engine() as client:
        found = reap_leftovers(client, dry_run=dry_run)
    for item in found:
        if item.reason.startswith("kept"):
            verb = "kept"
        elif dry_run:
            verb = "would remove"
        else:
            verb = "removed" if item.removed else "could not remove"
        out.print(
            safe_text.text(
                f"{verb} {item.container_id[:12]} (session {item.session}): {item.reason}"
            )
        )
    if not found:
        out.print("nothing to reap")


@bench_app.command("context")
def bench_context(
    tool_calls: Annotated[int, typer.Option(min=10, help="Bash calls in the session.")] = 200,
    window: Annotated[int, typer.Option(min=10_000, help="Context window, tokens.")] = 40_000,
    json_output: Annotated[bool, typer.Option("--json", help="One JSON object.")] = False,
) -> None:
    """Tokens a long scripted session sends with and without compaction."""
    from orchestrator.devtools import bench_context as module

    err.print(f"[dim]bench:[/] {tool_calls} tool calls, twice (window {window}, and unbounded)")
    _print_figures(module.bench_context(tool_calls, window), "context", json_output)


@bench_app.command("sandbox")
def bench_sandbox(
    runtime: Annotated[str, typer.Option(help="runc or runsc.")] = "runc",
    runs: Annotated[int, typer.Option(min=10, help="Execs of `true` per path.")] = 200,
    starts: Annotated[int, typer.Option(min=2, help="Session starts to time.")] = 10,
    json_output: Annotated[bool, typer.Option("--json", help="One JSON object.")] = False,
) -> None:
    """The exec agent vs `docker exec`, session start vs a bare `docker run`."""
    from orchestrator.devtools import bench

    _print_figures(bench.bench_sandbox(runtime, runs, starts), f"sandbox ({runtime})", json_output)


def _print_figures(figures: BaseModel, title: str, json_output: bool) -> None:
    """A benchmark's figures as one JSON object, or as a two-column table."""
    if json_output:
        sys.stdout.write(figures.model_dump_json() + "\n")
        return
    table = Table(title=title)
    table.add_column("figure")
    table.add_column("value", justify="right")
    for name, value in figures.model_dump().items():
        table.add_row(name, str(value))
    out.print(table)


FINDINGS_HELP = (
    "Folder for new findings (default: tests/corpus/regressions/pending/ of the source "
    "checkout; installed: .airlock/regressions/pending/ here)."
)


@app.command("fuzz-diff")
def fuzz_diff(
    seconds: Annotated[
        float, typer.Option(envvar="FUZZ_DIFF_SECONDS", min=1, help="How long to fuzz.")
    ] = 120,
    count: Annotated[
        int | None, typer.Option(min=1, help="Stop after this many commands, not a time.")
    ] = None,
    seed: Annotated[
        int | None, typer.Option(envvar="FUZZ_DIFF_SEED", help="Generator seed (default: new).")
    ] = None,
    shrink: Annotated[bool, typer.Option(help="Shrink violating commands first.")] = True,
    save: Annotated[bool, typer.Option(help="Save new findings (see --findings).")] = True,
    findings: Annotated[Path | None, typer.Option(help=FINDINGS_HELP)] = None,
    json_output: Annotated[bool, typer.Option("--json", help="One JSON object.")] = False,
) -> None:
    """Run what the read-only analyzer allows in a traced oracle sandbox; exit 1 on a violation."""
    import asyncio
    import random

    from orchestrator.devtools.prove import diff_fuzz

    seed = random.SystemRandom().randrange(2**32) if seed is None else seed
    err.print(f"fuzz-diff: seed {seed}, " + (f"{count} commands" if count else f"{seconds:g} s"))
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
    raise typer.Exit(1 if report.violating_commands else 0)


@app.command()
def prove(
    sessions: Annotated[int, typer.Option(min=1, help="Load: sessions at once.")] = 50,
    commands: Annotated[int, typer.Option(min=1, help="Load: commands per session.")] = 100,
    fuzz_seconds: Annotated[
        float, typer.Option(min=0, help="Differential execution budget (0: skip).")
    ] = 120,
    seed: Annotated[int, typer.Option(help="Seed of the differential fuzzer.")] = 1,
    findings: Annotated[Path | None, typer.Option(help=FINDINGS_HELP)] = None,
    engine_restart: Annotated[
        bool, typer.Option(help="Faults: restart this machine's dockerd mid-session (root).")
    ] = True,
    json_output: Annotated[bool, typer.Option("--json", help="One JSON object.")] = False,
) -> None:
    """Attack airlock: escape, load, fault and fuzz suites; one table; exit 1 unless clean."""
    from orchestrator.devtools.prove import report as prove_report

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
    raise typer.Exit(0 if result.clean else 1)
