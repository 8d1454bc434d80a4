"""sed: which scripts only read, where the scripts of an argv are, and in-place edits.

`parse_sed` reads a script the way GNU sed 4.9's compile.c does (addresses, custom
regex delimiters ``\\%re%``, bracket expressions, ``s`` flags with ``w FILE`` to the
end of the line, ``y``, ``a``/``i``/``c`` text, ``{}`` blocks, labels that end at
whitespace or ``;``, comments) and fails closed on anything else. Checked against
``sed --debug`` in the image (tests/integration/test_knowledge_tools.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from security.argv import getopt

# GNU sed 4.9's getopt table (`-i` takes an optional attached suffix; -b is accepted).
SED_OPTIONS = getopt(
    "bnrsuEzi::l:e:f:",
    "quiet silent debug expression= file= follow-symlinks in-place[=] line-length= "
    "null-data zero-terminated posix regexp-extended separate sandbox unbuffered binary "
    "help version",
)
_EXPRESSION = frozenset({"-e", "--expression"})
_SED_REFUSED_OPTIONS = {
    "-f": "runs a script from a file",
    "--file": "runs a script from a file",
    "-i": "edits files in place",
    "--in-place": "edits files in place",
    "--posix": "reads the script by other rules",
}

# What each command does to the world (the rest only edit the pattern space or print).
_RUNS = {"e": "runs a shell command"}
_WRITES = {"w": "writes a file", "W": "writes a file"}
_SIMPLE = frozenset("=dDFgGhHnNpPxz")  # no argument; then the end of the command
_NUMBER_ARG = frozenset("lLqQ")  # an optional number
_FILENAME = frozenset("rRwW")
_TEXT = frozenset("aic")
# sets, not strings: "" (the end of the script) must be in none of them
_BLANK = frozenset(" \t")
_SPACE = frozenset(" \t\n\v\f\r")
_LABEL_READERS = frozenset(":vbtT")


class SedSyntax(Exception):
    """The script is not read the way sed reads it (or sed would reject it)."""


@dataclass(frozen=True, slots=True)
class SedCommand:
    """One command of a parsed script."""

    name: str  # the command letter
    argument: str = ""  # label, file name, text, or the s flags


class _Reader:
    """Characters of the script, with GNU sed's inchar/in_nonblank/savchar."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def get(self) -> str:  # "" at the end
        ch = self.text[self.pos : self.pos + 1]
        self.pos += 1 if ch else 0
        return ch

    def unget(self, ch: str) -> None:
        if ch:
            self.pos -= 1

    def nonblank(self) -> str:
        ch = self.get()
        while ch and ch in _BLANK:
            ch = self.get()
        return ch


def parse_sed(script: str) -> list[SedCommand]:
    """The commands of a GNU sed script (several -e joined by newlines, as sed does)."""
    reader = _Reader(script)
    commands: list[SedCommand] = []
    blocks = 0
    while True:
        ch = reader.get()
        while ch and (ch == ";" or ch in _SPACE):
            ch = reader.get()
        if not ch:
            break
        addressed = False
        if _address(reader, ch):
            addressed = True
            ch = reader.nonblank()
            if ch == ",":
                if not _address(reader, reader.nonblank()):
                    raise SedSyntax("unexpected ,")
                ch = reader.nonblank()
        if ch == "!":
            ch = reader.nonblank()
            if ch == "!":
                raise SedSyntax("multiple !s")
        command, blocks = _command(reader, ch, addressed, blocks)
        if command is not None:
            commands.append(command)
    if blocks:
        raise SedSyntax("unmatched {")
    return commands


def _command(
    reader: _Reader, ch: str, addressed: bool, blocks: int
) -> tuple[SedCommand | None, int]:
    if not ch:
        raise SedSyntax("missing command")
    if ch == "#":
        if addressed:
            raise SedSyntax("comments don't accept addresses")
        while ch and ch != "\n":
            ch = reader.get()
        return None, blocks
    if ch == "{":
        return SedCommand("{"), blocks + 1
    if ch == "}":
        if not blocks or addressed:
            raise SedSyntax("unexpected }")
        _end_of_command(reader)
        return SedCommand("}"), blocks - 1
    if ch in _SIMPLE:
        _end_of_command(reader)
        return SedCommand(ch), blocks
    if ch in _NUMBER_ARG:
        nxt = reader.nonblank()
        digits = ""
        while nxt.isdigit():
            digits += nxt
            nxt = reader.get()
        nxt = nxt if not digits or nxt not in _BLANK else reader.nonblank()
        _end_after(reader, nxt)
        return SedCommand(ch, digits), blocks
    if ch in _LABEL_READERS:
        label = _label(reader)
        if ch == ":" and (addressed or not label):
            raise SedSyntax(": needs a label and no address")
        return SedCommand(ch, label), blocks
    if ch in _FILENAME:
        name = _to_end_of_line(reader, skip_blanks=True)
        if not name:
            raise SedSyntax("expected a file name")
        return SedCommand(ch, name), blocks
    if ch in _TEXT or ch == "e":
        return SedCommand(ch, _text(reader, ch)), blocks
    if ch == "s":
        return _substitute(reader), blocks
    if ch == "y":
        delim = reader.get()
        _delimited(reader, delim, regex=False)
        _delimited(reader, delim, regex=False)
        _end_of_command(reader)
        return SedCommand("y"), blocks
    raise SedSyntax(f"unknown command {ch!r}" if ch else "missing command")


