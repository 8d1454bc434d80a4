"""Seeding a session's workspace so that the agent cannot change the repository's git setup.

Under policies that let the agent run code (`dev`, `ci-untrusted`), analyzer rules about
``.git/config`` are guardrails: one `python3 -c` writes an fsmonitor into the config. So the
sandbox enforces it with ownership. The workspace tmpfs is owned by root with mode 1777 (as
/tmp is): the agent (uid 1000, no capabilities) creates and deletes its own files there, but
cannot rename or delete what root owns. The copy-in splits the project's archive in two:

- extracted by root (uid 0, still without capabilities): the ``.git`` directory itself
  (mode 1777, so git can create its index, refs and objects inside), ``.git/config``
  (0644) and ``.git/hooks`` with everything under it (read-only to the agent);
- extracted by the agent: everything else, owned by the agent as before.

So the agent can neither write nor replace ``.git/config`` and ``.git/hooks``, nor rename
``.git`` or the workspace away to put its own in their place. `git config --local` writes
fail (``could not commit config file``); `git -c`, ``--global`` and everything else work.
"""

from __future__ import annotations

import copy
import io
import stat
import tarfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from sandbox.git_credentials import is_credential_file, scrub_config

GIT_DIR = ".git"
CONFIG = ".git/config"
HOOKS = ".git/hooks"
ROOT = 0


class SeedError(ValueError):
    """The project cannot be seeded with its git setup protected; the message says why."""


@dataclass
class SplitArchive:
    """A workspace archive split by who extracts it."""

    root: bytes  # empty when the project has no .git directory
    agent: bytes
    protected: list[str] = field(default_factory=list)  # what the root part holds
    stripped: list[str] = field(default_factory=list)  # credentials removed (keys, no values)


def _name(member: tarfile.TarInfo) -> str:
    name = member.name
    while name.startswith("./"):
        name = name[2:]
    return name.rstrip("/")


def _is_protected(name: str) -> bool:
    return name in (GIT_DIR, CONFIG, HOOKS) or name.startswith(HOOKS + "/")


def _copy(member: tarfile.TarInfo, **changes: object) -> tarfile.TarInfo:
    """A shallow copy with ``changes`` (`TarInfo.replace` is missing before Python 3.11.4)."""
    info = copy.copy(member)
    for name, value in changes.items():
        setattr(info, name, value)
    return info


def _as_root(member: tarfile.TarInfo, mode: int) -> tarfile.TarInfo:
    return _copy(member, name=_name(member), uid=ROOT, gid=ROOT, uname="root", gname="root",
                 mode=mode)  # fmt: skip


