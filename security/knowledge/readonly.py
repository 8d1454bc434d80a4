"""The read-only base: which commands only read, with which arguments.

A command is *proven read-only* when its name is in `READ_ONLY` and its arguments
pass that entry: no forbidden option, not too many operands, and the entry's own
test (git subcommands, sed and awk programs, find actions). Anything else is not
proven, and the `read-only` policy asks.

Every entry was reviewed option by option against the program's ``--help`` in the
airlock/dev image (Debian bookworm: coreutils 9.1, diffutils 3.8, findutils 4.9,
grep 3.8, sed 4.9, gawk 5.2.1, mawk 1.3.4, ripgrep 13, jq 1.6, procps 4.0,
util-linux 2.38), or on a bookworm host for tools the image lacks (file 5.44, tree
2.1, fd 8.6, xxd, hexdump, column, look, strings): what writes, runs a program,
reads options from a file or reaches the network is forbidden. An empty entry
means no option or operand of that program can (see `ReadOnlySpec.any_arguments`).
"""

from __future__ import annotations

import posixpath
import re

from security.argv import getopt, operands
from security.knowledge.awk import awk_program_index, awk_read_only_problem
from security.knowledge.curl import curl_read_only_problem
from security.knowledge.git import GIT_FLAGS, git_read_only_problem
from security.knowledge.sed import sed_read_only_problem, sed_script_index
from security.knowledge.spec import ReadOnlySpec, check_spec, spec, words
from security.knowledge.wget import wget_read_only_problem

_FIND_WRITES = frozenset({"-delete", "-fprint", "-fprint0", "-fprintf", "-fls", "-ok", "-okdir"})
# find's primaries that take one argument (findutils 4.9): the word after one is a value
FIND_VALUE_PRIMARIES = (
    "-amin -anewer -atime -cmin -cnewer -context -ctime -fstype -gid -group -ilname "
    "-iname -inum -ipath -iregex -iwholename -links -lname -maxdepth -mindepth -mmin "
    "-mtime -name -newer -path -perm -regex -regextype -samefile -size -type -uid -used "
    "-user -wholename -xtype -printf -files0-from -D"
)
FIND_EXEC = frozenset({"-exec", "-execdir", "-ok", "-okdir"})


def _find(argv: list[str]) -> str | None:
    for arg in argv[1:]:
        if arg in _FIND_WRITES:
            return f"find {arg}"
    return None  # -exec/-execdir run commands that are checked on their own


def find_own_words(argv: list[str]) -> list[int]:
    """Indices of find's own words: not those of the commands its -exec actions run."""
    own: list[int] = []
    i = 1
    while i < len(argv):
        own.append(i)
        if argv[i] in FIND_EXEC:
            i += 1
            while i < len(argv) and argv[i] not in (";", "+"):
                i += 1
        i += 1
    return own


def _date(argv: list[str]) -> str | None:
    """`date MMDDhhmm` sets the clock: every operand must be a +FORMAT."""
    for operand in operands(argv[1:], ("-d", "-f", "-r")):
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


_PS_VALUES = re.compile(
    r"-[a-zA-Z]*[oOpPuUgGtCqksN]"
    r"|--(format|sort|pid|ppid|user|group|tty|cols|columns|rows|width|quick-pid|sid|Group|User)"
)


def _ps(argv: list[str]) -> str | None:
    """procps ps: a BSD-style `e` (no dash: `ps e`, `ps auxe`) prints every process's
    environment, and the environment holds the session's secrets. (A word after an
    option that takes a value, `ps -o user`, is that value.)"""
    previous = ""
    for arg in argv[1:]:
        is_value = bool(_PS_VALUES.fullmatch(previous))
        if not is_value and not arg.startswith("-") and "e" in arg and arg.isalpha():
            return f"ps {arg} prints processes' environments"
        previous = arg
    return None


_SECRET_NAME = re.compile(r"(?i)token|secret|pass|key|cred|auth|session|cookie|private|api")


def _printenv(argv: list[str]) -> str | None:
    """printenv NAME...: named variables only (bare printenv dumps the environment), and
    none whose name looks like it holds a secret. coreutils printenv: -0, --null."""
    names = [a for a in argv[1:] if a not in ("-0", "--null")]
    if not names:
        return "printenv without a name prints the whole environment"
    for name in names:
        if name.startswith("-") or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            return f"printenv {name}: not a variable name"
        if _SECRET_NAME.search(name):
            return f"printenv {name} may print a secret"
    return None


