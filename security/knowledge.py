"""What is known about commands, kept apart from the parser: the read-only base.

A command is *proven read-only* when its name is in `READ_ONLY` and its arguments
pass that entry: no forbidden option, not too many operands, and the entry's own
test (git subcommands, sed and awk programs, find actions). Anything else is not
proven, and the `read-only` policy asks.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from security.argv import has_option, operands

ArgTest = Callable[[list[str]], str | None]  # argv -> why not read-only, or None


@dataclass(frozen=True, slots=True)
class ReadOnlySpec:
    """When a command only reads."""

    forbidden_short: str = ""  # short options that write, execute or hang
    forbidden_long: tuple[str, ...] = ()
    max_operands: int | None = None  # e.g. `uniq IN OUT` writes OUT
    test: ArgTest | None = None
    value_options: tuple[str, ...] = ()  # options whose value is the next argument


def _words(text: str) -> list[str]:
    return text.split()


def _spec(
    short: str = "",
    long: str = "",
    max_operands: int | None = None,
    test: ArgTest | None = None,
    values: str = "",
) -> ReadOnlySpec:
    return ReadOnlySpec(short, tuple(long.split()), max_operands, test, tuple(values.split()))


# --- tests for commands whose read-only-ness depends on their arguments -----------

# git's global options that take a separate value
GIT_TAKES_VALUE = frozenset(
    {"-C", "-c", "--git-dir", "--work-tree", "--namespace", "--config-env", "--super-prefix"}
)
# global options that keep a read-only command read-only
GIT_GLOBAL_READ_ONLY = frozenset(
    {
        "-C",
        "--no-pager",
        "-P",
        "--bare",
        "--literal-pathspecs",
        "--no-optional-locks",
        "--glob-pathspecs",
        "--noglob-pathspecs",
        "--icase-pathspecs",
        "--no-replace-objects",
        "--version",
        "--help",
    }
)
# Subcommands that take log or diff options, --output (writes a file) and --ext-diff
# (runs a program) among them. In a container, shortlog, rev-list, blame, annotate and
# reflog wrote with --output; stash and cherry are listed to fail closed.
GIT_LOG_OPTIONS = frozenset(
    {"log", "show", "diff", "diff-tree", "diff-files", "diff-index", "whatchanged",
     "format-patch", "range-diff", "shortlog", "rev-list", "blame", "annotate", "reflog",
     "stash", "cherry"}
)  # fmt: skip
_NO_OUTPUT = "output ext-diff"

GIT_READ_ONLY: dict[str, ReadOnlySpec] = {
    "status": _spec(),
    "log": _spec("", _NO_OUTPUT),
    "show": _spec("", _NO_OUTPUT),
    "diff": _spec("", _NO_OUTPUT),
    "diff-tree": _spec("", _NO_OUTPUT),
    "diff-files": _spec("", _NO_OUTPUT),
    "diff-index": _spec("", _NO_OUTPUT),
    "whatchanged": _spec("", _NO_OUTPUT),
    "blame": _spec("", _NO_OUTPUT),
    "annotate": _spec("", _NO_OUTPUT),
    "shortlog": _spec("", _NO_OUTPUT),
    "describe": _spec(),
    "rev-parse": _spec(),
    "rev-list": _spec("", _NO_OUTPUT),
    "ls-files": _spec(),
    "ls-tree": _spec(),
    "cat-file": _spec(),
    "merge-base": _spec(),
    "name-rev": _spec(),
    "for-each-ref": _spec(),
    "show-ref": _spec("", "verify-only"),  # harmless, listed for symmetry
    "count-objects": _spec(),
    "check-ignore": _spec(),
    "check-attr": _spec(),
    "cherry": _spec("", _NO_OUTPUT),
    "version": _spec(),
    "grep": _spec("O", "open-files-in-pager ext-grep"),
    "branch": _spec(test=lambda argv: _git_listing(argv[1:], "branch")),
    "tag": _spec(test=lambda argv: _git_listing(argv[1:], "tag")),
    "remote": _spec(test=lambda argv: _git_remote(argv[1:])),
    "config": _spec(test=lambda argv: _git_config(argv[1:])),
    "stash": _spec(
        "", _NO_OUTPUT, test=lambda argv: _git_only(argv[1:], "stash", ("list", "show"))
    ),
    "reflog": _spec("", _NO_OUTPUT, test=lambda argv: _git_only(argv[1:], "reflog", ("show",))),
    "worktree": _spec(test=lambda argv: _git_only(argv[1:], "worktree", ("list",))),
}
_BRANCH_LISTING_FLAGS = frozenset(
    {
        "-a",
        "--all",
        "-r",
        "--remotes",
        "-l",
        "--list",
        "-v",
        "-vv",
        "--verbose",
        "--show-current",
        "--color",
        "--no-color",
        "--column",
        "--no-column",
        "-i",
        "--ignore-case",
        "--omit-empty",
    }
)
_BRANCH_LISTING_WITH_VALUE = (
    "--contains",
    "--no-contains",
    "--merged",
    "--no-merged",
    "--sort",
    "--format",
    "--points-at",
    "--color=",
    "-n",
)


def _git_listing(args: list[str], what: str) -> str | None:
    """`git branch` / `git tag` only list: no positional argument unless --list.

    An option's value is not an option: in `git branch --sort -l x`, -l is the sort
    key, so x is a branch to create.
    """
    listing = False
    positional: list[str] = []
    skip = False
    for arg in args:
        if skip:
            skip = False
            continue
        if arg in _BRANCH_LISTING_FLAGS:
            listing = listing or arg in ("-l", "--list")
            continue
        if arg.startswith(_BRANCH_LISTING_WITH_VALUE):
            skip = "=" not in arg and arg in _BRANCH_LISTING_WITH_VALUE
            continue
        if arg.startswith("-"):
            return f"git {what} {arg}"
        positional.append(arg)
    if positional and not listing:
        return f"git {what} {positional[0]} creates or changes a {what}"
    return None


def _git_only(args: list[str], sub: str, reading: tuple[str, ...]) -> str | None:
    """Subcommands like `git stash` read only with no action or a listed one."""
    action = next((a for a in args if not a.startswith("-")), None)
    if (action is None and sub not in ("worktree", "stash")) or action in reading:
        return None
    return f"git {sub} {action or ''} changes the repository".replace("  ", " ")


def _git_remote(args: list[str]) -> str | None:
    if not args or args in (["-v"], ["--verbose"]) or args[0] == "get-url":
        return None
    return f"git remote {' '.join(args[:2])}"


_GIT_CONFIG_READS = frozenset(
    {
        "--get",
        "--get-all",
        "--get-regexp",
        "--get-urlmatch",
        "--list",
        "-l",
        "get",
        "list",
        "--show-origin",
        "--show-scope",
        "--name-only",
        "--null",
        "-z",
        "--global",
        "--local",
        "--system",
        "--worktree",
        "--includes",
        "--no-includes",
        "--type",
        "--bool",
        "--int",
        "--path",
        "--default",
    }
)


_GIT_CONFIG_READ_ACTIONS = frozenset(
    {"--get", "--get-all", "--get-regexp", "--list", "-l", "get", "list", "--get-urlmatch"}
)


def _git_config(args: list[str]) -> str | None:
    for arg in args:  # `git config KEY -l` sets KEY to "-l": a key before the action writes
        if arg in _GIT_CONFIG_READ_ACTIONS:
            break
        if not arg.startswith("-"):
            return f"git config {arg} ... sets {arg}"
    if not any(
        a in ("--get", "--get-all", "--get-regexp", "--list", "-l", "get", "list", "--get-urlmatch")
        for a in args
    ):
        return "git config without --get/--list may write"
    for arg in args:
        if arg.startswith("-") and arg.split("=")[0] not in _GIT_CONFIG_READS:
            return f"git config {arg}"
    return None


def git_subcommand(argv: list[str]) -> tuple[str | None, list[str], list[str]]:
    """(subcommand, global options, subcommand arguments) of a git argv.

    Global options that take a separate value come back joined: ``-C dir`` -> ``-C=dir``.
    """
    options: list[str] = []
    i = 1
    while i < len(argv):
        arg = argv[i]
        if arg in GIT_TAKES_VALUE:
            options.append(f"{arg}={argv[i + 1]}" if i + 1 < len(argv) else arg)
            i += 2
        elif arg.startswith("-"):
            options.append(arg)
            i += 1
        else:
            return arg, options, argv[i + 1 :]
    return None, options, []


def _git(argv: list[str]) -> str | None:
    sub, global_options, args = git_subcommand(argv)
    for option in global_options:
        if option.split("=", 1)[0] not in GIT_GLOBAL_READ_ONLY:
            return f"git option {option}"
    if sub is None:
        return None if global_options in (["--version"], ["--help"]) else "git without subcommand"
    spec = GIT_READ_ONLY.get(sub)
    if spec is None:
        return f"git {sub} is not read-only"
    return check_spec(spec, [f"git-{sub}", *args])


_FIND_WRITES = frozenset({"-delete", "-fprint", "-fprint0", "-fprintf", "-fls", "-ok", "-okdir"})


def _find(argv: list[str]) -> str | None:
    for arg in argv[1:]:
        if arg in _FIND_WRITES:
            return f"find {arg}"
    return None  # -exec/-execdir run commands that are checked on their own


_SED_SAFE_COMMANDS = frozenset("pdqQ=nNPDhHgGxlzF{}:btTrR#")


def sed_script_problem(script: str) -> str | None:
    """Why a sed script is not read-only (e, w, W, s///e, s///w), or None."""
    i, n = 0, len(script)
    while i < n:
        ch = script[i]
        if ch in " \t\n;!":
            i += 1
            continue
        if ch.isdigit() or ch in "$,~+":
            i += 1
            continue
        if ch == "/" or ch == "\\":
            delim = "/" if ch == "/" else (script[i + 1] if i + 1 < n else "/")
            i = _sed_skip_regex(script, i + (1 if ch == "/" else 2), delim)
            i += 1
            while i < n and script[i] in "IM":
                i += 1
            continue
        if ch in "sy":
            if i + 1 >= n:
                return "incomplete sed command"
            delim = script[i + 1]
            j = _sed_skip_regex(script, i + 2, delim)
            j = _sed_skip_regex(script, j + 1, delim)
            flags_start = j + 1
            k = flags_start
            while k < n and script[k] not in ";\n}":
                k += 1
            flags = script[flags_start:k]
            if ch == "s" and ("e" in flags or "w" in flags or "W" in flags):
                return f"sed s///{flags.strip()} runs or writes"
            i = k
            continue
        if ch in "aic":
            i = script.find("\n", i)
            i = n if i < 0 else i
            continue
        if ch in "btT:rR#":
            end = script.find("\n", i)
            if ch in "btT":
                semi = script.find(";", i)
                end = semi if semi >= 0 and (end < 0 or semi < end) else end
            i = n if end < 0 else end
            continue
        if ch in "ewWv":
            return f"sed command {ch!r} runs or writes"
        if ch in _SED_SAFE_COMMANDS:
            i += 1
            continue
        return f"sed command {ch!r} not understood"
    return None


def _sed_skip_regex(script: str, i: int, delim: str) -> int:
    """Index of the next unescaped ``delim`` from ``i`` (len(script) if none)."""
    while i < len(script):
        if script[i] == "\\":
            i += 2
            continue
        if script[i] == delim:
            return i
        i += 1
    return len(script)


def sed_scripts(argv: list[str]) -> tuple[list[str], str | None]:
    """The scripts of a sed argv, or a reason they cannot be known (-f FILE)."""
    scripts: list[str] = []
    args = argv[1:]
    i = 0
    while i < len(args):
        arg = args[i]
        if arg in ("-e", "--expression") and i + 1 < len(args):
            scripts.append(args[i + 1])
            i += 2
            continue
        if arg.startswith("--expression="):
            scripts.append(arg.split("=", 1)[1])
        elif arg in ("-f", "--file") or arg.startswith("--file="):
            return scripts, "sed -f runs a script from a file"
        elif arg.startswith("-e") and len(arg) > 2:
            scripts.append(arg[2:])
        i += 1
    if not scripts:
        rest = operands(args)
        if rest:
            scripts.append(rest[0])
    return scripts, None


def sed_edits_in_place(argv: list[str]) -> bool:
    """Whether sed edits its files: ``-i``, ``-i.bak``, ``-ni``, ``--in-place[=SUF]``.

    Generous on purpose: an ``i`` in any short-option cluster counts, even after ``--``.
    """
    return has_option(argv[1:], "i", ("in-place",)) is not None or any(
        a.startswith("-") and not a.startswith("--") and "i" in a[1:] for a in argv[1:]
    )


def _sed(argv: list[str]) -> str | None:
    if sed_edits_in_place(argv):
        return "sed -i edits files"
    for arg in argv[1:]:  # GNU getopt takes `--e=...` for --expression: refuse the guesswork
        name = arg[2:].split("=", 1)[0] if arg.startswith("--") else ""
        if name and name not in _SED_LONG and any(o.startswith(name) for o in _SED_LONG):
            return f"sed {arg}: an abbreviated option"
    scripts, problem = sed_scripts(argv)
    if problem:
        return problem
    for script in scripts:
        problem = sed_script_problem(script)
        if problem:
            return problem
    return None


_SED_LONG = tuple(
    _words(
        """
        expression file in-place null-data quiet silent regexp-extended separate unbuffered
        line-length posix sandbox debug follow-symlinks binary zero-terminated help version
        """
    )
)


def _date(argv: list[str]) -> str | None:
    """`date MMDDhhmm` sets the clock: every operand must be a +FORMAT."""
    for operand in operands(argv[1:], ("-d", "-f", "-r", "-I")):
        if not operand.startswith("+"):
            return f"date {operand}: an operand that is not +FORMAT sets the clock"
    return None


def _hostname(argv: list[str]) -> str | None:
    """`hostname NAME` sets the name and `-f`/`-A`/`-i` ask the network: only bare reads."""
    return None if len(argv) == 1 else "hostname with arguments sets the name or asks DNS"


def _awk(argv: list[str]) -> str | None:
    from security.checks.code import awk_program, awk_program_is_safe

    program, reason = awk_program(argv)
    if program is None:
        return reason
    return None if awk_program_is_safe(program) else "awk program runs or writes"


def _read(argv: list[str]) -> str | None:
    names = [a for a in argv[1:] if not a.startswith("-")]
    sensitive = {"PATH", "IFS", "LD_PRELOAD", "BASH_ENV", "ENV", "PROMPT_COMMAND"}
    return "read into a sensitive variable" if sensitive & set(names) else None


XXD_VALUE_OPTIONS = "-l -s -c -g -o -n -len -seek -cols -groupsize -offset -name"
UNIQ_VALUE_OPTIONS = "-f -s -w"


def _known_options_only(argv: list[str], flags: str, with_value: str) -> str | None:
    """For programs that do something else with an option they do not know (pidof logs
    it to syslog: a socket, and /dev/console)."""
    args = iter(argv[1:])
    for arg in args:
        if arg == "--":
            break
        if not arg.startswith("-") or arg == "-":
            continue
        if arg.startswith("--"):
            return f"{argv[0]} {arg} is not an option it knows"
        for i, letter in enumerate(arg[1:]):
            if letter not in flags:
                return f"{argv[0]} -{letter} is not an option it knows"
            if letter in with_value:
                if i == len(arg) - 2:
                    next(args, None)
                break
    return None


READ_ONLY: dict[str, ReadOnlySpec] = {
    **{
        name: _spec()
        for name in _words(
            """
            cat ls dir vdir pwd echo true false : test [ basename dirname realpath readlink wc nl od
            hexdump md5sum sha1sum sha224sum sha256sum sha384sum sha512sum b2sum cksum sum
            column fold fmt paste join expand unexpand rev tac seq which type whoami id groups
            uname uptime nproc locale strings cut tr diff cmp comm stat du df free ps grep
            egrep fgrep jq head cd pushd popd dirs whereis getconf arch hostname tty printf
            tsort numfmt pr look zcat zgrep bzcat xzcat lsof pgrep lscpu lsblk lsmem lsns
            tput factor expr sleep wait logname users who w last cal ncal diff3 sdiff md5
            shasum base32 basenc ptx
            """
        )
    },
    "ls": _spec(),
    "pidof": _spec(test=lambda argv: _known_options_only(argv, "scqwxnzSdo", "dSo")),
    "printf": _spec("v"),
    "file": _spec("C", "compile"),
    "tree": _spec("o"),
    "rg": _spec("z", "pre pre-glob search-zip"),
    "sort": _spec("oT", "output compress-program temporary-directory"),
    "uniq": _spec(max_operands=1, values=UNIQ_VALUE_OPTIONS),
    "tail": _spec("fF", "follow retry"),
    "date": _spec("s", "set", test=_date),
    "hostname": _spec(test=_hostname),
    "xxd": _spec("r", "revert", max_operands=1, values=XXD_VALUE_OPTIONS),
    "base64": _spec(max_operands=1),
    "find": _spec(test=_find),
    "sed": _spec(test=_sed),
    "awk": _spec(
        "dpoDlEi",  # dump variables, profile and pretty-print write files; load, include
        "dump-variables profile pretty-print debug load include exec",
        test=_awk,
    ),
    "gawk": _spec(test=_awk),
    "mawk": _spec(test=_awk),
    "git": _spec(test=_git),
    "read": _spec(test=_read),
    "xargs": _spec(),  # runs its command, which is checked on its own
    "timeout": _spec(),  # likewise for the wrappers below
    "nice": _spec(),
    "stdbuf": _spec(),
    "command": _spec(),
    "builtin": _spec(),
    "exec": _spec(),
    "time": _spec("o", "output"),
}

# Wrappers are read-only only when the analyzer found what they run.
DELEGATING = frozenset(
    {"xargs", "timeout", "nice", "stdbuf", "command", "builtin", "exec", "time", "env"}
)


def check_spec(spec: ReadOnlySpec, argv: list[str]) -> str | None:
    args = argv[1:]
    found = has_option(args, spec.forbidden_short, spec.forbidden_long)
    if found:
        return f"{argv[0]} {found}"
    if spec.max_operands is not None:
        files = operands(args, spec.value_options)
        if len(files) > spec.max_operands:
            return f"{argv[0]} with {len(files)} operands writes a file"
    return spec.test(argv) if spec.test else None


# Toolchains whose `--version` only prints (asked for alone, nothing else).
VERSION_QUERIES = frozenset(
    _words(
        """
        python python3 python2 pypy3 node nodejs npm npx pnpm yarn bun deno pip pip3 uv
        poetry go cargo rustc rustup java javac gcc g++ cc clang clang++ make cmake ninja
        ruby gem perl php tsc bash zsh dash git rg jq gawk awk sed grep tar gzip
        pytest mypy ruff black flake8 eslint prettier
        """
    )
)


# Builtins that take variable names: bash evaluates `a[$(cmd)]` subscripts in them.
SUBSCRIPT_EVALUATORS = frozenset(
    {"read", "test", "[", "printf", "unset", "declare", "typeset", "local", "export", "let",
     "mapfile", "readarray", "wait", "type", "printenv"}
)  # fmt: skip


def read_only_problem(argv: list[str]) -> str | None:
    """None if this argv is proven read-only; otherwise why not."""
    if not argv:
        return None
    name = argv[0].rsplit("/", 1)[-1]
    if name in VERSION_QUERIES and "/" not in argv[0] and argv[1:] in (["--version"], ["-V"]):
        return None
    spec = READ_ONLY.get(name)
    if spec is None:
        return f"{name} is not in the read-only knowledge base"
    if name in SUBSCRIPT_EVALUATORS and any(
        "[" in arg and ("$" in arg or "`" in arg) for arg in argv[1:]
    ):
        return f"{name} evaluates an array subscript, which can run commands ($(...) inside [])"
    return check_spec(spec, [name, *argv[1:]])


def accepts_any_arguments(name: str) -> bool:
    """Whether ``name`` is read-only whatever arguments it is given (xargs appends some)."""
    spec = READ_ONLY.get(name)
    return spec is not None and spec == ReadOnlySpec() and name not in SUBSCRIPT_EVALUATORS


_KNOWN_EXTRA = frozenset(
    _words(
        """
        rm mv cp dd ln chmod chown mkdir rmdir touch tee curl wget nc ssh scp sudo su sh
        bash zsh python python3 perl ruby node npm pip make kill eval source env export set
        unset alias cd exit return shift trap
        """
    )
)


def is_known_command(name: str) -> bool:
    """A name a function must not shadow."""
    return name in READ_ONLY or name in _KNOWN_EXTRA or (bool(name) and name == "[" * len(name))