def _dir(name: str, mode: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.uid, info.gid = tarfile.DIRTYPE, mode, ROOT, ROOT
    info.mtime = int(time.time())
    return info


def _is_git_config(name: str) -> bool:
    """A git configuration file inside .git: config, config.worktree, modules/*/config."""
    return name.startswith(GIT_DIR + "/") and name.rsplit("/", 1)[-1] in (
        "config",
        "config.worktree",
    )


class _Scrubber:
    """Reads members' data, with credentials removed from git configuration files."""

    def __init__(self, source: tarfile.TarFile) -> None:
        self.source = source
        self.stripped: list[str] = []

    def data(self, member: tarfile.TarInfo) -> tuple[tarfile.TarInfo, io.BytesIO | None]:
        stream = self.source.extractfile(member) if member.isfile() else None
        if stream is None:
            return member, None
        raw = stream.read()
        name = _name(member)
        if _is_git_config(name):
            text, removed = scrub_config(raw.decode("utf-8", "surrogateescape"))
            self.stripped += [f"{name}: {what}" for what in removed]
            raw = text.encode("utf-8", "surrogateescape")
        return _copy(member, size=len(raw)), io.BytesIO(raw)


def split_archive(archive: bytes) -> SplitArchive:
    """Split a tar of the workspace's contents into the root part and the agent part.

    Only a real ``.git`` directory is protected (a ``.git`` file, as in a linked worktree,
    is left to the agent). ``.git/config`` must be a regular file: a symlink would let the
    agent change the file it points to. Credentials are stripped from git configuration
    files, and credential files inside .git are left out (`sandbox.git_credentials`).
    """
    root_buffer, agent_buffer = io.BytesIO(), io.BytesIO()
    protected: list[str] = []
    with (
        tarfile.open(fileobj=io.BytesIO(archive)) as source,
        tarfile.open(fileobj=agent_buffer, mode="w", format=tarfile.PAX_FORMAT) as agent,
    ):
        members = source.getmembers()
        names = {_name(m): m for m in members}
        git_dir = names.get(GIT_DIR)
        guarded = git_dir is not None and git_dir.isdir()
        scrubber = _Scrubber(source)
        with tarfile.open(fileobj=root_buffer, mode="w", format=tarfile.PAX_FORMAT) as root:
            if guarded:
                _fill_root(root, scrubber, members, names, protected)
        for member in members:
            name = _name(member)
            if name in ("", ".") or (guarded and _is_protected(name)):
                continue
            if name.startswith(GIT_DIR + "/") and is_credential_file(name):
                scrubber.stripped.append(f"{name}: a credentials file, left out")
                continue
            info, data = scrubber.data(member)
            agent.addfile(_copy(info, name=name), data)
    root_part = root_buffer.getvalue() if guarded else b""
    return SplitArchive(root_part, agent_buffer.getvalue(), protected, scrubber.stripped)


def _fill_root(
    root: tarfile.TarFile,
    scrubber: _Scrubber,
    members: list[tarfile.TarInfo],
    names: dict[str, tarfile.TarInfo],
    protected: list[str],
) -> None:
    root.addfile(_dir(GIT_DIR, 0o1777))
    config = names.get(CONFIG)
    if config is not None and not config.isfile():
        raise SeedError(f"{CONFIG} is not a regular file; it cannot be protected")
    if config is None:
        empty = tarfile.TarInfo(CONFIG)
        empty.mode, empty.uid, empty.gid = 0o644, ROOT, ROOT
        empty.mtime = int(time.time())
        root.addfile(empty, io.BytesIO(b""))
    else:
        info, data = scrubber.data(config)
        root.addfile(_as_root(info, 0o644), data)
    protected.append(CONFIG)
    hooks = names.get(HOOKS)
    root.addfile(_dir(HOOKS, 0o755))
    protected.append(HOOKS)
    if hooks is None or not hooks.isdir():
        return  # a hooks symlink or file is replaced by an empty directory
    for member in members:
        name = _name(member)
        if not name.startswith(HOOKS + "/") or is_credential_file(name):
            continue
        if member.isdir():
            root.addfile(_as_root(member, 0o755))
        elif member.isfile():
            # readable by all, so the workspace can still be archived (patch, fork)
            mode = 0o755 if member.mode & stat.S_IXUSR else 0o644
            info, data = scrubber.data(member)
            root.addfile(_as_root(info, mode), data)
        elif member.issym():
            root.addfile(_as_root(member, 0o777))
        # anything else (devices, fifos, hard links) is left out


def pack_directory(source: Path, exclude: frozenset[str] = frozenset()) -> bytes:
    """A tar of a host folder's contents (not the folder itself); symlinks stay links.

    ``exclude`` holds paths relative to ``source``; each is left out with all below it.
    """

    def kept(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
        return None if excluded(info.name, exclude) else info

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for item in sorted(source.iterdir()):
            tar.add(item, arcname=item.name, filter=kept)
    return buffer.getvalue()


def excluded(name: str, exclude: frozenset[str]) -> bool:
    """Whether the relative path ``name`` is one of ``exclude`` or lies below one."""
    return any(name == path or name.startswith(path + "/") for path in exclude)
