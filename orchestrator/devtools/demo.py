"""`airlock demo`: the main job, an agent fixing a failing test in the example project.

The project (``examples/calc/``) and the replay (``examples/replays/demo.yaml``) ship in
this package (`package_data.examples_dir`), so an installed airlock runs the demo too.

The model's side is a replay (no API is reachable here) served through a local fake
of the Messages API, so the real SDK, the loop, the gate, the analyzer and the
sandboxes all run for real: the agent reads the code, runs the tests, asks a
sub-agent to find the bug, has a dangerous command refused, edits, and runs the
tests green. The demo then prints the patch and the summary.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console
from rich.syntax import Syntax

from orchestrator.cli import run_command as run_cli
from orchestrator.devtools.package_data import examples_dir
from orchestrator.events.safe_text import visible
from orchestrator.runs.run import RUNS_DIR, RunRequest

TASK = "Make the failing tests in this project pass."


def run_demo(console: Console) -> int:
    """Run the demo task; 0 when the agent finished and changed what it should."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    examples = examples_dir()
    request = RunRequest(
        task=TASK,
        repo=examples / "calc",
        replay=examples / "replays" / "demo.yaml",
        out=RUNS_DIR / f"demo-{stamp}",
    )
    summary = run_cli.execute(request, console)
    console.rule("patch.diff")
    patch = (Path(summary.out) / "patch.diff").read_text()
    console.print(Syntax(visible(patch) or "(no changes)", "diff", theme="ansi_dark"))
    console.rule("summary.json")
    console.print_json((Path(summary.out) / "summary.json").read_text(), ensure_ascii=True)
    run_cli.print_summary(summary, console)
    return 0 if summary.outcome == "end_turn" and summary.files_changed else 1
