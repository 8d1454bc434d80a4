"""The root app: every command group registered, and nothing heavy loaded to build it."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from orchestrator.cli import app

COMMANDS = [
    "doctor", "run", "demo", "check", "exec", "sessions", "reap", "fuzz-diff", "prove", "serve",
]  # fmt: skip
GROUPS = {
    "images": ["build", "list"],
    "audit": ["verify", "keygen"],
    "bench": ["analyzer", "context", "sandbox", "egress", "service"],
    "policy": ["lint", "explain"],
    "token": ["create"],
}


def _listed(args: list[str]) -> list[str]:
    """The command names `--help` lists, in its order."""
    result = CliRunner().invoke(app, [*args, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    listing = result.stdout.split("\nCommands:\n", 1)[1].split("\n\n", 1)[0]
    return re.findall(r"^  ([a-z][a-z-]*)\s", listing, flags=re.MULTILINE)


def test_help_lists_every_command_and_group_in_order() -> None:
    assert _listed([]) == [*COMMANDS, *GROUPS]


def test_each_group_lists_its_commands() -> None:
    for group, commands in GROUPS.items():
        assert _listed([group]) == commands


LEAVES = [[c] for c in COMMANDS] + [[g, c] for g, cs in GROUPS.items() for c in cs]
PLACEHOLDER = re.compile(
    r"<(?:bool|str|int|float|path|file|list\[[^]]*\]|[a-z]+ range)>|\{[A-Z]+\}"
)


def _help(args: list[str]) -> str:
    result = CliRunner().invoke(app, [*args, "--help"], env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    return result.stdout


@pytest.mark.parametrize("args", LEAVES, ids=" ".join)
def test_every_help_names_values_by_metavar_and_shows_examples(args: list[str]) -> None:
    """No type placeholder (``<bool>``, ``<str>``, ``{TASK}``) on any flag or argument, and
    an example to copy, in every command's help."""
    text = _help(args)
    assert not PLACEHOLDER.search(text), PLACEHOLDER.findall(text)
    examples = text.split("Example", 1)[1].split("\n\n", 1)[0]
    assert f"airlock {' '.join(args)}" in examples
    assert "\x08" not in text  # the no-rewrap marker is consumed, never printed


def test_every_command_uses_the_plain_help_format() -> None:
    import typer

    from orchestrator.cli.help_format import HelpCommand

    def leaves(command: object) -> list[object]:
        children = getattr(command, "commands", None)
        if children is None:
            return [command]
        return [leaf for child in children.values() for leaf in leaves(child)]

    found = leaves(typer.main.get_command(app))
    assert len(found) == len(LEAVES)
    assert all(isinstance(command, HelpCommand) for command in found)


def test_help_keeps_lines_to_the_width_it_has() -> None:
    """A CI log is 80 columns when nothing says otherwise: option help wraps to it."""
    for args in LEAVES:
        options = _help(args).split("\nOptions:\n", 1)[1]
        assert max(len(line) for line in options.splitlines()) <= 80, args


@pytest.mark.parametrize(
    ("args", "codes"),
    [
        (
            [],
            [
                "0",
                "1",
                "2",
                "3",
                "4",
                "5",
                "6",
                "64",
                "65",
                "123",
                "124",
                "125",
                "126",
                "128 + N",
                "129",
                "130",
                "143",
            ],
        ),
        (["run"], ["0", "1", "3", "4", "5", "6", "64", "129", "130", "143"]),
        (["exec"], ["123", "124", "125", "126", "128+N", "64"]),
        (["check"], ["0", "1", "2", "64", "65"]),
    ],
    ids=lambda value: (
        " ".join(value) if isinstance(value, list) and value and not value[0].isdigit() else None
    ),
)
def test_help_holds_the_exit_code_table(args: list[str], codes: list[str]) -> None:
    table = _help(args).split("Exit codes", 1)[1].split("\n\n", 1)[0]
    listed = {line.strip().split("  ")[0] for line in table.splitlines()[1:] if line.strip()}
    listed |= set(re.findall(r"(\d+) by SIG", table))
    assert set(codes) <= listed, set(codes) - listed


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
