"""tree-sitter's readings (the cross-check and the fallback) are bounded by counts."""

from __future__ import annotations

from typing import Any

import pytest
from tree_sitter import Node

from orchestrator.devtools.bench import corpus_commands
from security import Decision, analyze, differential, fallback
from security.checks.text import MAX_LINE_CHARS
from security.differential import (
    _PARSER,
    MAX_TREE_NODES,
    TreeTooLarge,
    disagreement,
    tame,
    treesitter_shapes,
)
from security.fallback import fallback_commands
from security.shell import parse_line


def nested_substitutions(levels: int) -> str:
    return "echo " + "$(a " * levels + ")" * levels


def node_count(line: str) -> int:
    stack, count = [_PARSER.parse(tame(line).encode()).root_node], 0
    while stack:
        node = stack.pop()
        count += 1
        stack.extend(node.children)
    return count


@pytest.mark.parametrize(
    "line",
    [
        ";".join(["a"] * 8192),
        "|".join(["a"] * 8192),
        "echo " + '"' + "$a" * 8000 + '"',
        ";".join(["(a)"] * 4096),
        "ls " + " ".join(f"f{i:04d}.c" for i in range(2000)),
    ],
    ids=["a;a", "a|a", "dq $a", "(a);", "ls 2000"],
)
def test_the_longest_lines_stay_far_below_the_node_bound(line: str) -> None:
    assert len(line) <= MAX_LINE_CHARS
    assert node_count(line) * 3 < MAX_TREE_NODES


def test_the_node_bound_is_eight_per_character_of_the_longest_line() -> None:
    assert MAX_TREE_NODES == 8 * MAX_LINE_CHARS


def test_past_the_node_bound_the_cross_check_refuses(monkeypatch: pytest.MonkeyPatch) -> None:
    line = "ls a b c | grep x"
    nodes = parse_line(line).nodes
    assert disagreement(line, nodes) is None
    monkeypatch.setattr(differential, "MAX_TREE_NODES", 5)
    assert disagreement(line, nodes) == "tree-sitter's tree has more than 5 nodes"


def test_past_the_node_bound_the_fallback_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fallback, "MAX_TREE_NODES", 5)
    with pytest.raises(TreeTooLarge, match="more than 5 nodes"):
        fallback_commands("[[ -f x ]] && rm -rf ~")


def test_deeply_nested_words_are_read_in_bounded_work() -> None:
    """Words nest: each `$(a ...` holds all the others. Their text grows with the
    square of the depth; past `WORD_CHARS_PER_CHAR` times the line, the fallback stops
    (it used to take minutes here, through scanning and ``Node.parent``)."""
    commands = fallback_commands(nested_substitutions(50))
    assert len(commands) == 51
    line = nested_substitutions(3000)
    assert len(line) <= MAX_LINE_CHARS
    with pytest.raises(TreeTooLarge, match="characters of the line"):
        fallback_commands(line)


def test_a_line_too_large_to_read_is_refused() -> None:
    verdict = analyze(nested_substitutions(3000))
    assert verdict.decision is Decision.DENY
    assert any("TreeTooLarge" in finding.detail for finding in verdict.findings)


def _substitution_below(node: Node) -> bool:
    """The reference: a substitution anywhere below ``node``, by plain search."""
    stack = list(node.children)
    while stack:
        child = stack.pop()
        if child.type in fallback._SUBSTITUTIONS:
            return True
        stack.extend(child.children)
    return False


@pytest.mark.parametrize(
    "line",
    [
        '[[ -f x ]] && echo "$(rm -rf ~)" plain ${x:-$(id)} `date` <(ls) $((1+2))',
        "case $x in a) ls;; esac > $(mktemp)",
        *corpus_commands()[::9],
    ],
)
def test_fallback_words_mark_substitutions_as_a_full_search_does(line: str) -> None:
    words: dict[str, bool] = {}
    stack: list[Any] = [_PARSER.parse(tame(line).encode()).root_node]
    while stack:  # the reference marking of every word the fallback reads
        node = stack.pop()
        stack.extend(node.children)
        if node.type == "command":
            for index, child in enumerate(node.children):
                if node.field_name_for_child(index) in ("name", "argument"):
                    words[line[child.start_byte : child.end_byte]] = _substitution_below(child)
    if not line.isascii():
        return  # byte offsets and characters differ; the marking is what is under test
    for command in fallback_commands(line):
        for word in command.words:
            assert ("commandsubstitution" in word.parts) == words[word.raw], (line, word.raw)


def test_a_long_test_expression_is_read_without_recursion() -> None:
    """`[ x -a x -a ... ]` nests as deep as it is long in tree-sitter's tree."""
    line = "[ " + " -a ".join(["x"] * 2000) + " ]"
    shapes = treesitter_shapes(line)
    assert shapes is not None and len(shapes[0][1]) == 2 * 2000 + 1
    assert disagreement(line, parse_line(line).nodes) is None
