"""git: which subcommands and options only read, and how a git argv is read.

Reviewed against git 2.39 in the image (``git <sub> -h``), each subcommand run under
strace on a repository with a stale index and a post-index-change hook:
- index writes (they run that hook): ``git describe --dirty`` always; ``git diff``
  comparing with the working tree whenever the index is stale, even with
  GIT_OPTIONAL_LOCKS=0, unless ``diff.autoRefreshIndex=false``: the session must
  set it, as it sets GIT_OPTIONAL_LOCKS=0 for ``git status`` (see the report);
- files written: ``--output`` of every subcommand that takes diff options;
- programs run on request: ``--ext-diff``, ``--textconv`` (cat-file, grep, log...),
  ``cat-file --filters``, ``--show-signature`` and ``%G`` formats (gpg.program),
  ``grep -O`` (a pager), ``<sub> --help`` (man, whose viewer the config chooses).
Programs a repository's configuration selects without being asked (fsmonitor,
diff.external, textconv and filter drivers, pagers, hooks) are neutralized at
execution time by the session's git guard; the analyzer cannot see that config.
"""

from __future__ import annotations

from dataclasses import replace

from security.argv import ends_options, has_option
from security.knowledge.spec import ReadOnlySpec, check_spec, spec

# git's global options that take a separate value
GIT_TAKES_VALUE = frozenset(
    {"-C", "-c", "--git-dir", "--work-tree", "--namespace", "--config-env", "--super-prefix"}
)
# global options that keep a read-only command read-only (--bare is not one: it makes
# the working directory a repository, whose config and hooks then apply)
GIT_GLOBAL_READ_ONLY = frozenset(
    {
        "-C",
        "--no-pager",
        "-P",
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
_NO_OUTPUT = "output ext-diff textconv show-signature"
# Options that take no detached value in any read-only subcommand of git 2.39 (optional
# values attach: --stat=N, -uno, --porcelain=v2), so a `--` after one ends the options:
# `git log -p -- *` passes, while `git log --author -- *` asks (--author takes the `--`).
GIT_FLAGS = (
    "-p --patch -u -s -w -b -r -q -i -v -z -a --stat --numstat --shortstat --summary "
    "--name-only --name-status --raw --cached --staged --oneline --all --graph --follow "
    "--reverse --no-merges --merges --first-parent --decorate --no-decorate --no-color "
    "--minimal --full-diff --ignored --porcelain --short --long --verbose"
)
GIT_FLAG_WORDS = tuple(GIT_FLAGS.split())


def _no_signature_format(argv: list[str]) -> str | None:
    """A ``%G`` placeholder (``%G?``, ``%GS``, ``%GK``...) verifies signatures: it runs
    gpg.program, which the repository's config names."""
    for i, arg in enumerate(argv):
        if i == 0:
            continue
        if ends_options(argv, i):
            break
        if arg.startswith(("--format", "--pretty", "format:", "tformat:")) and "%G" in arg:
            return f"{argv[0]} {arg} verifies signatures with gpg.program"
    return None


def _log() -> ReadOnlySpec:
    return spec("", _NO_OUTPUT, test=_no_signature_format)


def _first_word_in(allowed: tuple[str, ...], sub: str) -> ReadOnlySpec:
    """`git stash`, `git worktree`: read only with one of ``allowed`` as the action,
    which git reads as the first argument (`git stash -p` is `git stash push -p`)."""

    def test(argv: list[str]) -> str | None:
        action = argv[1] if len(argv) > 1 else ""
        if action in allowed:
            return _no_signature_format(argv)
        shown = action or ("(push)" if sub == "stash" else "")
        return f"git {sub} {shown} may change the repository"

    return spec("", _NO_OUTPUT, test=test)


def _reflog(argv: list[str]) -> str | None:
    """`git reflog [show] ...` reads; expire and delete (its first argument) write."""
    if len(argv) > 1 and argv[1] in ("expire", "delete"):
        return f"git reflog {argv[1]} rewrites reflogs"
    return _no_signature_format(argv)


GIT_READ_ONLY: dict[str, ReadOnlySpec] = {
    "status": spec(),
    "log": _log(),
    "show": _log(),
    "diff": _log(),
    "diff-tree": _log(),
    "diff-files": _log(),
    "diff-index": _log(),
    "whatchanged": _log(),
    "blame": _log(),
    "annotate": _log(),
    "shortlog": _log(),
    "describe": spec("", "dirty"),  # --dirty refreshes and writes the index
    "rev-parse": spec(),
    "rev-list": _log(),
    "ls-files": spec(),
    "ls-tree": spec(),
    "cat-file": spec("", "textconv filters"),  # run textconv drivers and smudge filters
    "merge-base": spec(),
    "name-rev": spec(),
    "for-each-ref": spec(),
    "show-ref": spec(),
    "count-objects": spec(),
    "check-ignore": spec(),
    "check-attr": spec(),
    "cherry": _log(),
    "version": spec(),
    "grep": spec("O", "open-files-in-pager ext-grep textconv"),
    "branch": spec(test=lambda argv: _git_listing(argv[1:], "branch")),
    "tag": spec(test=lambda argv: _git_listing(argv[1:], "tag")),
    "remote": spec(test=lambda argv: _git_remote(argv[1:])),
    "config": spec(test=lambda argv: git_config_problem(argv[1:])),
    "stash": _first_word_in(("list", "show"), "stash"),
    "reflog": spec("", _NO_OUTPUT, test=_reflog),
    "worktree": _first_word_in(("list",), "worktree"),
}
# Every subcommand reads its options with git's GIT_FLAGS known, as the glob check does:
# after `-p --` a word is a path or an object (`git cat-file -p -- --filters` names an
# object called --filters), so what ran is judged as the line was.
GIT_READ_ONLY = {sub: replace(entry, flags=GIT_FLAG_WORDS) for sub, entry in GIT_READ_ONLY.items()}
_LISTING_FLAGS = {
    "branch": frozenset(
        {"-a", "--all", "-r", "--remotes", "-l", "--list", "-v", "-vv", "--verbose",
         "--show-current", "--color", "--no-color", "--column", "--no-column", "-i",
         "--ignore-case", "--omit-empty"}
    ),
    # tag: -a annotates, -v verifies (gpg), -n[N] prints messages
    "tag": frozenset(
        {"-l", "--list", "--color", "--no-color", "--column", "--no-column", "-i",
         "--ignore-case", "--omit-empty", "-n", *(f"-n{n}" for n in range(100))}
    ),
}  # fmt: skip
_BRANCH_LISTING_WITH_VALUE = (
    "--contains",
    "--no-contains",
    "--merged",
    "--no-merged",
    "--sort",
    "--format",
    "--points-at",
    "--color=",
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
        if arg in _LISTING_FLAGS[what]:
            listing = listing or arg in ("-l", "--list") or arg.startswith("-n")
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


_GIT_CONFIG_VALUES = frozenset({"--type", "-t", "--default"})  # take the next word


def git_config_problem(args: list[str]) -> str | None:
    """`git config` reads with --get/--list (...) or with one key and nothing after it
    (`git config user.name`); options stop at the first key, so whatever follows a key
    is a value to set (`git config user.name -l` sets it to "-l")."""
    reads = False
    for i, arg in enumerate(args):
        if arg in _GIT_CONFIG_READ_ACTIONS:
            reads = True
            break
        if i > 0 and args[i - 1] in _GIT_CONFIG_VALUES:
            continue  # the value of --type or --default
        if not arg.startswith("-"):
            if i != len(args) - 1:
                return f"git config {arg} ... sets {arg}"
            reads = True  # one key, nothing after it: a read
    if not reads:
        return "git config without a key or --get/--list"
    for i, arg in enumerate(args):
        value = i > 0 and args[i - 1] in _GIT_CONFIG_VALUES
        if not value and arg.startswith("-") and arg.split("=")[0] not in _GIT_CONFIG_READS:
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
    if "--help" in global_options or has_option(args, "", ("help",)):
        return f"git {sub} --help runs man, whose viewer the repository's config chooses"
    entry = GIT_READ_ONLY.get(sub)
    if entry is None:
        return f"git {sub} is not read-only"
    return check_spec(entry, [f"git-{sub}", *args])
