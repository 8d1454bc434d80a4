"""Text for a person's terminal: control sequences are made visible, never obeyed.

Command output, file contents, the model's text and the names of files all come from
the attacker's side. Printed raw, they drive the terminal: ``ESC [2J`` clears the
screen, ``\\r`` and ``\\b`` overwrite what was shown (a verdict, an approval prompt),
``ESC ]52;`` writes the clipboard, ``ESC ]0;`` sets the title, DCS strings talk to the
terminal itself, C1 controls (U+0080-U+009F, e.g. U+009B, a one-character CSI) do the
same without an ESC, and bidi overrides (U+202E) show text in another order than the
one that runs. Rich does not help: it strips a few C0 controls but passes ESC, C1 and
bidi through, and it reads ``[bold]`` in a string as markup.

So everything printed for a person goes through here:

- `visible` spells out every such character (``\\x1b``, ``\\r``, ``\\x9b``, ``\\u202e``):
  control characters (but newline, tab, and a carriage return right before a newline),
  Unicode format characters (bidi controls, zero-width characters), line and paragraph
  separators, and lone surrogates;
- `text` builds a rich `Text` from parts, each made visible, with styles that come
  from the code, never from the text (no markup is parsed, no ``:emoji:`` replaced);
- `VisibleStream` does it for a byte stream cut into chunks (`airlock exec` at a TTY);
- `json_visible` does it inside JSON text, where ``\\uXXXX`` keeps the value the same.

What goes to the model and to files (tool results, events.jsonl, patch.diff) stays
byte-faithful: only a person's terminal gets the visible form.
"""

from __future__ import annotations

import codecs
import functools
import re
import unicodedata

from rich.text import Text

_NAMED = {"\r": "\\r", "\b": "\\b", "\a": "\\a", "\f": "\\f", "\v": "\\v", "\0": "\\0"}
_MADE_VISIBLE = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs"})


@functools.cache
def _unsafe_class(with_c0: bool) -> str:
    """A regex character class of every character `visible` spells out, from this
    Python's Unicode tables (built once); without newline, tab and CR, which `visible`
    treats apart, and without C0 unless ``with_c0``."""
    ranges: list[tuple[int, int]] = []
    for code in _code_points(0 if with_c0 else 0x7F):
        if chr(code) in "\n\t\r" or unicodedata.category(chr(code)) not in _MADE_VISIBLE:
            continue
        if ranges and ranges[-1][1] == code - 1:
            ranges[-1] = (ranges[-1][0], code)
        else:
            ranges.append((code, code))
    return "[" + "".join(f"\\U{a:08x}-\\U{b:08x}" for a, b in ranges) + "]"


# Planes 2-13 hold only CJK letters and unassigned code points, 15-16 private use:
# no control, format or separator character (a test scans them all to make sure).
SCANNED_PLANES = ((0, 0x1FFFF), (0xE0000, 0xEFFFF))


def _code_points(first: int) -> list[int]:
    return [code for low, high in SCANNED_PLANES for code in range(max(low, first), high + 1)]


@functools.cache
def _unsafe() -> re.Pattern[str]:
    return re.compile(f"\\r(?!\\n)|{_unsafe_class(True)}")


def _spelled(match: re.Match[str]) -> str:
    char = match.group()
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    if code <= 0xFF:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def visible(text: str) -> str:
    """``text`` with every character a terminal would obey spelled out instead."""
    return _unsafe().sub(_spelled, text)


Part = str | tuple[str, str]  # some text, or (text, style)


def text(*parts: Part) -> Text:
    """A rich `Text` of ``parts`` made visible; a style comes from the code only."""
    shown = Text()
    for part in parts:
        if isinstance(part, tuple):
            shown.append(visible(part[0]), style=part[1])
        else:
            shown.append(visible(part))
    return shown


class VisibleStream:
    """Bytes in chunks to visible text: a UTF-8 character or a CR-LF cut between two
    chunks is joined first; bytes that are not UTF-8 are spelled ``\\xNN``."""

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")("backslashreplace")
        self._held = ""  # a CR at the end of a chunk: is an LF next?

    def feed(self, data: bytes) -> str:
        decoded = self._held + self._decoder.decode(data)
        self._held = "\r" if decoded.endswith("\r") else ""
        return visible(decoded[: len(decoded) - len(self._held)])

    def end(self) -> str:
        """The rest, once the stream is over."""
        rest = self._held + self._decoder.decode(b"", final=True)
        self._held = ""
        return visible(rest)


def json_visible(json_text: str) -> str:
    """JSON text with the characters `visible` spells out written as ``\\uXXXX``: the
    same JSON value, harmless on a terminal. (JSON writers escape C0 controls already;
    those can only be whitespace outside strings, and stay.)"""
    return _unsafe_json().sub(_json_escape, json_text)


@functools.cache
def _unsafe_json() -> re.Pattern[str]:
    return re.compile(_unsafe_class(False))


def _json_escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    high, low = divmod(code - 0x10000, 0x400)  # a surrogate pair, as JSON spells it
    return f"\\u{0xD800 + high:04x}\\u{0xDC00 + low:04x}"


def error(message: object) -> Text:
    """``error: MESSAGE`` for a person; the message may quote a command or its output."""
    return text(("error:", "red"), f" {message}")
