"""The knowledge-base check: is each command proven to only read?"""

from __future__ import annotations

from collections.abc import Iterator

from security.checks.base import Context, Hit, line_check
from security.knowledge import (
    DELEGATING,
    READ_ONLY,
    accepts_any_arguments,
    read_only_problem,
)
from security.shell import Command
from security.unwrap import Scene, inner_argv, shell_code, stdin_code
from security.verdict import Decision, Risk


@line_check("S37", "not proven read-only")
def not_proven_read_only(scene: Scene, ctx: Context) -> Iterator[Hit]:
    """Only commands the read-only knowledge base vouches for may run unasked.

    Attack: anything new: ``make``, ``./build.sh``, ``touch x``, ``npm test``. The
    `read-only` policy asks for them; `dev` allows them inside the sandbox. Wrappers
    (``xargs``, ``timeout``, ``sh -c``) count as read-only only when what they run
    was found and is itself checked.
    """
    for index, command in enumerate(scene.commands):
        if not command.words:
            continue
        name = command.base_name
        if name in DELEGATING or (name in ("sh", "bash", "dash", "zsh", "eval")):
            found_inner = inner_argv(command)[0] is not None or shell_code(command)[0] is not None
            found_inner = found_inner or stdin_code(command) is not None
            if found_inner:
                continue
            if name in ("xargs", "command"):
                problem = read_only_problem(command.argv)
                if problem is None:
                    continue
            yield Hit(
                f"{name} runs something the analyzer did not find",
                Decision.ASK,
                Risk.MEDIUM,
                command=index,
            )
            continue
        problem = read_only_problem(command.argv) or _unknowable_arguments(command)
        if problem:
            yield Hit(problem, Decision.ASK, Risk.MEDIUM, command=index)


def _unknowable_arguments(command: Command) -> str | None:
    """Arguments the proof above could not see, for a command whose proof needs them.

    xargs appends words read from its input (``echo -o | xargs sort``); brace, parameter
    and command expansion make words at run time (``sort {-o,x}``, ``x=-o; sort $x``).
    Either may add an option the knowledge base forbids, unless the command is
    read-only with any arguments at all.
    """
    name = command.base_name
    if accepts_any_arguments(name):
        return None
    if command.origin == "xargs":
        return f"xargs adds arguments to {name} that the analyzer cannot see"
    args = command.argv[1:-1] if name == "[" else command.argv[1:]
    if name in ("test", "[") and len(args) == 2 and args[0] in ("-n", "-z"):
        return None  # `test -n "$x"`: two words, so the value is a string, never `-v`
    counts_operands = (spec := READ_ONLY.get(name)) is not None and spec.max_operands is not None
    for word in command.words[1:]:
        scan = word.scan
        if word.parts or scan.expands or ("{" in scan.unquoted and "}" in scan.unquoted):
            return f"{name}: {word.raw!r} expands at run time, maybe to an option"
        if counts_operands and GLOB_CHARS & scan.unquoted:  # `uniq *`: IN OUT, OUT written
            return f"{name}: {word.raw!r} may match several files, and {name} writes its last"
    return None


GLOB_CHARS = frozenset("*?[")