def _address(reader: _Reader, ch: str) -> bool:
    """Read one address starting at ``ch``; False if ``ch`` does not start one."""
    if ch in ("/", "\\"):
        delim = reader.get() if ch == "\\" else "/"
        _delimited(reader, delim, regex=True)
        flag = reader.nonblank()
        while flag in ("I", "M"):
            flag = reader.nonblank()
        reader.unget(flag)
        return True
    if ch.isdigit():
        _digits(reader, ch)
        nxt = reader.nonblank()
        if nxt == "~":
            _digits(reader, reader.nonblank())
        else:
            reader.unget(nxt)
        return True
    if ch in ("+", "~"):
        _digits(reader, reader.nonblank())
        return True
    return ch == "$"


def _digits(reader: _Reader, ch: str) -> None:
    if not ch.isdigit():
        raise SedSyntax("expected a number")
    ch = reader.get()
    while ch.isdigit():
        ch = reader.get()
    reader.unget(ch)


def _delimited(reader: _Reader, delim: str, *, regex: bool) -> str:
    """Text up to an unescaped ``delim`` (in a regex, not inside a bracket expression)."""
    if not delim or delim in "\n\\":
        raise SedSyntax("bad delimiter")
    out: list[str] = []
    while True:
        ch = reader.get()
        if not ch or ch == "\n":
            raise SedSyntax("unterminated expression")
        if ch == delim:
            return "".join(out)
        if ch == "\\":
            nxt = reader.get()
            if not nxt:
                raise SedSyntax("unterminated expression")
            out.append(ch + nxt)
            continue
        if ch == "[" and regex:
            out.append(_bracket(reader))
            continue
        out.append(ch)


def _bracket(reader: _Reader) -> str:
    """A bracket expression after its ``[``: the delimiter and ``\\`` are members here."""
    out = ["["]
    ch = reader.get()
    if ch == "^":
        out.append(ch)
        ch = reader.get()
    if ch == "]":
        out.append(ch)
        ch = reader.get()
    while ch and ch != "]":
        if ch == "\n":
            raise SedSyntax("newline in a bracket expression")
        out.append(ch)
        if ch == "[":
            kind = reader.get()
            if kind in (":", ".", "="):
                out.append(kind)
                end = kind + "]"
                while not "".join(out).endswith(end):
                    nxt = reader.get()
                    if not nxt or nxt == "\n":
                        raise SedSyntax("unterminated class in a bracket expression")
                    out.append(nxt)
            else:
                reader.unget(kind)
        ch = reader.get()
    if not ch:
        raise SedSyntax("unterminated bracket expression")
    out.append("]")
    return "".join(out)


def _substitute(reader: _Reader) -> SedCommand:
    delim = reader.get()
    _delimited(reader, delim, regex=True)
    _delimited(reader, delim, regex=False)
    flags = ""
    while True:
        ch = reader.get()
        if ch in ("i", "I", "m", "M", "e", "p", "g") or ch.isdigit():
            flags += ch
        elif ch in _BLANK:
            continue  # sed 4.9 skips blanks between flags
        elif ch == "w":
            name = _to_end_of_line(reader, skip_blanks=True)
            if not name:
                raise SedSyntax("missing file name")
            return SedCommand("s", flags + "w" + name)
        elif ch in ("}", "#"):
            reader.unget(ch)
            return SedCommand("s", flags)
        elif ch in ("", "\n", ";"):
            return SedCommand("s", flags)
        else:
            raise SedSyntax(f"unknown option to s: {ch!r}")


def _label(reader: _Reader) -> str:
    """A label: after blanks, up to whitespace or ``;`` (GNU sed 4.9's read_label)."""
    ch = reader.nonblank()
    label = ""
    while ch and ch not in _SPACE and ch != ";":
        label += ch
        ch = reader.get()
    return label


