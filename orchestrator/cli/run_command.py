"""`airlock run`: its options, the live view, approvals at a TTY, the summary.

The agent loop, the runs and the sandbox load when a run starts, not when the command
line does.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.prompt import Confirm

from orchestrator.cli.consoles import err, out
from orchestrator.cli.egress_options import AllowHosts, Credentials
from orchestrator.cli.errors import RUN_FAILURES, UsageError, exit_on_failure
from orchestrator.cli.exit_codes import ExitCode
from orchestrator.cli.server_options import Server, Token
from orchestrator.events.safe_text import text

if TYPE_CHECKING:
    from orchestrator.gate.permission_gate import ApprovalRequest, Approver
    from orchestrator.runs.run import RunRequest, RunSummary


def run(
    task: Annotated[str, typer.Argument(metavar="TASK", help="What the agent should do.")],
    repo: Annotated[
        Path, typer.Option(metavar="DIR", help="The project; the agent works on a copy.")
    ],
    policy: Annotated[
        str | None,
        typer.Option(
            metavar="PRESET|FILE",
            help="Policy preset or YAML file. Default dev (as `exec`; `check`: read-only), or "
            "the project's .airlock/policy.yaml when it is trusted.",
        ),
    ] = None,
    model: Annotated[
        str | None,
        typer.Option(
            metavar="MODEL",
            help="The main agent's model (default claude-sonnet-4-6, or AIRLOCK_MODEL_MAIN).",
        ),
    ] = None,
    max_turns: Annotated[
        int, typer.Option(min=1, metavar="N", help="Stop after this many turns.")
    ] = 40,
    budget_usd: Annotated[
        float | None, typer.Option(min=0.0001, metavar="USD", help="Stop once this much is spent.")
    ] = None,
    budget_tokens: Annotated[
        int | None, typer.Option(min=1, metavar="N", help="Stop once this many tokens are used.")
    ] = None,
    timeout: Annotated[
        float, typer.Option(min=1, metavar="SECONDS", help="Wall-clock limit.")
    ] = 3600,
    context_window: Annotated[
        int,
        typer.Option(
            min=2000, metavar="TOKENS", help="Context window, tokens (smaller: compaction sooner)."
        ),
    ] = 200_000,
    replay: Annotated[
        Path | None,
        typer.Option(
            metavar="FILE", help="Serve a scripted conversation (YAML) instead of the API."
        ),
    ] = None,
    out_dir: Annotated[
        Path | None, typer.Option("--out", metavar="DIR", help="Where to write the run's files.")
    ] = None,
    image: Annotated[str, typer.Option(metavar="IMAGE", help="Sandbox image.")] = "airlock/dev",
    runtime: Annotated[
        str, typer.Option(metavar="RUNTIME", help="runc, or runsc for gVisor.")
    ] = "runc",
    trust: Annotated[
        bool, typer.Option(help="Trust the project: load its AGENTS.md and policy.")
    ] = False,
    plan: Annotated[
        bool, typer.Option(help="First have the plan model (AIRLOCK_MODEL_PLAN) write a plan.")
    ] = False,
    verify: Annotated[
        str | None,
        typer.Option(
            metavar="CMD",
            help="Success criterion: a command that must exit 0 in the final workspace "
            "(judged by the gate like any Bash call), e.g. --verify 'pytest -q'.",
        ),
    ] = None,
    verify_timeout: Annotated[
        float,
        typer.Option(min=1, metavar="SECONDS", help="How long the --verify command may take."),
    ] = 600,
    audit_key: Annotated[
        Path | None,
        typer.Option(
            metavar="KEYFILE",
            help="Sign every audit record with this key (`airlock audit keygen`); keep it "
            "out of the out folder.",
        ),
    ] = None,
    json_output: Annotated[
        bool,
        typer.Option(
            "--json",
            help="Print the summary as one JSON object on stdout (the live view goes to stderr).",
        ),
    ] = False,
    allow_host: AllowHosts = None,
    credential: Credentials = None,
    exclude: Annotated[
        list[str] | None,
        typer.Option(
            metavar="PATH",
            help="A path in --repo to leave out of the copy and the patch (repeatable). "
            "The run folders are always left out when they lie inside the repo.",
        ),
    ] = None,
    server: Server = None,
    token: Token = None,
) -> None:
    """Run an agent on TASK in a sandbox holding a copy of --repo; write the patch.

    However the run ends, --out gets events.jsonl (the audit log), patch.diff and
    summary.json. On a terminal a live line shows turns, tool calls, tokens and cost;
    in a log it stays quiet.

    \b
    Exit codes:
      0    finished, and --verify passed
      3    finished; no --verify was given
      4    --verify failed in the final workspace
      5    a turn, budget or wall-clock limit stopped it
      6    the gate refused the --verify command
      1    an infrastructure or API error
      64   usage error (arguments, policy, replay, repo)
      130  cancelled by Ctrl-C; 143 by SIGTERM; 129 by SIGHUP

    \b
    Examples:
      airlock run "make the tests pass" --repo . --verify "pytest -q" --budget-usd 2
      airlock run "fix the lint" --repo . --policy ci-untrusted --json > summary.json
      airlock run "fix it" --repo examples/calc --replay script.yaml --runtime runsc
      airlock run "update deps" --repo . --allow-host pypi.org --allow-host files.pythonhosted.org
      airlock run "open a PR" --repo . --allow-host api.github.com \\
          --credential GH_TOKEN=api.github.com
      AIRLOCK_TOKEN=... airlock run "fix it" --repo . --server http://ci-host:8700

    With --server the service runs it: the repo is uploaded, a preset policy only, and
    the audit log stays with the service.
    """
    from orchestrator.agent.context import ContextConfig
    from orchestrator.agent.loop import RunLimits
    from orchestrator.runs.run import RunRequest

    with exit_on_failure(*RUN_FAILURES):
        if audit_key is not None:
            check_audit_key(audit_key)
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
            exclude=exclude or [],
            allow_hosts=allow_host or [],
            credentials=credential or [],
            verify=verify,
            verify_timeout=verify_timeout,
            audit_key=audit_key,
        )
        view = err if json_output else out
        if server is not None:
            from orchestrator.cli.exec_command import check_remote
            from orchestrator.cli.remote_run import execute_remote_run

            check_remote(policy or "dev", token, trust=trust, plan=plan, credential=credential,
                         audit_key=audit_key, context_window=context_window != 200_000,
                         json=json_output)  # fmt: skip
            raise typer.Exit(execute_remote_run(server, str(token), request, view))
        summary = execute(request, view)
        print_summary(summary, view)
        if json_output:
            sys.stdout.write(summary.model_dump_json() + "\n")
        raise typer.Exit(exit_code_of(summary))


def check_audit_key(path: Path) -> None:
    """A key the run can sign with, or a usage error saying why not."""
    from orchestrator.events.audit import AuditError, load_key

    try:
        load_key(path)
    except AuditError as exc:
        raise UsageError(str(exc)) from None
    except OSError as exc:
        raise UsageError(f"--audit-key {path}: {exc.strerror or exc}") from None


def exit_code_of(summary: RunSummary) -> ExitCode:
    """The exit code of a finished run: one per outcome, for CI to branch on."""
    if summary.outcome == "cancelled":
        return ExitCode.INTERRUPTED
    if summary.outcome in ("max_turns", "budget", "timeout"):
        return ExitCode.LIMIT_REACHED
    if summary.outcome != "end_turn":
        return ExitCode.FAILED
    check = summary.verification
    if check is None:
        return ExitCode.UNVERIFIED
    if not check.allowed:
        return ExitCode.POLICY_REFUSED
    return ExitCode.OK if check.passed else ExitCode.VERIFY_FAILED


Confirm_ = Callable[..., bool]  # rich's Confirm.ask, or a stand-in that answers for a person


def tty_approver(
    console: Console,
    confirm: Confirm_ = Confirm.ask,
    before_asking: Callable[[], None] = lambda: None,
) -> Approver:
    """Ask the person at the terminal, one question at a time (``before_asking`` clears
    the way first: the live view's status line)."""
    import asyncio

    lock = asyncio.Lock()

    async def approve(request: ApprovalRequest) -> bool:
        async with lock:
            before_asking()
            console.print(text((f"approve {request.tool}?", "yellow"), " ", request.summary))
            for reason in request.reasons:
                console.print(text("  ", (f"- {reason}", "dim")))
            return bool(await asyncio.to_thread(confirm, "  run it", default=False))

    return approve


def execute(
    request: RunRequest,
    console: Console,
    *,
    interactive: bool | None = None,
    confirm: Confirm_ = Confirm.ask,
) -> RunSummary:
    """Run ``request`` with the live view; an interrupt cancels it cleanly.

    A person is asked (trust, approvals) only when ``interactive`` (default: standard
    input is a terminal) and the policy is not headless.
    """

    from orchestrator.agent.pricing import price_table
    from orchestrator.cli.signals import run_cancellable
    from orchestrator.events.bus import EventBus
    from orchestrator.events.render import TerminalRenderer
    from orchestrator.runs.run import load_project, run_task
    from sandbox import DockerBackend

    price_table()  # fail early (bad price file, repo or policy) before any container
    project = load_project(request)
    if interactive is None:
        interactive = sys.stdin.isatty()
    interactive = interactive and not project.policy.headless
    if request.replay is not None:
        console.print(f"[bold yellow]model: a replay of {request.replay} (no API is called)[/]")
    if project.ignored:
        names = ", ".join(project.ignored)
        question = text(
            (f"Trust {request.repo}?", "yellow"),
            f" Its {names} would be loaded (instructions and policy for the agent)",
        )
        if interactive and confirm(question, default=False):
            request = request.model_copy(update={"trust": True, "trusted_by": "person"})
        else:
            console.print(
                text(("untrusted project:", "yellow"), f" not loading {names} (--trust loads them)")
            )
    view = TerminalRenderer(console)
    approver = tty_approver(console, confirm, view.erase_status) if interactive else None
    bus = EventBus()
    bus.subscribe(view)
    try:
        return run_cancellable(run_task(request, bus, approver, backend=DockerBackend()))
    finally:
        view.close()


def print_summary(summary: RunSummary, console: Console) -> None:
    calls = ", ".join(f"{name} {count}" for name, count in sorted(summary.tool_calls.items()))
    verdicts = ", ".join(f"{d} {n}" for d, n in sorted(summary.verdicts.items()))
    console.print(
        text(
            (summary.outcome, "bold"),
            f" in {summary.turns} turns, {summary.duration_s:.1f} s · "
            f"tools: {calls or 'none'} · verdicts: {verdicts or 'none'} · "
            f"tokens {summary.input_tokens} in / {summary.output_tokens} out · "
            f"${summary.cost_usd:.4f} · {summary.files_changed} files changed",
        )
    )
    console.print(text((f"wrote {summary.out}/events.jsonl, patch.diff, summary.json", "dim")))
