"""Hostile repositories: fixtures whose git configuration, attributes and hooks run programs.

`build_hostile_repo` writes a repository on the host whose every payload, when it runs,
creates a marker file ``<MARKER_DIR>/<payload name>`` inside the session. Each `Case`
names a command that a read-only policy allows and that runs one payload under a plain
git; with airlock/dev's git guard, the marker must stay absent while the command still does
its job (its output contains ``expect``).

The repository is built with the host's git (hooks off, the configuration written last) and
then copied into a session, normally at ``/workspace``; configuration values name payload
scripts by their path in the session, so pass that path as ``home``.

Used by tests/integration/test_hostile_repo.py (the differential fuzzer has its own, broader
fixtures in orchestrator/prove/hostile_repos.py, built inside the oracle session).
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

MARKER_DIR = "/tmp/airlock-hostile"
PAYLOADS = ".payloads"  # folder of payload scripts at the repository's root
SIGNED_SUBJECT = "a signed commit"
OLD_TIME = 1_700_000_000


@dataclass(frozen=True)
class Case:
    """One read-only command that runs the payload ``name`` under a plain git."""

    name: str
    command: str  # a bash line; `git` in it is the image's git
    expect: str  # a substring of the output that shows the command did its job
    cwd: str = ""  # relative to the repository
    note: str = ""

    def marker(self) -> str:
        return f"{MARKER_DIR}/{self.name}"


def _payload_script(name: str) -> str:
    """A script that leaves its marker, then fails (a failing fsmonitor hook makes git scan
    the work tree, so the other payloads of the same command still get their turn)."""
    return f'#!/bin/sh\nmkdir -p {MARKER_DIR} && echo "$0 $*" > {MARKER_DIR}/{name}\nexit 1\n'


def _git(root: Path, *args: str, stdin: bytes | None = None) -> str:
    done = subprocess.run(
        ["git", "-c", "core.hooksPath=/dev/null", "-c", "core.fsmonitor=false", *args],
        cwd=root,
        input=stdin,
        capture_output=True,
        check=True,
        env={
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(root),
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_AUTHOR_NAME": "hostile",
            "GIT_AUTHOR_EMAIL": "hostile@airlock.invalid",
            "GIT_COMMITTER_NAME": "hostile",
            "GIT_COMMITTER_EMAIL": "hostile@airlock.invalid",
            "GIT_AUTHOR_DATE": "1700000000 +0000",
            "GIT_COMMITTER_DATE": "1700000000 +0000",
        },
    )
    return done.stdout.decode()


def _write(path: Path, text: str, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(mode)


# Configuration keys whose value git runs as a program, and the payload each one runs.
# Every driver has files of its own (.gitattributes), so that no payload stops git before
# another one runs.
CONFIG_PAYLOADS = {
    "core.fsmonitor": "fsmonitor",
    "diff.external": "diff-external",
    "filter.cln.clean": "clean",
    "filter.smg.smudge": "smudge",
    "filter.prc.process": "process",
    "diff.tx.textconv": "textconv",
    "diff.a=b.textconv": "textconv-eq",
    "diff.cmd.command": "diff-command",
    "gpg.program": "gpg",
    "man.evil.cmd": "man",
    "alias.st": "alias",
    "core.sshCommand": "ssh",
    "tar.evil.command": "tar",
    "core.pager": "pager",
}
ATTRIBUTES = (
    "*.cln filter=cln\n*.smg filter=smg\n*.prc filter=prc\n*.tx diff=tx\n*.eq diff=a=b\n"
    "*.wt diff=wt\n*.inc diff=inc\n*.cmd diff=cmd\n"
)
EXTRA_PAYLOADS = (
    "hook", "include", "worktree-config", "bare-fsmonitor", "submodule-fsmonitor", "ext",
    "env-external-diff", "command-line", "config-parameters", "uploadpack",
)  # fmt: skip


def build_hostile_repo(root: Path, home: str = "/workspace") -> list[Case]:
    """Write the hostile repository into ``root`` (created); return its cases.

    ``home`` is where the repository will be in the session.
    """
    root.mkdir(parents=True, exist_ok=True)
    _git(root, "init", "-q", "-b", "main")
    for name in (*CONFIG_PAYLOADS.values(), *EXTRA_PAYLOADS):
        _write(root / PAYLOADS / name, _payload_script(name), 0o755)
    files = {
        "a.txt": "hello\n",
        "c.cln": "cleaned\n",
        "s.smg": "smudged\n",
        "p.prc": "processed\n",
        "notes.tx": "text converted\n",
        "eq.eq": "equals driver\n",
        "w.wt": "worktree driver\n",
        "x.cmd": "command driver\n",
        "src/app.py": "print('app')\n",
        ".gitattributes": ATTRIBUTES,
        "evil.inc": f'[diff "inc"]\n\ttextconv = {home}/{PAYLOADS}/include\n',
    }
    for name, text in files.items():
        _write(root / name, text)
    _embedded_bare_repo(root / "sub", home)
    _settle(root)
    _git(root, "add", "-A")
    _git(root, "commit", "-q", "-m", "hostile fixture")
    _submodule(root, home)
    _signed_commit(root)
    # worktree changes, so that status, diff and describe --dirty have something to show
    for name in ("a.txt", "c.cln", "x.cmd"):
        _write(root / name, files[name] + "changed line\n")
    # unchanged but touched: refreshing the index rewrites it (post-index-change runs)
    os.utime(root / "src" / "app.py")
    _configure(root, home)
    hooks = root / ".git" / "hooks"
    for hook in ("post-index-change", "post-checkout", "pre-commit", "reference-transaction"):
        _write(hooks / hook, _payload_script("hook"), 0o755)
    return cases()


def _settle(root: Path) -> None:
    """Old times on every file, and an index that compares only size and whole-second mtime.

    A copy into a session keeps mtimes but not inodes or ctimes; without this, git would
    re-read every file through its filters on the first refresh, and a failing filter
    payload would stop the command before the payload under test ran.
    """
    for path in root.rglob("*"):
        if ".git" not in path.relative_to(root).parts:
            os.utime(path, (OLD_TIME, OLD_TIME), follow_symlinks=False)
    _git(root, "config", "core.checkStat", "minimal")
    _git(root, "config", "core.trustctime", "false")


def _embedded_bare_repo(sub: Path, home: str) -> None:
    """A repository committed as ordinary files: `git -C sub ...` opens it as a git dir."""
    _write(sub / "HEAD", "ref: refs/heads/main\n")
    _write(sub / "objects" / "info" / "keep", "")
    _write(sub / "refs" / "heads" / "keep", "")
    _write(
        sub / "config",
        "[core]\n\trepositoryformatversion = 0\n\tbare = false\n\tworktree = ..\n"
        f"\tfsmonitor = {home}/{PAYLOADS}/bare-fsmonitor\n",
    )


def _submodule(root: Path, home: str) -> None:
    """A populated submodule `mod` whose own .git/config has an fsmonitor payload."""
    module = root / "mod"
    module.mkdir()
    _git(module, "init", "-q", "-b", "main")
    _write(module / "m.txt", "module\n")
    _settle(module)
    _git(module, "add", "-A")
    _git(module, "commit", "-q", "-m", "module")
    sha = _git(module, "rev-parse", "HEAD").strip()
    _write(root / ".gitmodules", '[submodule "mod"]\n\tpath = mod\n\turl = ./mod\n')
    _git(root, "update-index", "--add", "--cacheinfo", f"160000,{sha},mod")
    _git(root, "add", ".gitmodules")
    _git(root, "commit", "-q", "-m", "submodule")
    _write(module / "m.txt", "module\nchanged\n")
    _git(module, "config", "core.fsmonitor", f"{home}/{PAYLOADS}/submodule-fsmonitor")


def _signed_commit(root: Path) -> None:
    """A commit with a (fake) PGP signature on top of HEAD: showing it runs gpg.program."""
    tree = _git(root, "rev-parse", "HEAD^{tree}").strip()
    parent = _git(root, "rev-parse", "HEAD").strip()
    body = (
        f"tree {tree}\nparent {parent}\n"
        "author hostile <hostile@airlock.invalid> 1700000000 +0000\n"
        "committer hostile <hostile@airlock.invalid> 1700000000 +0000\n"
        "gpgsig -----BEGIN PGP SIGNATURE-----\n \n wsBcBAABCAAQBQJlVPsAAAoJEAAAAAAAAAAA\n"
        " -----END PGP SIGNATURE-----\n\n"
        f"{SIGNED_SUBJECT}\n"
    )
    sha = _git(root, "hash-object", "-t", "commit", "-w", "--stdin", stdin=body.encode()).strip()
    _git(root, "update-ref", "refs/heads/main", sha)


def _configure(root: Path, home: str) -> None:
    def payload(name: str) -> str:
        return f"{home}/{PAYLOADS}/{name}"

    for key, name in CONFIG_PAYLOADS.items():
        value = payload(name)
        if key == "alias.st":
            value = f"!{value}"
        _git(root, "config", key, value)
    settings = {
        "log.showSignature": "true",
        "man.viewer": "evil",
        "pager.status": payload("pager"),
        "remote.origin.url": f"{home}/sub",
        "remote.ext.url": f"ext::{payload('ext')}",
        "protocol.ext.allow": "always",
        "include.path": "../evil.inc",
        "extensions.worktreeConfig": "true",
        "core.repositoryformatversion": "1",
    }
    for key, value in settings.items():
        _git(root, "config", key, value)
    _git(root, "config", "--worktree", "diff.wt.textconv", payload("worktree-config"))


def build_refused_repo(root: Path, key: str, value: str) -> None:
    """A small repository whose .git/config has ``key = value``: the guard must refuse it."""
    root.mkdir(parents=True, exist_ok=True)
    _git(root, "init", "-q", "-b", "main")
    _write(root / "a.txt", "hello\n")
    _git(root, "add", "-A")
    _git(root, "commit", "-q", "-m", "one")
    _git(root, "config", key, value)


# Keys the guard cannot neutralize (git takes their first value, or does not know them):
# a repository that has one is refused. The value names the payload `uploadpack`.
REFUSED_KEYS = {
    "remote.origin.uploadpack": "{home}/.payloads/uploadpack",
    "remote.origin.receivepack": "{home}/.payloads/uploadpack",
    "remote.origin.vcs": "evil",
    "foo.bar": "baz",
    "core.newfangledcommand": "x",
    "diff.tx.newfangled": "x",
}


def cases() -> list[Case]:
    """The read-only commands of the hostile repository and what they must still print."""
    return [
        Case("fsmonitor", "git status --short", "a.txt", note="core.fsmonitor"),
        Case("diff-external", "git diff -- a.txt", "+changed line", note="diff.external"),
        Case("diff-command", "git diff -- x.cmd", "+changed line", note="diff.<driver>.command"),
        Case("clean", "git diff -- c.cln", "+changed line", note="filter.<driver>.clean"),
        Case("textconv", "git log -p -3 -- notes.tx", "+text converted", note="textconv"),
        Case("textconv", "git show HEAD~2 -- notes.tx", "+text converted", note="textconv"),
        Case("textconv", "git blame notes.tx", "text converted", note="textconv (blame)"),
        Case(
            "textconv-eq",
            "git log -p -3 -- eq.eq",
            "+equals driver",
            note="a driver whose name has `=` (cannot be overridden with -c)",
        ),
        Case("include", "git log -p -3 -- evil.inc", "+[diff", note="a driver via include.path"),
        Case(
            "worktree-config",
            "git log -p -3 -- w.wt",
            "+worktree driver",
            note="a driver in config.worktree",
        ),
        Case("smudge", "git cat-file --filters HEAD:s.smg", "smudged", note="smudge filter"),
        Case("process", "git cat-file --filters HEAD:p.prc", "processed", note="filter.process"),
        Case("gpg", "git log -1 --format=%s", SIGNED_SUBJECT, note="log.showSignature"),
        Case("gpg", "git log -1 --format='%G? %s'", SIGNED_SUBJECT, note="%G?"),
        Case("man", "git status --help; true", "", note="man.<tool>.cmd on --help"),
        Case("hook", "git describe --dirty --always", "-dirty", note="post-index-change"),
        Case("alias", "git st; true", "", note="a shell alias"),
        Case("ssh", "git ls-remote ssh://example.invalid/x; true", "", note="core.sshCommand"),
        Case("ext", "git ls-remote ext; true", "", note="ext:: with protocol.ext.allow"),
        Case("tar", "git archive --format=evil HEAD | wc -c", "", note="tar.<format>.command"),
        Case(
            "bare-fsmonitor",
            "git -C sub status --short",
            "a.txt",
            note="an embedded bare repository committed as files",
        ),
        Case("submodule-fsmonitor", "git status", "mod", note="a populated submodule"),
        Case("fsmonitor", "git status --short", "a.txt", cwd="src", note="a subfolder cwd"),
        Case(
            "env-external-diff",
            f"GIT_EXTERNAL_DIFF=$PWD/{PAYLOADS}/env-external-diff git diff -- a.txt",
            "+changed line",
            note="GIT_EXTERNAL_DIFF",
        ),
        Case(
            "command-line",
            f"git -c core.fsmonitor=$PWD/{PAYLOADS}/command-line status --short",
            "a.txt",
            note="git -c",
        ),
        Case(
            "config-parameters",
            f"GIT_CONFIG_PARAMETERS=\"'core.fsmonitor'='$PWD/{PAYLOADS}/config-parameters'\""
            " git status --short",
            "a.txt",
            note="GIT_CONFIG_PARAMETERS",
        ),
    ]


CLONE_CASE = Case(
    "bare-fsmonitor",
    'c=$(mktemp -d)/clone && git clone -q {home} "$c" && git -C "$c/sub" status --short',
    "a.txt",
    note="a repository cloned inside the session, then its embedded bare repository",
)
