"""The exit codes are a contract scripts rely on: one enum, the numbers fixed, the README
and the enum's own table saying the same, and no command exiting with a bare number."""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from pathlib import Path

import pytest

from orchestrator.cli import exit_codes
from orchestrator.cli.exec_command import exit_code_of
from orchestrator.cli.exit_codes import ExitCode
from sandbox import ExecExit

ROOT = Path(__file__).resolve().parents[4]
CLI = ROOT / "orchestrator" / "cli"

# The contract, written out by hand: a change here is a change scripts will see.
CONTRACT = {
    "OK": 0,
    "ALLOW": 0,  # check
    "FAILED": 1,  # run, demo, doctor, prove, fuzz-diff; engine and sandbox errors
    "ASK": 1,  # check
    "TAMPERED": 1,  # audit verify
    "DENY": 2,  # check
    "UNREADABLE": 2,  # audit verify
    "UNVERIFIED": 3,  # run
    "VERIFY_FAILED": 4,  # run
    "LIMIT_REACHED": 5,  # run
    "POLICY_REFUSED": 6,  # run
    "USAGE": 64,
    "BATCH_BAD_INPUT": 65,  # check --jsonl
    "OUTPUT_TRUNCATED": 123,  # exec --max-output
    "TIMED_OUT": 124,  # exec
    "SANDBOX_ERROR": 125,  # exec
    "REFUSED": 126,  # exec
    "SIGNALLED": 128,  # exec: 128 + N
    "HUNG_UP": 129,  # run: SIGHUP
    "INTERRUPTED": 130,
    "TERMINATED": 143,  # run: SIGTERM
}


def test_every_exit_code_has_its_contract_number() -> None:
    assert {name: int(code) for name, code in ExitCode.__members__.items()} == CONTRACT


def _table(lines: list[str]) -> dict[int, set[str]]:
    """{code: names} from a table whose rows start ``| code | names |`` (a row with an
    empty code cell continues the one above)."""
    table: dict[int, set[str]] = defaultdict(set)
    for line in lines:
        match = re.match(r"\|\s*(\d+)(?:\s*\+\s*N)?\s*\|([^|]*)\|", line)
        if match:
            names = re.sub(r"[`]|\+ N", "", match.group(2))
            table[int(match.group(1))] |= {n.strip() for n in names.split(",") if n.strip()}
    return dict(table)


def _by_code() -> dict[int, set[str]]:
    codes: dict[int, set[str]] = defaultdict(set)
    for name, code in ExitCode.__members__.items():
        codes[int(code)].add(name)
    return dict(codes)


def test_the_readme_table_is_the_enum() -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("### Exit codes", 1)[1].split("\n#", 1)[0]
    assert _table(section.splitlines()) == _by_code()


def test_the_modules_own_table_is_the_enum() -> None:
    assert exit_codes.__doc__ is not None
    assert _table(exit_codes.__doc__.splitlines()) == _by_code()


def _exit_calls(tree: ast.AST) -> list[ast.Call]:
    return [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and (getattr(node.func, "attr", None) or getattr(node.func, "id", None)) == "Exit"
    ]


@pytest.mark.parametrize("module", sorted(CLI.glob("*.py")), ids=lambda p: p.name)
def test_no_command_exits_with_a_bare_number(module: Path) -> None:
    """A literal in typer.Exit(...) or in an exit-code return bypasses the one table."""
    tree = ast.parse(module.read_text())
    for call in _exit_calls(tree):
        for arg in ast.walk(call):
            assert not (isinstance(arg, ast.Constant) and isinstance(arg.value, int)), (
                f"{module.name}:{call.lineno}: typer.Exit with a literal"
            )
    for node in ast.walk(tree):
        if isinstance(node, ast.Return) and isinstance(node.value, ast.Constant):
            assert not isinstance(node.value.value, int) or isinstance(node.value.value, bool), (
                f"{module.name}:{node.lineno}: returns a bare exit code"
            )


@pytest.mark.parametrize(
    ("final", "code"),
    [
        (ExecExit(exit_code=0), 0),
        (ExecExit(exit_code=7), 7),  # the command's own
        (ExecExit(exit_code=None, signal=9), 137),
        (ExecExit(exit_code=None, signal=15), 143),
        (ExecExit(exit_code=None, timed_out=True), 124),
        (ExecExit(exit_code=None, timed_out=True, error="killed"), 124),
        (ExecExit(exit_code=None, error="the session's container stopped"), 125),
        (ExecExit(exit_code=None), 125),  # neither a code nor a signal: not trusted as 0
        (ExecExit(exit_code=None, signal=9, oom_killed=True), 137),
        (ExecExit(exit_code=None, error="sandbox lost: out of memory", oom_killed=True), 137),
        (ExecExit(exit_code=0, stdout_truncated=True), 123),  # a cut is never silent
        (ExecExit(exit_code=7, stderr_truncated=True), 123),  # stderr says it exited 7
        (ExecExit(exit_code=None, signal=15, stdout_truncated=True), 143),
        (ExecExit(exit_code=None, timed_out=True, stdout_truncated=True), 124),
    ],
)
def test_exec_maps_how_a_command_ended_to_the_shells_codes(final: ExecExit, code: int) -> None:
    assert exit_code_of(final) == code
