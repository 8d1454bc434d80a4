"""Search tools' patterns: arguments that are data to match, never files to read.

``grep -rn '~/.ssh' docs/`` reads ``docs/``; ``~/.ssh`` is the text it looks for.
`pattern_arguments` says which arguments of grep, egrep, fgrep, zgrep, rg and
``git grep`` are patterns, reading the options the way the tool does (GNU getopt
for grep, with abbreviated long options; clap for rg; git's parse-options). Files
named by options (``-f FILE``, ``--exclude-from``, ``--ignore-file``) are not
patterns, and an option the table does not know makes the answer "unsure".
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class PatternSyntax:
    """How one search tool reads its options."""

    short_value: str  # short options that take a value (next word, or attached)
    long_value: frozenset[str]
    short_flags: str
    long_flags: frozenset[str]
    pattern_short: str  # options whose value is a pattern
    pattern_long: frozenset[str]
    explicit_short: str  # options that give the patterns (no positional pattern then)
    explicit_long: frozenset[str]
    no_pattern_long: frozenset[str] = frozenset()  # modes without a pattern (rg --files)
    abbreviations: bool = True  # long options may be abbreviated (getopt_long)
    digits_are_flags: bool = False  # -NUM (grep's context)


def _set(text: str) -> frozenset[str]:
    return frozenset(text.split())


GREP = PatternSyntax(
    short_value="ABCDdefm",
    long_value=_set(
        "after-context before-context context devices directories regexp file max-count "
        "label include exclude exclude-from exclude-dir binary-files group-separator"
    ),
    short_flags="EFGPiywxzsvVbnHhoqaIrRLlcTZUu",
    long_flags=_set(
        "extended-regexp fixed-strings basic-regexp perl-regexp ignore-case no-ignore-case "
        "word-regexp line-regexp null-data no-messages invert-match version help "
        "byte-offset line-number line-buffered with-filename no-filename only-matching "
        "quiet silent text recursive dereference-recursive files-without-match "
        "files-with-matches count initial-tab null no-group-separator binary color colour"
    ),
    pattern_short="e",
    pattern_long=_set("regexp"),
    explicit_short="ef",
    explicit_long=_set("regexp file"),
    digits_are_flags=True,
)
RG = PatternSyntax(
    short_value="ABCEefgjMmrtT",
    long_value=_set(
        "after-context before-context color colors context context-separator "
        "dfa-size-limit encoding engine field-context-separator field-match-separator file "
        "glob iglob ignore-file max-columns max-count max-depth max-filesize path-separator "
        "pre pre-glob regex-size-limit regexp replace sort sortr threads type type-add "
        "type-clear type-not hostname-bin hyperlink-format"
    ),
    short_flags="bscF.lLhiHvnxUINo0PpqzSauVw",
    long_flags=_set(
        "auto-hybrid-regex binary block-buffered byte-offset case-sensitive column count files "
        "count-matches crlf debug files-with-matches files-without-match fixed-strings "
        "follow glob-case-insensitive heading help hidden ignore-case "
        "ignore-file-case-insensitive include-zero invert-match json line-buffered "
        "line-number line-regexp max-columns-preview mmap multiline multiline-dotall "
        "no-config no-filename no-heading no-ignore no-ignore-dot no-ignore-exclude "
        "no-ignore-files no-ignore-global no-ignore-messages no-ignore-parent no-ignore-vcs "
        "no-line-number no-messages no-mmap no-pcre2-unicode no-require-git no-unicode null "
        "null-data one-file-system only-matching passthru pcre2 pcre2-version pretty quiet "
        "search-zip smart-case stats text trim type-list unrestricted version vimgrep "
        "with-filename "
        "word-regexp"
    ),
    pattern_short="e",
    pattern_long=_set("regexp"),
    explicit_short="ef",
    explicit_long=_set("regexp file"),
    no_pattern_long=_set("files type-list pcre2-version version help"),
    abbreviations=False,
)
GIT_GREP = PatternSyntax(
    short_value="ABCefm",
    long_value=_set("after-context before-context context max-count max-depth threads"),
    short_flags="vinwaIrEGFPhHlLzocpWq",
    long_flags=_set(
        "cached no-index untracked exclude-standard no-exclude-standard recurse-submodules "
        "invert-match ignore-case word-regexp text no-textconv recursive no-recursive "
        "extended-regexp basic-regexp fixed-strings perl-regexp line-number no-line-number "
        "column full-name files-with-matches name-only files-without-match null "
        "only-matching count color no-color break heading show-function function-context "
        "and or not quiet all-match"
    ),
    pattern_short="e",
    pattern_long=frozenset(),
    explicit_short="ef",
    explicit_long=frozenset(),
    digits_are_flags=True,
)
SEARCH_TOOLS: dict[str, PatternSyntax] = {
    "grep": GREP,
    "egrep": GREP,
    "fgrep": GREP,
    "zgrep": GREP,
    "rg": RG,
}


def _long(name: str, syntax: PatternSyntax) -> str | None:
    """The long option ``name`` stands for (an exact name, or an unambiguous prefix)."""
    known = syntax.long_value | syntax.long_flags
    if name in known:
        return name
    if not syntax.abbreviations:
        return None
    matches = [option for option in known if option.startswith(name)]
    return matches[0] if len(matches) == 1 else None


def pattern_arguments(args: list[str], syntax: PatternSyntax) -> set[int] | None:
    """Indices in ``args`` (the arguments after the tool's name) that are patterns;
    None when the options cannot be read with certainty."""
    patterns: set[int] = set()
    operands: list[int] = []
    explicit = no_pattern = False
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            operands.extend(range(i + 1, len(args)))
            break
        if arg.startswith("--"):
            name, has_value, _ = arg[2:].partition("=")
            option = _long(name, syntax)
            if option is None:
                return None
            explicit = explicit or option in syntax.explicit_long
            no_pattern = no_pattern or option in syntax.no_pattern_long
            if option in syntax.long_value:
                value_at = i if has_value else i + 1
                if option in syntax.pattern_long:
                    patterns.add(value_at)
                i = value_at + 1
                continue
            if has_value and option not in ("color", "colour"):
                return None  # a flag given a value: not how the tool reads it
            i += 1
            continue
        if arg.startswith("-") and len(arg) > 1:
            step = _cluster(arg, i, syntax, patterns)
            if step is None:
                return None
            explicit = explicit or any(c in syntax.explicit_short for c in _letters(arg))
            i += step
            continue
        operands.append(i)
        i += 1
    if not explicit and not no_pattern and operands:
        patterns.add(operands[0])
    return {index for index in patterns if index < len(args)}


def _letters(cluster: str) -> str:
    return cluster[1:]


def _cluster(arg: str, i: int, syntax: PatternSyntax, patterns: set[int]) -> int | None:
    """How many words a short-option cluster takes; its pattern's index goes in ``patterns``."""
    for pos, letter in enumerate(arg[1:], start=1):
        if letter in syntax.short_value:
            attached = pos + 1 < len(arg)
            if letter in syntax.pattern_short:
                patterns.add(i if attached else i + 1)
            return 1 if attached else 2
        if letter in syntax.short_flags or (syntax.digits_are_flags and letter.isdigit()):
            continue
        return None
    return 1
