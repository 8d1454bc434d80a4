"""Our bashlex driver (`_parse_parts`) reads every line exactly as `bashlex.parse` does."""

from __future__ import annotations

import copy
from typing import Any

import bashlex
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orchestrator.bench import corpus_commands
from security.shell import _LOOPING_BRACE, EmptyLine, _parse_parts, fresh_lr_parser
from security.watchdog import BudgetExceeded, time_budget


def _reading(parse: Any, text: str) -> tuple[str, ...] | str:
    """The trees' dumps, or the name of what was raised."""
    try:
        with time_budget(0.5):
            return tuple(node.dump() for node in parse(text))
    except BudgetExceeded:
        return "budget"
    except Exception as exc:
        return type(exc).__name__


def _assert_same(text: str) -> None:
    if _LOOPING_BRACE.search(text):
        return  # bashlex never returns on these; the analyzer refuses them before parsing
    ours, theirs = _reading(_parse_parts, text), _reading(bashlex.parse, text)
    if ours == "EmptyLine":  # bashlex fails on an empty tree with an AttributeError
        assert theirs == "AttributeError", text
    elif "budget" not in (ours, theirs):
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


def test_the_lr_parser_copy_is_what_copy_copy_makes() -> None:
    tables = bashlex.parser.yaccparser
    kind = type(tables)
    # copy.copy of a plain object: a new instance holding the same attribute values
    assert kind.__reduce_ex__ is object.__reduce_ex__
    assert not hasattr(kind, "__copy__") and not hasattr(kind, "__slots__")
    ours, theirs = fresh_lr_parser(), copy.copy(tables)
    assert type(ours) is type(theirs) is kind
    assert ours is not tables and vars(ours) == vars(theirs)
    assert all(vars(ours)[k] is v for k, v in vars(tables).items())
