"""``[[ ... ]]``, which bashlex cannot parse, read as the ``[ ... ]`` it is judged as.

bashlex knows ``[[`` only as a reserved word with no grammar behind it, so every line
holding one was unparseable (and refused). `translate` rewrites one ``[[ EXPR ]]`` into
``[ EXPR' ]`` of the same length, so that every position still points into the
original line: ``&&`` and ``||`` become ``-a`` and ``-o``, the grouping parentheses and
the string comparisons ``<`` ``>`` become inert letters, and an ``=~`` regex (checked to
expand nothing) becomes a run of ``x``. The analyzer then judges it as ``[``, which is
stricter than ``[[``: ``[`` splits and globs unquoted words, ``[[`` does neither.

What ``[[`` evaluates that ``[`` does not is refused here instead (the translation
returns None, and the line stays unparseable):

- operands of ``-eq -ne -lt -le -gt -ge``, which ``[[`` evaluates as arithmetic (a
  name or ``$x`` holding ``a[$(id)]`` runs ``id``): only integer literals pass;
- the operand of ``-v``/``-R``, whose subscript is evaluated: only a literal name;
- anything this reader does not follow: command and arithmetic substitution,
  backquotes, process substitution, extended-glob patterns, newlines, ANSI-C quoting
  (``$'\\''`` goes on past the second quote).

`parse_line` calls it only where bashlex stopped right after a ``[[`` and checks the
result: the rewritten ``[`` must be a command of its own in bashlex's tree.
"""

from __future__ import annotations

import re

ARITHMETIC = frozenset({"-eq", "-ne", "-lt", "-le", "-gt", "-ge"})
NAME_OPERAND = frozenset({"-v", "-R"})
_INTEGER = re.compile(r"[-+]?[0-9]+")
_NAME = re.compile(r"[A-Za-z_]\w*(\[[0-9]+\])?")
_BLANK = " \t"
_WORD_END = _BLANK + "&|()<>;\n"
# What ends the word ``]]`` for bash: any metacharacter (``]]>f`` is ``]]`` and ``>f``).
_ENDS_COMMAND = _BLANK + ";&|()<>\n"
# After `$` in a regex: what would expand (a name, ${, $(, a special parameter).
_EXPANDS = re.compile(r"\$[A-Za-z_0-9{(@*#?!$-]")


class _Unsupported(Exception):
    """Something this reader does not follow: leave the line unparseable."""


def is_cond_start(text: str, index: int) -> bool:
    """Whether ``text[index:]`` starts with the word ``[[`` (followed by a blank)."""
    if text[index : index + 2] != "[[" or text[index + 2 : index + 3] not in (" ", "\t"):
        return False
    return index == 0 or text[index - 1] in _BLANK + ";&|({!\n"


def cond_start_before(text: str, position: int) -> int | None:
    """The offset of a ``[[`` that ends (blanks aside) just before ``position``."""
    head = text[:position].rstrip(_BLANK)
    start = len(head) - 2
    return start if start >= 0 and is_cond_start(text, start) else None


def translate(text: str, start: int) -> tuple[str, int] | None:
    """``text`` with the ``[[ ... ]]`` at ``start`` rewritten as ``[ ... ]`` (same
    length), and the offset of its closing ``]``; None if it is not understood."""
    try:
        edits, end = _read(text, start + 2)
    except _Unsupported:
        return None
    chars = list(text)
    chars[start : start + 2] = "[ "
    chars[end : end + 2] = " ]"
    for at, replacement in edits:
        chars[at : at + len(replacement)] = replacement
    return "".join(chars), end + 1


def _read(text: str, at: int) -> tuple[list[tuple[int, str]], int]:
    """The edits inside the expression that starts at ``at``, and where ``]]`` is."""
    edits: list[tuple[int, str]] = []
    words: list[tuple[int, str]] = []  # (offset, quote-removed value) of each token
    while True:
        while at < len(text) and text[at] in _BLANK:
            at += 1
        if at >= len(text) or text[at] == "\n":
            raise _Unsupported("no ]] on this line")
        if text.startswith("]]", at) and (at + 2 == len(text) or text[at + 2] in _ENDS_COMMAND):
            break
        two, one = text[at : at + 2], text[at]
        if two in ("&&", "||"):
            edits.append((at, "-a" if two == "&&" else "-o"))
            words.append((at, two))
            at += 2
        elif one in "()<>":
            if text.startswith("<(", at) or text.startswith(">(", at):
                raise _Unsupported("process substitution")
            edits.append((at, "x"))
            words.append((at, one))
            at += 1
        elif words and words[-1][1] == "=~":
            end = _regex_end(text, at)
            edits.append((at, "x" * (end - at)))
            words.append((at, "<regex>"))
            at = end
        else:
            end, value = _word(text, at)
            words.append((at, value))
            at = end
    if not words:
        raise _Unsupported("an empty [[ ]]")
    _check_operands([value for _, value in words])
    return edits, at