_PIP_READS = {
    # subcommand -> its flags that only change what is printed (no index, no file written)
    "show": frozenset({"-f", "--files", "-v", "--verbose", "-q", "--quiet"}),
    "list": frozenset(
        {
            "-l",
            "--local",
            "--user",
            "--not-required",
            "--exclude-editable",
            "--include-editable",
            "-e",
            "--editable",
            "-v",
            "--verbose",
            "-q",
            "--quiet",
            "--format=columns",
            "--format=freeze",
            "--format=json",
            "--no-color",
        }
    ),
    "freeze": frozenset(
        {
            "-l",
            "--local",
            "--user",
            "--all",
            "--exclude-editable",
            "-v",
            "--verbose",
            "-q",
            "--quiet",
        }
    ),
}


def _pip(argv: list[str]) -> str | None:
    """pip: `show NAME...`, `list`, `freeze`, with flags that only change what is printed.

    The session sets PIP_DISABLE_PIP_VERSION_CHECK=1 (security/knowledge/environment.py
    SESSION_GUARDS), so pip asks no index and writes no cache; `freeze` may run git for
    editable VCS installs, and git is the image's guard. `list --outdated`, `--index-url`,
    `--log FILE`, `--python`, `-r FILE` and every other option are not proven.
    """
    args = argv[1:]
    flags_of = _PIP_READS.get(args[0]) if args else None
    if flags_of is None:
        return f"{argv[0]} {args[0] if args else ''} is not pip show, list or freeze".strip()
    names = [a for a in args[1:] if not a.startswith("-")]
    flags = [a for a in args[1:] if a.startswith("-")]
    if any(f not in flags_of for f in flags):
        return f"{argv[0]} {args[0]} {' '.join(f for f in flags if f not in flags_of)}"
    if (args[0] == "show") != bool(names):
        return f"{argv[0]} {args[0]} {'with no package' if not names else 'with operands'}"
    return None


_NPM_LS_FLAGS = frozenset(
    {"-a", "--all", "--json", "-p", "--parseable", "-l", "--long", "--prod", "--production",
     "--dev", "--omit=dev", "--omit=optional", "--omit=peer", "--link", "--unicode",
     "--no-unicode", "--global", "-g", "--no-color", "--color=false"}
)  # fmt: skip


def _npm(argv: list[str]) -> str | None:
    """npm: `ls`/`list` (reads node_modules) with flags that only change what is printed.

    The session sets npm_config_update_notifier=false and npm_config_logs_max=0, which
    npm ranks above a project's .npmrc: no registry request, no log file.
    """
    args = argv[1:]
    if not args or args[0] not in ("ls", "list", "la", "ll"):
        return f"npm {args[0] if args else ''} is not npm ls".strip()
    for arg in args[1:]:
        if arg.startswith("-") and arg not in _NPM_LS_FLAGS and not _depth(arg):
            return f"npm ls {arg}"
    return None


def _depth(arg: str) -> bool:
    return arg.startswith("--depth=") and arg[len("--depth=") :].isdigit()


def _go(argv: list[str]) -> str | None:
    """go: `go version` and `go env [NAME...]` print; the session sets GOTOOLCHAIN=local,
    so go.mod's toolchain line never makes go run or fetch another toolchain."""
    args = argv[1:]
    if args == ["version"]:
        return None
    if args[:1] == ["env"] and all(_GO_ENV_NAME.fullmatch(a) for a in args[1:]):
        return None
    return f"go {' '.join(args[:2])} is not go version or go env NAME".strip()


_GO_ENV_NAME = re.compile(r"[A-Z][A-Z0-9_]*")


# util-linux 2.38 lsns (`lsns --help` in airlock/dev)
_LSNS = getopt(
    "Jlno:p:rt:T::uWhV",
    "json list noheadings output= output-all task= raw type= tree[=] notruncate nowrap "
    "help version",
)


_LSOF_NO_NAMES = re.compile(r"-[abhlnNOPRtUVX]*n[abhlnNOPRtUVX]*")


def _lsof(argv: list[str]) -> str | None:
    """lsof turns every network address it lists into a host name (DNS: a socket)
    unless ``-n`` is given, alone or in a cluster of options that take no value."""
    if any(_LSOF_NO_NAMES.fullmatch(arg) for arg in argv[1:]):
        return None
    return "lsof without -n resolves addresses to host names (a socket)"


