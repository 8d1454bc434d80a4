"""Each tool's options that write, run a program or load code, read from its manual.

The differential fuzzer's own knowledge, kept apart from the analyzer's (the prover
must not share the blind spots of what it proves): the grammar spells these options
every way getopt takes them (`Option.spellings`), and the option-name fixtures of
`orchestrator.devtools.prove.hostile` turn them into file names that a glob hands to the tool.
Checked against ``--help`` and the manuals of the tools in ``airlock/dev`` (coreutils
9.1, sed 4.9, gawk 5.2, mawk 1.3.4, ripgrep 13/14, diffutils 3.8, findutils, util-linux,
git 2.39).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Value(StrEnum):
    """What an option's value is, which decides the pool a value is drawn from."""

    FLAG = "flag"  # no value
    OUT = "out"  # a file it writes
    PROG = "prog"  # a program it runs
    CODE = "code"  # a file of code in the tool's own language, which it loads
    LIB = "lib"  # a shared library it loads (gawk extensions)
    FILE = "file"  # a file it reads
    DIR = "dir"  # a directory it changes to or writes into
    COMMAND = "command"  # a command line it runs (env -S, flock -c)
    SCRIPT = "script"  # inline code in the tool's language (sed -e, gawk -e)
    WORD = "word"  # anything else: a number, a name, a pattern


