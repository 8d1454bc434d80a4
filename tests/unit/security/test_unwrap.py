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
