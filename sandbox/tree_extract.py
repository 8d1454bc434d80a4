"""Extract a tar of a sandbox's folder onto the host, never writing outside the destination.

The archive comes from inside a sandbox, so it is hostile. The rules are those of
Python's ``data`` extraction filter, written out so they hold on every Python this
project supports (the filter exists only from 3.11.4):

- a member's name must be relative and must land inside the destination, also through
  links extracted before it;
- a symbolic link must be relative and resolve inside the destination; a hard link must
  name a member inside it;
- devices, FIFOs and other special files are refused;
- files keep their owner's execute bit and nothing above ``0o755`` (no setuid, no group
  or other write); owners and times in the archive are ignored.

Anything refused raises `UnsafeArchive` with the member's name and the reason, before
that member is written.
"""

from __future__ import annotations

import io
import os
import shutil
import tarfile
from pathlib import Path


class UnsafeArchive(ValueError):
    """A member would write outside the destination, or is not a plain file, folder or link."""


def extract_tree(archive: bytes, destination: Path) -> None:
    """Extract ``archive`` into ``destination`` (created if missing)."""
    destination.mkdir(parents=True, exist_ok=True)
    root = destination.resolve()
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        for member in tar:
            _extract(tar, member, root)


def _extract(tar: tarfile.TarFile, member: tarfile.TarInfo, root: Path) -> None:
    target = _inside(root, member.name, member.name)
    if target == root:
        if not member.isdir():
            raise UnsafeArchive(f"{member.name!r}: only a folder may stand for the destination")
        return
    if not (member.isdir() or member.isreg() or member.issym() or member.islnk()):
        raise UnsafeArchive(f"{member.name!r}: a special file (type {member.type!r})")
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        _create(tar, member, target, root)
    except OSError as exc:  # something already stands there: a link, a folder
        raise UnsafeArchive(f"{member.name!r}: cannot create it ({exc.strerror})") from exc


def _create(tar: tarfile.TarFile, member: tarfile.TarInfo, target: Path, root: Path) -> None:
    if member.isdir():
        if target.is_symlink() or (target.exists() and not target.is_dir()):
            raise UnsafeArchive(f"{member.name!r}: a folder over something else")
        target.mkdir(mode=0o755, exist_ok=True)
    elif member.issym():
        if Path(member.linkname).is_absolute():
            raise UnsafeArchive(f"{member.name!r}: an absolute link to {member.linkname!r}")
        _inside(root, str(target.parent.relative_to(root) / member.linkname), member.name)
        target.symlink_to(member.linkname)
    elif member.islnk():
        source = _inside(root, member.linkname, member.name)
        if not source.is_file() or source.is_symlink():
            raise UnsafeArchive(f"{member.name!r}: a hard link to {member.linkname!r}")
        os.link(source, target)
    else:
        _write(tar, member, target)


def _inside(root: Path, name: str, member: str) -> Path:
    """``root``/``name``, which must stay in ``root`` however the links on the way resolve."""
    if Path(name).is_absolute():
        raise UnsafeArchive(f"{member!r}: an absolute path")
    resolved = Path(os.path.realpath(root / name))
    if resolved != root and root not in resolved.parents:
        raise UnsafeArchive(f"{member!r}: leads outside the destination")
    return root / name


def _write(tar: tarfile.TarFile, member: tarfile.TarInfo, target: Path) -> None:
    source = tar.extractfile(member)
    if source is None:
        raise UnsafeArchive(f"{member.name!r}: unreadable file member")
    mode = (member.mode & 0o755) | 0o600
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC
    descriptor = os.open(target, flags, mode)  # never through a link standing there
    with os.fdopen(descriptor, "wb") as out:
        os.fchmod(out.fileno(), mode)  # the umask does not decide an executable bit
        shutil.copyfileobj(source, out)
