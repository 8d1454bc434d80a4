"""Commands of a line bashlex cannot parse, read by tree-sitter-bash instead.

bashlex lacks ``[[ ]]``, ``case``, ``$(( ))`` and more. Such a line is never
allowed (S04), but it may still hold something that must be *denied*:
``[[ -f x ]] && rm -rf ~``. tree-sitter recovers from errors, so its commands are
checked too. This pass can only add findings: it never makes a verdict looser.
"""

from __future__ import annotations

from collections.abc import Callable

import tree_sitter_bash
from tree_sitter import Language, Node, Parser

from security.differential import MAX_TREE_NODES, TreeTooLarge, char_index, tame
from security.shell import Command, Redirect, Word
from security.wordscan import scan_word

_PARSER = Parser(Language(tree_sitter_bash.language()))
_SUBSTITUTIONS = frozenset(
    {
        "command_substitution",
        "process_substitution",
        "expansion",
        "simple_expansion",
        "arithmetic_expansion",
    }
)
_SUBSTITUTED: frozenset[str] = frozenset({"commandsubstitution"})
# Words nest (`$(a $(b ...))`: the outer word holds the inner one), so the text of all
# words may be longer than the line. Scanning stops past this many characters per
# character of the line (a substitution nested 64 deep).
WORD_CHARS_PER_CHAR = 64


def fallback_commands(line: str) -> list[Command]:
    """Every ``command`` node tree-sitter finds, even in a tree with errors.

    The work is bounded by counts, never by time: past `MAX_TREE_NODES` nodes, or
    `WORD_CHARS_PER_CHAR` characters of words per character of the line, this raises
    `TreeTooLarge` (an internal limit, so a refusal) rather than read part of the tree.
    """
    source = tame(line).encode("utf-8")  # tree-sitter-bash crashes on wide characters
    nodes, parents = _walk(_PARSER.parse(source).root_node)
    holding = _holding_substitutions(nodes, parents)
    to_char = char_index(line, source)
    chars_left = [WORD_CHARS_PER_CHAR * max(len(line), 1)]

    def word(node: Node) -> Word:
        raw = line[to_char(node.start_byte) : to_char(node.end_byte)]  # as written
        chars_left[0] -= len(raw)
        if chars_left[0] < 0:
            raise TreeTooLarge(
                f"the words tree-sitter found hold over {WORD_CHARS_PER_CHAR} times "
                "the characters of the line"
            )
        scan = scan_word(raw)
        parts = _SUBSTITUTED if node.id in holding else frozenset()
        return Word(raw=raw, scan=scan, parsed=scan.value, parts=parts)

    return [
        _command(node, nodes[parents[index]] if parents[index] >= 0 else None, word)
        for index, node in enumerate(nodes)
        if node.type == "command"
    ]


def _walk(root: Node) -> tuple[list[Node], list[int]]:
    """The tree's nodes in source order, and each one's parent (its index; -1 for the
    root). Parents are recorded here: tree-sitter's ``Node.parent`` searches down from
    the root, which on a deeply nested tree makes a walk quadratic."""
    nodes: list[Node] = []
    parents: list[int] = []
    stack: list[tuple[Node, int]] = [(root, -1)]
    while stack:
        node, parent = stack.pop()
        if len(nodes) >= MAX_TREE_NODES:
            raise TreeTooLarge(f"tree-sitter's tree has more than {MAX_TREE_NODES} nodes")
        here = len(nodes)
        nodes.append(node)
        parents.append(parent)
        stack.extend((child, here) for child in reversed(node.children))
    return nodes, parents


def _holding_substitutions(nodes: list[Node], parents: list[int]) -> set[int]:
    """Ids of the nodes with a substitution somewhere below them (themselves aside)."""
    holds = [False] * len(nodes)
    for index in range(len(nodes) - 1, 0, -1):  # children come after their parents
        if holds[index] or nodes[index].type in _SUBSTITUTIONS:
            holds[parents[index]] = True
    return {node.id for node, held in zip(nodes, holds, strict=True) if held}


Spell = Callable[[Node], Word]


def _command(node: Node, parent: Node | None, word: Spell) -> Command:
    words: list[Word] = []
    assignments: list[Word] = []
    for index, child in enumerate(node.children):
        field = node.field_name_for_child(index)
        if field == "name" or field == "argument":
            words.append(word(child))
        elif child.type == "variable_assignment":
            assignments.append(word(child))
    redirects = (
        _redirects(parent, word)
        if parent is not None and (parent.type == "redirected_statement")
        else []
    )
    piped = parent is not None and parent.type == "pipeline" and parent.children[0] != node
    return Command(
        words=words,
        assignments=assignments,
        redirects=redirects,
        origin="fallback",
        piped_stdin=piped,
    )


def _redirects(statement: Node, word: Spell) -> list[Redirect]:
    redirects: list[Redirect] = []
    for child in statement.children:
        if child.type != "file_redirect":
            continue
        op = next((c.type for c in child.children if not c.is_named), ">")
        target = child.child_by_field_name("destination")
        if target is not None and target.type != "number":
            redirects.append(Redirect(op=op, fd=None, target=word(target)))
    return redirects
