"""Extracting a sandbox's folder on the host: a hostile archive never writes outside."""

from __future__ import annotations

import gzip
import io
import os
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
        ([_entry("l", tarfile.SYMTYPE, "/etc"), _file("l/evil")], "on the way is a link"),
        ([_entry("l", tarfile.SYMTYPE, "../.."), _file("l/victim")], "on the way is a link"),
        ([_entry("l", tarfile.SYMTYPE, "."), _entry("l/m", tarfile.SYMTYPE, "..")], "a link"),
        ([_entry("l", tarfile.SYMTYPE, ".."), _entry("l/h", tarfile.LNKTYPE, "f")], "a link"),
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


def test_a_member_below_a_link_is_refused_even_inside(tmp_path: Path) -> None:
    """tar -c never writes one: links are never followed while extracting."""
    archive = _archive(_entry("d", tarfile.DIRTYPE), _entry("l", tarfile.SYMTYPE, "d"),
                       _file("l/f", b"inside"))  # fmt: skip
    with pytest.raises(UnsafeArchive, match="'l' on the way is a link"):
        extract_tree(archive, tmp_path / "out")
    assert not (tmp_path / "out" / "d" / "f").exists()


def _raw(name: str, kind: bytes, payload: bytes = b"") -> bytes:
    """One header and its data blocks, exactly as given (no pax or GNU rewriting)."""
    info = tarfile.TarInfo(name)
    info.type, info.size = kind, len(payload)
    return info.tobuf(format=tarfile.USTAR_FORMAT) + payload + b"\0" * (-len(payload) % 512)


def _pax(records: dict[str, str], kind: bytes = tarfile.XHDTYPE) -> bytes:
    """A pax extended header holding ``records`` as they are (no checks by the writer)."""
    data = b""
    for key, value in records.items():
        body = f" {key}={value}\n".encode()
        size = len(body) + len(str(len(body)))
        size += len(str(size)) - len(str(len(body)))
        data += str(size).encode() + body
    return _raw("././@PaxHeader", kind, data)