def _lsns(argv: list[str]) -> str | None:
    """lsns: the NETNSID column asks the kernel through a netlink socket (NETLINK_ROUTE),
    and it is shown by `-o NETNSID` (any case, `+` forms too), `--output-all` and, as a
    default column, by `-t net`. An option the table does not know is not proven."""
    parsed = _LSNS.parse(argv[1:])
    if parsed.error:
        return f"lsns: {parsed.error}"
    for option in parsed.options:
        value = (option.value or "").lower()
        if (
            option.name == "--output-all"
            or (option.name in ("-o", "--output") and "netnsid" in value)
            or (option.name in ("-t", "--type") and value == "net")
        ):
            shown = f"{option.name} {option.value}" if option.value else option.name
            return f"lsns {shown}: the NETNSID column opens a socket (netlink)"
    return None


XXD_VALUE_OPTIONS = "-l -s -c -g -o -n -len -seek -cols -groupsize -offset -name"
UNIQ_VALUE_OPTIONS = "-f -s -w"
# every sort option (coreutils 9.1) that takes a detached value
SORT_VALUE_OPTIONS = (
    "-k -o -S -t -T --batch-size --compress-program --files0-from --key --random-source "
    "--sort --buffer-size --field-separator --temporary-directory --output --parallel"
)


# sysvinit's pidof (killall5 under that name: sysvinit-utils 3.06 in airlock/dev)
_PIDOF = getopt("qhco:d:sxzn")
_OMIT_PID = re.compile(r"%PPID|[1-9][0-9]{0,8}")


def _pidof(argv: list[str]) -> str | None:
    """pidof reports every usage error to syslog, a socket (/dev/log): an option its
    getopt string lacks (`-S`, `-w`, `--help`) and an -o value that is not a list of PIDs
    and %PPID (`pidof -o x bash`, `-o ''`, `-o 0`)."""
    parsed = _PIDOF.parse(argv[1:])
    if parsed.error:
        return f"pidof: {parsed.error} (reported to syslog, a socket)"
    for option in parsed.options:
        tokens = re.split(r"[,;:]", option.value or "")
        if option.name == "-o" and not all(_OMIT_PID.fullmatch(t) for t in tokens):
            return f"pidof -o {option.value}: not a list of PIDs (reported to syslog, a socket)"
    return None


