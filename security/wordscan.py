"""An independent lexer for one shell word: quote removal and what stays unquoted.

bashlex gives a word's value after quote removal, but it misreads some spellings
(``$'\\x63url'`` becomes a parameter, ``$"x"`` too). The analyzer therefore scans
the raw text itself and trusts a word only when both agree.
"""

from __future__ import annotations

import re
from typing import NamedTuple

_ANSI_C_ESCAPES = {
    "a": "\a",
    "b": "\b",
    "e": "\x1b",
    "E": "\x1b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "v": "\v",
    "\\": "\\",
    "'": "'",
    '"': '"',
    "?": "?",
}


class WordScan(NamedTuple):
    """Facts about one raw word (a tuple: built for every word, so cheap to build)."""

    value: str  # after quote removal (ANSI-C escapes decoded), expansions kept as text
    quoted: bool  # any quote or backslash was used
    ansi_c: bool  # $'...'
    locale: bool  # $"..."
    expands: bool  # $name, ${...}, $(...), $((...)) or backquotes, quoted or not
    unquoted: frozenset[str]  # special characters that appeared outside quotes


_TRACKED = frozenset("*?[]{}(),~=!^#|&;<>")
_TRACKED_ANY = re.compile("[" + re.escape("".join(sorted(_TRACKED))) + "]")
_NONE: frozenset[str] = frozenset()


