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
