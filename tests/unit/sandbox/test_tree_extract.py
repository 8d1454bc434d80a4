"""Extracting a sandbox's folder on the host: a hostile archive never writes outside."""

from __future__ import annotations

import io
import stat
import tarfile
from pathlib import Path

import pytest

from sandbox.tree_extract import UnsafeArchive, extract_tree


def _archive(*members: tuple[tarfile.TarInfo, bytes | None]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for info, data in members:
            if data is not None:
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return buffer.getvalue()


def _file(name: str, data: bytes = b"x", mode: int = 0o644) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.mode = mode
    return info, data


def _entry(name: str, kind: bytes, link: str = "") -> tuple[tarfile.TarInfo, None]:
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.mode = kind, link, 0o755
    return info, None


def test_a_tree_comes_out_whole(tmp_path: Path) -> None:
    archive = _archive(
        _entry(".", tarfile.DIRTYPE),
        _entry("./src", tarfile.DIRTYPE),
        _file("./src/a.py", b"print(1)\n"),
        _file("./run.sh", b"#!/bin/sh\n", mode=0o4777),
        _entry("./src/link.py", tarfile.SYMTYPE, "a.py"),
        _entry("./hard.py", tarfile.LNKTYPE, "./src/a.py"),
    )
    extract_tree(archive, tmp_path / "out")
    out = tmp_path / "out"
    assert (out / "src" / "a.py").read_bytes() == b"print(1)\n"
    assert (out / "src" / "link.py").is_symlink()
    assert (out / "src" / "link.py").readlink() == Path("a.py")
    assert (out / "hard.py").read_bytes() == b"print(1)\n"
    mode = stat.S_IMODE((out / "run.sh").stat().st_mode)
    assert mode == 0o755  # executable kept; setuid and group/other write dropped


@pytest.mark.parametrize(
    ("members", "why"),
    [
        ([_file("/etc/evil")], "absolute path"),
        ([_file("../evil")], "outside"),
        ([_file("a/../../evil")], "outside"),
        ([_entry("l", tarfile.SYMTYPE, "/etc")], "absolute link"),
        ([_entry("l", tarfile.SYMTYPE, "../..")], "outside"),
        ([_entry("d", tarfile.DIRTYPE), _entry("d/l", tarfile.SYMTYPE, "../../x")], "outside"),
        ([_entry("l", tarfile.SYMTYPE, "."), _entry("l/m", tarfile.SYMTYPE, "..")], "outside"),
        ([_entry("h", tarfile.LNKTYPE, "../victim")], "outside"),
        ([_entry("dev", tarfile.CHRTYPE)], "special file"),
        ([_entry("fifo", tarfile.FIFOTYPE)], "special file"),
        ([_entry("l", tarfile.SYMTYPE, "f"), _file("l", b"through the link")], "cannot create"),
        ([_file("f"), _entry("f", tarfile.DIRTYPE)], "folder over"),
    ],
)
def test_a_hostile_member_is_refused_before_it_writes(
    tmp_path: Path, members: list[tuple[tarfile.TarInfo, bytes | None]], why: str
) -> None:
    outside = tmp_path / "victim"
    outside.write_bytes(b"untouched")
    with pytest.raises(UnsafeArchive, match=why):
        extract_tree(_archive(*members), tmp_path / "deep" / "out")
    assert outside.read_bytes() == b"untouched"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["deep", "victim"]
    assert not (tmp_path / "deep" / "evil").exists()


def test_a_link_inside_then_a_file_through_it_stays_inside(tmp_path: Path) -> None:
    archive = _archive(_entry("d", tarfile.DIRTYPE), _entry("l", tarfile.SYMTYPE, "d"),
                       _file("l/f", b"inside"))  # fmt: skip
    extract_tree(archive, tmp_path / "out")
    assert (tmp_path / "out" / "d" / "f").read_bytes() == b"inside"
