"""Dangerous options of harmless-looking tools."""

from __future__ import annotations

from collections.abc import Iterator

from security.checks.base import Context, Hit, command_check, has_option, operands
from security.knowledge import GIT_LOG_OPTIONS, git_subcommand, sed_edits_in_place
from security.knowledge.git import git_config_problem
from security.knowledge.sed import read_sed_argv, sed_script_refusal
from security.paths import resolve, within
from security.shell import Command
from security.unwrap import Scene
from security.verdict import Decision, Risk


@command_check("S20", "find that writes, deletes or prompts", names={"find"})
def find_actions(command: Command, scene: Scene, ctx: Context) -> Iterator[Hit]:
    """find's actions delete files, write lists to files, or run programs.

    Attack: ``find . -delete``, ``find ~ -fprint ~/.bashrc``, ``find / -ok rm {} \\;``.
    (``-exec``/``-execdir`` commands are unwrapped and checked themselves.)
    """
    if command.base_name != "find":
        return
    for arg in command.argv[1:]:
        if arg == "-delete":
            yield Hit("find -delete removes files", Decision.ASK, Risk.MEDIUM)
        elif arg in ("-fprint", "-fprint0", "-fprintf", "-fls"):
            yield Hit(f"find {arg} writes a file", Decision.ASK, Risk.MEDIUM)
        elif arg in ("-ok", "-okdir"):
            yield Hit(f"find {arg} prompts for each file", Decision.ASK, Risk.MEDIUM)


@command_check("S21", "sed that edits files, writes or runs commands", names={"sed", "gsed"})
def sed_effects(command: Command, scene: Scene, ctx: Context) -> Iterator[Hit]:
    """GNU sed can edit in place, write files and run shell commands.

    Attack: ``sed -i 's/x/y/' ~/.bashrc``, ``sed 'e id' f``, ``sed 's/.*/id/e' f``,
    ``sed -n 'w /etc/cron.d/x' f``, ``sed -f evil.sed f``, ``sed -nf evil.sed f``,
    ``sed ':a;e id' f`` (a label ends at ``;``). The script is parsed as GNU sed
    parses it (security/knowledge/sed.py); what it cannot read is asked.
    """
    if command.base_name not in ("sed", "gsed"):
        return
    argv = command.argv
    if sed_edits_in_place(argv):
        yield Hit("sed -i edits files in place", Decision.ASK, Risk.MEDIUM)
    found, problem = read_sed_argv(argv)
    if found is None:
        if problem and "-i" not in problem and "--in-place" not in problem:
            yield Hit(problem, Decision.ASK)
        return
    script = "\n".join(found.scripts)
    refusal = sed_script_refusal(script)
    if refusal:
        why, kind = refusal
        decision = Decision.DENY if kind == "runs" else Decision.ASK
        yield Hit(f"{why}: {script[:60]!r}", decision)


GIT_EXEC_OPTIONS = (
    "-c",
    "--config-env",
    "--exec-path",
    "--upload-pack",
    "--receive-pack",
    "--ext-diff",
    "--open-files-in-pager",
    "-O",
    "--template",
    "-u",
    "--config",
    "--textconv",
    "--filters",
    "--exec",
)
GIT_WRITE_OPTIONS = ("--output", "-o")
GIT_RUNS_PROGRAMS = frozenset(
    {
        "bisect",
        "filter-branch",
        "filter-repo",
        "difftool",
        "mergetool",
        "submodule",
        "instaweb",
        "daemon",
        "send-email",
        "web--browse",
        "credential",
        "credential-store",
        "p4",
        "svn",
        "archimport",
        "cvsimport",
        "quiltimport",
        "hook",
    }
)


@command_check("S22", "git option that runs programs or writes files", names={"git"})
def git_options(command: Command, scene: Scene, ctx: Context) -> Iterator[Hit]:
    """git runs configured programs: pagers, diff drivers, hooks, ssh, aliases.

    Attack: ``git -c core.pager='sh -c id' log``, ``git --config-env=core.sshCommand=X``,
    ``git -c alias.x='!sh -c id' x``, ``git diff --ext-diff``, ``git grep -O'sh -c id'``,
    ``git clone -u 'sh -c id' x``, ``git log --output=~/.bashrc``, ``git bisect run``,
    ``git cat-file --filters HEAD:f`` (smudge filters),
    ``git -C /tmp/evil status`` (that repository's ``core.fsmonitor`` runs).
    """
    if command.base_name != "git":
        return
    argv = command.argv
    sub, global_options, args = git_subcommand(argv)
    for option in global_options:
        name = option.split("=", 1)[0]
        if name in ("-c", "--config-env", "--exec-path"):
            yield Hit(f"git {option} sets configuration or programs", Decision.DENY)
        elif name in ("-p", "--paginate"):
            yield Hit("git --paginate starts a pager", Decision.ASK, Risk.MEDIUM)
        elif name in ("--git-dir", "--work-tree") or (
            name == "-C" and not _inside(option.split("=", 1)[-1], ctx.workspace)
        ):
            yield Hit(f"git {option}: another repository's configuration can run programs")
    if sub is None:
        return
    if sub in GIT_RUNS_PROGRAMS:
        yield Hit(f"git {sub} runs other programs", Decision.ASK)
    for arg in args:
        name = arg.split("=", 1)[0]
        if name in GIT_EXEC_OPTIONS and not (
            name in ("-u", "-O", "-c")
            and sub not in ("clone", "grep", "fetch", "pull", "ls-remote", "archive")
        ):
            yield Hit(f"git {sub} {arg} runs a program", Decision.DENY)
        elif arg.startswith("-O") and sub == "grep":
            yield Hit(f"git grep {arg} opens files in a program", Decision.DENY)
        elif name in GIT_WRITE_OPTIONS and sub in GIT_LOG_OPTIONS:
            yield Hit(f"git {sub} {arg} writes a file", Decision.ASK, Risk.MEDIUM)
    if sub == "config" and git_config_problem(args) is not None:
        keys = " ".join(args)
        if any(
            k in keys
            for k in (
                "alias.",
                "pager",
                "editor",
                "sshCommand",
                "hooksPath",
                "fsmonitor",
                "external",
                "textconv",
                ".command",
                "helper",
            )
        ):
            yield Hit(f"git config {keys[:80]} sets a program to run", Decision.DENY)


