"""Find the commands that other commands run: wrappers, shell strings, heredocs.

``timeout 5 sh -c 'curl x'`` runs ``sh`` which runs ``curl``: each one is added to
the list of commands the checks see. Wrappers are table-driven: which options
take an argument, and where the inner command starts. An option the table does
not know makes the inner command unknowable, which the analyzer reports (S19).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from security.knowledge.wrappers import (
    ARGV_WRAPPERS,
    CODE_OPTIONS,
    RUNS_OTHERS,
    SHELLS,
    XARGS_DEFAULT,
    OptionTable,
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
    differential: list[str] = field(default_factory=list)  # parser disagreements
    nodes: list[Any] | None = None  # bashlex's trees of the line, for the cross-check
    too_deep: bool = False


def _split_options(args: list[Word], table: OptionTable) -> tuple[int | None, str | None]:
    """Index in ``args`` where the wrapped command starts, or (None, reason) if unknowable."""
    i = 0
    while i < len(args):
        arg = args[i].value
        if arg == "--":
            i += 1
            break
        if arg.startswith("--") and len(arg) > 2:
            name = arg[2:].split("=", 1)[0]
            if name in table.long_with_arg:
                i += 1 if "=" in arg else 2
            elif name in table.long_flags:
                i += 1
            else:
                return None, f"unknown option {arg}"
            continue
        if (
            arg.startswith("-")
            and len(arg) > 1
            and table is ARGV_WRAPPERS["nice"]
            and (arg[1:].isdigit())
        ):
            i += 1  # nice -5 cmd
            continue
        if arg.startswith("-") and len(arg) > 1:
            cluster = arg[1:]
            for pos, letter in enumerate(cluster):
                if letter in table.short_with_arg:
                    i += 1 if pos + 1 < len(cluster) else 2
                    break
                if letter not in table.short_flags:
                    return None, f"unknown option -{letter}"
            else:
                i += 1
            continue
        break
    return i, None


def inner_argv(command: Command) -> tuple[list[Word] | None, str | None]:
    """The command a wrapper runs, as words; (None, reason) if it cannot be known."""
    name = command.base_name
    args = command.words[1:]
    table = ARGV_WRAPPERS.get(name)
    if table is None:
        return None, None
    if name == "command" and _is_lookup(args):
        return None, None  # `command -v NAME`: a lookup, runs nothing
    if name in CODE_OPTIONS and any(a.value.split("=")[0] in CODE_OPTIONS[name] for a in args):
        return None, None  # handled as a shell string
    start, problem = _split_options(args, table)
    if start is None:
        return None, problem
    if name == "env":
        while (
            start < len(args) and "=" in args[start].value and not args[start].value.startswith("=")
        ):
            start += 1
    start += table.operands_before_command
    if start >= len(args):
        return None, None  # e.g. `env` alone, `exec 3>x`, `xargs` running echo
    return args[start:], None


def _is_lookup(args: list[Word]) -> bool:
    """Whether `command`'s own options (those before the name it runs) hold -v or -V."""
    for arg in args:
        value = arg.value
        if value == "--" or not value.startswith("-") or value == "-":
            return False
        if "v" in value[1:] or "V" in value[1:]:
            return True
    return False


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
        if any(a.value in ("-x", "--exec") for a in args[:start]) or start >= len(args):
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
    if inner:
        _add_wrapped(scene, command, inner, command.base_name, depth)
    elif problem is None and command.base_name == "xargs":
        echo = Word(XARGS_DEFAULT, scan_word(XARGS_DEFAULT), XARGS_DEFAULT, frozenset())
        _add_wrapped(scene, command, [echo], "xargs", depth, implied=True)
    if command.base_name == "find":
        for words in _find_exec_commands(command):
            _add_wrapped(scene, command, words, "find -exec", depth)


def _add_wrapped(
    scene: Scene,
    outer: Command,
    words: list[Word],
    origin: str,
    depth: int,
    implied: bool = False,
) -> None:
    """``words``, run by ``outer``; ``implied``: run without being written (xargs's echo)."""
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
