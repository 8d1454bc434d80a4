"""Interpreters: which options of each carry inline code, and versioned names."""

from __future__ import annotations

import re

from security.knowledge.wrappers import SHELLS

# interpreter -> options whose argument (or presence) is inline code
INLINE_CODE_OPTIONS: dict[str, tuple[str, ...]] = {
    "python": ("-c",),
    "python2": ("-c",),
    "python3": ("-c",),
    "pypy": ("-c",),
    "pypy3": ("-c",),
    "perl": ("-e", "-E"),
    "ruby": ("-e",),
    "node": ("-e", "-p", "--eval", "--print"),
    "nodejs": ("-e", "-p", "--eval", "--print"),
    "deno": ("eval",),
    "bun": ("-e", "--eval"),
    "php": ("-r", "-B", "-R", "-E"),
    "lua": ("-e",),
    "luajit": ("-e",),
    "Rscript": ("-e",),
    "R": ("-e",),
    "julia": ("-e", "-E"),
    "tclsh": (),
    "osascript": ("-e",),
    "pwsh": ("-c", "-Command"),
    "powershell": ("-c", "-Command"),
    "groovy": ("-e",),
    "scala": ("-e",),
    "elixir": ("-e",),
    "erl": ("-eval",),
    "guile": ("-c",),
    "sbcl": ("--eval",),
    "gdb": ("-ex", "--eval-command", "-batch"),
    "vim": ("-c", "+"),
    "vi": ("-c", "+"),
    "nvim": ("-c", "+", "--cmd"),
    "emacs": ("--eval", "-eval"),
    "ed": (),
    "ex": ("-c", "+"),
    "jshell": (),
    "irb": (),
    "expect": ("-c",),
}
INTERPRETERS = frozenset(INLINE_CODE_OPTIONS) | SHELLS
VERSIONED = re.compile(r"(python[23]?|pypy3?|perl|ruby|node|lua|php)[\d.]*")


def versionless(name: str) -> str:
    """``python3.11`` -> ``python3``; ``perl5.36`` -> ``perl``."""
    match = VERSIONED.fullmatch(name)
    return match.group(1) if match else name
