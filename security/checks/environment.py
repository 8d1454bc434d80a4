"""Checks on variables that change how the shell or a program finds and loads code."""

from __future__ import annotations

from collections.abc import Iterator

from security.checks.base import Context, Hit, Trigger, command_check
from security.knowledge.environment import (
    CODE_LOADING_DENY,
    CODE_LOADING_PREFIXES,
    GIT_LOCKS,
    SAFE_PAGERS,
)
from security.shell import Command, Word
from security.unwrap import Scene
from security.verdict import Decision, Risk

ASSIGNING_BUILTINS = frozenset({"export", "declare", "typeset", "local", "readonly", "set"})
# every command `_assignments` reads variables from (prefix assignments aside)
SETS_VARIABLES = ASSIGNING_BUILTINS | {
    "env",
    "read",
    "printf",
    "mapfile",
    "readarray",
    "getopts",
    "unset",
}


def _assignments(command: Command) -> Iterator[tuple[str, str]]:
    """Every (NAME, value) the command sets: prefixes, export/declare/env/read."""
    for word in command.assignments:
        name, _, value = word.value.partition("=")
        yield name.rstrip("+"), value
    name = command.base_name
    args = command.words[1:]
    if name in ASSIGNING_BUILTINS or name == "env":
        for word in args:
            if "=" in word.value and not word.value.startswith("-"):
                key, _, value = word.value.partition("=")
                yield key.rstrip("+"), value
            elif name in ("export", "declare", "typeset", "readonly", "local") and not (
                word.value.startswith("-")
            ):
                yield word.value, ""
    elif name in ("read", "printf", "mapfile", "readarray", "getopts"):
        yield from _read_targets(name, args)
    elif name == "unset":
        for word in args:
            if not word.value.startswith("-"):
                yield word.value, ""


_OPTIONS_WITH_VALUE = {
    "read": frozenset({"-d", "-n", "-N", "-p", "-t", "-u", "-i"}),
    "mapfile": frozenset({"-d", "-n", "-O", "-s", "-u", "-C", "-c"}),
    "readarray": frozenset({"-d", "-n", "-O", "-s", "-u", "-C", "-c"}),
    "getopts": frozenset(),
}


def _read_targets(name: str, args: list[Word]) -> Iterator[tuple[str, str]]:
    """Variables that read, mapfile, getopts and printf -v assign."""
    values = [w.value for w in args]
    if name == "printf":
        if "-v" in values and values.index("-v") + 1 < len(values):
            yield values[values.index("-v") + 1], "?"
        return
    with_value = _OPTIONS_WITH_VALUE[name]
    operands: list[str] = []
    i = 0
    while i < len(values):
        value = values[i]
        if value in with_value:
            i += 2
            continue
        if value == "-a" and i + 1 < len(values):
            yield values[i + 1], "?"
            i += 2
            continue
        if not value.startswith("-"):
            operands.append(value)
        i += 1
    targets = operands[1:] if name == "getopts" else operands
    for target in targets:
        yield target, "?"


def _env_drops_git_locks(command: Command) -> bool:
    """`env -i git ...`, `env - git`, `env -u GIT_OPTIONAL_LOCKS git ...`: git loses the
    sandbox's GIT_OPTIONAL_LOCKS=0."""
    values = [w.value for w in command.words[1:]]
    if not any(v.rsplit("/", 1)[-1] == "git" for v in values):
        return False
    for value in values:
        if not value.startswith("-"):
            continue
        short = value[1:] if not value.startswith("--") else ""
        if value == "-" or "i" in short or value.startswith("--i") or GIT_LOCKS in value:
            return True
    return GIT_LOCKS in values


@command_check(
    "S14",
    "IFS manipulation",
    when=Trigger(names=SETS_VARIABLES, assignments=True, tokens=("IFS",)),
)
def ifs_manipulation(command: Command, scene: Scene, ctx: Context) -> Iterator[Hit]:
    """Changing or using IFS changes where words split, so text becomes other commands.

    Attack: ``IFS=,;cmd=rm,-rf,~;$cmd``, or ``cat${IFS}/etc/shadow`` which slips a
    space past a checker that splits on spaces.
    """
    for name, _ in _assignments(command):
        if name == "IFS":
            yield Hit("IFS is assigned", Decision.DENY)
    for word in (*command.words, *command.assignments):
        if "IFS" in word.raw and "$" in word.raw:
            yield Hit(f"{word.raw!r} expands IFS", Decision.ASK)
            return


@command_check(
    "S15",
    "PATH or command lookup manipulation",
    when=Trigger(names=SETS_VARIABLES | {"hash", "enable"}, assignments=True),
)
def path_manipulation(command: Command, scene: Scene, ctx: Context) -> Iterator[Hit]:
    """Changing how names resolve turns a harmless name into any program.

    Attack: ``PATH=/tmp:$PATH ls`` with a planted ``/tmp/ls``, ``export PATH=.``,
    ``hash -p /tmp/evil ls``, ``enable -f ./evil.so ls`` (a builtin from a library).
    """
    for name, _ in _assignments(command):
        if name in ("PATH", "CDPATH", "FPATH", "fpath", "path", "module_path"):
            yield Hit(f"{name} is changed", Decision.ASK)
    name = command.base_name
    args = command.argv[1:]
    if name == "hash" and any(a.startswith("-") and "p" in a for a in args):
        yield Hit("hash -p binds a name to a path", Decision.DENY)
    if name == "enable" and args:
        yield Hit(f"enable {' '.join(args)} changes builtins", Decision.DENY)


@command_check(
    "S16",
    "environment variable that loads code",
    when=Trigger(names=SETS_VARIABLES, assignments=True),
)
def code_loading_environment(command: Command, scene: Scene, ctx: Context) -> Iterator[Hit]:
    """Variables that make programs load libraries, run hooks or start pagers.

    Attack: ``LD_PRELOAD=/tmp/x.so ls``, ``BASH_ENV=/tmp/x bash -c true``,
    ``GIT_PAGER='sh -c id' git log``, ``NODE_OPTIONS='--require /tmp/x.js' node app``,
    ``PYTHONSTARTUP``, ``PERL5OPT=-Mevil``, ``PROMPT_COMMAND``, ``env LD_AUDIT=...``.
    ``PAGER=cat`` and ``GIT_PAGER=cat`` still ask: the value decides everything.
    The sandbox sets ``GIT_OPTIONAL_LOCKS=0`` so that ``git status`` writes nothing;
    ``env -i git status``, ``GIT_OPTIONAL_LOCKS=1 git status`` or ``unset`` of it ask.
    """
    if command.base_name == "env" and _env_drops_git_locks(command):
        yield Hit(f"env drops {GIT_LOCKS}=0: git then writes its index", Decision.ASK)
    for name, value in _assignments(command):
        if name == GIT_LOCKS and value != "0":
            yield Hit(f"{name}={value}: git then writes its index", Decision.ASK)
        if name in CODE_LOADING_DENY or name.startswith(CODE_LOADING_PREFIXES):
            pager = name.endswith("PAGER") and value.strip() in SAFE_PAGERS
            yield Hit(
                f"{name}={value}" if value else name,
                Decision.ASK if pager else Decision.DENY,
                Risk.MEDIUM if pager else Risk.HIGH,
            )
