"""A run's repository, uploaded as a .tar.gz and unpacked into the run's folder.

The archive is the attacker's, and the service may run as root. So it is never handed
to tarfile's own extraction (whose ``data`` filter a chain of long links defeats on
older Pythons, CVE-2025-4517): it is decompressed into a temporary plain tar, counted
on the way so that a gzip bomb stops at `MAX_UNPACKED_BYTES`, then extracted by the
sandbox's own `extract_tree`, which reaches every member from a descriptor of the
destination one name at a time, never follows a link, refuses absolute names, ``..``,
members below a link, hard links out, devices, global pax headers and headers that
cost more than their size, and creates no more than the tar holds. Links are kept as
links, as in a local ``--repo``: nothing on the host follows them. Anything refused is
an `UploadError` saying what; the folder is then removed.
"""

from __future__ import annotations

import shutil
import tarfile
import tempfile
import zlib
from pathlib import Path
from typing import BinaryIO

from sandbox.tree_extract import UnsafeArchive, extract_tree

MAX_UPLOAD_BYTES = 64 * 1024 * 1024  # the .tar.gz as sent
MAX_UNPACKED_BYTES = 512 * 1024 * 1024  # the tar inside it
MAX_ENTRIES = 50_000
_CHUNK = 1 << 20


class UploadError(Exception):
    """The upload cannot be a run's repository; the message says why."""


def unpack_repo(archive: BinaryIO, destination: Path) -> int:
    """Unpack the .tar.gz ``archive`` into ``destination`` (made here, empty); returns
    the number of entries. Raises `UploadError` and leaves nothing behind on refusal."""
    destination.mkdir(mode=0o700)
    try:
        with tempfile.TemporaryFile(dir=destination.parent, prefix=".upload-") as plain:
            _gunzip(archive, plain)
            plain.seek(0)
            try:
                entries = extract_tree(plain, destination, MAX_ENTRIES)
            except UnsafeArchive as exc:
                raise UploadError(f"refused entry in the repository archive: {exc}") from None
            except (tarfile.TarError, ValueError, OSError) as exc:
                raise UploadError(f"repo is not a readable .tar.gz: {exc}") from None
        if entries == 0:
            raise UploadError("repo is an empty archive")
        return entries
    except BaseException:
        shutil.rmtree(destination, ignore_errors=True)
        raise


def _gunzip(archive: BinaryIO, plain: BinaryIO) -> None:
    """Decompress ``archive`` into ``plain``, refusing past `MAX_UNPACKED_BYTES`."""
    inflate = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)  # gzip only
    written = 0
    try:
        while chunk := archive.read(_CHUNK):
            data = inflate.decompress(chunk, _CHUNK)
            while True:
                written += len(data)
                if written > MAX_UNPACKED_BYTES:
                    raise UploadError(
                        f"the repository unpacks to more than {MAX_UNPACKED_BYTES:,} bytes"
                    )
                plain.write(data)
                if not inflate.unconsumed_tail:
                    break
                data = inflate.decompress(inflate.unconsumed_tail, _CHUNK)
            if inflate.eof:
                break
        if not inflate.eof:
            raise UploadError("repo is not a readable .tar.gz: it ends before its gzip stream")
    except zlib.error as exc:
        raise UploadError(f"repo is not a readable .tar.gz: {exc}") from None


def repo_root(folder: Path) -> Path:
    """Where the project is in an unpacked archive: its one top folder when it holds
    nothing else (as ``tar czf r.tgz project`` makes), else the folder itself."""
    entries = list(folder.iterdir())
    if len(entries) == 1 and entries[0].is_dir() and not entries[0].is_symlink():
        return entries[0]
    return folder
