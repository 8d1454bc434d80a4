"""Extract a tar of a sandbox's folder onto the host, never writing outside the destination.

The archive comes from inside a sandbox, so it is hostile, and the host extracts it as
root. No path string is ever handed to the kernel to resolve: every member is reached
from a descriptor of the destination one name at a time, with ``O_NOFOLLOW``. Links are
extracted as links and never followed, so where they point does not matter: a
repository's absolute link, or one that leads out of it, comes back as it was (and the
patch shows it as git does).

- a member's name must be relative and without ``..``, and must not pass through a link
  (``tar -c`` never writes a member below a link: one that does is refused);
- a symbolic link is created as it is, whatever its target; a hard link must name a
  regular file inside, reached without a link;
- devices, FIFOs, sparse files and other special members are refused; nothing is
  written over a link, a folder is never put over anything else;
- files keep their owner's execute bit and nothing above ``0o755`` (no setuid, no group
  or other write); owners and times in the archive are ignored;
- the archive must be a plain tar (a compressed one could expand without bound), its
  headers must move forward, and what is created (data, and a header's worth for each
  entry) never exceeds the archive's own size.

Anything refused, or any header the reader trips on, raises `UnsafeArchive` with the
member's name and the reason, before that member is written. Code that reads the tree
afterwards must not follow its links either (`orchestrator.runs.patch` does not).
"""

from __future__ import annotations

import io
import os
import stat
import tarfile
from pathlib import Path
from typing import BinaryIO

_FOLDER = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
ENTRY_COST = tarfile.BLOCKSIZE  # each entry created costs one header of the archive
_CHUNK = 1 << 20
# a member's headers (GNU long link and long name, pax) hold a path or two
MAX_HEADER_BYTES = 64 * 1024


class UnsafeArchive(ValueError):
    """A member would write outside the destination, or is not a plain file, folder or link."""


def extract_tree(
    archive: bytes | BinaryIO, destination: Path, max_entries: int | None = None
) -> int:
    """Extract ``archive`` (bytes, or a seekable file at its start) into ``destination``
    (created if missing); how many entries it held. Past ``max_entries``, refused."""
    source = io.BytesIO(archive) if isinstance(archive, bytes) else archive
    destination.mkdir(parents=True, exist_ok=True)
    root = os.open(destination.resolve(), _FOLDER)
    try:
        return _extract_all(source, root, max_entries)
    except (UnsafeArchive, tarfile.TarError):
        raise
    except Exception as exc:  # a header that trips the reader: RecursionError, ValueError
        raise UnsafeArchive(f"unreadable archive ({type(exc).__name__}: {exc})") from exc
    finally:
        os.close(root)


def _extract_all(archive: BinaryIO, root: int, max_entries: int | None) -> int:
    start = archive.tell()
    budget = archive.seek(0, os.SEEK_END) - start
    archive.seek(start)
    metered = _MeteredArchive(archive, budget)
    entries = 0
    with tarfile.open(fileobj=metered, mode="r:") as tar:  # type: ignore[call-overload]  # reads the first member's headers
        while True:
            metered.allow(MAX_HEADER_BYTES)
            member = tar.next()
            metered.allow(None)
            if member is None:
                return entries
            entries += 1
            if max_entries is not None and entries > max_entries:
                raise UnsafeArchive(f"{member.name!r}: more than {max_entries:,} entries")
            if tar.pax_headers:  # copied into every later member: quadratic
                raise UnsafeArchive(f"{member.name!r}: a global pax header (tar -c writes none)")
            if member.size < 0 or tar.offset <= member.offset:
                raise UnsafeArchive(f"{member.name!r}: a header that leads back in the archive")
            budget = _extract(tar, member, root, budget)
            member.pax_headers = {}  # the reader keeps every member: keep them small


class _MeteredArchive:
    """The archive, with a cap on what the reader may read for one member's headers.

    Stops headers whose parsing costs far more than their bytes, whatever the Python's
    tarfile: a pax header's records cost some 25 times their size in memory, a chain of
    extended headers holds them all at once and recurses.
    """

    def __init__(self, archive: BinaryIO, size: int) -> None:
        self._archive = archive
        self._end = archive.tell() + size
        self.allowance: int | None = MAX_HEADER_BYTES

    def allow(self, allowance: int | None) -> None:
        """Cap the reads from now on at ``allowance`` bytes in all (``None``: no cap)."""
        self.allowance = allowance

    def read(self, size: int | None = -1, /) -> bytes:
        if self.allowance is not None:
            wanted = self._end - self.tell() if size is None or size < 0 else size
            if wanted > self.allowance:
                raise UnsafeArchive(f"a member's headers exceed {MAX_HEADER_BYTES} bytes")
            self.allowance -= wanted
        return self._archive.read(-1 if size is None else size)

    def seek(self, offset: int, whence: int = os.SEEK_SET, /) -> int:
        return self._archive.seek(offset, whence)

    def tell(self) -> int:
        return self._archive.tell()