def _to_end_of_line(reader: _Reader, *, skip_blanks: bool) -> str:
    ch = reader.nonblank() if skip_blanks else reader.get()
    out = ""
    while ch and ch != "\n":
        out += ch
        ch = reader.get()
    return out


def _text(reader: _Reader, command: str) -> str:
    """The text of a, i, c (and e's command): to an unescaped newline."""
    ch = reader.nonblank()
    if command == "e" and ch in ("", "\n"):
        return ""
    if not ch:
        raise SedSyntax(f"{command} expects text")
    if ch == "\\":
        ch = reader.get()
        if ch == "\n":
            ch = reader.get()
    out = ""
    while ch and ch != "\n":
        if ch == "\\":
            ch = reader.get()
            if not ch:
                break
        out += ch
        ch = reader.get()
    return out


def _end_of_command(reader: _Reader) -> None:
    _end_after(reader, reader.nonblank())


def _end_after(reader: _Reader, ch: str) -> None:
    if ch in ("}", "#"):
        reader.unget(ch)
    elif ch not in ("", "\n", ";"):
        raise SedSyntax(f"extra characters after command: {ch!r}")


def sed_script_refusal(script: str) -> tuple[str, str] | None:
    """(why, kind) if a sed script does more than read and print; kind is ``runs``
    (e, s///e), ``writes`` (w, W, s///w) or ``unknown`` (not read the way sed would)."""
    try:
        commands = parse_sed(script)
    except SedSyntax as exc:
        return f"sed script not understood: {exc}", "unknown"
    for command in commands:
        flags = command.argument.split("w", 1)[0] if command.name == "s" else ""
        if command.name in _RUNS:
            return f"sed command e {_RUNS['e']}", "runs"
        if "e" in flags:
            return "sed s///e runs the pattern space as a shell command", "runs"
        if command.name in _WRITES:
            return f"sed command {command.name} {_WRITES[command.name]}", "writes"
        if command.name == "s" and "w" in command.argument:
            return "sed s///w writes a file", "writes"
    return None


def sed_script_problem(script: str) -> str | None:
    """Why a sed script is not read-only (e, w, W, s///e, s///w, or not understood)."""
    found = sed_script_refusal(script)
    return found[0] if found else None


@dataclass(frozen=True, slots=True)
class SedArgv:
    """The scripts of a sed argv, and the argv index of the script operand if any."""

    scripts: list[str]
    script_index: int | None


def read_sed_argv(argv: list[str]) -> tuple[SedArgv | None, str | None]:
    """(the scripts, None) or (None, why they cannot be known or are not read-only)."""
    parsed = SED_OPTIONS.parse(argv[1:])
    if parsed.error:
        return None, f"sed: {parsed.error}"
    scripts: list[str] = []
    for option in parsed.options:
        refused = _SED_REFUSED_OPTIONS.get(option.name)
        if refused:
            return None, f"sed {option.name} {refused}"
        if option.name in _EXPRESSION:
            scripts.append(option.value or "")
    if scripts:
        return SedArgv(scripts, None), None
    if not parsed.operands:
        return None, "sed without a script"
    index = 1 + parsed.operands[0]
    return SedArgv([argv[index]], index), None


def sed_scripts(argv: list[str]) -> tuple[list[str], str | None]:
    """The scripts of a sed argv, or a reason they cannot be known (-f FILE)."""
    found, problem = read_sed_argv(argv)
    return (found.scripts, None) if found else ([], problem)


def sed_script_index(argv: list[str]) -> int | None:
    """The argv index of the operand that is the script (it must be literal)."""
    found, _ = read_sed_argv(argv)
    return found.script_index if found else None


def sed_edits_in_place(argv: list[str]) -> bool:
    """Whether sed edits its files: ``-i``, ``-i.bak``, ``-ni``, ``--in-place[=SUF]``,
    read as GNU sed's getopt reads them (options after operands count; after ``--``
    every word is a file, so a file named ``-ix`` is not the option). An argv sed
    would not accept counts as editing."""
    parsed = SED_OPTIONS.parse(argv[1:])
    if parsed.error is not None:
        return True
    return any(option.name in ("-i", "--in-place") for option in parsed.options)


def sed_read_only_problem(argv: list[str]) -> str | None:
    """Why a sed argv is not proven read-only, or None."""
    if sed_edits_in_place(argv):
        return "sed -i edits files"
    found, problem = read_sed_argv(argv)
    if found is None:
        return problem
    return sed_script_problem("\n".join(found.scripts))
