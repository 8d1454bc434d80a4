"""The knowledge-base check: is each command proven to only read?"""

from __future__ import annotations

from collections.abc import Iterator

from security.checks.base import Context, Hit, line_check
from security.knowledge import DELEGATING, read_only_problem
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
        problem = read_only_problem(command.argv)
        if problem:
            yield Hit(problem, Decision.ASK, Risk.MEDIUM, command=index)
