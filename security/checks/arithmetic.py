"""Where bash evaluates a value as arithmetic or as a variable name: data becomes code.

Bash evaluates array subscripts, substring offsets, ``let``, ``((...))``, ``$((...))``,
``$[...]``, ``[[ x -eq y ]]`` and values assigned to ``declare -i`` variables as
arithmetic. In arithmetic a variable's *value* is evaluated in turn, and an array
subscript inside it runs its ``$(...)``: ``x='a[$(id)]'; echo ${b[x]}`` runs ``id``.
Names given to ``test -v``, ``read``, ``printf -v``, ``unset``, ``declare`` ... and
indirection (``${!x}``, namerefs) evaluate the subscript of the name they are given,
and ``${x@P}`` expands a value as a prompt, running its command substitutions. The
value may be anything the line read: a file, a command's output, even ``$_``.

Each such evaluation passes only when its operand is a literal constant, or a name
the line sets to nothing but literal integers.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from security.checks.base import Context, Hit, line_check
from security.checks.bindings import KnownValues, known_values, scene_bindings
from security.checks.syntax import line_structure
from security.knowledge.environment import BASH_INTEGER_VARIABLES
from security.shell import Command, Word
from security.unwrap import Scene
from security.verdict import Decision, Risk
from security.wordscan import ParamExpansion, arithmetic_body, dollar_scan

_TOKEN = re.compile(r"\s+|\d+|\$?\{?[A-Za-z_]\w*\}?|\*\*|<<|>>|[-+*/%()<>&|^~!]")
_NAME_WITH_SUBSCRIPT = re.compile(r"([A-Za-z_]\w*)(?:\[(.*)\])?", re.DOTALL)
_HOLDER = re.compile(r'"?\$\{?([A-Za-z_]\w*)\}?"?')  # "$v", ${v}

# builtins whose operands are variable names (a subscript in one is evaluated)
_NAME_OPERANDS = frozenset(
    {"read", "unset", "export", "declare", "typeset", "local", "readonly", "getopts"}
)
_MAPFILE = frozenset({"mapfile", "readarray"})
_TESTS = frozenset({"test", "[", "[["})
_ARITHMETIC_TEST = frozenset({"-eq", "-ne", "-lt", "-le", "-gt", "-ge"})


def constant_expression(text: str, constants: frozenset[str]) -> bool:
    """Whether arithmetic ``text`` holds only numbers, operators and constant names."""
    if not text.strip():
        return False
    position = 0
    for match in _TOKEN.finditer(text):
        if match.start() != position:
            return False
        token = match.group(0).strip("${}")
        if token and (token[0].isalpha() or token[0] == "_") and token not in constants:
            return False
        position = match.end()
    return position == len(text)


def _subscript_ok(subscript: str | None, known: KnownValues) -> bool:
    return (
        subscript is None
        or subscript in ("@", "*")
        or constant_expression(subscript, known.integers)
    )


def expansion_problem(expansion: ParamExpansion, known: KnownValues) -> str | None:
    """Why one ``${...}`` evaluates something that is not constant, or None."""
    shown = "${" + expansion.body + "}"
    if expansion.op == "?!":
        return f"{shown}: not an expansion the analyzer can read"
    if expansion.prefix == "!" and not (
        expansion.op in ("*", "@")
        or expansion.subscript in ("@", "*")
        or (expansion.name in known.names and expansion.subscript is None)
    ):
        return f"{shown}: indirection evaluates the name held in {expansion.name}"
    if not _subscript_ok(expansion.subscript, known):
        return f"{shown}: the subscript [{expansion.subscript}] is evaluated as arithmetic"
    if expansion.op == ":":
        offset, _, length = expansion.operand.partition(":")
        parts = [offset, length] if ":" in expansion.operand else [offset]
        if not all(constant_expression(part, known.integers) for part in parts):
            return f"{shown}: the offset and length are evaluated as arithmetic"
    if expansion.op == "@" and expansion.operand.startswith("P"):
        return f"{shown}: prompt expansion runs the command substitutions in the value"
    return None


def word_problems(word: Word, known: KnownValues) -> Iterator[str]:
    """What a word evaluates as arithmetic or as a name at run time."""
    raw = word.raw
    if "$" not in raw or not ("${" in raw or "$[" in raw or "$((" in raw):
        return
    scan = dollar_scan(raw)
    if scan is None:
        yield f"{raw!r}: an expansion the analyzer cannot read"
        return
    for expansion in scan.parameters:
        problem = expansion_problem(expansion, known)
        if problem:
            yield problem
    for spelling in scan.arithmetic:
        if not constant_expression(arithmetic_body(spelling), known.integers):
            yield f"{spelling} evaluates its operands as arithmetic"


def _heredoc_problems(body: str, known: KnownValues) -> Iterator[str]:
    """An unquoted here-document expands ``${...}``, ``$((...))`` and ``$[...]``."""
    if "$" not in body:
        return
    scan = dollar_scan(body, heredoc=True)
    if scan is None:
        yield "a here-document whose expansions the analyzer cannot read"
        return
    for expansion in scan.parameters:
        problem = expansion_problem(expansion, known)
        if problem:
            yield f"here-document: {problem}"
    for spelling in scan.arithmetic:
        if not constant_expression(arithmetic_body(spelling), known.integers):
            yield f"here-document: {spelling} evaluates its operands as arithmetic"


def _name_operand_problem(word: Word, known: KnownValues, how: str) -> str | None:
    """A builtin's variable-name operand: a literal name, or one with a constant subscript."""
    name_part = word.value.split("=", 1)[0].rstrip("+") if "=" in word.value else word.value
    raw_name = word.raw.split("=", 1)[0]
    match = _NAME_WITH_SUBSCRIPT.fullmatch(name_part)
    holder = _HOLDER.fullmatch(word.raw)
    if holder is not None and holder.group(1) in known.names:
        return None  # "$v" where v only ever holds plain names
    if "$" in raw_name or "`" in raw_name or (not word.literal and "=" not in word.value):
        return f"{how} {word.raw}: a variable name computed at run time is evaluated"
    if match is None:
        return None  # not a name: bash rejects it without evaluating anything
    if not _subscript_ok(match.group(2), known):
        return f"{how} {word.raw}: the subscript [{match.group(2)}] is evaluated as arithmetic"
    return None


