"""A second, independent parser (tree-sitter-bash) to cross-check bashlex.

Both readings are reduced to *shapes*: for every simple command, where its first
word starts and the raw text of each word. Where the shapes differ, one parser
sees a command or an argument the other does not, and the line is not allowed
(S05). Example: in ``echo ${x:-$(rm -rf ~)}`` only tree-sitter sees ``rm``.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import tree_sitter_bash
from tree_sitter import Language, Parser

from security.shell import Command

Shape = tuple[int, tuple[str, ...]]

_PARSER = Parser(Language(tree_sitter_bash.language()))
MAX_NODES = 50_000
# Children of a test command `[ ... ]` that stand for one shell word each.
_WORDLIKE = frozenset(
    {"word", "string", "raw_string", "ansi_c_string", "translated_string", "number",
     "simple_expansion", "expansion", "concatenation", "command_substitution",
     "process_substitution", "test_operator", "arithmetic_expansion"}
)  # fmt: skip


def bashlex_shapes(commands: list[Command]) -> list[Shape]:
    """Shapes of the commands bashlex found (before any unwrapping)."""
    return [(c.words[0].start, tuple(w.raw for w in c.words)) for c in commands if c.words]


def treesitter_shapes(line: str) -> list[Shape] | None:
    """Shapes of the commands tree-sitter finds; None if its tree has errors."""
    source = line.encode("utf-8", "surrogatepass")
    tree = _PARSER.parse(source)
    root = tree.root_node
    if root.has_error:
        return None
    to_char = _char_offsets(line, source)
    shapes: list[Shape] = []
    stack: list[Any] = [root]
    visited = 0
    while stack:
        visited += 1
        if visited > MAX_NODES:
            return None
        node = stack.pop()
        words = _command_words(node)
        if words:
            texts = tuple(_text(source, w) for w in words)
            shapes.append((to_char(words[0].start_byte), texts))
        stack.extend(node.children)
    return shapes


def disagreement(line: str, commands: list[Command]) -> str | None:
    """Why bashlex's and tree-sitter's readings of ``line`` differ, or None if they agree."""
    try:
        theirs = treesitter_shapes(line)
        if theirs is None:
            return "tree-sitter-bash cannot parse the line"
        ours = bashlex_shapes(commands)
        only_ts = Counter(theirs) - Counter(ours)
        only_bl = Counter(ours) - Counter(theirs)
        if not only_ts and not only_bl:
            return None
        if only_ts:
            start, words = min(only_ts)
            return f"tree-sitter sees `{' '.join(words)[:80]}` at {start}; bashlex does not"
        start, words = min(only_bl)
        return f"bashlex sees `{' '.join(words)[:80]}` at {start}; tree-sitter does not"
    except Exception as exc:  # fail closed: a broken cross-check is a disagreement
        return f"differential check failed: {type(exc).__name__}: {exc}"


def _command_words(node: Any) -> list[Any]:
    """The nodes that are the words of a simple command, or [] if ``node`` is not one."""
    kind = node.type
    if kind == "command":
        fields = (node.field_name_for_child(i) for i in range(node.child_count))
        return [c for c, f in zip(node.children, fields, strict=True) if f in ("name", "argument")]
    if kind in ("declaration_command", "unset_command"):
        # bashlex reads `export A=1 B` as a command with words export, A=1, B.
        return list(node.children)
    if kind == "test_command" and node.children and node.children[0].type == "[":
        # bashlex treats `[` as an ordinary command: flatten the test expression.
        return _flatten_test(node)
    return []


def _flatten_test(node: Any) -> list[Any]:
    words: list[Any] = []
    for child in node.children:
        if child.type in _WORDLIKE or not child.is_named:
            words.append(child)
        else:
            words.extend(_flatten_test(child))
    return words


def _text(source: bytes, node: Any) -> str:
    return source[node.start_byte : node.end_byte].decode("utf-8", "surrogatepass")


def _char_offsets(line: str, source: bytes) -> Any:
    """A function from UTF-8 byte offsets to string indexes."""
    if len(source) == len(line):
        return lambda offset: offset
    starts: dict[int, int] = {}
    position = 0
    for index, char in enumerate(line):
        starts[position] = index
        position += len(char.encode("utf-8", "surrogatepass"))
    starts[position] = len(line)
    return lambda offset: starts.get(offset, offset)