def _extract(tar: tarfile.TarFile, member: tarfile.TarInfo, root: int, budget: int) -> int:
    """Create one member; returns what is left of the budget."""
    parts = _name_parts(member.name, member.name)
    if not parts:
        if not member.isdir():
            raise UnsafeArchive(f"{member.name!r}: only a folder may stand for the destination")
        return budget
    if member.issparse() or not (
        member.isdir() or member.isreg() or member.issym() or member.islnk()
    ):
        raise UnsafeArchive(f"{member.name!r}: a special file (type {member.type!r})")
    cost = ENTRY_COST + (member.size if member.isreg() else 0)
    if cost > budget:
        raise UnsafeArchive(f"{member.name!r}: more than the archive holds")
    room = (budget - cost) // ENTRY_COST  # folders the member's path may still create
    try:
        folder, created = _walk(root, parts[:-1], member.name, room)
        try:
            _create(tar, member, root, folder, parts[-1])
        finally:
            os.close(folder)
    except OSError as exc:  # something already stands there: a link, a folder
        raise UnsafeArchive(f"{member.name!r}: cannot create it ({exc.strerror})") from exc
    return budget - created * ENTRY_COST - cost


def _create(
    tar: tarfile.TarFile, member: tarfile.TarInfo, root: int, folder: int, name: str
) -> None:
    if member.isdir():
        try:
            os.mkdir(name, 0o755, dir_fd=folder)
        except FileExistsError:
            if not stat.S_ISDIR(os.stat(name, dir_fd=folder, follow_symlinks=False).st_mode):
                raise UnsafeArchive(f"{member.name!r}: a folder over something else") from None
    elif member.issym():
        _check_link_target(member.name, member.linkname)
        os.symlink(member.linkname, name, dir_fd=folder)
    elif member.islnk():
        source = _name_parts(member.linkname, member.name)
        if not source:
            raise UnsafeArchive(f"{member.name!r}: a hard link to the destination")
        source_folder, _ = _walk(root, source[:-1], member.name, room=None)
        try:
            found = os.stat(source[-1], dir_fd=source_folder, follow_symlinks=False)
            if not stat.S_ISREG(found.st_mode):
                raise UnsafeArchive(f"{member.name!r}: a hard link to {member.linkname!r}")
            os.link(source[-1], name, src_dir_fd=source_folder, dst_dir_fd=folder,
                    follow_symlinks=False)  # fmt: skip
        finally:
            os.close(source_folder)
    else:
        _write(tar, member, folder, name)


def _name_parts(name: str, member: str) -> list[str]:
    """The names on a member's path (``.`` dropped); absolute, ``..`` or NUL are refused."""
    if "\0" in name:
        raise UnsafeArchive(f"{member!r}: a NUL in a name")
    if name.startswith("/"):
        raise UnsafeArchive(f"{member!r}: an absolute path")
    parts = [part for part in name.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise UnsafeArchive(f"{member!r}: a '..' that could lead outside the destination")
    return parts


def _check_link_target(member: str, target: str) -> None:
    """Any target is kept (the link is never followed here), but an empty one or a NUL."""
    if not target or "\0" in target:
        raise UnsafeArchive(f"{member!r}: a link to {target!r}")


def _walk(root: int, parts: list[str], member: str, room: int | None) -> tuple[int, int]:
    """Open the folder ``parts`` name below ``root``, never through a link.

    Up to ``room`` missing folders are created on the way (``None``: all must exist).
    Returns its descriptor and how many folders it created. A file or a link on the way
    is refused.
    """
    here, created = os.dup(root), 0
    try:
        for part in parts:
            try:
                here = _enter(here, part)
            except FileNotFoundError:
                if room is None:
                    raise UnsafeArchive(f"{member!r}: no folder {part!r} on the way") from None
                if created >= room:
                    raise UnsafeArchive(f"{member!r}: more than the archive holds") from None
                os.mkdir(part, 0o755, dir_fd=here)
                here, created = _enter(here, part), created + 1
            except OSError:  # a link (ELOOP) or a file (ENOTDIR) stands there
                found = os.stat(part, dir_fd=here, follow_symlinks=False)
                what = "a link" if stat.S_ISLNK(found.st_mode) else "a file"
                raise UnsafeArchive(f"{member!r}: {part!r} on the way is {what}") from None
    except BaseException:
        os.close(here)
        raise
    return here, created


def _enter(here: int, name: str) -> int:
    """The folder ``name`` in ``here`` (never through a link); ``here`` is closed."""
    opened = os.open(name, _FOLDER, dir_fd=here)
    os.close(here)
    return opened


def _write(tar: tarfile.TarFile, member: tarfile.TarInfo, folder: int, name: str) -> None:
    source = tar.extractfile(member)
    if source is None:
        raise UnsafeArchive(f"{member.name!r}: unreadable file member")
    mode = (member.mode & 0o755) | 0o600
    descriptor = os.open(name, _NEW_FILE, mode, dir_fd=folder)  # never through a link
    with os.fdopen(descriptor, "wb") as out:
        if not stat.S_ISREG(os.fstat(descriptor).st_mode):
            raise UnsafeArchive(f"{member.name!r}: a file over something else")
        os.ftruncate(descriptor, 0)
        os.fchmod(descriptor, mode)  # the umask does not decide an executable bit
        left = member.size
        while left > 0:
            chunk = source.read(min(left, _CHUNK))
            if not chunk:
                raise UnsafeArchive(f"{member.name!r}: its data ends early")
            out.write(chunk)
            left -= len(chunk)
