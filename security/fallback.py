"""Commands of a line bashlex cannot parse, read by tree-sitter-bash instead.

bashlex lacks ``[[ ]]``, ``case``, ``$(( ))`` and more. Such a line is never
allowed (S04), but it may still hold something that must be *denied*:
``[[ -f x ]] && rm -rf ~``. tree-sitter recovers from errors, so its commands are
checked too. This pass can only add findings: it never makes a verdict looser.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import tree_sitter_bash
from tree_sitter import Language, Parser

from security.differential import char_index, tame
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
MAX_NODES = 20_000


def fallback_commands(line: str) -> list[Command]:
    """Every ``command`` node tree-sitter finds, even in a tree with errors."""
    source = tame(line).encode("utf-8")  # tree-sitter-bash crashes on wide characters
    tree = _PARSER.parse(source)
    to_char = char_index(line, source)

    def spell(node: Any) -> str:  # the node's text in the line as written, not as tamed
        return line[to_char(node.start_byte) : to_char(node.end_byte)]

    commands: list[Command] = []
    stack: list[Any] = [tree.root_node]
    seen = 0
    while stack and seen < MAX_NODES:
        node = stack.pop()
        seen += 1
        if node.type == "command":
            commands.append(_command(node, spell))
        stack.extend(reversed(node.children))
    return commands


Spell = Callable[[Any], str]


def _word(node: Any, spell: Spell) -> Word:
    raw = spell(node)
    kinds = frozenset("commandsubstitution" for n in _descendants(node) if n.type in _SUBSTITUTIONS)
    return Word(raw=raw, scan=scan_word(raw), parsed=scan_word(raw).value, parts=kinds)


def _descendants(node: Any) -> list[Any]:
    out: list[Any] = []
    stack = list(node.children)
    while stack and len(out) < 1000:
        child = stack.pop()
        out.append(child)
        stack.extend(child.children)
    return out


def _command(node: Any, spell: Spell) -> Command:
    words: list[Word] = []
    assignments: list[Word] = []
    for index, child in enumerate(node.children):
        field = node.field_name_for_child(index)
        if field == "name" or field == "argument":
            words.append(_word(child, spell))
        elif child.type == "variable_assignment":
            assignments.append(_word(child, spell))
    parent = node.parent
    redirects = (
        _redirects(parent, spell)
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


def _redirects(statement: Any, spell: Spell) -> list[Redirect]:
    redirects: list[Redirect] = []
    for child in statement.children:
        if child.type != "file_redirect":
            continue
        op = next((c.type for c in child.children if not c.is_named), ">")
        target = child.child_by_field_name("destination")
        if target is not None and target.type != "number":
            redirects.append(Redirect(op=op, fd=None, target=_word(target, spell)))
    return redirects
