"""Find the commands that other commands run: wrappers, shell strings, heredocs.

``timeout 5 sh -c 'curl x'`` runs ``sh`` which runs ``curl``: each one is added to
the list of commands the checks see. Wrappers are table-driven: which options
take an argument, and where the inner command starts. An option the table does
not know makes the inner command unknowable, which the analyzer reports (S19).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from security.argv import Option, shape
from security.knowledge.wrappers import (
    ARGV_WRAPPERS,
    CODE_OPTIONS,
    RUNS_OTHERS,
    SHELLS,
    XARGS_DEFAULT,
    Wrapper,
)
from security.shell import Command, ParsedLine, ShellSyntaxError, Word, parse_line
from security.wordscan import scan_word

MAX_DEPTH = 6


@dataclass(slots=True)
class Scene:
    """Everything the checks see about one line."""

    line: str
    commands: list[Command]
    functions: list[str] = field(default_factory=list)
    syntax_errors: list[str] = field(default_factory=list)  # nested shell strings that failed
    hidden: list[str] = field(default_factory=list)  # substitutions bashlex did not parse
    opaque: list[tuple[int, str]] = field(default_factory=list)  # (command, what is unknowable)
    shell_strings: list[str] = field(default_factory=list)  # code found in sh -c, eval, ...
    # each shell string that parsed, with bashlex's trees: cross-checked like the line
    shell_trees: list[tuple[str, list[Any]]] = field(default_factory=list)
    differential: list[str] = field(default_factory=list)  # parser disagreements
    nodes: list[Any] | None = None  # bashlex's trees of the line, for the cross-check
    too_deep: bool = False


def fixed(word: Word) -> bool:
    """Whether ``word`` is exactly its value at run time (``-I{}`` included: there is
    no brace expansion without a comma or ``..``)."""
    if word.literal:
        return True
    scan = word.scan
    return not (word.parts or scan.expands or scan.locale or shape(word.raw).may_split)


def _split_word(text: str) -> Word:
    """A word env -S made: its value is final (already unquoted and unescaped)."""
    word = Word.synthetic(text)
    return word._replace(raw=text, scan=word.scan._replace(quoted=False))


_NICE_ADJUSTMENT = re.compile(r"-[-+]?[0-9]")  # nice's legacy -N, --N, -+N (read first)
_ASSIGNMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=")
MAX_SPLITS = 8  # env -S inside env -S ...


def _split_options(args: list[Word], wrapper: Wrapper) -> tuple[int | None, str | None]:
    """Index in ``args`` where the wrapped command starts: (None, None) if the options
    say nothing runs (``--help``, ``command -v``), (None, reason) if unknowable."""
    values = [a.value for a in args]
    skip = 0
    if wrapper is ARGV_WRAPPERS["nice"]:
        while skip < len(values) and _NICE_ADJUSTMENT.match(values[skip]):
            skip += 1
    parsed = wrapper.options.parse(values[skip:])
    stop = skip + parsed.stop
    if any(not fixed(word) for word in args[:stop]):
        word = next(w for w in args[:stop] if not fixed(w))
        return None, f"option {word.raw!r} is only known at run time"
    if parsed.error:
        return None, parsed.error
    if any(option.name in wrapper.runs_nothing for option in parsed.options):
        return None, None
    return stop, None


def _command_start(args: list[Word], start: int, wrapper: Wrapper) -> tuple[int | None, str | None]:
    """Skip the operands before the command (timeout's DURATION); they must be fixed."""
    end = start + wrapper.operands_before_command
    for word in args[start : min(end, len(args))]:
        if not fixed(word):
            return None, f"{word.raw!r} is only known at run time"
    return end, None


def inner_argv(command: Command) -> tuple[list[Word] | None, str | None]:
    """The command a wrapper runs, as words; (None, reason) if it cannot be known."""
    name = command.base_name
    args = command.words[1:]
    wrapper = ARGV_WRAPPERS.get(name)
    if wrapper is None:
        return None, None
    if name in CODE_OPTIONS and any(a.value.split("=")[0] in CODE_OPTIONS[name] for a in args):
        return None, None  # handled as a shell string
    if name == "env":
        return env_inner(args)
    start, problem = _split_options(args, wrapper)
    if start is None:
        return None, problem
    start, problem = _command_start(args, start, wrapper)
    if start is None:
        return None, problem
    if start >= len(args):
        return None, None  # e.g. `exec 3>x`, `xargs` running echo
    return args[start:], None


def env_inner(args: list[Word]) -> tuple[list[Word] | None, str | None]:
    """The command coreutils env runs: after its options (``-S STRING`` split into words
    and read again, options included), a lone ``-`` and the NAME=VALUE words."""
    call = read_env(args)
    return call.command, call.problem


@dataclass(slots=True)
class EnvCall:
    """What one coreutils ``env`` does: its options (those of an -S string included),
    whether it empties the environment, the NAME=VALUE words it sets, the command."""

    options: list[Option] = field(default_factory=list)
    clears: bool = False  # -i, --ignore-environment or a lone `-`
    sets: list[Word] = field(default_factory=list)  # NAME=VALUE, however quoted
    command: list[Word] | None = None  # None: it prints the environment, or unknowable
    problem: str | None = None  # why what it runs or sets cannot be known

    @property
    def unsets(self) -> list[str]:
        """The names ``-u NAME`` takes out of the environment."""
        return [o.value for o in self.options if o.name in ("-u", "--unset") and o.value]


def read_env(args: list[Word]) -> EnvCall:
    """Read env's arguments as coreutils 9.1 does; -S strings are split and read again
    (``env -S'PATH=/x ls'`` sets PATH)."""
    wrapper = ARGV_WRAPPERS["env"]
    for _ in range(MAX_SPLITS):
        parsed = wrapper.options.parse([a.value for a in args])
        split = next((o for o in parsed.options if o.name in ("-S", "--split-string")), None)
        if split is None:
            break
        if any(not fixed(word) for word in args[: split.last + 1]):
            return EnvCall(problem="env -S with a string built at run time")
        pieces, problem = env_split_string(split.value or "")
        if problem:
            return EnvCall(problem=f"env -S: {problem}")
        before = [_option_word(o) for o in parsed.options if o.last < split.first or (
            o.first == split.first and o is not split and parsed.options.index(o)
            < parsed.options.index(split))]  # fmt: skip
        args = [*before, *map(_split_word, pieces), *args[split.last + 1 :]]
    else:
        return EnvCall(problem="env -S nested too deep")
    start, problem = _split_options(args, wrapper)
    if start is None:
        return EnvCall(problem=problem)
    call = EnvCall(options=wrapper.options.parse([a.value for a in args[:start]]).options)
    call.clears = any(o.name in ("-i", "--ignore-environment") for o in call.options)
    if start < len(args) and args[start].value == "-" and fixed(args[start]):
        start += 1  # a mere `-` is -i
        call.clears = True
    first = start
    while start < len(args):  # NAME=VALUE words, however quoted ('PATH=/tmp' too)
        word = args[start]
        if fixed(word):
            if not _ASSIGNMENT.match(word.value):
                break
        elif not _ASSIGNMENT.match(_literal_prefix(word.raw)) or shape(word.raw).may_split:
            call.problem = f"{word.raw!r} may be an assignment or the command, known at run time"
            call.sets = args[first:start]
            return call
        start += 1
    call.sets = args[first:start]
    call.command = args[start:] if start < len(args) else None
    return call


def _option_word(option: Option) -> Word:
    """One option as a word of its own (``-i`` from the cluster ``-iS...``, ``-uNAME``,
    ``--unset=NAME``): what env read before an -S string stays in force after it."""
    if option.value is None:
        return Word.synthetic(option.name)
    joiner = "=" if option.name.startswith("--") else ""
    return Word.synthetic(f"{option.name}{joiner}{option.value}")


def _literal_prefix(raw: str) -> str:
    """What ``raw`` surely starts with: its text up to the first expansion, quotes removed
    (``"A=$x"`` -> ``A=``)."""
    out = []
    for ch in raw:
        if ch in "\"'":
            continue
        if ch in "$`\\*?[{~":
            break
        out.append(ch)
    return "".join(out)


_ENV_SPLIT_ESCAPES = {"f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v"}
_ENV_SPLIT_LITERAL = "\"'#$"
_ENV_SPACE = " \t\n\v\f\r"


def env_split_string(text: str) -> tuple[list[str], str | None]:
    r"""The words ``env -S text`` makes, as coreutils 9.1 splits them; (words, problem).

    Whitespace separates; single quotes keep everything but ``\\`` and ``\'``;
    double quotes and bare text take the escapes ``\f \n \r \t \v \" \' \# \$
    \\ \_`` (``\_`` separates outside quotes); ``\c`` ends the string; ``#`` starts
    a comment at a word's start. ``${NAME}`` is read from the environment: a value the
    analyzer cannot see, so it is a problem, as is anything env itself rejects.
    """
    words: list[str] = []
    current: list[str] | None = None
    quote = ""
    i = 0
    while i < len(text):
        ch = text[i]
        nxt = text[i + 1 : i + 2]
        if quote == "'":
            if ch == "\\" and nxt in ("\\", "'"):
                current_append = nxt
                i += 1
            elif ch == "'":
                quote, current_append = "", ""
            else:
                current_append = ch
        elif ch == "$":
            return words, "${NAME} is expanded from the environment"
        elif ch == "\\":
            if nxt == "c":
                if quote:
                    return words, "\\c inside double quotes"
                break
            if nxt == "_" and not quote:
                if current is not None:
                    words.append("".join(current))
                current = None
                i += 2
                continue
            if nxt == "_":
                current_append = " "
            elif nxt in _ENV_SPLIT_ESCAPES:
                current_append = _ENV_SPLIT_ESCAPES[nxt]
            elif nxt and nxt in _ENV_SPLIT_LITERAL + "\\":
                current_append = nxt
            else:
                return words, f"invalid sequence \\{nxt}"
            i += 1
        elif quote == '"':
            quote, current_append = ("", "") if ch == '"' else (quote, ch)
        elif ch in _ENV_SPACE:
            if current is not None:
                words.append("".join(current))
            current = None
            i += 1
            continue
        elif ch == "#" and current is None:
            break
        elif ch in "'\"":
            quote, current_append = ch, ""
        else:
            current_append = ch
        if current is None:
            current = []
        current.append(current_append)
        i += 1
    if quote:
        return words, "unterminated quote"
    if current is not None:
        words.append("".join(current))
    return words, None


FIND_EXEC_ORIGIN = "find -exec"  # its {} is a path under literal starting points
FIND_PATH = "{}"  # find puts the path in place of every {} of an -exec command, words' insides too
RUN_TIME_DATA = "substituted data"  # a Word part: a wrapper puts run-time data into the word


def with_data(words: list[Word], placeholders: list[str]) -> list[Word]:
    """``words`` with each one that holds a placeholder turned into a run-time word.

    find's ``-exec`` and xargs's ``-I R`` (``-i``, ``--replace``) put a path or an input
    line in place of the placeholder wherever it occurs, inside a word too: in
    ``find . -exec sh -c 'echo {}' ;`` a file named ``$(id>x)`` is shell code, and in
    ``xargs -Iech sh -c 'echo hi'`` the input line is. Such a word is no longer literal,
    so code in it is code built at run time and an option in it is unknowable. An empty
    placeholder marks every word.
    """
    if not placeholders:
        return words
    return [
        w._replace(parts=w.parts | {RUN_TIME_DATA})
        if any(mark == "" or mark in w.value for mark in placeholders)
        else w
        for w in words
    ]


def xargs_replace_strings(args: list[Word]) -> list[str]:
    """The replace strings of xargs's options (``-I R``, ``-i[R]``, ``--replace[=R]``;
    ``{}`` when the optional value is left out), each one it may use."""
    parsed = ARGV_WRAPPERS["xargs"].options.parse([a.value for a in args])
    found: list[str] = []
    for option in parsed.options:
        if option.name == "-I":
            found.append(option.value or "")
        elif option.name in ("-i", "--replace"):
            found.append(option.value if option.value is not None else FIND_PATH)
    return found


_FIND_LEADING = frozenset({"-H", "-L", "-P"})
_FIND_D_O = ("-D", "-O")  # -D debugopts, -Olevel


def _find_exec_origin(command: Command) -> str:
    """Where a find action's command came from: its ``{}`` cannot start with ``-`` only
    when find's starting points are literal and do not (and no -files0-from list)."""
    words = command.words[1:]
    i = 0
    while i < len(words) and (words[i].value in _FIND_LEADING or words[i].value[:2] in _FIND_D_O):
        i += 2 if words[i].value == "-D" else 1
    for word in words[i:]:
        if word.value.startswith(("-", "(", "!")) and fixed(word):
            break
        if not fixed(word):
            return FIND_EXEC_ORIGIN + " (paths unknown)"
    if any(w.value == "-files0-from" for w in words):
        return FIND_EXEC_ORIGIN + " (paths unknown)"
    return FIND_EXEC_ORIGIN


def _find_exec_commands(command: Command) -> list[list[Word]]:
    """The commands of find's -exec, -execdir, -ok and -okdir actions."""
    found: list[list[Word]] = []
    words = command.words
    i = 1
    while i < len(words):
        if words[i].value in ("-exec", "-execdir", "-ok", "-okdir"):
            j = i + 1
            while j < len(words) and words[j].value not in (";", "+"):
                j += 1
            if j > i + 1:
                found.append(words[i + 1 : j])
            i = j
        i += 1
    return found


def shell_code(command: Command) -> tuple[str | None, str | None]:
    """Code a command runs as a shell string: (code, None), (None, reason) or (None, None)."""
    name = command.base_name
    args = command.words[1:]
    if name in SHELLS:
        for i, arg in enumerate(args):
            value = arg.value
            if value == "--":
                return None, None
            if _reads_startup_files(value):
                return None, f"{name} {value} runs its startup files, which the analyzer cannot see"
            if _exports_assignments(value):
                return (
                    None,
                    f"{name} {value} puts assignments in the environment (allexport, keyword)",
                )
            if value.startswith("-") and not value.startswith("--") and "c" in value[1:]:
                if i + 1 >= len(args):
                    return None, f"{name} -c without code"
                return _literal_code(args[i + 1], f"{name} -c")
            if not value.startswith(("-", "+")):
                return None, None  # a script file: S18 reports it
        return None, None
    if name == "eval" or (name == "trap" and args):
        code_words = args if name == "eval" else args[:1]
        if any(not w.literal for w in code_words):
            return None, f"{name} of a string built at run time"
        return " ".join(w.value for w in code_words), None
    if name == "watch":
        start, problem = _split_options(args, ARGV_WRAPPERS["watch"])
        if start is None:
            return None, problem
        parsed = ARGV_WRAPPERS["watch"].options.parse([a.value for a in args[:start]])
        if any(o.name in ("-x", "--exec") for o in parsed.options) or start >= len(args):
            return None, None
        return _join_literal(args[start:], "watch")
    for option in CODE_OPTIONS.get(name, ()):
        for i, arg in enumerate(args):
            if arg.value == option and i + 1 < len(args):
                return _literal_code(args[i + 1], f"{name} {option}")
            if arg.value.startswith(option + "=") and option.startswith("--"):
                return arg.value.split("=", 1)[1], None
    return None, None


def _reads_startup_files(option: str) -> bool:
    """A login or interactive shell (-l, -i, --login, --rcfile ...) first runs profile
    and rc files, which an earlier command may have written."""
    if option.startswith("--"):
        return option.split("=")[0] in ("--login", "--rcfile", "--init-file", "--interactive")
    return option.startswith("-") and ("l" in option[1:] or "i" in option[1:])


def _exports_assignments(option: str) -> bool:
    """``-a`` (allexport) exports every assignment the code makes, and ``-k`` (keyword)
    moves every NAME=VALUE argument into the command's environment: in
    ``bash -k -c 'ls LD_PRELOAD=./x.so'`` the loader of ls loads x.so."""
    return option[:1] == "-" and option[1:2] != "-" and ("a" in option or "k" in option)


def _literal_code(word: Word, where: str) -> tuple[str | None, str | None]:
    if not word.literal:
        return None, f"{where} with code built at run time ({word.raw})"
    return word.value, None


def _join_literal(words: list[Word], where: str) -> tuple[str | None, str | None]:
    if any(not w.literal for w in words):
        return None, f"{where} with code built at run time"
    return " ".join(w.value for w in words), None


def stdin_code(command: Command) -> str | None:
    """Code a shell reads from a heredoc or here-string given on its own line."""
    if command.base_name not in SHELLS:
        return None
    for redirect in command.redirects:
        if redirect.op in ("<<", "<<-") and redirect.heredoc is not None:
            return redirect.heredoc
        if redirect.op == "<<<" and redirect.target is not None:
            return redirect.target.value
    return None


def expand(parsed: ParsedLine, line: str, depth: int = 0) -> Scene:
    """Every command of ``parsed`` plus everything they run, recursively."""
    scene = Scene(line=line, commands=[], hidden=list(parsed.hidden))
    scene.functions = [name for name, _ in parsed.functions]
    _add_all(scene, parsed.commands, depth)
    return scene


def _add_all(scene: Scene, commands: list[Command], depth: int) -> None:
    for command in commands:
        _add(scene, command, depth)


def _add(scene: Scene, command: Command, depth: int) -> None:
    scene.commands.append(command)
    index = len(scene.commands) - 1
    if not command.words:
        return
    if command.redirects:
        _heredoc_substitutions(scene, command, depth)
    if command.base_name not in RUNS_OTHERS:
        return
    code, problem = shell_code(command)
    if problem:
        scene.opaque.append((index, problem))
    code = code if code is not None else stdin_code(command)
    if code is not None:
        _add_code(scene, code, f"{command.base_name} code", depth + 1)
    inner, problem = inner_argv(command)
    if problem:
        scene.opaque.append((index, f"{command.base_name}: {problem}"))
    if inner and command.base_name == "xargs":
        inner = [inner[0], *with_data(inner[1:], xargs_replace_strings(command.words[1:]))]
    if inner:
        _add_wrapped(scene, command, inner, _fed_origin(command) or command.base_name, depth)
    elif problem is None and command.base_name == "xargs":
        echo = Word(XARGS_DEFAULT, scan_word(XARGS_DEFAULT), XARGS_DEFAULT, frozenset())
        _add_wrapped(scene, command, [echo], "xargs", depth, implied=True)
    if command.base_name == "find":
        origin = _find_exec_origin(command)
        for words in _find_exec_commands(command):
            _add_wrapped(scene, command, with_data(words, [FIND_PATH]), origin, depth)


def _fed_origin(command: Command) -> str | None:
    """The origin a wrapper passes on to the command it runs, when its own words come from
    xargs or find: ``xargs timeout 5 sort`` appends xargs's input to sort, not to timeout,
    and in ``find -files0-from l -exec nice sort {} ;`` sort gets find's paths."""
    if command.origin == "xargs" or command.origin.startswith(FIND_EXEC_ORIGIN):
        return command.origin
    return None


def _add_wrapped(
    scene: Scene,
    outer: Command,
    words: list[Word],
    origin: str,
    depth: int,
    implied: bool = False,
) -> None:
    """``words``, run by ``outer``; ``implied``: run without being written (xargs's echo);
    (env's NAME=VALUE words are env's own bindings: checks/bindings.py)."""
    inner = Command(
        words=list(words),
        origin=origin,
        depth=outer.depth,
        background=outer.background,
        piped_stdin=outer.piped_stdin and origin != "xargs",
        wrapped=True,
        implied=implied,
    )
    if depth >= MAX_DEPTH * 4:
        scene.too_deep = True
        return
    _add(scene, inner, depth + 1)


def _add_code(scene: Scene, code: str, origin: str, depth: int) -> None:
    if depth > MAX_DEPTH:
        scene.too_deep = True
        return
    scene.shell_strings.append(code)
    try:
        nested = parse_line(code, origin=origin, depth=depth)
    except ShellSyntaxError as exc:
        scene.syntax_errors.append(f"in {origin}: {exc}")
        return
    scene.shell_trees.append((code, nested.nodes))
    scene.hidden.extend(nested.hidden)
    scene.functions.extend(name for name, _ in nested.functions)
    _add_all(scene, nested.commands, depth)


def _heredoc_substitutions(scene: Scene, command: Command, depth: int) -> None:
    """An unquoted heredoc body runs its $(...) and `...`: analyze them as commands."""
    for redirect in command.redirects:
        body = redirect.heredoc
        if body is None or not redirect.heredoc_expands:
            continue
        if "$(" in body or "`" in body or "${" in body:
            escaped = body.replace("\\", "\\\\").replace('"', '\\"')
            escaped = escaped.replace("\\\\$", "\\$").replace("\\\\`", "\\`")
            _add_code(scene, f'echo "{escaped}"', "heredoc body", depth + 1)


def analyze_text(line: str) -> Scene:
    """Parse and expand one line (raises ShellSyntaxError if the line itself fails)."""
    return expand(parse_line(line), line)