# Programs none of whose options or operands write, run a program or reach out
# (reviewed with --help; notes on the ones that came close):
#   diff -l pipes through pr, diff3/sdiff run diff (fixed helpers, like zgrep's gzip);
#   wc/du --files0-from, grep -f/--exclude-from, date -f, hexdump -f, jq --rawfile/-L,
#   strings @FILE, look, last -f read files, which is reading; jq has no output
#   besides stdout/stderr and runs nothing; cmp's SKIP operands are numbers.
_ANY_ARGUMENTS = words(
    """
    cat ls dir vdir pwd echo true false : basename dirname realpath readlink wc nl od
    hexdump md5sum sha1sum sha224sum sha256sum sha384sum sha512sum b2sum cksum sum
    column fold fmt paste join expand unexpand rev tac seq which type whoami id groups
    uname uptime nproc locale strings cut tr diff cmp comm stat du df free grep
    egrep fgrep jq head cd pushd popd dirs whereis getconf arch tty tsort numfmt pr
    look zcat bzcat xzcat pgrep lscpu lsblk lsmem tput factor expr
    sleep logname users w cal ncal md5 shasum base32 basenc test [ yes break continue
    """
)
READ_ONLY: dict[str, ReadOnlySpec] = {
    **{name: spec() for name in _ANY_ARGUMENTS},
    "pidof": spec(test=_pidof, literal_words=True),
    "printf": spec("v"),  # -v VAR assigns (and evaluates a subscript)
    "wait": spec("p"),  # -p VAR assigns
    "ps": spec(test=_ps, literal_words=True),
    "printenv": spec(test=_printenv, literal_words=True),
    # file: -C compiles magic into FILE.mgc, -p restores access times (a write),
    # -z/-Z may run external decompressors
    "file": spec("CpzZ", "compile preserve-date uncompress uncompress-noreport"),
    "tree": spec("oR", "output"),  # -o FILE writes; -R with -H/-o writes 00Tree.html
    # ripgrep 13: --pre runs a program per file, -z runs decompressors, --hostname-bin
    # runs a program for hyperlinks; --ignore-file only reads
    "rg": spec("z", "pre pre-glob search-zip hostname-bin"),
    # zgrep -f copies a pattern file that is not a regular file (a pipe, /dev/stdin)
    # into a temporary file with mktemp and cat, and removes it with rm
    "zgrep": spec(
        "f", "file", values="-A -B -C -X -d -e -m --binary-files --label --max-count --regexp"
    ),
    # fd 8.6: -x/-X run commands, -l runs `ls -l` on the results
    "fd": spec("xXl", "exec exec-batch list-details"),
    "fdfind": spec("xXl", "exec exec-batch list-details"),
    "iconv": spec("o", "output"),  # -o FILE writes
    "pip": spec(test=_pip, literal_words=True),
    "npm": spec(test=_npm, literal_words=True),
    "go": spec(test=_go, literal_words=True),
    "pip3": spec(test=_pip, literal_words=True),
    "sort": spec(
        "oT",
        "output compress-program temporary-directory",
        values=SORT_VALUE_OPTIONS,
        all_values=True,
    ),
    "uniq": spec(max_operands=1, values=UNIQ_VALUE_OPTIONS),  # uniq IN OUT writes OUT
    "ptx": spec("G", "traditional"),  # ptx -G IN OUT writes OUT
    "sdiff": spec("o", "output diff-program"),  # -o merges into FILE; runs PROGRAM
    "diff3": spec("", "diff-program"),
    "tail": spec(stalls=("fF", "follow retry pid")),
    "lsns": spec(test=_lsns),
    "lsof": spec(test=_lsof),
    # DNS: `who --lookup` canonicalizes and `last -d` resolves host names (a socket)
    "who": spec("", "lookup"),
    "last": spec("d", "dns"),
    # one FILE: extra operands are an error, kept out of globs and xargs all the same
    # (a regression of 2026-11-24, tests/corpus/regressions/exec-961249b64c.json)
    "base64": spec(max_operands=1),
    "date": spec("s", "set", test=_date, positional=True),
    "hostname": spec(test=_hostname, literal_words=True),
    "xxd": spec("r", "revert", max_operands=1, values=XXD_VALUE_OPTIONS),  # xxd IN OUT
    "find": spec(test=_find, values=FIND_VALUE_PRIMARIES, dashdash=False),
    "sed": spec(test=sed_read_only_problem, code_operand=sed_script_index),
    "awk": spec(test=awk_read_only_problem, code_operand=awk_program_index),
    "gawk": spec(test=awk_read_only_problem, code_operand=awk_program_index),
    "nawk": spec(test=awk_read_only_problem, code_operand=awk_program_index),
    "mawk": spec(test=awk_read_only_problem, code_operand=awk_program_index),
    "git": spec(test=git_read_only_problem, flags=GIT_FLAGS),
    "read": spec(test=_read, literal_words=True),
    # Wrappers: what they run is checked on its own (S37 finds it); these are their
    # own options. xargs --process-slot-var sets a variable (BASH_ENV...) in the child.
    "xargs": spec("", "process-slot-var"),
    "timeout": spec(),
    "nice": spec(),
    "stdbuf": spec(),
    "command": spec(),
    "builtin": spec(),
    # bash's exec: -a NAME and -l (a `-` before the name) run the program under another
    # name, and multi-call programs act by their name (`exec -a pkill pgrep x` kills,
    # `exec -l pidof` is killall5, which signals every process); -c empties the
    # environment (the session's guards go: `exec -c git status` wrote .git/index)
    "exec": spec("acl"),
    "env": spec(),
    "time": spec("o", "output"),
}

# Read-only only in a session with an egress proxy (the policy's `network.allow`): the
# sandbox has no interface but loopback, so these fetch through the proxy, which decides
# by host name. Without one they stay unproven: the network is off and nothing would
# decide. Every word must be known before it runs: one computed at run time may be an
# option (`-o`, `-K`) or a `file://` URL.
EGRESS_READ_ONLY: dict[str, ReadOnlySpec] = {
    "curl": spec(test=curl_read_only_problem, literal_words=True),
    "wget": spec(test=wget_read_only_problem, literal_words=True),
}

# Wrappers are read-only only when the analyzer found what they run.
DELEGATING = frozenset(
    {"xargs", "timeout", "nice", "stdbuf", "command", "builtin", "exec", "time", "env"}
)