def _options_and_operands(
    args: list[Word], with_value: str
) -> tuple[list[tuple[str, Word]], list[Word]]:
    """((letter, value) of value-taking options, operands) for a builtin's arguments."""
    values: list[tuple[str, Word]] = []
    i = 0
    while i < len(args):
        value = args[i].value
        if value == "--":
            return values, args[i + 1 :]
        if not args[i].literal or len(value) < 2 or value[0] not in "-+":
            break
        for pos, letter in enumerate(value[1:], start=1):
            if letter in with_value:
                if pos + 1 < len(value):
                    values.append((letter, Word.synthetic(value[pos + 1 :])))
                elif i + 1 < len(args):
                    i += 1
                    values.append((letter, args[i]))
                break
        i += 1
    return values, args[i:]


def command_problems(command: Command, known: KnownValues) -> Iterator[str]:
    """What one command evaluates: its words, and the names its builtin takes."""
    for word in (*command.words, *command.assignments):
        yield from word_problems(word, known)
    for redirect in command.redirects:
        if redirect.heredoc is not None:
            if redirect.heredoc_expands:
                yield from _heredoc_problems(redirect.heredoc, known)
        elif redirect.target is not None:
            yield from word_problems(redirect.target, known)
    words = command.words
    if words and "[" in words[0].raw and "=" in words[0].raw:
        problem = _name_operand_problem(words[0], known, "assignment")
        if problem:
            yield problem  # `a[x]=1` (bashlex reads it as a word)
    name = command.base_name
    args = words[1:]
    if name in _NAME_OPERANDS or name in _MAPFILE or name in ("printf", "wait"):
        yield from _builtin_names(name, args, known)
    elif name in _TESTS:
        yield from _test_problems(name, args, known)
    elif name == "let":
        yield "let evaluates its arguments as arithmetic"


_VALUE_OPTIONS = {"read": "adinNptu", "printf": "v", "wait": "p", "mapfile": "dnOsuCc"}
_NAME_OPTIONS = {"read": "a", "printf": "v", "wait": "p"}  # options whose value is a name


