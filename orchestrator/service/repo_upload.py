"""A run's repository, uploaded as a .tar.gz and unpacked into the run's folder.

The archive is the attacker's, so unpacking holds to tarfile's ``data`` filter (no
absolute paths, no ``..``, no link leading out of the folder, no devices or fifos, no
setuid bits, no owner taken from the archive) and to caps on what it may cost: the
bytes it unpacks to (read through a counter, so a gzip bomb stops at the cap rather
than at the disk's end) and the entries it holds. Anything else is an `UploadError`
whose message says what was wrong; the folder is then removed.
"""

from __future__ import annotations

import gzip
import io
import shutil
import tarfile
import zlib
from pathlib import Path
from typing import BinaryIO

MAX_UPLOAD_BYTES = 64 * 1024 * 1024  # the .tar.gz as sent
MAX_UNPACKED_BYTES = 512 * 1024 * 1024  # the tar stream inside it
MAX_ENTRIES = 50_000


class UploadError(Exception):
    """The upload cannot be a run's repository; the message says why."""


class _Counted(io.RawIOBase):
    """The decompressed stream, refused past ``limit`` bytes."""

    def __init__(self, stream: gzip.GzipFile, limit: int) -> None:
        self._stream = stream
        self._limit = limit
        self.read_bytes = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        data = self._stream.read(len(buffer))
        self.read_bytes += len(data)
        if self.read_bytes > self._limit:
            raise UploadError(f"the repository unpacks to more than {self._limit:,} bytes")
        buffer[: len(data)] = data
        return len(data)


def unpack_repo(archive: BinaryIO, destination: Path) -> int:
    """Unpack the .tar.gz ``archive`` into ``destination`` (made here, empty); returns
    the number of entries. Raises `UploadError` and leaves nothing behind on refusal."""
    destination.mkdir(mode=0o700)
    try:
        return _unpack(archive, destination)
    except BaseException:
        shutil.rmtree(destination, ignore_errors=True)
        raise


def _unpack(archive: BinaryIO, destination: Path) -> int:
    entries = 0
    try:
        with gzip.GzipFile(fileobj=archive, mode="rb") as unzipped:
            counted = _Counted(unzipped, MAX_UNPACKED_BYTES)
            with tarfile.open(fileobj=io.BufferedReader(counted), mode="r|") as tar:
                for member in tar:
                    entries += 1
                    if entries > MAX_ENTRIES:
                        raise UploadError(f"the repository holds more than {MAX_ENTRIES:,} entries")
                    tar.extract(member, destination, filter="data")
    except UploadError:
        raise
    except tarfile.FilterError as exc:
        raise UploadError(f"refused entry in the repository archive: {exc}") from None
    except (tarfile.TarError, gzip.BadGzipFile, zlib.error, EOFError) as exc:
        raise UploadError(f"repo is not a readable .tar.gz: {exc}") from None
    except OSError as exc:
        raise UploadError(f"the repository could not be unpacked: {exc}") from None
    if entries == 0:
        raise UploadError("repo is an empty archive")
    return entries


def repo_root(folder: Path) -> Path:
    """Where the project is in an unpacked archive: its one top folder when it holds
    nothing else (as ``tar czf r.tgz project`` makes), else the folder itself."""
    entries = list(folder.iterdir())
    if len(entries) == 1 and entries[0].is_dir() and not entries[0].is_symlink():
        return entries[0]
    return folder
