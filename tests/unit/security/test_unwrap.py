"""What wrappers run: written commands, unwrapped ones, and programs run unwritten."""

from __future__ import annotations

import pytest

from security import Decision, analyze
from security.policy import PRESETS


@pytest.mark.parametrize("line", ["xargs", "ls | xargs", "ls | xargs -0 -n1", "xargs -r"])
def test_bare_xargs_lists_the_echo_it_runs(line: str) -> None:
    verdict = analyze(line, PRESETS["read-only"])
    assert verdict.commands[-1] == ["echo"]
    assert verdict.decision is Decision.ALLOW


def test_xargs_with_a_command_lists_that_command_not_echo() -> None:
    verdict = analyze("ls | xargs wc -l", PRESETS["read-only"])
    assert verdict.commands == [["ls"], ["xargs", "wc", "-l"], ["wc", "-l"]]


def test_xargs_with_an_unknown_option_is_not_read_as_running_echo() -> None:
    verdict = analyze("ls | xargs --frobnicate", PRESETS["read-only"])
    assert ["echo"] not in verdict.commands
    assert verdict.decision is not Decision.ALLOW


@pytest.mark.parametrize("line", ["command -v ls", "command -pv ls", "command -V ls"])
def test_command_v_is_a_lookup_that_runs_nothing(line: str) -> None:
    assert analyze(line, PRESETS["read-only"]).commands == [line.split()]


def test_an_option_of_the_command_run_is_not_taken_for_command_v() -> None:
    """`command test -v 'a[$(id)]'` runs test, whose -v evaluates the subscript (found
    by differential execution: tests/corpus/regressions/differential-ae17bb0a87.json)."""
    verdict = analyze("command test -v 'a[$(id)]'", PRESETS["read-only"])
    assert ["test", "-v", "a[$(id)]"] in verdict.commands
    assert verdict.decision is not Decision.ALLOW
