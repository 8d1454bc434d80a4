"""Wrappers: commands whose arguments are another command, and how their options read."""

from __future__ import annotations

from dataclasses import dataclass

SHELLS = frozenset({"sh", "bash", "zsh", "dash", "ksh", "mksh", "ash", "yash", "posh", "rbash"})


@dataclass(frozen=True, slots=True)
class OptionTable:
    """Options of a wrapper: which take an argument, which are known flags."""

    short_with_arg: str = ""
    long_with_arg: frozenset[str] = frozenset()
    short_flags: str = ""
    long_flags: frozenset[str] = frozenset()
    operands_before_command: int = 0  # e.g. timeout's DURATION, flock's FILE


def _opts(
    short_arg: str = "",
    long_arg: str = "",
    short_flags: str = "",
    long_flags: str = "",
    operands: int = 0,
) -> OptionTable:
    return OptionTable(
        short_arg, frozenset(long_arg.split()), short_flags, frozenset(long_flags.split()), operands
    )


XARGS_DEFAULT = "echo"  # what `xargs` runs when it is given no command

# Wrappers whose remaining arguments are a command line of their own.
ARGV_WRAPPERS: dict[str, OptionTable] = {
    "env": _opts("uC", "unset chdir", "i0v", "ignore-environment null debug"),
    "timeout": _opts("sk", "signal kill-after", "v", "foreground preserve-status verbose", 1),
    "nice": _opts("n", "adjustment"),
    "nohup": _opts(),
    "command": _opts("", "", "p"),
    "builtin": _opts(),
    "exec": _opts("a", "", "cl"),
    "stdbuf": _opts("ioe", "input output error"),
    "setsid": _opts("", "", "cfw", "ctty fork wait"),
    "ionice": _opts("cnp", "class classdata pid", "t", "ignore"),
    "taskset": _opts("", "", "ac", "all-tasks cpu-list", 1),
    "xargs": _opts(
        "adEeIiLlnPs",
        "arg-file delimiter eof replace max-lines max-args max-procs max-chars process-slot-var",
        "0rtpxo",
        "null no-run-if-empty verbose interactive open-tty exit show-limits",
    ),
    "sudo": _opts(
        "ugpCDhrtUT",
        "user group prompt close-from chdir host role type other-user",
        "EHnSbPkKAB",
        "preserve-env non-interactive stdin background login-class",
    ),
    "doas": _opts("uC", "", "ns"),
    "time": _opts("fo", "format output", "apqv", "append portability quiet verbose"),
    "flock": _opts(
        "wEc",
        "wait timeout conflict-exit-code command",
        "sxunoF",
        "shared exclusive unlock nonblock close no-fork",
        1,
    ),
    "unbuffer": _opts(),
    "busybox": _opts(),
    "strace": _opts("oepsEuPIaXbOS", "output", "fFqrtTvVwxyzcCDhkn"),
    "ltrace": _opts("oepsEuanlLx", "output", "fbcCdhirStTV"),
    "chroot": _opts("", "userspec groups", "", "skip-chdir", 1),
    "runuser": _opts("ugGs", "user group supp-group shell", "lmp", "login"),
    "watch": _opts(
        "nqd",
        "interval differences",
        "tbegcxpw",
        "no-title beep errexit chgexit color exec precise no-wrap",
    ),
}

# Options whose argument is shell code run by sh -c.
CODE_OPTIONS: dict[str, tuple[str, ...]] = {
    "flock": ("-c", "--command"),
    "su": ("-c", "--command"),
    "runuser": ("-c", "--command"),
    "script": ("-c", "--command"),
    "env": ("-S", "--split-string"),
}


# Every name whose arguments or input may hold another command (shell_code,
# stdin_code, inner_argv and find's actions look at no other); the rest skip them.
RUNS_OTHERS = frozenset({*SHELLS, *ARGV_WRAPPERS, *CODE_OPTIONS, "eval", "trap", "watch", "find"})
