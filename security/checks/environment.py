"""Checks on variables that change how the shell or a program finds, loads and reads.

All four read `scene_bindings` (security/checks/bindings.py): every construct that
sets, unsets or exports a variable, so ``read PATH``, ``for IFS in ...``,
``: ${GIT_DIR:=x}``, ``export -n GIT_OPTIONAL_LOCKS`` and ``env GREP=x`` are judged
like ``NAME=value``. The tables are in security/knowledge/environment.py.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from security.checks.base import Context, Hit, line_check
from security.checks.bindings import ALL_NAMES, ANY_NAME, Binding, scene_bindings
from security.knowledge.environment import SESSION_GUARDS, Judgement, judge_variable
from security.shell import Command
from security.unwrap import Scene
from security.verdict import Decision, Risk


def _judged(scene: Scene, kinds: frozenset[str]) -> Iterator[tuple[Binding, Judgement]]:
    for binding in scene_bindings(scene):
        if binding.name in (ANY_NAME, ALL_NAMES):
            continue
        value = None if binding.removes else binding.value
        judgement = judge_variable(binding.name, value, binding.exported)
        if judgement is not None and judgement.kind in kinds:
            yield binding, judgement


def _spelled(binding: Binding) -> str:
    if binding.removes:
        return f"{binding.how} {binding.name}"
    shown = binding.value if binding.value is not None else "<computed>"
    return f"{binding.name}={shown} ({binding.how})"


@line_check("S14", "IFS manipulation")
def ifs_manipulation(scene: Scene, ctx: Context) -> Iterator[Hit]:
    """Changing or using IFS changes where words split, so text becomes other commands.

    Attack: ``IFS=,;cmd=rm,-rf,~;$cmd``, ``read IFS``, ``for IFS in ,; do ...``,
    ``: ${IFS:=,}``, or ``cat${IFS}/etc/shadow`` which slips a space past a checker
    that splits on spaces. ``IFS= read -r line`` passes: that IFS lasts for the read
    alone and only splits what it reads.
    """
    for binding, _ in _judged(scene, _IFS):
        if _splits_only_read(binding, scene):
            continue
        yield Hit(f"IFS is set: {_spelled(binding)}", Decision.DENY, command=binding.command)
    for index, command in enumerate(scene.commands):
        if "IFS" in command.text:
            word = _expanding_ifs(command)
            if word is not None:
                yield Hit(f"{word!r} expands IFS", command=index)


_IFS = frozenset({"ifs"})


def _splits_only_read(binding: Binding, scene: Scene) -> bool:
    """``IFS=, read -r a b``: a prefix assignment to a builtin that is not special lasts
    for that command only, and its words were expanded before it: it changes nothing
    but how read splits its input."""
    if binding.how != "NAME=" or binding.command is None:
        return False
    command = scene.commands[binding.command]
    return command.base_name == "read" and command.name == "read" and not command.wrapped


def _expanding_ifs(command: Command) -> str | None:
    for word in (*command.words, *command.assignments):
        if "IFS" in word.raw and _IFS_EXPANSION.search(word.raw):
            return word.raw
    return None


_IFS_EXPANSION = re.compile(r"\$(\{[#!]?)?IFS(?!\w)")  # $IFS, ${IFS}, ${IFS:0:1}, ${#IFS}


@line_check("S15", "PATH or command lookup manipulation")
def path_manipulation(scene: Scene, ctx: Context) -> Iterator[Hit]:
    """Changing how names resolve turns a harmless name into any program.

    Attack: ``PATH=/tmp:$PATH ls`` with a planted ``/tmp/ls``, ``export PATH=.``,
    ``for PATH in /tmp; do ls; done``, ``read PATH < f``, ``EXECIGNORE=...``,
    ``hash -p /tmp/evil ls``, ``enable -f ./evil.so ls`` (a builtin from a library).
    """
    for binding, judgement in _judged(scene, _LOOKUP):
        yield Hit(f"{_spelled(binding)}: {judgement.reason}", Decision.ASK, command=binding.command)
    for index, command in enumerate(scene.commands):
        name = command.base_name
        args = command.argv[1:]
        if name == "hash" and any(a.startswith("-") and "p" in a for a in args):
            yield Hit("hash -p binds a name to a path", Decision.DENY, command=index)
        if name == "enable" and args:
            yield Hit(f"enable {' '.join(args)} changes builtins", Decision.DENY, command=index)


_LOOKUP = frozenset({"lookup"})


@line_check("S16", "environment variable that loads code or configuration")
def code_loading_environment(scene: Scene, ctx: Context) -> Iterator[Hit]:
    """Variables that make programs load libraries, run helpers or read other config.

    Attack: ``LD_PRELOAD=/tmp/x.so ls``, ``BASH_ENV=/tmp/x bash -c true``,
    ``GIT_PAGER='sh -c id' git log``, ``RIPGREP_CONFIG_PATH=x rg y`` (its config adds
    ``--pre``), ``GREP=./x zgrep y f``, ``GIT_DIR=x git log``, ``AWKPATH``,
    ``TEXTDOMAINDIR=. TEXTDOMAIN=x`` with a ``$"..."`` string (bash expands the
    translation it reads), ``read -a GIT_EXTERNAL_DIFF``, ``: ${HOME:=/workspace}``;
    a variable whose name is computed (``export "$n"=x``, ``source f``) asks.
    The sandbox sets ``GIT_OPTIONAL_LOCKS=0`` so that ``git status`` writes nothing;
    ``env -i git status``, ``exec -c git status``, ``GIT_OPTIONAL_LOCKS=1 git status``, ``unset`` or
    ``export -n`` of it ask. ``PAGER=less`` asks; ``GIT_PAGER=cat`` passes.
    """
    bindings = scene_bindings(scene)
    emptied = next((b for b in bindings if b.name == ALL_NAMES), None)
    if emptied is not None:
        runs = {c.base_name for c in scene.commands}
        for name, guard in SESSION_GUARDS.items():
            if guard.tools & runs:
                why = f"{emptied.how} drops {name}={guard.value}: {guard.without}"
                yield Hit(why, command=emptied.command)
    for binding in bindings:
        if binding.name == ANY_NAME and not _runs_a_file(binding, scene):
            yield Hit(
                f"{binding.how}: a variable whose name is computed at run time may be any",
                Decision.ASK,
                command=binding.command,
            )
    for binding, judgement in _judged(scene, _CODE):
        decision, risk = _DECISIONS[judgement.kind]
        if binding.removes and judgement.kind == "code":
            decision, risk = Decision.ASK, Risk.MEDIUM  # unsetting loads nothing new
        yield Hit(f"{_spelled(binding)}: {judgement.reason}", decision, risk, binding.command)


_CODE = frozenset({"code", "pager", "locks", "behaviour"})
_DECISIONS = {
    "code": (Decision.DENY, Risk.HIGH),
    "pager": (Decision.ASK, Risk.MEDIUM),
    "locks": (Decision.ASK, Risk.HIGH),
    "behaviour": (Decision.ASK, Risk.MEDIUM),
}


def _runs_a_file(binding: Binding, scene: Scene) -> bool:
    """``source f`` may set anything, but it is code from a file, judged as such (S18)."""
    index = binding.command
    return index is not None and scene.commands[index].base_name in ("source", ".")


@line_check("S40", "environment variable not known to be inert")
def unreviewed_environment(scene: Scene, ctx: Context) -> Iterator[Hit]:
    """A program reads its environment: a variable nobody reviewed may be its config.

    Attack: ``X=... tool`` where ``tool`` reads ``X`` as a config file or a program
    (``MAGIC``, ``GAWK_...``, a variable added in a later release), or ``export X``
    before it. Prefix assignments, ``env NAME=``, ``export``/``declare -x`` (and every
    assignment after ``set -a``) pass only for the inert variables of
    security/knowledge/environment.py (``LC_ALL=C``, ``TZ=UTC``, ``COLUMNS=120``,
    ``NO_COLOR=1``, ``GIT_PAGER=cat`` ...) with values their rule accepts.
    A shell variable that is not exported (``x=1``, ``for f in *``) passes.
    """
    for binding, judgement in _judged(scene, _NOT_INERT):
        if binding.removes:
            continue  # taking an unknown variable away loads nothing
        yield Hit(
            f"{_spelled(binding)}: {judgement.reason}", Decision.ASK, Risk.MEDIUM, binding.command
        )


_NOT_INERT = frozenset({"not-inert"})