# Version queries that only print: the exact argument lists each program takes
# (asked alone). go and npm are read-only here only because the session sets their
# guards (knowledge/environment.py SESSION_GUARDS: GOTOOLCHAIN=local, npm's logs and
# update check off). Left out on purpose, because they read the working tree and can
# run its code or fetch: cargo/rustc/rustup
# (rust-toolchain.toml names a toolchain path), npx (runs packages), yarn
# (.yarnrc yarn-path), pnpm (packageManager downloads), php (php.ini in the working
# directory loads extensions), pytest (conftest.py), bun (bunfig.toml), poetry.
_DASH_V = (["--version"], ["-V"])
_VERSION_ONLY = words(
    """
    gcc g++ cc clang clang++ make cmake ninja perl ruby gem bash zsh rg gawk awk sed
    grep tar gzip mypy ruff black flake8 eslint prettier tsc deno uv
    """
)
VERSION_QUERIES: dict[str, tuple[list[str], ...]] = {
    **{name: (["--version"],) for name in _VERSION_ONLY},
    **{name: _DASH_V for name in words("python python3 python2 pypy3 pip pip3 jq")},
    "node": (["--version"], ["-v"]),
    "nodejs": (["--version"], ["-v"]),
    "java": (["-version"], ["--version"]),
    "javac": (["-version"], ["--version"]),
    "docker": (["--version"], ["-v"]),
    "npm": (["--version"], ["-v"]),
    "git": (["--version"], ["version"]),
}


# Builtins that take variable names: bash evaluates `a[$(cmd)]` subscripts in them.
SUBSCRIPT_EVALUATORS = frozenset(
    {"read", "test", "[", "printf", "unset", "declare", "typeset", "local", "export", "let",
     "mapfile", "readarray", "wait", "type", "printenv"}
)  # fmt: skip


def read_only_entry(name: str, *, egress: bool = False) -> ReadOnlySpec | None:
    """The read-only entry of ``name``; with ``egress``, `EGRESS_READ_ONLY`'s too."""
    entry = READ_ONLY.get(name)
    if entry is None and egress:
        return EGRESS_READ_ONLY.get(name)
    return entry


def read_only_problem(
    argv: list[str], *, stalls_allowed: bool = False, egress: bool = False
) -> str | None:
    """None if this argv is proven read-only; otherwise why not. ``stalls_allowed``: an
    option that only makes it wait (``tail -f``) is no reason, as when a glob spells it
    (what ran is judged so, by the differential oracle). ``egress``: the session has an
    egress proxy, so `EGRESS_READ_ONLY`'s fetchers may be proven too."""
    if not argv:
        return None
    name = argv[0].rsplit("/", 1)[-1]
    if "/" not in argv[0] and argv[1:] in VERSION_QUERIES.get(name, ()):
        return None
    if "/" in argv[0] and not is_system_program(argv[0]):
        return f"{argv[0]} is a file named by its path, not the system's {name}"
    entry = read_only_entry(name, egress=egress)
    if entry is None:
        if name in EGRESS_READ_ONLY:
            return f"{name} reaches the network, and the policy allows no egress"
        return f"{name} is not in the read-only knowledge base"
    if name in SUBSCRIPT_EVALUATORS and any(
        "[" in arg and ("$" in arg or "`" in arg) for arg in argv[1:]
    ):
        return f"{name} evaluates an array subscript, which can run commands ($(...) inside [])"
    return check_spec(entry, [name, *argv[1:]], stalls_allowed=stalls_allowed)


# Where the image's own programs live: its root filesystem is read-only in a session, so a
# path there is the tool the knowledge base describes. A program named by any other path
# (`./cat`, `tools/ls`, `/workspace/bin/grep`, `/tmp/x/sort`) is whatever the repository
# or an earlier command put there.
SYSTEM_PROGRAM_DIRS = frozenset(
    {"/bin", "/usr/bin", "/sbin", "/usr/sbin", "/usr/local/bin", "/usr/local/sbin"}
)


def is_system_program(path: str) -> bool:
    """Whether ``path`` names a program in one of the image's own program folders."""
    if not path.startswith("/"):
        return False  # relative: resolved against the working directory, the workspace
    folder = posixpath.dirname(posixpath.normpath("/" + path.lstrip("/")))
    return folder in SYSTEM_PROGRAM_DIRS


def accepts_any_arguments(name: str) -> bool:
    """Whether ``name`` is read-only whatever arguments it is given (xargs appends some,
    a glob may spell any option)."""
    entry = READ_ONLY.get(name)
    return entry is not None and entry.any_arguments and name not in SUBSCRIPT_EVALUATORS


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
