"""What bashlex's trees hold outside the simple commands: loops and arithmetic commands.

The parser flattens a line into simple commands; a ``for NAME in WORDS`` loop's
variable and words, and ``((...))`` (which bashlex reads as two nested subshells),
are not in any of them. `line_structure` walks the trees of the line and of every
shell string in it (``sh -c``, ``eval``, heredoc bodies) to find them.
"""

from __future__ import annotations

import re
import threading
from typing import Any, NamedTuple

from security.shell import ShellSyntaxError, Word, parse_line
from security.unwrap import Scene
from security.wordscan import scan_word


class Loop(NamedTuple):
    name: str  # the loop variable
    items: list[Word] | None  # the words after `in`; None: the positional parameters


class LineStructure(NamedTuple):
    loops: list[Loop]
    arithmetic: list[str]  # the text of each ((...)) command


_EMPTY = LineStructure([], [])
_MEMO = threading.local()


def line_structure(scene: Scene) -> LineStructure:
    """Loops and arithmetic commands of the line and its shell strings (memoized)."""
    cached = getattr(_MEMO, "last", None)
    if cached is not None and cached[0] is scene:
        return cached[1]  # type: ignore[no-any-return]
    found = LineStructure([], [])
    if _may_hold(scene.line) and scene.nodes is not None:
        _walk(scene.nodes, scene.line, found)
    for code in scene.shell_strings:
        if _may_hold(code):
            try:
                nodes = parse_line(code, origin="structure").nodes
            except ShellSyntaxError:
                continue  # reported by S04 already
            _walk(nodes, code, found)
    result = found if (found.loops or found.arithmetic) else _EMPTY
    _MEMO.last = (scene, result)
    return result


def _may_hold(text: str) -> bool:
    return "((" in text or _FOR.search(text) is not None


_FOR = re.compile(r"(?<![\w-])for\s")  # the keyword, not --format


def _walk(nodes: list[Any], text: str, found: LineStructure) -> None:
    stack = list(nodes)
    while stack:
        node = stack.pop()
        kind = getattr(node, "kind", None)
        if kind == "for":
            found.loops.append(_loop(node, text))
        elif kind == "compound":
            parts = node.list
            if parts and getattr(parts[0], "kind", None) == "reservedword":
                start = parts[0].pos[0]
                if parts[0].word == "(" and text[start + 1 : start + 2] == "(":
                    found.arithmetic.append(text[node.pos[0] : node.pos[1]])
        for attr in ("parts", "list", "redirects"):
            stack.extend(getattr(node, attr, None) or ())
        for attr in ("command", "body", "output"):
            child = getattr(node, attr, None)
            if child is not None and hasattr(child, "kind"):
                stack.append(child)


def _loop(node: Any, text: str) -> Loop:
    parts = node.parts
    name = parts[1].word if len(parts) > 1 and parts[1].kind == "word" else "?"
    if len(parts) < 3 or parts[2].kind != "reservedword" or parts[2].word != "in":
        return Loop(name, None)
    items: list[Word] = []
    for part in parts[3:]:
        if part.kind != "word":
            break
        start, end = part.pos
        raw = text[start:end]
        kinds = frozenset(p.kind for p in getattr(part, "parts", None) or ())
        items.append(Word(raw, scan_word(raw), part.word, kinds, start))
    return Loop(name, items)
