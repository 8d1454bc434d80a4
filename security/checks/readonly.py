"""The knowledge-base check: is each command proven to only read?"""

from __future__ import annotations

from collections.abc import Iterator

from security.argv import Shape, ends_options, shape
from security.checks.base import Context, Hit, line_check
from security.knowledge import (
    DELEGATING,
    SUBSCRIPT_EVALUATORS,
    accepts_any_arguments,
    read_only_problem,
)
from security.knowledge.readonly import find_own_words, read_only_entry
from security.knowledge.spec import words
from security.knowledge.wrappers import SHELLS
from security.shell import Command, Word
from security.unwrap import (
    FIND_EXEC_ORIGIN,
    FIND_PATH,
    Scene,
    fixed,
    inner_argv,
    shell_code,
    stdin_code,
)
from security.verdict import Decision, Risk


@line_check("S37", "not proven read-only")
def not_proven_read_only(scene: Scene, ctx: Context) -> Iterator[Hit]:
    """Only commands the read-only knowledge base vouches for may run unasked.

    Attack: anything new: ``make``, ``./build.sh``, ``touch x``, ``npm test``. The
    `read-only` policy asks for them; `dev` allows them inside the sandbox. Wrappers
    (``xargs``, ``timeout``, ``sh -c``) count as read-only only when what they run
    was found and is itself checked, and their own options are read-only
    (``xargs --process-slot-var=BASH_ENV bash -c ls``); a bare wrapper run by xargs
    runs what xargs appends (``echo 'rm x' | xargs xargs``). Principle 3: any operand
    can come from a glob, so from a file name the attacker chose: ``sort *`` with a
    file named ``-o.bashrc`` writes, ``rg x *`` with ``--pre=./x`` runs it; a word
    only known at run time must not be able to become an option the entry forbids.

    With an egress proxy (the policy allows hosts), fetching is reading: ``curl -s
    https://host/x`` and ``wget -qO- https://host/x`` are proven read-only when every word
    is literal, every URL says ``http://`` or ``https://``, and no option writes, reads a
    file to send, or routes around the proxy (knowledge/curl.py, knowledge/wget.py):
    ``curl -o f URL``, ``curl -K cfg URL``, ``curl file:///etc/passwd``, ``curl $U`` ask.
    Without one they ask: the network is off.
    """
    for index, command in enumerate(scene.commands):
        if not command.words:
            continue
        name = command.base_name
        if name in DELEGATING or name in SHELLS or name == "eval":
            problem = _wrapper_problem(command)
            if problem:
                yield Hit(problem, Decision.ASK, Risk.MEDIUM, command=index)
            continue
        problem = read_only_problem(command.argv, egress=ctx.egress) or _unknowable_arguments(
            command, ctx.egress
        )
        if problem:
            yield Hit(problem, Decision.ASK, Risk.MEDIUM, command=index)


def _wrapper_problem(command: Command) -> str | None:
    """Why a wrapper or shell is not read-only: its own options, or what it runs
    (not found). What it runs is a command of the scene, judged on its own."""
    name = command.base_name
    argv = command.argv
    if read_only_problem(argv) is None and name not in DELEGATING:
        if command.origin == "xargs":  # `xargs bash --version` runs `bash --version WORDS`
            return f"xargs adds arguments to {name} that the analyzer cannot see"
        return None  # a version query: `bash --version`
    inner, _ = inner_argv(command)
    if name in DELEGATING:
        words = command.words
        start = next((i for i in range(1, len(words)) if words[i:] == inner), len(words))
        problem = read_only_problem(argv[:start])
        if problem:
            return problem
    if inner is not None or shell_code(command)[0] is not None or stdin_code(command):
        return None
    if command.origin == "xargs":  # `echo 'rm x' | xargs xargs`: xargs appends the command
        return f"xargs runs {name}, and the command {name} runs comes from xargs's input"
    if name in ("xargs", "command") and read_only_problem(argv) is None:
        return None  # bare xargs runs echo (a command of its own); command -v looks up
    return f"{name} runs something the analyzer did not find"


