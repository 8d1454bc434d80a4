"""Checks on the raw text: characters that hide what a line does."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator

from security.checks.base import Context, Hit, line_check
from security.unwrap import Scene
from security.verdict import Decision

MAX_LINE_CHARS = 16_384
MAX_COMMANDS = 256

INVISIBLE = frozenset(
    "\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180e\u200b\u200c\u200d\u200e\u200f"
    "\u202a\u202b\u202c\u202d\u202e\u2060\u2061\u2062\u2063\u2064\u2066\u2067\u2068"
    "\u2069\u206a\u206b\u206c\u206d\u206e\u206f\u3164\ufeff\uffa0"
)


@line_check("S01", "control characters in the line")
def control_characters(scene: Scene, ctx: Context) -> Iterator[Hit]:
    """Control characters make a terminal show something other than what runs.

    Attack: ``ls\\rrm -rf ~`` shows as ``rm -rf ~``... or the reverse, ``\\x1b[2K``
    erases what a reviewer would have seen, NUL truncates strings in C programs.
    Tab and newline are ordinary shell syntax and pass.
    """
    if _CONTROL.search(scene.line) is None:
        return
    for ch in sorted(set(_CONTROL.findall(scene.line))):
        yield Hit(
            f"control character U+{ord(ch):04X} ({unicodedata.name(ch, 'unnamed')})", Decision.DENY
        )


_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")  # C0 but tab and newline, DEL, C1


@line_check("S02", "invisible or bidirectional Unicode")
def invisible_unicode(scene: Scene, ctx: Context) -> Iterator[Hit]:
    """Zero-width and bidi-override characters make text read differently than it runs.

    Attack: ``echo "safe\\u202e" ; rm -rf ~`` (Trojan Source), or a zero-width
    joiner inside ``c\\u200durl`` so a name looks like one command and is another.
    Also flags Unicode spaces, which a shell does not split on.
    """
    if scene.line.isascii():
        return
    found = {c for c in scene.line if c in INVISIBLE or (c.isspace() and c not in " \t\n\r\v\f")}
    for ch in sorted(found):
        yield Hit(f"U+{ord(ch):04X} ({unicodedata.name(ch, 'unnamed')})", Decision.DENY)


@line_check("S03", "non-ASCII letters in a command name")
def homoglyph_names(scene: Scene, ctx: Context) -> Iterator[Hit]:
    """A command name with non-ASCII letters impersonates a known command.

    Attack: ``curl`` spelled with a Cyrillic es (U+0441) for its ``c`` is not
    ``curl`` to a checker's table but may be a planted binary; fullwidth letters
    (U+FF52 U+FF4D) normalise to ``rm`` in some tools. Arguments may be non-ASCII
    (``grep 'héllo'``); command names may not.
    """
    if scene.line.isascii() and all(text.isascii() for text in scene.shell_strings):
        return  # every word's raw text is in one of these
    for index, command in enumerate(scene.commands):
        name = command.words[0].raw if command.words else ""
        if not name.isascii():
            folded = unicodedata.normalize("NFKC", name)
            yield Hit(f"command name {name!r} (NFKC: {folded!r})", Decision.DENY, command=index)


@line_check("S36", "line too large or nested too deeply", structural=True)
def too_large(scene: Scene, ctx: Context) -> Iterator[Hit]:
    """Very long or deeply nested input hides commands and costs analysis time.

    Attack: 50 KB of harmless ``echo`` padding with ``rm -rf ~`` in the middle, or
    ``sh -c "sh -c \\"sh -c ...\\""`` nested past what the analyzer unwraps.
    """
    if len(scene.line) > MAX_LINE_CHARS:
        yield Hit(f"{len(scene.line)} characters (limit {MAX_LINE_CHARS})")
    if len(scene.commands) > MAX_COMMANDS:
        yield Hit(f"{len(scene.commands)} commands (limit {MAX_COMMANDS})")
    if scene.too_deep:
        yield Hit("shell strings nested deeper than the analyzer unwraps")