def _check_operands(values: list[str]) -> None:
    """Refuse what ``[[`` evaluates and ``[`` does not (see the module docstring)."""
    for index, value in enumerate(values):
        if value in ARITHMETIC:
            around = values[index - 1 : index] + values[index + 1 : index + 2]
            if index == 0 or len(around) < 2 or not all(_INTEGER.fullmatch(v) for v in around):
                raise _Unsupported(f"{value} evaluates its operands as arithmetic")
        if value in NAME_OPERAND:
            operand = values[index + 1] if index + 1 < len(values) else ""
            if not _NAME.fullmatch(operand):
                raise _Unsupported(f"{value} evaluates its operand's subscript")


def _word(text: str, at: int) -> tuple[int, str]:
    """The end of the shell word at ``at`` and its value, or `_Unsupported` when the
    value may hold something other than literal text and plain parameter expansions.
    A word whose value is not known is returned as ``"\\0"`` (never an operator)."""
    value: list[str] = []
    known = True
    start = at
    while at < len(text) and text[at] not in _WORD_END:
        char = text[at]
        if char == "`":
            raise _Unsupported("backquotes")
        if char == "\\":
            if at + 1 >= len(text) or text[at + 1] == "\n":
                raise _Unsupported("a line continuation")
            value.append(text[at + 1])
            at += 2
        elif char == "'":
            close = text.find("'", at + 1)
            if close < 0:
                raise _Unsupported("an open quote")
            value.append(text[at + 1 : close])
            at = close + 1
        elif char == '"':
            at, inner = _double_quoted(text, at + 1)
            known = known and inner is not None
            value.append(inner or "")
        elif char == "$":
            if text.startswith("$'", at):
                raise _Unsupported("ANSI-C quoting, whose \\' does not end it")
            at = _expansion_end(text, at)
            known = False
        else:
            value.append(char)
            at += 1
    if at == start:
        raise _Unsupported(f"unexpected {text[at]!r}")
    if at < len(text) and text[at] == "(":
        raise _Unsupported("an extended-glob pattern")
    return at, "".join(value) if known else "\0"


def _double_quoted(text: str, at: int) -> tuple[int, str | None]:
    """The end of a double-quoted string whose body starts at ``at``, and its value
    (None when it expands something)."""
    value: list[str] = []
    known = True
    while at < len(text):
        char = text[at]
        if char == '"':
            return at + 1, "".join(value) if known else None
        if char == "`" or char == "\n":
            raise _Unsupported("backquotes or a newline in a string")
        if char == "\\" and at + 1 < len(text):
            value.append(text[at + 1] if text[at + 1] in '$`"\\' else text[at : at + 2])
            at += 2
        elif char == "$":
            at = _expansion_end(text, at)
            known = False
        else:
            value.append(char)
            at += 1
    raise _Unsupported("an open quote")


def _expansion_end(text: str, at: int) -> int:
    """The end of the parameter expansion at ``text[at] == "$"``: ``$name``, ``$1``,
    a special parameter or ``${...}`` without nested quotes or substitutions."""
    nxt = text[at + 1 : at + 2]
    if nxt == "(":
        raise _Unsupported("command or arithmetic substitution")
    if nxt == "{":
        close = text.find("}", at + 2)
        body = text[at + 2 : close] if close >= 0 else ""
        if close < 0 or any(c in body for c in "'\"`$\\{\n"):
            raise _Unsupported("a parameter expansion this reader does not follow")
        return close + 1
    match = re.compile(r"[A-Za-z_]\w*|[0-9@*#?!$-]").match(text, at + 1)
    return match.end() if match else at + 1  # a lone `$` is literal


def _regex_end(text: str, at: int) -> int:
    """The end of an ``=~`` operand: up to an unquoted blank outside parentheses. It
    must expand nothing, so that it is inert text."""
    depth = 0
    start = at
    while at < len(text):
        char = text[at]
        if char == "\n" or char == "`":
            raise _Unsupported("a regex with a newline or backquotes")
        if char in _BLANK and depth == 0:
            break
        if char == "\\":
            at += 2
            continue
        if text.startswith("$'", at):
            raise _Unsupported("ANSI-C quoting in a regex")
        if char == "'":
            close = text.find(char, at + 1)
            if close < 0:
                raise _Unsupported("an open quote")
            at = close + 1
            continue
        if char == '"':
            at, _ = _double_quoted(text, at + 1)  # its \" does not end it
            continue
        if char == "(":
            depth += 1
        elif char == ")":
            if depth == 0:
                break
            depth -= 1
        elif char in ";&<>" and depth == 0:
            break
        at += 1
    regex = text[start:at]
    if not regex or depth or _EXPANDS.search(regex):
        raise _Unsupported("a regex this reader does not follow")
    return at
