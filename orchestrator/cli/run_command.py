"""The terminal side of `airlock run`: the live view, approvals at a TTY, the summary."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable

from rich.console import Console
from rich.prompt import Confirm

from orchestrator.agent.pricing import price_table
from orchestrator.events.bus import EventBus
from orchestrator.events.render import TerminalRenderer
from orchestrator.events.safe_text import text
from orchestrator.gate.permission_gate import ApprovalRequest, Approver
from orchestrator.runs.run import RunRequest, RunSummary, load_project, run_task
from sandbox import DockerBackend

USAGE_ERROR = 64


Confirm_ = Callable[..., bool]  # rich's Confirm.ask, or a stand-in that answers for a person


def tty_approver(console: Console, confirm: Confirm_ = Confirm.ask) -> Approver:
    """Ask the person at the terminal, one question at a time."""
    lock = asyncio.Lock()

    async def approve(request: ApprovalRequest) -> bool:
        async with lock:
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
    approver = tty_approver(console, confirm) if interactive else None
    bus = EventBus()
    bus.subscribe(TerminalRenderer(console))
    return asyncio.run(run_task(request, bus, approver, backend=DockerBackend()))


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
