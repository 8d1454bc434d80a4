"""awk: where an awk argv's program is, and which programs only read and print.

The program is read by a small awk lexer (strings, regex literals, comments, line
continuations), and its tokens are judged, never its raw text: a ``}`` inside a
string, a backslash-newline before ``>`` or a ``>`` inside a regex cannot fool it.
Refused: output redirection (``>``, ``>>`` in a print statement outside
parentheses), pipes (``|``, ``|&``), ``system``, ``close``, ``getline <``, every ``@``
(``@load``, ``@include``, ``@namespace``, indirect calls ``@f()`` that can name
``system``), ``ENVIRON``, ``PROCINFO``, ``ARGV`` (an ARGV entry ``/inet/...`` is a
socket to gawk), ``/inet`` anywhere, and anything the lexer does not understand.
Options are read with each awk's own getopt table (gawk 5.2.1, mawk 1.3.4 in the
image); one that loads code, writes a file or is not known refuses.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from security.argv import Getopt, getopt

AWKS = frozenset({"awk", "gawk", "mawk", "nawk", "busybox-awk"})

# gawk 5.2.1: "+F:f:v:W;bcCd::D::e:E:ghi:Il:L::nNo::Op::MPrSstV" (-W is refused:
# it spells any long option). Options that only change how input is read or what
# is printed are harmless; the rest refuse (AWK_HARMFUL).
GAWK_OPTIONS = getopt(
    "+F:f:v:bcCd::D::e:E:ghi:Il:L::nNo::Op::MPrSstV",
    "assign= bignum characters-as-bytes copyright debug[=] dump-variables[=] exec= "
    "field-separator= file= gen-pot help include= lint[=] lint-old load= no-optimize "
    "non-decimal-data optimize persist[=] posix pretty-print[=] profile[=] re-interval "
    "sandbox source= trace traditional use-lc-numeric version",
)
# mawk 1.3.4: -f, -F, -v and -W (every -W option is refused); no long options.
MAWK_OPTIONS = getopt("+f:F:v:")
AWK_HARMFUL: dict[str, str] = {
    "-d": "writes its variables to a file",
    "--dump-variables": "writes its variables to a file",
    "-D": "starts the debugger, which reads commands and writes files",
    "--debug": "starts the debugger, which reads commands and writes files",
    "-o": "writes the pretty-printed program to a file",
    "--pretty-print": "writes the pretty-printed program to a file",
    "-p": "writes a profile to a file",
    "--profile": "writes a profile to a file",
    "-l": "loads a shared library (-l rwarray writes files)",
    "--load": "loads a shared library (-l rwarray writes files)",
    "-i": "includes awk code from a file (searched in . first)",
    "--include": "includes awk code from a file (searched in . first)",
    "-f": "runs awk code from a file",
    "--file": "runs awk code from a file",
    "-E": "runs awk code from a file",
    "--exec": "runs awk code from a file",
    "--persist": "keeps the heap in a file",
}
_SOURCE_OPTIONS = frozenset({"-e", "--source"})


def _options_for(name: str) -> Getopt:
    return MAWK_OPTIONS if name == "mawk" else GAWK_OPTIONS


@dataclass(frozen=True, slots=True)
class AwkArgv:
    """Where an awk argv's program is: inline text, and the argv index of the
    operand that holds it (None when it came from -e)."""

    program: str
    program_index: int | None
    operands: list[int]  # argv indices of the files and var=value operands


def read_awk_argv(argv: list[str]) -> tuple[AwkArgv | None, str | None]:
    """(the program and its place, None) or (None, why it is not inline awk)."""
    name = argv[0].rsplit("/", 1)[-1]
    parsed = _options_for(name).parse(argv[1:])
    if parsed.error:
        return None, f"{name}: {parsed.error}"
    sources: list[str] = []
    for option in parsed.options:
        harm = AWK_HARMFUL.get(option.name)
        if harm:
            return None, f"{name} {option.name} {harm}"
        if option.name in _SOURCE_OPTIONS:
            sources.append(option.value or "")
    rest = [1 + i for i in parsed.operands]
    if sources:
        return AwkArgv("\n".join(sources), None, rest), None
    if not rest:
        return None, "no awk program"
    return AwkArgv(argv[rest[0]], rest[0], rest[1:]), None


def awk_program(argv: list[str]) -> tuple[str | None, str | None]:
    """(program text, None) or (None, reason the program is not inline)."""
    found, reason = read_awk_argv(argv)
    return (found.program, None) if found else (None, reason)


def awk_program_index(argv: list[str]) -> int | None:
    """The argv index of the operand that is the program (its code must be literal)."""
    found, _ = read_awk_argv(argv)
    return found.program_index if found else None


def awk_read_only_problem(argv: list[str]) -> str | None:
    """Why an awk argv is not proven read-only, or None."""
    found, reason = read_awk_argv(argv)
    if found is None:
        return reason
    for index in found.operands:
        if argv[index].startswith("/inet"):  # gawk opens /inet/tcp/... as a socket
            return f"awk operand {argv[index]} is a network connection to gawk"
    problem = awk_program_problem(found.program)
    return f"awk program {problem}" if problem else None


def awk_program_is_safe(program: str) -> bool:
    """An awk program that only reads input and prints to stdout."""
    return awk_program_problem(program) is None


# The lexer.

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NUMBER = re.compile(r"(?:0[xX][0-9A-Fa-f]+|(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)")
# longest first: every operator awk has
_OPERATORS = (
    "**=", "|&", "::", "&&", "||", ">>", "<=", ">=", "==", "!=", "!~", "++", "--", "+=",
    "-=", "*=", "/=", "%=", "^=", "**", ">", "<", "|", "!", "~", "+", "-", "*", "/",
    "%", "^", "?", ":", ",", ";", "(", ")", "{", "}", "[", "]", "$", "=", "@",
)  # fmt: skip
_REFUSED_NAMES = {
    "system": "runs a command",
    "close": "closes pipes and files it opened",
    "ENVIRON": "reads or changes the environment",
    "PROCINFO": "reads or changes gawk's process information",
    "ARGV": "changes which files it opens (/inet/... is a socket)",
    "SYMTAB": "reaches every variable, ARGV and ENVIRON included",
    "FUNCTAB": "reaches functions by name",
}
_CONTROL = frozenset({"if", "while", "for", "switch"})
# After these, `/` starts a regex; after an operand it divides.
_BEFORE_OPERAND = frozenset(
    {"print", "printf", "return", "else", "do", "case", "exit", "in", "delete", "getline",
     "BEGIN", "END", "BEGINFILE", "ENDFILE", "function", "func", "next", "nextfile",
     "break", "continue", "default"}
)  # fmt: skip
# A newline after one of these does not end the statement (generous: ending a print
# statement too late only refuses more).
_CONTINUES = frozenset(
    {",", "{", "&&", "||", "do", "else", "(", "[", "?", ":", "!", "~", "!~", "==", "!=",
     "<", "<=", ">", ">=", "+", "-", "*", "/", "%", "^", "**", "=", "+=", "-=", "*=",
     "/=", "%=", "^=", "**=", "in"}
)  # fmt: skip


class _Refused(Exception):
    """The program does more than read and print (``severe``), or is not understood."""

    def __init__(self, reason: str, *, severe: bool = False) -> None:
        super().__init__(reason)
        self.severe = severe


@dataclass(slots=True)
class _Token:
    kind: str  # name, number, string, regex, op, newline
    text: str


def awk_program_problem(program: str) -> str | None:
    """Why an awk program may do more than read input and print, or None."""
    found = awk_program_refusal(program)
    return found[0] if found else None


def awk_program_refusal(program: str) -> tuple[str, bool] | None:
    """(why, severe) if the program may do more than read and print: severe when it
    plainly runs a command or writes a file; else it is only not understood."""
    try:
        _judge(_tokens(program))
    except _Refused as exc:
        return str(exc), exc.severe
    return None


def _tokens(program: str) -> list[_Token]:
    out: list[_Token] = []
    i, n = 0, len(program)
    while i < n:
        ch = program[i]
        if ch in " \t\r":
            i += 1
        elif ch == "\\":
            if program[i + 1 : i + 2] != "\n":
                raise _Refused("has a backslash that does not end a line")
            i += 2  # a continued line
        elif ch == "#":
            end = program.find("\n", i)
            i = n if end < 0 else end
        elif ch == "\n":
            out.append(_Token("newline", "\n"))
            i += 1
        elif ch == '"':
            i = _string(program, i, out)
        elif ch == "/" and _regex_allowed(out):
            i = _regex(program, i, out)
        elif ch.isdigit() or (ch == "." and program[i + 1 : i + 2].isdigit()):
            match = _NUMBER.match(program, i)
            assert match is not None
            out.append(_Token("number", match.group()))
            i = match.end()
        elif _NAME.match(program, i):
            match = _NAME.match(program, i)
            assert match is not None
            out.append(_Token("name", match.group()))
            i = match.end()
        else:
            op = next((o for o in _OPERATORS if program.startswith(o, i)), None)
            if op is None:
                raise _Refused(f"has {ch!r}, which the analyzer does not read")
            out.append(_Token("op", op))
            i += len(op)
    return out


def _string(program: str, i: int, out: list[_Token]) -> int:
    j = i + 1
    while j < len(program):
        ch = program[j]
        if ch == "\\":
            j += 2
            continue
        if ch == '"':
            out.append(_Token("string", program[i + 1 : j]))
            return j + 1
        if ch == "\n":
            break
        j += 1
    raise _Refused("has an unterminated string")


def _regex(program: str, i: int, out: list[_Token]) -> int:
    """A regex literal; a ``/`` inside a bracket expression does not end it."""
    j = i + 1
    in_bracket = False
    while j < len(program):
        ch = program[j]
        if ch == "\\":
            j += 2
            continue
        if ch == "\n":
            break
        if in_bracket:
            if ch == "[" and program[j + 1 : j + 2] in (":", ".", "="):
                close = program.find(program[j + 1] + "]", j + 2)
                if close < 0:
                    break
                j = close + 2
                continue
            if ch == "]":
                in_bracket = False
        elif ch == "[":
            in_bracket = True
            j += 1
            if program[j : j + 1] == "^":
                j += 1
            if program[j : j + 1] == "]":
                j += 1  # a leading ] is a member
            continue
        elif ch == "/":
            out.append(_Token("regex", program[i + 1 : j]))
            return j + 1
        j += 1
    raise _Refused("has an unterminated regex")


def _regex_allowed(out: list[_Token]) -> bool:
    """Whether a ``/`` here starts a regex (it divides after an operand).

    Where awks could read it either way (after ``++``, ``--``, ``$`` or ``getline``)
    the program is refused: a misread regex could hide a ``>`` or a string.
    """
    if not out:
        return True
    last = out[-1]
    if last.kind in ("number", "string", "regex"):
        return False
    if last.kind == "name":
        if last.text == "getline":
            raise _Refused("has getline before /, which the analyzer does not read")
        return last.text in _BEFORE_OPERAND
    if last.text in ("++", "--", "$"):
        raise _Refused(f"has {last.text} before /, which the analyzer does not read")
    if last.text == "]":
        return False
    if last.text == ")":
        return _closed_control(out)
    return True


def _closed_control(out: list[_Token]) -> bool:
    """Whether the ``)`` just read closes ``if (...)``, ``while (...)``, ``for (...)``."""
    depth = 0
    for k in range(len(out) - 1, -1, -1):
        text = out[k].text if out[k].kind == "op" else ""
        if text == ")":
            depth += 1
        elif text == "(":
            depth -= 1
            if depth == 0:
                return k > 0 and out[k - 1].kind == "name" and out[k - 1].text in _CONTROL
    raise _Refused("has unbalanced parentheses")


def _judge(tokens: list[_Token]) -> None:
    in_print = False
    depth = 0  # parentheses and brackets opened inside the current print statement
    for k, token in enumerate(tokens):
        text, kind = token.text, token.kind
        if kind == "name":
            if text in _REFUSED_NAMES:
                why = f"uses {text}, which {_REFUSED_NAMES[text]}"
                raise _Refused(why, severe=text == "system")
            if text in ("print", "printf"):
                in_print, depth = True, 0
            elif text == "getline":
                _judge_getline(tokens, k)
        elif kind == "string" and "/inet" in text:
            raise _Refused("names /inet, a network connection to gawk")
        elif kind == "op":
            if text in ("|", "|&"):
                raise _Refused(f"uses {text}, which runs a command", severe=True)
            if text == "@":
                raise _Refused(
                    "uses @ (@load, @include, or an indirect call that can be system)", severe=True
                )
            if in_print:
                if text in ("(", "["):
                    depth += 1
                elif text in (")", "]"):
                    depth -= 1
                elif text in (">", ">>") and depth <= 0:
                    raise _Refused(f"redirects print with {text}, which writes a file", severe=True)
                elif text in (";", "}") and depth <= 0:
                    in_print = False
        elif kind == "newline" and in_print and depth <= 0:
            previous = tokens[k - 1].text if k else ""
            in_print = previous in _CONTINUES


def _judge_getline(tokens: list[_Token], k: int) -> None:
    """``getline`` and ``getline var`` read the next record; ``getline < file`` opens one."""
    for token in tokens[k + 1 : k + 8]:
        if token.kind == "newline" or token.text in (";", "}", ")", "&&", "||", ","):
            return
        if token.text == "<":
            raise _Refused("reads with getline <, which opens files and sockets")
    raise _Refused("has a getline the analyzer does not read")
