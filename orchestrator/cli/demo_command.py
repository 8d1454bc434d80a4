"""`airlock demo`: the main job, end to end (the demo itself: `orchestrator.devtools.demo`)."""

from __future__ import annotations

import typer

from orchestrator.cli.consoles import out
from orchestrator.cli.errors import RUN_FAILURES, exit_on_failure
from orchestrator.cli.exit_codes import ExitCode


def demo() -> None:
    """The main job: an agent fixes a failing test in an example project, in sandboxes.

    Replays a scripted conversation (no API key needed) and writes the run's folder.

    \b
    Example:
      airlock demo
    """
    from orchestrator.devtools import demo as demo_module

    with exit_on_failure(*RUN_FAILURES):
        raise typer.Exit(ExitCode(demo_module.run_demo(out)))