def _builtin_names(name: str, args: list[Word], known: KnownValues) -> Iterator[str]:
    key = "mapfile" if name in _MAPFILE else name
    values, operands = _options_and_operands(args, _VALUE_OPTIONS.get(key, ""))
    targets = [word for letter, word in values if letter in _NAME_OPTIONS.get(key, "")]
    if name == "read" or name in _NAME_OPERANDS - {"getopts"}:
        targets += operands
    elif name == "getopts":
        targets += operands[1:2]
    elif name in _MAPFILE:
        targets += operands[:1]
    if name in ("declare", "typeset", "local", "export", "readonly"):
        letters = "".join(a.value[1:] for a in args[: len(args) - len(operands)])
        if "i" in letters:
            yield f"{name} -i: every later assignment to it is evaluated as arithmetic"
        if "n" in letters and name != "export":
            yield f"{name} -n: a nameref evaluates the name it is given when used"
    for word in targets:
        problem = _name_operand_problem(word, known, name)
        if problem:
            yield problem


def _test_problems(name: str, args: list[Word], known: KnownValues) -> Iterator[str]:
    """test/[ -v NAME, and [[ ]]'s -v and arithmetic comparisons."""
    for i, word in enumerate(args):
        following = args[i + 1] if i + 1 < len(args) else None
        if word.value == "-v" and following is not None:
            problem = _name_operand_problem(following, known, f"{name} -v")
            if problem:
                yield problem
        if name == "[[" and word.value in _ARITHMETIC_TEST:
            for operand in (args[i - 1] if i else None, following):
                if operand is not None and not (
                    operand.literal and constant_expression(operand.value, known.integers)
                ):
                    yield f"[[ {word.value} ]] evaluates {operand.raw} as arithmetic"


@line_check("S39", "data evaluated as arithmetic or as a variable name", structural=True)
def evaluated_data(scene: Scene, ctx: Context) -> Iterator[Hit]:
    """Array subscripts, substring offsets, indirection and arithmetic run what a value holds.

    Attack: ``x=$(cat f); echo ${a[x]}`` with ``f`` holding ``b[$(id>p)]`` runs ``id``;
    so do ``echo 'b[$(id)]' >/dev/null; [ -v 'a[_]' ]`` (``$_`` is the last argument),
    ``${s:x}``, ``${!x}``, ``${x@P}``, ``read 'a[x]'``, ``printf -v 'a[x]'``,
    ``declare -i n; n=$x``, ``let``, ``((x))``, ``$((x))``, ``[[ $x -eq 1 ]]`` and
    ``for i in ${a[x]}``, and ``read OPTIND < f`` (bash gives OPTIND, RANDOM ... the
    integer attribute). ``${#x}``, ``${x:-default}``, ``${a[0]}``, ``${s:1:2}``,
    ``test -n "$x"`` and ``i=1; echo ${a[i]}`` pass.
    """
    structure = line_structure(scene)
    for text in structure.arithmetic:
        yield Hit(f"{text}: an arithmetic command evaluates its operands", Decision.ASK)
    yield from _integer_assignments(scene)
    known: KnownValues | None = None
    for index, command in enumerate(scene.commands):
        if not _may_evaluate(command):
            continue
        if known is None:
            known = known_values(scene_bindings(scene))
        for problem in command_problems(command, known):
            yield Hit(problem, Decision.ASK, Risk.HIGH, index)
    for loop in structure.loops:
        if loop.items:
            if known is None:
                known = known_values(scene_bindings(scene))
            for word in loop.items:
                for problem in word_problems(word, known):
                    yield Hit(f"for {loop.name} in: {problem}", Decision.ASK, Risk.HIGH)


def _integer_assignments(scene: Scene) -> Iterator[Hit]:
    """``read OPTIND < f``: bash's own integer variables evaluate what they are given."""
    bindings = scene_bindings(scene)
    if not any(b.name in BASH_INTEGER_VARIABLES for b in bindings):
        return
    known = known_values(bindings)
    for binding in bindings:
        if binding.name not in BASH_INTEGER_VARIABLES or binding.removes:
            continue
        if binding.value is None or not constant_expression(binding.value, known.integers):
            yield Hit(
                f"{binding.name} ({binding.how}) has the integer attribute: "
                "the value it is given is evaluated as arithmetic",
                Decision.ASK,
                Risk.HIGH,
                binding.command,
            )


_EVALUATORS = _NAME_OPERANDS | _MAPFILE | _TESTS | {"printf", "wait", "let"}


def _may_evaluate(command: Command) -> bool:
    if command.base_name in _EVALUATORS:
        return True
    text = command.text
    return (
        "${" in text
        or "$[" in text
        or "$((" in text
        or (bool(command.words) and "[" in command.words[0].raw)
        or any(r.heredoc for r in command.redirects)
    )
