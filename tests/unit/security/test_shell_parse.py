"""Our bashlex driver (`_parse_parts`) reads every line exactly as `bashlex.parse` does."""

from __future__ import annotations

from typing import Any

import bashlex
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orchestrator.devtools.bench import corpus_commands
from security.bashlex_budget import StepBudget, budgeted
from security.shell import EmptyLine, _parse_parts


def _reading(parse: Any, text: str) -> tuple[str, ...] | str:
    """The trees' dumps, or the name of what was raised, and at which step."""
    budget = StepBudget.for_text(text)
    try:
        with budgeted(budget):
            return tuple(node.dump() for node in parse(text))
    except Exception as exc:
        return f"{type(exc).__name__} after {budget.spent} steps"


def _assert_same(text: str) -> None:
    """Both read the line alike, or fail alike: on the lines where bashlex loops
    forever, both run out of the same budget at the same step."""
    ours, theirs = _reading(_parse_parts, text), _reading(bashlex.parse, text)
    if isinstance(ours, str) and ours.startswith("EmptyLine"):
        # bashlex fails on an empty tree with an AttributeError
        assert isinstance(theirs, str) and theirs.startswith("AttributeError"), text
    else:
        assert ours == theirs, text


@pytest.mark.parametrize("text", corpus_commands())
def test_corpus_reads_the_same(text: str) -> None:
    _assert_same(text)


@pytest.mark.parametrize(
    "text",
    [
        "cat <<EOF\nx\nEOF\nls",
        "a <<A; b <<B\n1\nA\n2\nB\nc",
        "ls\n\nls\n",
        "echo 'a<<b'; ls",
        "x; # comment\ny",
    ],
)
def test_multi_part_and_heredoc_lines_read_the_same(text: str) -> None:
    _assert_same(text)


@pytest.mark.parametrize("text", ["", "   ", "# only a comment", "\n\n"])
def test_lines_without_a_command_are_empty(text: str) -> None:
    with pytest.raises(EmptyLine):
        _parse_parts(text)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(alphabet="ab <>|;&\n$(){}'\"\\#=-EOF", max_size=40))
def test_random_lines_read_the_same(text: str) -> None:
    _assert_same(text)