@dataclass(frozen=True, slots=True)
class Option:
    """One option of a tool, with its getopt shape and what it does."""

    short: str = ""  # the letter, or "" for a long-only option
    long: str = ""  # the long name, or "" for a short-only option
    value: Value = Value.FLAG
    optional: bool = False  # an optional value, taken only attached (getopt's "x::")
    effect: str = ""  # what it does that a read-only command must not ("" if nothing)

    @property
    def dangerous(self) -> bool:
        return bool(self.effect)

    def abbreviation(self) -> str:
        """A shorter prefix of the long name that getopt also takes (``--fil`` for ``--file``)."""
        return self.long[: max(3, (len(self.long) * 2 + 2) // 3)] if len(self.long) > 3 else ""

    def spellings(self, value: str = "") -> list[str]:
        """Every argv spelling of this option with ``value``, as shell text."""
        return [" ".join(words) for words in self.spelled_words(value)]

    def spelled_words(self, value: str = "") -> list[list[str]]:
        """Every argv spelling of this option with ``value``, as argv words.

        A required value comes attached (``-fV``), separate (``-f V``), after ``=``
        (``--file=V``), separate after a long name and after an abbreviated one. An
        optional value comes only attached; ``-i V`` is also listed, since there ``V``
        is *not* the option's value (the trap of xargs ``-i`` and sed ``-i``).
        """
        out: list[list[str]] = []
        longs = [n for n in (self.long, self.abbreviation()) if n]
        if self.value is Value.FLAG:
            out += [[f"-{self.short}"]] if self.short else []
            return out + [[f"--{name}"] for name in longs]
        if self.short:
            out.append([f"-{self.short}{value}"])
            out.append([f"-{self.short}", value])
        for name in longs:
            out.append([f"--{name}={value}"])
            if not self.optional:
                out.append([f"--{name}", value])
        return out


def _o(short: str, long: str = "", value: Value = Value.FLAG, effect: str = "",
       optional: bool = False) -> Option:  # fmt: skip
    return Option(short, long, value, optional, effect)


V = Value
# Options of git's diff and log machinery (log, show, diff and the plumbing around them).
_GIT_DIFF = (
    _o("", "output", V.OUT, "writes its output to a file"),
    _o("", "ext-diff", V.FLAG, "runs diff.external or GIT_EXTERNAL_DIFF"),
    _o("", "textconv", V.FLAG, "runs textconv drivers from attributes"),
    _o("", "show-signature", V.FLAG, "runs gpg.program"),
    _o("", "help", V.FLAG, "runs man.<tool>.cmd or the help viewer"),
    _o("", "no-index", V.FLAG),
    _o("", "stat", V.FLAG),
    _o("p", "patch", V.FLAG),
)

TOOLS: dict[str, tuple[Option, ...]] = {
    "sort": (
        _o("o", "output", V.OUT, "writes its output to a file"),
        _o("T", "temporary-directory", V.DIR, "writes temporary files there"),
        _o("", "compress-program", V.PROG, "runs a program on temporary files"),
        _o("", "files0-from", V.FILE),
        _o("", "random-source", V.FILE),
        _o("S", "buffer-size", V.WORD),
        _o("m", "merge"),
        _o("u", "unique"),
    ),
    "sed": (
        _o("i", "in-place", V.WORD, "rewrites every file (a SUFFIX with * names backups)", True),
        _o("e", "expression", V.SCRIPT, "a script, which may hold w, W, r, e and s///e"),
        _o("f", "file", V.CODE, "reads its script from a file"),
        _o("s", "separate"),
        _o("n", "quiet"),
        _o("E", "regexp-extended"),
        _o("z", "null-data"),
        _o("", "follow-symlinks"),
        _o("", "debug"),
    ),
    "gawk": (
        _o("f", "file", V.CODE, "reads its program from a file"),
        _o("i", "include", V.CODE, "loads a source library"),
        _o("l", "load", V.LIB, "loads a shared library (rwarray writes)"),
        _o("E", "exec", V.CODE, "reads its program from a file, last option"),
        _o("e", "source", V.SCRIPT, "program text"),
        _o("d", "dump-variables", V.OUT, "writes a variable dump", True),
        _o("o", "pretty-print", V.OUT, "writes the pretty-printed program", True),
        _o("p", "profile", V.OUT, "writes a profile", True),
        _o("D", "debug", V.FILE, "runs the debugger, commands from a file", True),
        _o("v", "assign", V.WORD),
        _o("F", "field-separator", V.WORD),
        _o("b", "characters-as-bytes"),
        _o("S", "sandbox"),
    ),
    "mawk": (
        _o("f", "", V.CODE, "reads its program from a file"),
        _o("W", "", V.WORD, "-W exec FILE reads the program from a file; -W dump"),
        _o("v", "", V.WORD),
        _o("F", "", V.WORD),
    ),
    "rg": (
        _o("", "pre", V.PROG, "runs a program on every file searched"),
        _o("", "pre-glob", V.WORD),
        _o("", "hostname-bin", V.PROG, "runs a program for the hostname of hyperlinks"),
        _o("z", "search-zip", V.FLAG, "runs decompression programs"),
        _o("f", "file", V.FILE),
        _o("", "ignore-file", V.FILE),
        _o("", "hyperlink-format", V.WORD),
        _o("", "no-config"),
    ),
    "diff": (
        _o("l", "paginate", V.FLAG, "runs pr"),
        _o("", "to-file", V.FILE),
        _o("", "from-file", V.FILE),
        _o("", "exclude-from", V.FILE),
    ),
    "diff3": (_o("", "diff-program", V.PROG, "runs a program to compare files"), _o("m", "merge")),
    "sdiff": (
        _o("o", "output", V.OUT, "writes the merged file"),
        _o("", "diff-program", V.PROG, "runs a program to compare files"),
    ),
    "ptx": (
        _o("G", "traditional", V.FLAG, "takes INPUT OUTPUT, and writes OUTPUT"),
        _o("b", "break-file", V.FILE),
        _o("i", "ignore-file", V.FILE),
        _o("o", "only-file", V.FILE),
    ),
    "xargs": (
        _o("i", "replace", V.WORD, "", True),
        _o("e", "eof", V.WORD, "", True),
        _o("l", "max-lines", V.WORD, "", True),
        _o("I", "", V.WORD),
        _o("E", "", V.WORD),
        _o("L", "", V.WORD),
        _o("n", "max-args", V.WORD),
        _o("a", "arg-file", V.FILE),
        _o("d", "delimiter", V.WORD),
        _o("s", "max-chars", V.WORD),
        _o("P", "max-procs", V.WORD),
        _o("0", "null"),
        _o("r", "no-run-if-empty"),
        _o("t", "verbose"),
        _o("x", "exit"),
        _o("", "process-slot-var", V.WORD, "sets a variable in the command's environment"),
    ),
    "env": (
        _o("S", "split-string", V.COMMAND, "splits one string into a command line"),
        _o("u", "unset", V.WORD),
        _o("C", "chdir", V.DIR, "runs the command in another directory"),
        _o("i", "ignore-environment"),
        _o("0", "null"),
        _o("v", "debug"),
        _o("", "default-signal", V.WORD, "", True),
        _o("", "ignore-signal", V.WORD, "", True),
        _o("", "block-signal", V.WORD, "", True),
    ),
    "timeout": (
        _o("s", "signal", V.WORD),
        _o("k", "kill-after", V.WORD),
        _o("", "preserve-status"),
        _o("", "foreground"),
        _o("v", "verbose"),
    ),
    "nice": (_o("n", "adjustment", V.WORD),),
    "stdbuf": (_o("i", "input", V.WORD), _o("o", "output", V.WORD), _o("e", "error", V.WORD)),
    "flock": (
        _o("c", "command", V.COMMAND, "runs a command line through sh -c"),
        _o("s", "shared"),
        _o("x", "exclusive"),
        _o("n", "nonblock"),
        _o("w", "timeout", V.WORD),
        _o("o", "close"),
        _o("E", "conflict-exit-code", V.WORD),
    ),
    "date": (_o("s", "set", V.WORD, "sets the clock"), _o("f", "file", V.FILE)),
    "hostname": (_o("F", "file", V.FILE, "sets the hostname from a file"), _o("b", "boot")),
    "tail": (_o("f", "follow", V.WORD, "never ends", True), _o("", "pid", V.WORD)),
    "grep": (_o("f", "file", V.FILE), _o("", "exclude-from", V.FILE), _o("r", "recursive")),
    "jq": (_o("f", "from-file", V.FILE), _o("L", "", V.DIR), _o("", "rawfile", V.WORD)),
    "git diff": _GIT_DIFF,
    "git log": _GIT_DIFF,
    "git show": _GIT_DIFF,
    "git blame": (_GIT_DIFF[0], _GIT_DIFF[2], _GIT_DIFF[4], _o("", "contents", V.FILE)),
    "git shortlog": (_GIT_DIFF[0], _GIT_DIFF[4]),
    "git grep": (
        _o("O", "open-files-in-pager", V.PROG, "runs a program on the matching files", True),
        _o("", "textconv", V.FLAG, "runs textconv drivers from attributes"),
        _o("f", "", V.FILE),
        _o("", "help", V.FLAG, "runs man.<tool>.cmd or the help viewer"),
    ),
    "git cat-file": (
        _o("", "filters", V.FLAG, "runs smudge filters from attributes"),
        _o("", "textconv", V.FLAG, "runs textconv drivers from attributes"),
    ),
    "git status": (_o("", "help", V.FLAG, "runs man.<tool>.cmd or the help viewer"),),
}
"""Tool (``git <sub>`` for git) -> the options that matter, and a few ordinary ones."""

# Environment variables that make a read-only tool load config, code or a program, or
# write (each tool's manual, ENVIRONMENT). {prog} a program, {out} a file to write, {dir}
# a directory holding config, {file} a config file, {code} code in the tool's language.
ENVIRONMENT: dict[str, tuple[str, ...]] = {
    "git": (
        "GIT_TEST_FSMONITOR={prog}", "GIT_EXTERNAL_DIFF={prog}", "GIT_PAGER={prog}",
        "GIT_SSH_COMMAND={prog}", "GIT_ASKPASS={prog}", "GIT_EDITOR={prog}",
        "GIT_CONFIG_GLOBAL={gitconfig}", "GIT_CONFIG_SYSTEM={gitconfig}",
        "GIT_CONFIG_COUNT=1 GIT_CONFIG_KEY_0=core.fsmonitor GIT_CONFIG_VALUE_0={prog}",
        "GIT_CONFIG_PARAMETERS=\"'core.fsmonitor'='{prog}'\"", "GIT_DIR=sub",
        "GIT_DIR=vendor/lib.git", "GIT_WORK_TREE=src", "GIT_INDEX_FILE={out}",
        "GIT_TRACE={out}", "GIT_TRACE2={out}", "GIT_TRACE2_EVENT={out}",
        "GIT_TRACE_PACKET={out}", "GIT_OBJECT_DIRECTORY={dir}", "GIT_EXEC_PATH={dir}",
        "GIT_OPTIONAL_LOCKS=1", "HOME=/workspace", "XDG_CONFIG_HOME=/workspace/.config",
        "XDG_CONFIG_HOME=/workspace", "GIT_CONFIG_NOSYSTEM=0", "GIT_ATTR_SOURCE=HEAD",
    ),
    "rg": ("RIPGREP_CONFIG_PATH={rgconfig}",),
    "zgrep": ("GREP={prog}", "GZIP=-S{out}"),
    "gawk": ("AWKPATH=.", "AWKPATH=/workspace", "AWKLIBPATH={dir}"),
    "awk": ("AWKPATH=.", "AWKLIBPATH={dir}"),
    "sort": ("TMPDIR={dir}",),
    "bash": ("BASH_ENV={code}", "ENV={code}", "SHELLOPTS=xtrace PS4='$({prog})'",
             "BASH_XTRACEFD=7", "PATH=.:/usr/bin:/bin", "PATH=tools:$PATH", "IFS=/"),
    "date": ("TZ=/workspace/notes.txt",),
    "grep": ("GREP_COLORS=mt=01", "GREP_OPTIONS=-r"),
}  # fmt: skip
