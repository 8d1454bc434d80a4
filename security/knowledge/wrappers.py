"""Wrappers: commands whose arguments are another command, and how their options read.

Every table is getopt's own, taken from the program in the airlock/dev image
(Debian bookworm: coreutils 9.1, findutils 4.9, util-linux 2.38, procps 4.0, bash
5.2) and checked by experiment: ``xargs -i``, ``-e`` and ``-l`` take only an
attached value (``-i{}``), so in ``xargs -i sh cat`` the command is ``sh``.
Long options are resolved by unambiguous prefix (``--repl`` is ``--replace``);
an option a table does not know makes the inner command unknowable (S19).
"""

from __future__ import annotations

from dataclasses import dataclass

from security.argv import Getopt, getopt

SHELLS = frozenset({"sh", "bash", "zsh", "dash", "ksh", "mksh", "ash", "yash", "posh", "rbash"})

_GNU_STANDARD = "help version"  # every GNU program's; both end it without running anything


@dataclass(frozen=True, slots=True)
class Wrapper:
    """How a wrapper reads its arguments, and where the command it runs starts."""

    options: Getopt
    operands_before_command: int = 0  # timeout's DURATION, taskset's mask, flock's file
    runs_nothing: frozenset[str] = frozenset()  # options after which no command runs


def _wrapper(
    optstring: str, longopts: str = "", operands: int = 0, runs_nothing: str = ""
) -> Wrapper:
    return Wrapper(getopt(optstring, longopts), operands, frozenset(runs_nothing.split()))


XARGS_DEFAULT = "echo"  # what `xargs` runs when it is given no command

# Wrappers whose remaining arguments are a command line of their own. A `+` table
# stops at the first operand, as these programs' getopt strings do.
ARGV_WRAPPERS: dict[str, Wrapper] = {
    # coreutils env: `-` (alone, after the options) is -i; -S is split and re-read
    # (unwrap.env_inner); NAME=VALUE words come before the command.
    "env": _wrapper(
        "+0iu:C:S:v",
        "ignore-environment null unset= chdir= split-string= block-signal[=] "
        "default-signal[=] ignore-signal[=] list-signal-handling debug " + _GNU_STANDARD,
        runs_nothing="--help --version",
    ),
    "timeout": _wrapper(
        "+k:s:v",
        "kill-after= signal= foreground preserve-status verbose " + _GNU_STANDARD,
        operands=1,
        runs_nothing="--help --version",
    ),
    # nice's legacy `-N`, `--N`, `-+N` adjustments are read before getopt (unwrap)
    "nice": _wrapper("+n:", "adjustment= " + _GNU_STANDARD, runs_nothing="--help --version"),
    "nohup": _wrapper("+", _GNU_STANDARD, runs_nothing="--help --version"),
    "stdbuf": _wrapper(
        "+i:o:e:", "input= output= error= " + _GNU_STANDARD, runs_nothing="--help --version"
    ),
    # bash builtins: short options only, clusters and attached values, `--`, `--help`
    "command": _wrapper("+pVv", "help", runs_nothing="-v -V --help"),
    "builtin": _wrapper("+", "help", runs_nothing="--help"),
    "exec": _wrapper("+cla:", "help", runs_nothing="--help"),
    # GNU time (bash's own `time` keyword is not parsed by bashlex: a syntax error)
    "time": _wrapper(
        "+apqvo:f:",
        "append portability quiet verbose output= format= " + _GNU_STANDARD,
        runs_nothing="--help --version",
    ),
    "setsid": _wrapper(
        "+cfwhV", "ctty fork wait help version", runs_nothing="-h -V --help --version"
    ),
    "ionice": _wrapper(
        "+c:n:p:P:u:thV",
        "class= classdata= pid= pgid= uid= ignore help version",
        runs_nothing="-p -P -u -h -V --pid --pgid --uid --help --version",
    ),
    "taskset": _wrapper(
        "+apchV", "all-tasks pid cpu-list help version", 1, "-p -h -V --pid --help --version"
    ),
    # findutils 4.9: "+0a:E:e::hi::I:l::L:n:prs:txP:d:" less -h, plus -o
    "xargs": _wrapper(
        "+0a:E:e::i::I:l::L:n:oprs:txP:d:",
        "null arg-file= delimiter= eof[=] replace[=] max-lines[=] max-args= max-procs= "
        "max-chars= process-slot-var= open-tty interactive no-run-if-empty verbose exit "
        "show-limits " + _GNU_STANDARD,
        runs_nothing="--help --version",
    ),
    # flock FILE -c CODE: -c is read by hand after the file, not by getopt (CODE_OPTIONS)
    "flock": _wrapper(
        "+sexunw:E:oFhV",
        "shared exclusive unlock nonblock timeout= conflict-exit-code= close "
        "no-fork verbose help version",
        1,
        "-h -V --help --version",
    ),
    "watch": _wrapper(
        "+bced::gq:n:ptwxhv",
        "beep color errexit differences[=] chgexit equexit= interval= precise no-title "
        "no-wrap exec help version",
        runs_nothing="-h -v --help --version",
    ),
    # Not read-only in any case; their tables find the command for the deny checks.
    "sudo": _wrapper(
        "+ABbC:D:Eeg:Hh::iKklnPp:R:r:SsT:t:U:u:Vv",
        "askpass bell background close-from= chdir= preserve-env[=] edit group= "
        "set-home help[=] host= login remove-timestamp reset-timestamp list "
        "non-interactive preserve-groups prompt= chroot= role= stdin shell "
        "command-timeout= type= other-user= user= version validate",
        runs_nothing="-h -V -v -k -K -l --help --version --validate --list",
    ),
    "doas": _wrapper("+a:C:Lnsu:", runs_nothing="-C -L"),
    "chroot": _wrapper("+", "userspec= groups= skip-chdir " + _GNU_STANDARD, 1),
    "runuser": _wrapper(
        "+c:fg:G:lmpPs:u:hV",
        "command= fast group= supp-group= login preserve-environment pty shell= "
        "session-command= whitelist-environment= help version",
    ),
    "strace": _wrapper(
        "+a:Ab:cCdDe:E:fFhiI:kno:O:p:P:qrs:S:tTu:U:vVwxX:yYzZ",
        "output= trace= signal= status= attach= user= env= summary-only help version",
    ),
    "ltrace": _wrapper("+a:A:bcCdDe:E:fF:hiK:l:L:n:o:p:rs:StTu:Vwx:", "output= help version"),
    "unbuffer": _wrapper("+p"),
    "busybox": _wrapper("+"),
}

# Options whose argument is shell code run by sh -c.
CODE_OPTIONS: dict[str, tuple[str, ...]] = {
    "flock": ("-c", "--command"),
    "su": ("-c", "--command"),
    "runuser": ("-c", "--command"),
    "script": ("-c", "--command"),
}


# Every name whose arguments or input may hold another command (shell_code,
# stdin_code, inner_argv and find's actions look at no other); the rest skip them.
RUNS_OTHERS = frozenset({*SHELLS, *ARGV_WRAPPERS, *CODE_OPTIONS, "eval", "trap", "watch", "find"})
