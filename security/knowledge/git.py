"""git: which subcommands and options only read, and how a git argv is read."""

from __future__ import annotations

from security.knowledge.spec import ReadOnlySpec, check_spec, spec

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
    "status": spec(),
    "log": spec("", _NO_OUTPUT),
    "show": spec("", _NO_OUTPUT),
    "diff": spec("", _NO_OUTPUT),
    "diff-tree": spec("", _NO_OUTPUT),
    "diff-files": spec("", _NO_OUTPUT),
    "diff-index": spec("", _NO_OUTPUT),
    "whatchanged": spec("", _NO_OUTPUT),
    "blame": spec("", _NO_OUTPUT),
    "annotate": spec("", _NO_OUTPUT),
    "shortlog": spec("", _NO_OUTPUT),
    "describe": spec(),
    "rev-parse": spec(),
    "rev-list": spec("", _NO_OUTPUT),
    "ls-files": spec(),
    "ls-tree": spec(),
    "cat-file": spec(),
    "merge-base": spec(),
    "name-rev": spec(),
    "for-each-ref": spec(),
    "show-ref": spec("", "verify-only"),  # harmless, listed for symmetry
    "count-objects": spec(),
    "check-ignore": spec(),
    "check-attr": spec(),
    "cherry": spec("", _NO_OUTPUT),
    "version": spec(),
    "grep": spec("O", "open-files-in-pager ext-grep"),
    "branch": spec(test=lambda argv: _git_listing(argv[1:], "branch")),
    "tag": spec(test=lambda argv: _git_listing(argv[1:], "tag")),
    "remote": spec(test=lambda argv: _git_remote(argv[1:])),
    "config": spec(test=lambda argv: _git_config(argv[1:])),
    "stash": spec("", _NO_OUTPUT, test=lambda argv: _git_only(argv[1:], "stash", ("list", "show"))),
    "reflog": spec("", _NO_OUTPUT, test=lambda argv: _git_only(argv[1:], "reflog", ("show",))),
    "worktree": spec(test=lambda argv: _git_only(argv[1:], "worktree", ("list",))),
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


def git_read_only_problem(argv: list[str]) -> str | None:
    """Why a git argv is not proven read-only, or None."""
    sub, global_options, args = git_subcommand(argv)
    for option in global_options:
        if option.split("=", 1)[0] not in GIT_GLOBAL_READ_ONLY:
            return f"git option {option}"
    if sub is None:
        return None if global_options in (["--version"], ["--help"]) else "git without subcommand"
    entry = GIT_READ_ONLY.get(sub)
    if entry is None:
        return f"git {sub} is not read-only"
    return check_spec(entry, [f"git-{sub}", *args])