def _path_max_escape(destination: Path) -> bytes:
    """Links to folders whose real path outgrows PATH_MAX, then a link that climbs out.

    ``os.path.realpath`` stops following links once the path it builds is longer than
    PATH_MAX and reads the rest as plain names, while the kernel follows every short
    link: ``escape`` checked as inside leads two folders above the destination.
    """
    steps = "abcdefghijklmnop"
    folder = "d" * ((4096 - len(str(destination)) - 1) // (len(steps) + 1))
    members: list[tuple[tarfile.TarInfo, bytes | None]] = []
    path = ""
    for step in steps:
        members += [_entry(f"{path}{folder}", tarfile.DIRTYPE),
                    _entry(f"{path}{step}", tarfile.SYMTYPE, folder)]  # fmt: skip
        path += f"{folder}/"
    last = "/".join(steps) + "/" + "l" * 254
    members += [
        _entry(last, tarfile.SYMTYPE, "/".join([".."] * len(steps))),
        _entry("escape", tarfile.SYMTYPE, f"{last}/../.."),
        _entry("hard", tarfile.LNKTYPE, "escape/victim"),
        _file("hard", b"overwritten through a hard link"),
        _file("escape/evil", b"created outside"),
    ]
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for info, data in members:
            if data is not None:
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return buffer.getvalue()


def _assert_nothing_outside(tmp_path: Path) -> None:
    assert (tmp_path / "victim").read_bytes() == b"untouched"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["deep", "victim"]
    assert [p.name for p in (tmp_path / "deep").iterdir()] == ["out"]


def test_a_path_longer_than_path_max_does_not_hide_where_a_link_leads(tmp_path: Path) -> None:
    (tmp_path / "victim").write_bytes(b"untouched")
    destination = tmp_path / "deep" / "out"
    with pytest.raises(UnsafeArchive):
        extract_tree(_path_max_escape(destination), destination)
    _assert_nothing_outside(tmp_path)


@pytest.mark.parametrize(
    "target",
    ["/etc/passwd", "../../victim", "x/..", "a/b/../../..", "dangling", "/"],
)
def test_a_link_comes_back_as_the_same_link_whatever_it_targets(
    tmp_path: Path, target: str
) -> None:
    """The repository's own links round-trip, absolute and outward ones included: they
    are created, never followed, so they cannot write or read anything outside."""
    (tmp_path / "victim").write_bytes(b"untouched")
    archive = _archive(_entry("l", tarfile.SYMTYPE, target), _entry("x", tarfile.SYMTYPE, "."))
    out = tmp_path / "deep" / "out"
    extract_tree(archive, out)
    assert str((out / "l").readlink()) == target and str((out / "x").readlink()) == "."
    _assert_nothing_outside(tmp_path)


def test_a_tree_deeper_than_path_max_comes_out_whole(tmp_path: Path) -> None:
    folders = ["f" * 200] * 25  # 5025 characters: open() of the whole path fails
    members = [_entry("/".join(folders[: i + 1]), tarfile.DIRTYPE) for i in range(25)]
    archive = _archive(*members, _file("/".join([*folders, "leaf"]), b"deep"))
    extract_tree(archive, tmp_path / "out")
    here = os.open(tmp_path / "out", os.O_RDONLY)
    try:
        for folder in folders:
            here, parent = os.open(folder, os.O_RDONLY, dir_fd=here), here
            os.close(parent)
        leaf = os.open("leaf", os.O_RDONLY, dir_fd=here)
        assert os.read(leaf, 10) == b"deep"
        os.close(leaf)
    finally:
        os.close(here)


def test_a_compressed_archive_is_refused(tmp_path: Path) -> None:
    """A gzip of zeros expands a thousandfold: only a plain tar is read."""
    archive = gzip.compress(_archive(_file("zeros", b"\0" * (1 << 20))))
    assert len(archive) < 4096
    with pytest.raises((UnsafeArchive, tarfile.TarError)):
        extract_tree(archive, tmp_path / "out")
    assert not (tmp_path / "out" / "zeros").exists()


def _gnu_sparse(real_size: int) -> bytes:
    """An old GNU sparse member: 512 bytes of data standing for ``real_size`` bytes."""
    header = bytearray(_raw("s", tarfile.REGTYPE, b"\0" * 512)[:512])
    header[156:157] = tarfile.GNUTYPE_SPARSE
    header[386:410] = b"%011o\0%011o\0" % (0, 512)  # one region: offset 0, 512 bytes
    header[483:495] = b"%011o\0" % real_size
    header[148:156] = b" " * 8
    header[148:156] = b"%06o\0 " % sum(header)
    return bytes(header) + b"\0" * 512 + b"\0" * 1024


@pytest.mark.parametrize(
    "archive",
    [
        _gnu_sparse(8 << 20),
        _pax({"GNU.sparse.map": "0,512", "GNU.sparse.size": str(8 << 20)})
        + _raw("s", tarfile.REGTYPE, b"\0" * 512) + b"\0" * 1024,
    ],
)  # fmt: skip
def test_a_sparse_member_is_refused(tmp_path: Path, archive: bytes) -> None:
    """Its holes would be written out as zeros: megabytes from a few blocks."""
    with pytest.raises(UnsafeArchive, match="special file"):
        extract_tree(archive, tmp_path / "out")
    assert not (tmp_path / "out" / "s").exists()


def test_never_more_is_written_than_the_archive_holds(tmp_path: Path) -> None:
    """A pax real size longer than the member reads on over the later members, again and again."""
    count = 8

    def archive(sizes: list[int]) -> bytes:
        return (
            b"".join(
                _pax({"GNU.sparse.realsize": str(size).rjust(12, "0")})
                + _raw(f"f{i}", tarfile.REGTYPE, b"z" * 512)
                for i, size in enumerate(sizes)
            )
            + b"\0" * 1024
        )

    plain = archive([0] * count)
    with tarfile.open(fileobj=io.BytesIO(plain)) as tar:
        starts = [member.offset_data for member in tar]
    hostile = archive([len(plain) - start for start in starts])
    with pytest.raises(UnsafeArchive, match="more than the archive holds"):
        extract_tree(hostile, tmp_path / "out")
    written = sum(p.stat().st_size for p in (tmp_path / "out").iterdir())
    assert written <= len(hostile)


def test_a_header_that_leads_back_never_loops(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A negative pax size sends the reader back to the same header, forever (Python 3.11.2).

    Newer tarfiles end the archive there; either way nothing after it is written.
    """
    reads = 0
    read_next = tarfile.TarFile.next

    def counted(tar: tarfile.TarFile) -> tarfile.TarInfo | None:
        nonlocal reads
        reads += 1
        if reads > 100:
            raise AssertionError("the reader loops")
        return read_next(tar)

    monkeypatch.setattr(tarfile.TarFile, "next", counted)
    first = _raw("a", tarfile.REGTYPE, b"x")
    back = -3 * 512  # from b's data back over b's header and its pax header's two blocks
    archive = first + _pax({"size": str(back)}) + _raw("b", tarfile.REGTYPE, b"y") + b"\0" * 1024
    try:
        extract_tree(archive, tmp_path / "out")
    except UnsafeArchive as refusal:
        assert "leads back" in str(refusal)
    assert reads <= 100
    assert not (tmp_path / "out" / "b").exists()


def test_a_negative_size_is_refused(tmp_path: Path) -> None:
    header = bytearray(_raw("d", tarfile.DIRTYPE))
    header[124:136] = b"\xff" * 12  # base-256: -1
    header[148:156] = b" " * 8
    header[148:156] = b"%06o\0 " % sum(header[:512])
    with pytest.raises(UnsafeArchive, match="leads back"):
        extract_tree(bytes(header) + b"\0" * 1024, tmp_path / "out")


@pytest.mark.parametrize(
    ("archive", "why"),
    [
        # a pax header's records cost some 25 times their bytes once parsed
        (_pax({"comment": "x" * 70_000}) + _raw("f", tarfile.REGTYPE), "headers exceed"),
        # a chain of long-name headers recurses, each level holding its name
        (
            _raw("././@LongLink", tarfile.GNUTYPE_LONGNAME, b"ab\0") * 3000
            + _raw("f", tarfile.REGTYPE),
            "headers exceed",
        ),
        # a global header is copied into every later member: quadratic
        (_pax({"comment": "x"}, tarfile.XGLTYPE) + _raw("f", tarfile.REGTYPE), "global"),
    ],
)
def test_headers_that_cost_more_than_their_size_are_refused(
    tmp_path: Path, archive: bytes, why: str
) -> None:
    with pytest.raises(UnsafeArchive, match=why):
        extract_tree(archive + b"\0" * 1024, tmp_path / "out")


def _with_pax(name: str, records: dict[str, str], kind: bytes = tarfile.REGTYPE) -> bytes:
    return _pax(records) + _raw(name, kind) + b"\0" * 1024


@pytest.mark.parametrize(
    "archive",
    [
        _archive(_file("f"), _file("f/g")),  # a file where a folder is needed
        _with_pax("a", {"path": "a\0b"}),  # NUL in a name
        _with_pax("l", {"linkpath": "a\0b"}, tarfile.SYMTYPE),
        _with_pax("h", {"linkpath": "a\0b"}, tarfile.LNKTYPE),
        _with_pax("f", {"GNU.sparse.size": "many"}),  # the reader's int() fails
        _with_pax("f", {"GNU.sparse.map": "a,b"}),
        _archive(_file("a/" * 3000 + "f")),  # 3000 folders to create on the way
        _archive(_file("n" * 300)),  # a name longer than NAME_MAX
        _archive(_entry("l", tarfile.SYMTYPE, "l"), _file("l/f")),  # a link loop on the way
    ],
)
def test_a_malformed_archive_is_refused_not_a_crash(tmp_path: Path, archive: bytes) -> None:
    with pytest.raises(UnsafeArchive):
        extract_tree(archive, tmp_path / "out")
