"""The root app: every command group registered, and nothing heavy loaded to build it."""

from __future__ import annotations

import re
import subprocess
import sys

from typer.testing import CliRunner

from orchestrator.cli import app

COMMANDS = ["doctor", "run", "demo", "check", "exec", "sessions", "reap", "fuzz-diff", "prove"]
GROUPS = {
    "images": ["build", "list"],
    "audit": ["verify"],
    "bench": ["analyzer", "context", "sandbox"],
    "policy": ["lint", "explain"],
}


def _listed(args: list[str]) -> list[str]:
    """The command names `--help` lists, in its order."""
    result = CliRunner().invoke(app, [*args, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    box = result.stdout.split("Commands", 1)[1]
    return re.findall(r"^│ ([a-z][a-z-]*)\s", box, flags=re.MULTILINE)


def test_help_lists_every_command_and_group_in_order() -> None:
    assert _listed([]) == [*COMMANDS, *GROUPS]


def test_each_group_lists_its_commands() -> None:
    for group, commands in GROUPS.items():
        assert _listed([group]) == commands


def test_the_handler_and_the_commands_import_nothing_heavy() -> None:
    """`airlock check` must start fast: building the CLI and telling an exception
    apart load neither the analyzer, Docker, the sandbox nor the agent loop."""
    script = (
        "import sys\n"
        "from orchestrator.cli import app\n"
        "from orchestrator.cli.errors import exit_on_failure\n"
        "try:\n"
        "    with exit_on_failure():\n"
        "        raise ValueError('not in the table')\n"
        "except ValueError:\n"
        "    pass\n"
        "heavy = ('security', 'sandbox', 'docker', 'anthropic', 'pydantic', 'asyncio')\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy))\n"
        "print(sorted(m for m in sys.modules if m.startswith('orchestrator.')\n"
        "             and not m.startswith(('orchestrator.cli', 'orchestrator.events.safe_text'))\n"
        "             and m != 'orchestrator.events'))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True
    )
    assert result.stdout.splitlines() == ["[]", "[]"], result.stdout