def _inside(path: str, workspace: str) -> bool:
    """Whether a relative or absolute path stays inside the workspace (``~``/``$`` never)."""
    return not path.startswith(("~", "$")) and within(resolve(path, workspace), workspace)


# tool -> (short options, long options) that run a program or shell code
EXEC_OPTIONS: dict[str, tuple[str, tuple[str, ...]]] = {
    "tar": (
        "I",
        (
            "to-command",
            "checkpoint-action",
            "use-compress-program",
            "rsh-command",
            "info-script",
            "new-volume-script",
            "rmt-command",
        ),
    ),
    "rsync": ("e", ("rsh", "rsync-path")),
    "scp": ("S", ()),
    "sftp": ("SD", ()),
    "sort": ("", ("compress-program",)),
    "zip": ("T", ("unzip-command",)),
    "rg": ("", ("pre", "hostname-bin")),
    "sdiff": ("", ("diff-program",)),
    "diff3": ("", ("diff-program",)),
    "split": ("", ("filter",)),
    "tcpdump": ("z", ()),
    "man": ("PH", ("pager", "html", "browser", "preprocessor")),
    "fd": ("xX", ("exec", "exec-batch")),
    "fdfind": ("xX", ("exec", "exec-batch")),
    "dialog": ("", ("prgbox", "programbox")),
    "nmap": ("", ("script",)),
    "make": ("", ("eval",)),
    "wget": ("", ("use-askpass",)),
}
WRITE_OPTIONS: dict[str, tuple[str, tuple[str, ...]]] = {
    "sort": ("o", ("output",)),
    "tree": ("o", ()),
    "xxd": ("r", ("revert",)),
    "wget": ("O", ("output-document",)),
    "curl": ("o", ("output", "remote-name")),
    "time": ("o", ("output",)),
    "strace": ("o", ("output",)),
    "date": ("s", ("set",)),
}


@command_check(
    "S23",
    "option that makes a tool run a program or write a file",
    names={
        *EXEC_OPTIONS,
        *WRITE_OPTIONS,
        "ssh",
        "scp",
        "sftp",
        "autossh",
        "less",
        "more",
        "most",
        "uniq",
    },
)
def tool_exec_options(command: Command, scene: Scene, ctx: Context) -> Iterator[Hit]:
    """Options of everyday tools that run arbitrary programs or overwrite files.

    Attack: ``tar cf x.tar x --checkpoint=1 --checkpoint-action=exec=sh``,
    ``tar -xf x --to-command=sh``, ``rsync -e 'sh -c id' a b:``, ``ssh -o
    ProxyCommand='sh -c id' x``, ``sort --compress-program=sh``, ``zip z x -TT 'sh -c id'``,
    ``rg --pre ./evil x``, ``rg --hostname-bin=./evil x``, ``sdiff --diff-program=./evil a b``,
    ``less '+!id' f``, ``man -P 'sh -c id' ls``, ``sort -o ~/.bashrc``.
    """
    name = command.base_name
    args = command.argv[1:]
    short, long = EXEC_OPTIONS.get(name, ("", ()))
    found = has_option(args, short, long) if (short or long) else None
    if found:
        yield Hit(f"{name} {found} runs a program", Decision.DENY)
    if name in ("ssh", "scp", "sftp", "autossh"):
        for i, arg in enumerate(args):
            joined = arg + (args[i + 1] if arg == "-o" and i + 1 < len(args) else "")
            lowered = joined.lower()
            if arg.startswith("-o") and (
                "proxycommand" in lowered
                or "localcommand" in lowered
                or "permitlocalcommand" in lowered
            ):
                yield Hit(f"{name} {joined} runs a local command", Decision.DENY)
    if name in ("less", "more", "most") and any(
        a.startswith("+") and ("!" in a or "|" in a) for a in args
    ):
        yield Hit(f"{name} with a command that runs a shell", Decision.DENY)
    short, long = WRITE_OPTIONS.get(name, ("", ()))
    found = has_option(args, short, long) if (short or long) else None
    if found and name not in ("wget", "curl"):
        yield Hit(f"{name} {found} writes a file", Decision.ASK, Risk.MEDIUM)
    if name == "uniq" and len(operands(args)) > 1:
        yield Hit("uniq with two operands overwrites the second", Decision.ASK, Risk.MEDIUM)
