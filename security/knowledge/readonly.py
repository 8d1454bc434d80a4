"""The read-only base: which commands only read, with which arguments.

A command is *proven read-only* when its name is in `READ_ONLY` and its arguments
pass that entry: no forbidden option, not too many operands, and the entry's own
test (git subcommands, sed and awk programs, find actions). Anything else is not
proven, and the `read-only` policy asks.
"""

from __future__ import annotations

from security.argv import operands
from security.knowledge.awk import awk_read_only_problem
from security.knowledge.git import git_read_only_problem
from security.knowledge.sed import sed_read_only_problem
from security.knowledge.spec import ReadOnlySpec, check_spec, spec, words

_FIND_WRITES = frozenset({"-delete", "-fprint", "-fprint0", "-fprintf", "-fls", "-ok", "-okdir"})


def _find(argv: list[str]) -> str | None:
    for arg in argv[1:]:
        if arg in _FIND_WRITES:
            return f"find {arg}"
    return None  # -exec/-execdir run commands that are checked on their own


def _date(argv: list[str]) -> str | None:
    """`date MMDDhhmm` sets the clock: every operand must be a +FORMAT."""
    for operand in operands(argv[1:], ("-d", "-f", "-r", "-I")):
        if not operand.startswith("+"):
            return f"date {operand}: an operand that is not +FORMAT sets the clock"
    return None


def _hostname(argv: list[str]) -> str | None:
    """`hostname NAME` sets the name and `-f`/`-A`/`-i` ask the network: only bare reads."""
    return None if len(argv) == 1 else "hostname with arguments sets the name or asks DNS"


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
        name: spec()
        for name in words(
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
    "ls": spec(),
    "pidof": spec(test=lambda argv: _known_options_only(argv, "scqwxnzSdo", "dSo")),
    "printf": spec("v"),
    "file": spec("C", "compile"),
    "tree": spec("o"),
    "rg": spec("z", "pre pre-glob search-zip"),
    "sort": spec("oT", "output compress-program temporary-directory"),
    "uniq": spec(max_operands=1, values=UNIQ_VALUE_OPTIONS),
    "tail": spec("fF", "follow retry"),
    "date": spec("s", "set", test=_date),
    "hostname": spec(test=_hostname),
    "xxd": spec("r", "revert", max_operands=1, values=XXD_VALUE_OPTIONS),
    "base64": spec(max_operands=1),
    "find": spec(test=_find),
    "sed": spec(test=sed_read_only_problem),
    "awk": spec(
        "dpoDlEi",  # dump variables, profile and pretty-print write files; load, include
        "dump-variables profile pretty-print debug load include exec",
        test=awk_read_only_problem,
    ),
    "gawk": spec(test=awk_read_only_problem),
    "mawk": spec(test=awk_read_only_problem),
    "git": spec(test=git_read_only_problem),
    "read": spec(test=_read),
    "xargs": spec(),  # runs its command, which is checked on its own
    "timeout": spec(),  # likewise for the wrappers below
    "nice": spec(),
    "stdbuf": spec(),
    "command": spec(),
    "builtin": spec(),
    "exec": spec(),
    "time": spec("o", "output"),
}

# Wrappers are read-only only when the analyzer found what they run.
DELEGATING = frozenset(
    {"xargs", "timeout", "nice", "stdbuf", "command", "builtin", "exec", "time", "env"}
)


# Toolchains whose `--version` only prints (asked for alone, nothing else).
VERSION_QUERIES = frozenset(
    words(
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
    entry = READ_ONLY.get(name)
    if entry is None:
        return f"{name} is not in the read-only knowledge base"
    if name in SUBSCRIPT_EVALUATORS and any(
        "[" in arg and ("$" in arg or "`" in arg) for arg in argv[1:]
    ):
        return f"{name} evaluates an array subscript, which can run commands ($(...) inside [])"
    return check_spec(entry, [name, *argv[1:]])


def accepts_any_arguments(name: str) -> bool:
    """Whether ``name`` is read-only whatever arguments it is given (xargs appends some)."""
    entry = READ_ONLY.get(name)
    return entry is not None and entry == ReadOnlySpec() and name not in SUBSCRIPT_EVALUATORS


_KNOWN_EXTRA = frozenset(
    words(
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
