"""Every variable a line sets, unsets or exports, however bash spells it.

``NAME=value`` is one way among many. `command_bindings` reads them all from one
command: prefix and standalone assignments (subscripted ones too, which bashlex
reads as words), ``export``/``declare``/``typeset``/``local``/``readonly`` (``-x``,
``+x``, ``-n`` namerefs), ``unset``, ``export -n``, ``read`` (``-a``, ``REPLY``),
``mapfile``/``readarray``, ``getopts``, ``printf -v``, ``wait -p``, ``let``, ``cd``
(``PWD``/``OLDPWD``), ``source`` (anything), ``env NAME=``/``-u``/``-i``/``-S``,
``{NAME}>file`` redirections, ``coproc NAME``, and ``${NAME=v}``/``${NAME:=v}`` in
any word. `scene_bindings` adds ``for NAME in ...`` loops (bashlex keeps them out of
its commands), exports every binding when ``set -a``/``-k`` is in the line, and
treats as exported the names of the session's environment and every variable a
read-only tool reads (the session may export it already). Every variable check
reads this and nothing else.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from typing import NamedTuple

from security.checks.syntax import line_structure
from security.knowledge.environment import BASE_ENVIRONMENT, READ_BY_TOOLS
from security.knowledge.spec import words
from security.knowledge.wrappers import ARGV_WRAPPERS
from security.shell import Command, Word
from security.unwrap import Scene, read_env
from security.wordscan import dollar_scan

ANY_NAME = "?"  # a name computed at run time: it may be any variable
ALL_NAMES = "*"  # env -i: every variable leaves the environment


class Binding(NamedTuple):
    """One variable a command sets, unsets or exports."""

    name: str  # the variable; ANY_NAME or ALL_NAMES
    value: str | None  # the value when it is a literal; None when computed or unknown
    how: str  # the construct: "NAME=", "export", "read", "for", "${NAME:=}", ...
    exported: bool = False  # reaches the environment of programs
    removes: bool = False  # unsets it, or takes it out of the environment
    command: int | None = None  # index in the scene's commands (None: a loop)


IDENTIFIER = re.compile(r"[A-Za-z_]\w*")
_SUBSCRIPTED = re.compile(r"([A-Za-z_]\w*)(\[.*\])?")
_ASSIGNMENT_WORD = re.compile(r"([A-Za-z_]\w*)(\[[^=]*\])?\+?=")
_FD_VARIABLE = re.compile(r"\{([A-Za-z_]\w*)\}")

DECLARERS = frozenset({"export", "declare", "typeset", "local", "readonly"})
# every command name command_bindings reads more than assignments from
BINDING_COMMANDS = DECLARERS | frozenset(
    {
        "unset",
        "read",
        "mapfile",
        "readarray",
        "getopts",
        "printf",
        "wait",
        "let",
        "cd",
        "pushd",
        "popd",
        "source",
        ".",
        "env",
        "exec",
        "coproc",
    }
)
# options that take a value, per builtin (the rest are flags)
_WITH_VALUE = {
    "read": "adinNptu",
    "mapfile": "dnOsuCc",
    "readarray": "dnOsuCc",
    "wait": "p",
    "printf": "v",
}


def command_bindings(command: Command) -> list[Binding]:
    """Every binding ``command`` makes (without its scene index)."""
    name = command.base_name
    if (
        not command.assignments
        and name not in BINDING_COMMANDS
        and "{" not in command.text
        and not _leading_subscript_assignment(command)
    ):
        return []
    found = list(_assignment_words(command))
    if name in DECLARERS:
        found += _declared(command)
    elif name in _READERS:
        found += _READERS[name](command)
    elif name == "env":
        found += _env(command)
    elif name == "exec" and _exec_clears(command):
        found.append(Binding(ALL_NAMES, None, "exec -c", removes=True))
    elif name == "let":
        found += _let(command)
    elif name == "coproc":
        found += _coproc(command)
    elif name in ("cd", "pushd", "popd"):
        found += [Binding(n, None, name) for n in ("PWD", "OLDPWD")]
        if name != "cd":
            found.append(Binding("DIRSTACK", None, name))
    elif name in ("source", "."):
        found.append(Binding(ANY_NAME, None, f"{name} (the file may set anything)"))
    if command.redirects:
        for word in command.words[1:]:
            match = _FD_VARIABLE.fullmatch(word.raw)
            if match:
                found.append(Binding(match.group(1), None, "{NAME}>file"))
    found += word_bindings(command)
    return found


def word_bindings(command: Command) -> list[Binding]:
    """``${NAME=value}`` and ``${NAME:=value}`` in the command's words, assignments and
    redirection targets (each assigns when NAME is unset or empty).

    ``${!NAME:=value}`` assigns the variable whose name NAME holds: any name, as far as
    this line's words tell (`a=HISTFILE; : "${!a:=README.md}"` set HISTFILE; a red-team
    pass truncated README.md that way).
    """
    found: list[Binding] = []
    for word in _all_words(command):
        if "${" not in word.raw:
            continue
        scan = dollar_scan(word.raw)
        if scan is None:
            continue  # S39 refuses what it cannot read
        for expansion in scan.parameters:
            if expansion.op not in ("=", ":="):
                continue
            value = expansion.operand if _plain_text(expansion.operand) else None
            how = f"${{{expansion.prefix}{expansion.name}{expansion.op}}}"
            if expansion.prefix == "":
                found.append(Binding(expansion.name, value, how))
            elif expansion.prefix == "!":
                found.append(
                    Binding(ANY_NAME, value, f"{how} (the variable {expansion.name} names)")
                )
    return found


def _all_words(command: Command) -> Iterator[Word]:
    yield from command.words
    yield from command.assignments
    for redirect in command.redirects:
        if redirect.target is not None and redirect.heredoc is None:
            yield redirect.target


def _plain_text(text: str) -> bool:
    return not any(c in text for c in "$`'\"\\~")


def _literal_value(word: Word, raw_value: str) -> str | None:
    """The assigned value when it is a literal (no expansion, quotes removed)."""
    if word.parts or word.scan.expands or "~" in raw_value or "`" in raw_value:
        return None
    return word.value.split("=", 1)[1] if "=" in word.value else None


def _assignment_words(command: Command) -> Iterator[Binding]:
    exported = bool(command.words)
    for word in command.assignments:
        name, _, raw_value = word.raw.partition("=")
        name = name.rstrip("+")
        yield Binding(name, _literal_value(word, raw_value), "NAME=", exported)
    # bashlex reads `a[x]=1` as a word: bash assigns it (and those after it) all the same
    if not _leading_subscript_assignment(command):
        return
    for index, word in enumerate(command.words):
        match = _ASSIGNMENT_WORD.match(word.raw)
        if match is None:
            break
        yield Binding(match.group(1), None, "NAME[...]=", index + 1 < len(command.words))


def _leading_subscript_assignment(command: Command) -> bool:
    if not command.words or "[" not in command.words[0].raw:
        return False
    match = _ASSIGNMENT_WORD.match(command.words[0].raw)
    return match is not None and match.group(2) is not None


def _named(word: Word, how: str, **flags: bool) -> Binding:
    """The variable a name operand (``NAME`` or ``NAME[sub]``) refers to."""
    match = _SUBSCRIPTED.fullmatch(word.value)
    if not word.literal or match is None:
        return Binding(ANY_NAME, None, f"{how} {word.raw}", **flags)
    return Binding(match.group(1), None, how, **flags)


def _options(args: list[Word], with_value: str) -> tuple[dict[str, list[Word]], list[Word]]:
    """getopt for bash builtins: {letter: values} and the operands after the options."""
    found: dict[str, list[Word]] = {}
    i = 0
    while i < len(args):
        word = args[i]
        value = word.value
        if value == "--":
            return found, args[i + 1 :]
        if not word.literal or len(value) < 2 or value[0] != "-":
            break
        for pos, letter in enumerate(value[1:], start=1):
            if letter in with_value:
                if pos + 1 < len(value):
                    found.setdefault(letter, []).append(Word.synthetic(value[pos + 1 :]))
                elif i + 1 < len(args):
                    i += 1
                    found.setdefault(letter, []).append(args[i])
                break
            found.setdefault(letter, [])
        i += 1
    return found, args[i:]


def _declared(command: Command) -> list[Binding]:
    """export, declare, typeset, local, readonly."""
    name = command.base_name
    args = command.words[1:]
    minus: set[str] = set()
    plus: set[str] = set()
    i = 0
    while i < len(args):
        word = args[i]
        value = word.value
        if value == "--":
            i += 1
            break
        if word.literal and len(value) > 1 and value[0] in "-+" and value[1:].isalpha():
            (minus if value[0] == "-" else plus).update(value[1:])
            i += 1
            continue
        break
    if minus & {"f", "F"}:
        return []  # functions, not variables
    exported = "x" in minus or (name == "export" and "n" not in minus)
    nameref = "n" in minus and name != "export"  # export -n un-exports instead
    found: list[Binding] = []
    for word in args[i:]:
        how = f"{name} {'-' + ''.join(sorted(minus)) if minus else ''}".strip()
        match = _ASSIGNMENT_WORD.match(word.value)
        name_part = word.value.split("=", 1)[0].rstrip("+")
        if match and "=" in word.value and _plain_name(word, name_part):
            assigned = None if not word.literal else word.value.split("=", 1)[1]
            removes = "x" in plus or (name == "export" and "n" in minus)
            found.append(Binding(match.group(1), assigned, how, exported, removes))
            if nameref:  # assigning a nameref assigns the variable it names
                target = word.value.split("=", 1)[1]
                found.append(_nameref_target(target if word.literal else None, how))
            continue
        if "p" in minus and "=" not in word.value:
            continue  # declare -p NAME prints it
        if "=" in word.value:
            found.append(Binding(ANY_NAME, None, f"{how} {word.raw}", exported))
            continue
        removes = "x" in plus or (name == "export" and "n" in minus) or name == "local"
        found.append(_named(word, how, exported=exported, removes=removes))
        if nameref:
            found.append(Binding(ANY_NAME, None, f"{how} {word.raw}: a nameref set later"))
    return found


def _plain_name(word: Word, name_part: str) -> bool:
    """The part before ``=`` is written plainly (no expansion builds the name)."""
    raw_name = word.raw.split("=", 1)[0]
    return "$" not in raw_name and "`" not in raw_name and bool(name_part)


def _nameref_target(target: str | None, how: str) -> Binding:
    match = _SUBSCRIPTED.fullmatch(target or "")
    if target is None or match is None:
        return Binding(ANY_NAME, None, f"{how}: a nameref to a name computed at run time")
    return Binding(match.group(1), None, f"{how} (nameref target)")


def _unset(command: Command) -> list[Binding]:
    options, names = _options(command.words[1:], "")
    if "f" in options:
        return []
    return [_named(word, "unset", removes=True) for word in names]


def _read(command: Command) -> list[Binding]:
    options, names = _options(command.words[1:], _WITH_VALUE["read"])
    found = [_named(word, "read -a") for word in options.get("a", [])]
    found += [_named(word, "read") for word in names]
    return found or [Binding("REPLY", None, "read")]


def _mapfile(command: Command) -> list[Binding]:
    _, names = _options(command.words[1:], _WITH_VALUE["mapfile"])
    how = command.base_name
    return [_named(names[0], how)] if names else [Binding("MAPFILE", None, how)]


def _getopts(command: Command) -> list[Binding]:
    args = command.words[1:]
    # OPTIND gets an index bash counts itself: an integer, whatever the arguments hold
    found = [Binding("OPTARG", None, "getopts"), Binding("OPTIND", "1", "getopts")]
    if len(args) >= 2:
        found.append(_named(args[1], "getopts"))
    return found


def _printf(command: Command) -> list[Binding]:
    options, _ = _options(command.words[1:], _WITH_VALUE["printf"])
    return [_named(word, "printf -v") for word in options.get("v", [])]


def _wait(command: Command) -> list[Binding]:
    options, _ = _options(command.words[1:], _WITH_VALUE["wait"])
    return [_named(word, "wait -p") for word in options.get("p", [])]


_READERS = {
    "unset": _unset,
    "read": _read,
    "mapfile": _mapfile,
    "readarray": _mapfile,
    "getopts": _getopts,
    "printf": _printf,
    "wait": _wait,
}

_LET_TARGET = re.compile(
    r"([A-Za-z_]\w*)\s*(?:\[[^\]]*\])?\s*(?:[-+*/%&|^]|<<|>>|\*\*)?=(?!=)"
    r"|([A-Za-z_]\w*)\s*(?:\+\+|--)|(?:\+\+|--)\s*([A-Za-z_]\w*)"
)


def _let(command: Command) -> list[Binding]:
    found: list[Binding] = []
    for word in command.words[1:]:
        if not word.literal:
            found.append(Binding(ANY_NAME, None, f"let {word.raw}"))
            continue
        for match in _LET_TARGET.finditer(word.value):
            name = next(group for group in match.groups() if group)
            found.append(Binding(name, None, "let"))
    return found


def _coproc(command: Command) -> list[Binding]:
    """``coproc NAME { ...; }`` (read from tree-sitter's fallback: bashlex lacks coproc)."""
    words = command.words
    if len(words) > 2 and IDENTIFIER.fullmatch(words[1].value) and words[2].value in ("{", "("):
        return [Binding(words[1].value, None, "coproc")]
    return [Binding("COPROC", None, "coproc")]


def _env(command: Command) -> list[Binding]:
    """env's -i (or `-`), -u NAME and NAME=value words, those of an -S string included,
    read as the unwrapper reads them (`unwrap.read_env`)."""
    call = read_env(command.words[1:])
    found = [Binding(ALL_NAMES, None, "env -i", removes=True)] if call.clears else []
    if call.problem:
        # `env * ls`: a file named LD_PRELOAD=x.so is an assignment to env
        found.append(Binding(ANY_NAME, None, f"env: {call.problem}", True))
    found += [_named(Word.synthetic(name), "env -u", removes=True) for name in call.unsets]
    for word in call.sets:
        name = word.value.split("=", 1)[0]
        if not word.literal or not _plain_name(word, name) or not IDENTIFIER.fullmatch(name):
            found.append(Binding(ANY_NAME, None, f"env {word.raw}", True))
            continue
        found.append(Binding(name, word.value.split("=", 1)[1], "env NAME=", True))
    return found


def _exec_clears(command: Command) -> bool:
    """bash's ``exec -c CMD`` runs CMD with an empty environment, as ``env -i`` does."""
    parsed = ARGV_WRAPPERS["exec"].options.parse([w.value for w in command.words[1:]])
    return any(option.name == "-c" for option in parsed.options)


_SETS_ALLEXPORT = re.compile(r"[+-]?[a-zA-Z]*[ak][a-zA-Z]*")


def exports_everything(scene: Scene) -> bool:
    """``set -a`` (allexport) or ``set -k`` (keyword) somewhere in the line: every
    assignment then reaches the environment of the programs that follow."""
    for command in scene.commands:
        if command.base_name != "set":
            continue
        argv = command.argv[1:]
        for i, arg in enumerate(argv):
            if arg == "--":
                break
            short = arg.startswith("-") and not arg.startswith("--")
            if short and "o" not in arg and _SETS_ALLEXPORT.fullmatch(arg):
                return True
            if arg in ("-o", "+o") and argv[i + 1 : i + 2] in (["allexport"], ["keyword"]):
                return True
        if any(not w.literal for w in command.words[1:]):
            return True  # options computed at run time
    return False


_MEMO = threading.local()


def scene_bindings(scene: Scene) -> list[Binding]:
    """Every binding of the line, with its command's index (memoized per scene)."""
    cached = getattr(_MEMO, "last", None)
    if cached is not None and cached[0] is scene:
        return cached[1]  # type: ignore[no-any-return]
    found: list[Binding] = []
    for index, command in enumerate(scene.commands):
        for binding in command_bindings(command):
            found.append(binding._replace(command=index))
    for loop in line_structure(scene).loops:
        values = [w.value if w.literal else None for w in loop.items] if loop.items else [None]
        for value in values:
            found.append(Binding(loop.name, value, f"for {loop.name} in"))
    everything = exports_everything(scene) if found else False
    found = [
        b._replace(exported=True)
        if not b.exported and (everything or b.name in BASE_ENVIRONMENT or b.name in READ_BY_TOOLS)
        else b
        for b in found
    ]
    _MEMO.last = (scene, found)
    return found


# variables bash sets by itself, from data (`_` is the previous command's last argument)
_SHELL_SET = frozenset(
    words(
        """
        _ REPLY RANDOM SRANDOM SECONDS LINENO BASH_COMMAND BASH_REMATCH BASHPID EPOCHSECONDS
        EPOCHREALTIME OPTARG OPTIND PIPESTATUS FUNCNAME BASH_SOURCE BASH_LINENO BASH_ARGV
        BASH_ARGC GROUPS DIRSTACK PWD OLDPWD HISTCMD MAPFILE COPROC PPID UID EUID
        """
    )
)
_INTEGER = re.compile(r"[+-]?\d{1,18}")


def shell_may_set(name: str) -> bool:
    """Whether bash (or the session's environment) may give ``name`` a value that no
    binding in the line shows: ``_`` (the previous command's last argument),
    ``BASH_REMATCH`` (set by ``[[ =~ ]]``), ``REPLY``, ``PWD``... Every variable bash
    sets, and every one of the environment, is in capitals or is ``_``."""
    return name in _SHELL_SET or not any(char.islower() for char in name)


class KnownValues(NamedTuple):
    """Variables whose every value in the line is a literal of a harmless kind."""

    integers: frozenset[str]  # evaluating them as arithmetic runs nothing
    names: frozenset[str]  # they hold plain variable names: indirection evaluates nothing


def known_values(bindings: list[Binding]) -> KnownValues:
    """Which variables hold only literal integers, or only plain names, wherever the
    line sets them. Nothing is known when some binding's name is computed."""
    values: dict[str, list[str | None]] = {}
    for binding in bindings:
        if binding.name in (ANY_NAME, ALL_NAMES) and not binding.removes:
            return KnownValues(frozenset(), frozenset())
        values.setdefault(binding.name, []).append(None if binding.removes else binding.value)
    candidates = {name: seen for name, seen in values.items() if name not in _SHELL_SET}
    return KnownValues(
        _holding(candidates, _INTEGER),
        _holding(candidates, IDENTIFIER),
    )


def _holding(values: dict[str, list[str | None]], pattern: re.Pattern[str]) -> frozenset[str]:
    return frozenset(
        name
        for name, seen in values.items()
        if all(value is not None and pattern.fullmatch(value) for value in seen)
    )


def constant_names(bindings: list[Binding]) -> frozenset[str]:
    """Names that hold a literal integer wherever the line sets them."""
    return known_values(bindings).integers