def _unknowable_arguments(command: Command, egress: bool = False) -> str | None:
    """Words the proof above could not see, for a command whose proof needs them.

    xargs appends words read from its input (``echo -o | xargs sort``). Globs,
    brace, parameter and command expansion make words at run time (``sort *``,
    ``sort {-o,x}``, ``x=-o; sort $x``): one that may start with ``-`` may be any
    option, unless a ``--`` the program honours comes first (``git diff -- *``); one
    that may split into several words shifts operands (``uniq *``: IN OUT); the code
    of sed and awk must be literal. Commands that no argument can make write or run
    anything (``ls *``, ``wc -l $f``) take any word.
    """
    name = command.base_name
    if command.conditional:
        return None  # `[[ ]]`: no word is split or globbed, its operators are fixed
    entry = read_only_entry(name, egress=egress)
    if command.origin == "xargs" and entry is not None and entry.stalls:
        # words read from input, not from the line: `echo -f | xargs tail` hangs
        return f"xargs adds arguments to {name} that the analyzer cannot see"
    if accepts_any_arguments(name):
        return None
    if command.origin == "xargs":
        return f"xargs adds arguments to {name} that the analyzer cannot see"
    if entry is None:
        return None  # a version query (read_only_problem passed)
    argv = command.argv
    words = command.words
    if _tests_data(command):
        return None
    code_index = entry.code_operand(argv) if entry.code_operand else None
    own = find_own_words(argv) if name == "find" else range(1, len(argv))
    if name == "printf":
        own = range(1, _printf_arguments_start(command))
    after_dashes = False
    for i in own:
        word = words[i]
        known = _known_shape(command, word)
        if known is None:
            after_dashes = after_dashes or (
                entry.dashdash and ends_options(argv, i, entry.detached_values, entry.flags)
            )
            continue
        if i == code_index:
            return f"{name}: its code {word.raw!r} is only known at run time"
        if name in SUBSCRIPT_EVALUATORS:
            return f"{name}: {word.raw!r} is only known at run time (a subscript runs code)"
        if entry.literal_words:
            return f"{name}: {word.raw!r} is only known at run time, and any word matters"
        if known.may_split and (entry.positional or entry.max_operands is not None):
            return f"{name}: {word.raw!r} may become several words, and their order matters"
        if known.may_be_option and not after_dashes and not _is_value(command, i):
            return (
                f"{name}: {word.raw!r} may expand to any option of {name}, which has harmful ones"
            )
    return None


def _printf_arguments_start(command: Command) -> int:
    """The index of printf's first argument after its format: from there on every word
    is data (bash's printf converts numbers with strtoimax, never as arithmetic). The
    format and ``-v NAME`` before it are judged as usual; a run-time word there ends
    the scan, so it is judged too."""
    words = command.words
    index = 1
    while index < len(words):
        word = words[index]
        if _known_shape(command, word) is not None:
            return index + 1  # judged, with everything before it
        if word.value == "--":
            return index + 2  # the format follows
        if word.value == "-v":
            index += 2
            continue
        if word.value.startswith("-v"):
            index += 1
            continue
        return index + 1  # the literal format
    return index


# test's unary operators whose operand is a string or a file name (-v and -R name a
# variable, whose subscript is evaluated), and its binary operators (in `test` and `[`
# the arithmetic ones convert with strtoimax; only `[[` evaluates them).
TEST_UNARY = frozenset(
    words("-a -b -c -d -e -f -g -h -k -p -r -s -t -u -w -x -G -L -N -O -S -z -n -o")
)
TEST_BINARY = frozenset(words("= == != < > -nt -ot -ef -eq -ne -lt -le -gt -ge"))


def _tests_data(command: Command) -> bool:
    """`test -f "$f"`, `[ "$a" = "$b" ]`, `[ ! -d "$d" ]`: with at most three
    arguments (after a leading ``!``) test decides by their number, so a value that
    stays one word is an operand, never an operator such as ``-v``."""
    if command.base_name not in ("test", "["):
        return False
    argv = command.argv
    closed = command.base_name == "[" and argv[-1] == "]"
    args = command.words[1 : len(argv) - 1 if closed else len(argv)]
    if 2 <= len(args) <= 4 and args[0].value == "!" and fixed(args[0]):
        args = args[1:]
    if any(not fixed(word) and shape(word.raw).may_split for word in args):
        return False
    if len(args) == 1:
        return True
    if len(args) == 2:
        return fixed(args[0]) and args[0].value in TEST_UNARY
    if len(args) == 3:
        return fixed(args[1]) and args[1].value in TEST_BINARY
    return False


def _known_shape(command: Command, word: Word) -> Shape | None:
    """None for a word fixed before the command runs; else what it may become.

    find's ``{}`` is a path: it starts like find's starting points (never ``-`` when
    they are literal and not ``-``; a ``-files0-from`` list may hold anything).
    """
    if command.origin.startswith(FIND_EXEC_ORIGIN) and FIND_PATH in word.value:
        safe_paths = command.origin == FIND_EXEC_ORIGIN and word.value.startswith(FIND_PATH)
        return Shape(may_be_option=not safe_paths, may_split=True)
    return None if fixed(word) else shape(word.raw)


def _is_value(command: Command, i: int) -> bool:
    """The word after an option that takes a value (``find -name "$p"``), when it
    cannot split: it is that option's value, never an option."""
    entry = read_only_entry(command.base_name, egress=True)
    if entry is None or i < 2 or shape(command.words[i].raw).may_split:
        return False
    previous = command.words[i - 1]
    return fixed(previous) and previous.value in entry.value_options