def _decode_ansi_c(body: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(body):
        ch = body[i]
        if ch != "\\" or i + 1 >= len(body):
            out.append(ch)
            i += 1
            continue
        nxt = body[i + 1]
        if nxt in _ANSI_C_ESCAPES:
            out.append(_ANSI_C_ESCAPES[nxt])
            i += 2
        elif nxt in "xuU":
            width = {"x": 2, "u": 4, "U": 8}[nxt]
            digits = ""
            j = i + 2
            while j < len(body) and len(digits) < width and body[j] in "0123456789abcdefABCDEF":
                digits += body[j]
                j += 1
            out.append(chr(int(digits, 16)) if digits and int(digits, 16) < 0x110000 else "\\")
            i = j if digits else i + 1
        elif nxt in "01234567":
            j = i + 1
            while j < len(body) and j < i + 4 and body[j] in "01234567":
                j += 1
            out.append(chr(int(body[i + 1 : j], 8) & 0xFF))
            i = j
        elif nxt == "c" and i + 2 < len(body):
            out.append(chr(ord(body[i + 2]) & 0x1F))
            i += 3
        else:
            out.append("\\" + nxt)
            i += 2
    return "".join(out)


def _closing(raw: str, start: int, quote: str) -> int:
    """Index of the quote closing one opened before ``start`` (len(raw) if unclosed)."""
    i = start
    while i < len(raw):
        if raw[i] == "\\" and quote != "'":
            i += 2
            continue
        if raw[i] == quote:
            return i
        i += 1
    return len(raw)


_QUOTING = re.compile(r"[\\'\"$`]")


def scan_word(raw: str) -> WordScan:
    """Quote-remove ``raw`` and record what expansions and specials it holds."""
    if _QUOTING.search(raw) is None:  # the common case: nothing to remove or expand
        specials = frozenset(raw) & _TRACKED if _TRACKED_ANY.search(raw) else _NONE
        return WordScan(raw, False, False, False, False, specials)
    value: list[str] = []
    unquoted: set[str] = set()
    quoted = ansi_c = locale = expands = False
    i = 0
    n = len(raw)
    while i < n:
        ch = raw[i]
        if ch == "\\":
            quoted = True
            if i + 1 < n and raw[i + 1] != "\n":
                value.append(raw[i + 1])
            i += 2
        elif ch == "'":
            quoted = True
            end = _closing(raw, i + 1, "'")
            value.append(raw[i + 1 : end])
            i = end + 1
        elif ch == '"':
            quoted = True
            end = _closing(raw, i + 1, '"')
            inner = raw[i + 1 : end]
            expands = expands or "$" in inner or "`" in inner
            value.append(_unescape_double(inner))
            i = end + 1
        elif ch == "$" and i + 1 < n and raw[i + 1] == "'":
            quoted = ansi_c = True
            end = _closing(raw, i + 2, "'")
            value.append(_decode_ansi_c(raw[i + 2 : end]))
            i = end + 1
        elif ch == "$" and i + 1 < n and raw[i + 1] == '"':
            quoted = locale = True
            end = _closing(raw, i + 2, '"')
            value.append(_unescape_double(raw[i + 2 : end]))
            i = end + 1
        else:
            if (
                ch == "$" and i + 1 < n and (raw[i + 1] in "{(_@*#?$!-" or raw[i + 1].isalnum())
            ) or ch == "`":
                expands = True
            if ch in _TRACKED:
                unquoted.add(ch)
            value.append(ch)
            i += 1
    return WordScan("".join(value), quoted, ansi_c, locale, expands, frozenset(unquoted))


def _unescape_double(inner: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(inner):
        if inner[i] == "\\" and i + 1 < len(inner) and inner[i + 1] in '$`"\\\n':
            if inner[i + 1] != "\n":
                out.append(inner[i + 1])
            i += 2
        else:
            out.append(inner[i])
            i += 1
    return "".join(out)


class ParamExpansion(NamedTuple):
    """One ``${...}`` as bash reads it (what matters for evaluation and assignment)."""

    body: str  # the text between ``${`` and ``}``
    prefix: str  # '' | '#' (length) | '!' (indirection, or key/name listing)
    name: str  # identifier, digits or one special character; '' when unreadable
    subscript: str | None  # the text inside ``[...]`` after the name, if any
    op: str  # '' | ':-' ':=' ':+' ':?' '-' '=' '+' '?' | ':' (substring) | '@' (transform)
    #          | '#' '##' '%' '%%' '/' '//' '/#' '/%' '^' '^^' ',' ',,' | '?!' (unreadable)
    operand: str  # the text after the operator


class DollarScan(NamedTuple):
    """Every ``${...}``, ``$((...))`` and ``$[...]`` in the parts of a word bash expands."""

    parameters: list[ParamExpansion]
    arithmetic: list[str]  # each $((...)) and $[...] as written


_NAME_START = re.compile(r"[A-Za-z_]\w*|\d+|[@*#?$!\-]")
_SPECIAL_NAMES = frozenset("@*#?$!-")


def dollar_scan(raw: str, heredoc: bool = False) -> DollarScan | None:
    """The expansions bash performs in ``raw``, nested ones included; None when the
    word cannot be read with certainty (an unclosed ``${``, a quote inside a
    double-quoted ``${...}``): the caller must then assume the worst.

    Single-quoted and ``$'...'`` text is skipped at the top level; inside ``${...}``
    everything counts, which can only over-report. ``heredoc``: ``raw`` is the body of
    an unquoted here-document, where quotes are plain characters.
    """
    found = DollarScan([], [])
    if "$" not in raw:
        return found
    return found if _scan_expanding(raw, 0, len(raw), heredoc, found, heredoc) else None


def _scan_expanding(
    text: str, i: int, end: int, dquoted: bool, found: DollarScan, heredoc: bool = False
) -> bool:
    while i < end:
        ch = text[i]
        if ch == "\\":
            i += 2
        elif ch == "'" and not dquoted:
            close = text.find("'", i + 1)
            if close < 0:
                return False
            i = close + 1
        elif ch == '"' and heredoc:
            i += 1
        elif ch == '"':
            dquoted = not dquoted
            i += 1
        elif ch == "`":
            close = _escaped_end(text, i + 1, "`")
            if close < 0:
                return False
            i = close + 1
        elif ch == "$" and i + 1 < end:
            nxt = text[i + 1]
            if nxt == "'" and not dquoted:
                close = _escaped_end(text, i + 2, "'")
                if close < 0:
                    return False
                i = close + 1
            elif nxt == "{":
                close = _closing_brace(text, i + 2, dquoted)
                if close < 0:
                    return False
                expansion = parse_parameter(text[i + 2 : close])
                found.parameters.append(expansion)
                inner = (expansion.subscript or "") + "\0" + expansion.operand
                if not _scan_expanding(inner, 0, len(inner), dquoted, found):
                    return False
                i = close + 1
            elif nxt == "(" or nxt == "[":
                arithmetic = text.startswith("$((", i) or nxt == "["
                close = _closing_group(text, i + 2, "(" if nxt == "(" else "[")
                if close < 0:
                    return False
                if arithmetic:
                    found.arithmetic.append(text[i : close + 1])
                i = close + 1  # the commands of $(...) are found by the parser
            else:
                i += 1
        else:
            i += 1
    return True


def _escaped_end(text: str, i: int, end: str) -> int:
    """Index of the ``end`` that closes a backquote or ``$'...'`` from ``i`` (backslash
    escapes skipped); -1 if unclosed."""
    while i < len(text):
        if text[i] == "\\":
            i += 2
            continue
        if text[i] == end:
            return i
        i += 1
    return -1


def _after_quoted(text: str, i: int) -> int:
    """Index just past the quoted span (``'...'``, ``"..."`` or a backquote) opening at
    ``i``; -1 if it is not closed."""
    ch = text[i]
    if ch == "'":
        close = text.find("'", i + 1)
    elif ch == '"':
        close = _double_quote_end(text, i + 1)
    else:
        close = _escaped_end(text, i + 1, "`")
    return close + 1 if close >= 0 else -1


def _closing_brace(text: str, i: int, dquoted: bool) -> int:
    """Index of the ``}`` closing a ``${`` whose body starts at ``i``; -1 if unsure."""
    depth = 1
    while i < len(text):
        ch = text[i]
        if ch == "\\":
            i += 2
            continue
        if ch == "'" and dquoted:
            return -1  # bash's reading of ' inside "${...}" depends on the operator
        if ch in "'\"`":
            i = _after_quoted(text, i)
            if i < 0:
                return -1
            continue
        if ch == "$" and i + 1 < len(text) and text[i + 1] in "({[":
            opener = text[i + 1]
            close = (
                _closing_brace(text, i + 2, dquoted)
                if opener == "{"
                else _closing_group(text, i + 2, opener)
            )
            if close < 0:
                return -1
            i = close + 1
            continue
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return -1


def _double_quote_end(text: str, i: int) -> int:
    while i < len(text):
        ch = text[i]
        if ch == "\\":
            i += 2
            continue
        if ch == '"':
            return i
        if ch == "$" and i + 1 < len(text) and text[i + 1] in "({":
            close = (
                _closing_brace(text, i + 2, True)
                if text[i + 1] == "{"
                else _closing_group(text, i + 2, "(")
            )
            if close < 0:
                return -1
            i = close + 1
            continue
        i += 1
    return -1


_PAIRS = {"(": ")", "[": "]"}


def _closing_group(text: str, i: int, opener: str) -> int:
    """Index of the bracket closing ``opener`` (nesting, quotes and escapes respected)."""
    closer = _PAIRS[opener]
    depth = 1
    while i < len(text):
        ch = text[i]
        if ch == "\\":
            i += 2
            continue
        if ch in "'\"`":
            i = _after_quoted(text, i)
            if i < 0:
                return -1
            continue
        if ch == opener:
            depth += 1
        elif ch == closer:
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return -1


_OPERATORS = (":-", ":=", ":+", ":?", "##", "%%", "//", "/#", "/%", "^^", ",,")


def parse_parameter(body: str) -> ParamExpansion:
    """Read the body of one ``${...}``: prefix, name, subscript, operator, operand."""
    prefix = ""
    rest = body
    if rest[:1] == "!" and len(rest) > 1:
        prefix, rest = "!", rest[1:]
    elif rest[:1] == "#" and len(rest) > 1 and rest[1] not in ":}":
        prefix, rest = "#", rest[1:]
    match = _NAME_START.match(rest)
    if match is None:
        return ParamExpansion(body, prefix, "", None, "?!", rest)
    name = match.group(0)
    rest = rest[match.end() :]
    subscript: str | None = None
    if rest[:1] == "[" and name not in _SPECIAL_NAMES and not name.isdigit():
        close = _closing_group(rest, 1, "[")
        if close < 0:
            return ParamExpansion(body, prefix, name, None, "?!", rest)
        subscript, rest = rest[1:close], rest[close + 1 :]
    if not rest:
        return ParamExpansion(body, prefix, name, subscript, "", "")
    if prefix == "!" and rest in ("*", "@"):
        return ParamExpansion(body, prefix, name, subscript, rest, "")
    for op in _OPERATORS:
        if rest.startswith(op):
            return ParamExpansion(body, prefix, name, subscript, op, rest[len(op) :])
    first = rest[0]
    if first in ":@-=+?#%/^,":
        return ParamExpansion(body, prefix, name, subscript, first, rest[1:])
    return ParamExpansion(body, prefix, name, subscript, "?!", rest)


def arithmetic_body(spelling: str) -> str:
    """The expression inside ``$((...))`` or ``$[...]``."""
    if spelling.startswith("$(("):
        return spelling[3:].removesuffix("))")
    return spelling[2:].removesuffix("]")
