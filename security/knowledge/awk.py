"""awk: where an awk argv's program is, and which programs only read and print."""

from __future__ import annotations

import re

AWKS = frozenset({"awk", "gawk", "mawk", "nawk", "busybox-awk"})
_AWK_UNSAFE = re.compile(
    r"\bsystem\s*\(|\|\s*&?|\bgetline\b|\bprintf?\b[^;}\n]*?>|@load|@include|\bclose\s*\(|"
    r"\bfflush\s*\(|/inet/|\bENVIRON\b|\bPROCINFO\b"
)
_AWK_CODE_FILE_OPTIONS = ("-f", "--file", "-i", "--include", "-l", "--load", "-E", "--exec")


def awk_program(argv: list[str]) -> tuple[str | None, str | None]:
    """(program text, None) or (None, reason the program is not inline)."""
    i = 1
    while i < len(argv):
        arg = argv[i]
        if arg in _AWK_CODE_FILE_OPTIONS or arg.startswith(("--file=", "--include=", "--load=")):
            return None, f"{arg} loads awk code from a file"
        if arg in ("-F", "-v", "--assign", "--field-separator"):
            i += 2
            continue
        if arg == "--":
            i += 1
            break
        if arg.startswith("-") and len(arg) > 1:
            i += 1
            continue
        break
    if i >= len(argv):
        return None, "no awk program"
    return argv[i], None


def awk_program_is_safe(program: str) -> bool:
    """An awk program that only reads input and prints to stdout."""
    return _AWK_UNSAFE.search(program) is None


def awk_read_only_problem(argv: list[str]) -> str | None:
    """Why an awk argv is not proven read-only, or None."""
    program, reason = awk_program(argv)
    if program is None:
        return reason
    return None if awk_program_is_safe(program) else "awk program runs or writes"
