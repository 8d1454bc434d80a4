"""Unpacking an uploaded repository: what the attacker's archive cannot do."""

from __future__ import annotations

import gzip
import io
import tarfile
from pathlib import Path

import pytest

from orchestrator.service import repo_upload
from orchestrator.service.repo_upload import UploadError, repo_root, unpack_repo


def _archive(*entries: tarfile.TarInfo, data: dict[str, bytes] | None = None) -> io.BytesIO:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for entry in entries:
            body = (data or {}).get(entry.name, b"")
            if entry.isreg():
                entry.size = len(body)
            tar.addfile(entry, io.BytesIO(body) if entry.isreg() else None)
    buffer.seek(0)
    return buffer


def _file(name: str, mode: int = 0o644) -> tarfile.TarInfo:
    entry = tarfile.TarInfo(name)
    entry.mode = mode
    return entry


def _dir(name: str) -> tarfile.TarInfo:
    entry = tarfile.TarInfo(name)
    entry.type, entry.mode = tarfile.DIRTYPE, 0o755
    return entry


def _link(name: str, target: str, kind: bytes = tarfile.SYMTYPE) -> tarfile.TarInfo:
    entry = tarfile.TarInfo(name)
    entry.type, entry.linkname = kind, target
    return entry


def test_a_project_unpacks_and_its_one_top_folder_is_the_root(tmp_path: Path) -> None:
    archive = _archive(_dir("proj"), _dir("proj/pkg"), _file("proj/a.py"),
                       _file("proj/pkg/b.py", 0o4755), _link("proj/here", "a.py"),
                       data={"proj/a.py": b"x = 1\n"})  # fmt: skip
    assert unpack_repo(archive, tmp_path / "repo") == 5
    root = repo_root(tmp_path / "repo")
    assert root == tmp_path / "repo" / "proj"
    assert (root / "a.py").read_bytes() == b"x = 1\n"
    assert (root / "pkg" / "b.py").stat().st_mode & 0o7000 == 0  # no setuid kept
    assert (root / "here").resolve() == (root / "a.py").resolve()
    flat = _archive(_file("a.py"), _file("b.py"))
    unpack_repo(flat, tmp_path / "flat")
    assert repo_root(tmp_path / "flat") == tmp_path / "flat"


@pytest.mark.parametrize(
    "entries",
    [
        [_file("../outside")],
        [_file("a/../../outside")],
        [_file("/etc/cron.d/x")],
        [_link("out", "/etc"), _file("out/cron.d/x")],  # a file written through a link
        [_link("hard", "/etc/passwd", tarfile.LNKTYPE)],
    ],
    ids=["dotdot", "nested-dotdot", "absolute", "through-a-link", "hardlink-out"],
)
def test_entries_that_lead_outside_are_refused_and_nothing_is_left(
    tmp_path: Path, entries: list[tarfile.TarInfo]
) -> None:
    with pytest.raises(UploadError, match="refused entry"):
        unpack_repo(_archive(_file("ok.py"), *entries), tmp_path / "repo")
    assert not (tmp_path / "repo").exists()
    assert not (tmp_path / "outside").exists()
    assert not any(tmp_path.iterdir())  # nor the temporary tar


def test_links_are_kept_as_links_and_never_followed(tmp_path: Path) -> None:
    unpack_repo(_archive(_link("out", "/etc/passwd"), _link("up", "../../x")), tmp_path / "r")
    assert (tmp_path / "r" / "out").readlink() == Path("/etc/passwd")
    assert (tmp_path / "r" / "up").readlink() == Path("../../x")


def test_a_global_pax_header_is_refused(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", format=tarfile.PAX_FORMAT,
                      pax_headers={"comment": "x" * 100}) as tar:  # fmt: skip
        tar.addfile(_file("a.py"), io.BytesIO(b""))
    buffer.seek(0)
    with pytest.raises(UploadError, match="global pax header"):
        unpack_repo(buffer, tmp_path / "repo")


def test_devices_are_refused(tmp_path: Path) -> None:
    device = tarfile.TarInfo("dev")
    device.type = tarfile.CHRTYPE
    with pytest.raises(UploadError):
        unpack_repo(_archive(device), tmp_path / "repo")


def test_a_gzip_bomb_stops_at_the_cap(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(repo_upload, "MAX_UNPACKED_BYTES", 1 << 20)
    bomb = _archive(_file("zeros"), data={"zeros": bytes(8 << 20)})
    assert len(bomb.getvalue()) < 64 << 10  # it compresses to almost nothing
    with pytest.raises(UploadError, match="more than 1,048,576 bytes"):
        unpack_repo(bomb, tmp_path / "repo")
    assert not (tmp_path / "repo").exists()


def test_too_many_entries_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(repo_upload, "MAX_ENTRIES", 3)
    with pytest.raises(UploadError, match="more than 3 entries"):
        unpack_repo(_archive(*(_file(f"f{n}") for n in range(5))), tmp_path / "repo")


@pytest.mark.parametrize(
    "payload",
    [b"", b"not gzip at all", gzip.compress(b"not a tar"), gzip.compress(bytes(1024))],
    ids=["empty", "not-gzip", "not-tar", "empty-tar"],
)
def test_what_is_not_a_tar_gz_says_so(tmp_path: Path, payload: bytes) -> None:
    with pytest.raises(UploadError, match=r"repo is (not a readable \.tar\.gz|an empty archive)"):
        unpack_repo(io.BytesIO(payload), tmp_path / "repo")


def _long_link_chain(levels_up: int) -> io.BytesIO:
    """CVE-2025-4517's shape: links to 247-character folders push the real path past
    PATH_MAX, so a path check that resolves strings passes what the kernel sends
    ``levels_up`` folders up; then a file is written through the escaping link."""
    folder_name, steps = "d" * 247, "abcdefghijklmnop"
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", format=tarfile.PAX_FORMAT) as tar:
        path = ""
        for step in steps:
            tar.addfile(_dir(f"{path}{folder_name}"))
            tar.addfile(_link(f"{path}{step}", folder_name))
            path = f"{path}{folder_name}/"
        deep = "/".join(steps) + "/" + "l" * 254
        tar.addfile(_link(deep, "../" * len(steps)))
        tar.addfile(_link("escape", deep + "/.." * levels_up))
        payload = _file("escape/PWNED")
        payload.size = 4
        tar.addfile(payload, io.BytesIO(b"pwnd"))
    buffer.seek(0)
    return buffer


def test_a_chain_of_long_links_writes_nothing_outside(tmp_path: Path) -> None:
    runs = tmp_path / "data" / "runs" / "run_x"
    runs.mkdir(parents=True)
    with pytest.raises(UploadError, match="refused entry"):
        unpack_repo(_long_link_chain(3), runs / "repo")
    assert not list(tmp_path.rglob("PWNED"))


def test_a_global_pax_header_bomb_is_refused_at_its_first_member(tmp_path: Path) -> None:
    """Records copied into every later member cost quadratic time and memory in tarfile:
    refused before any member is kept (the reader's header cap bounds the first)."""
    buffer = io.BytesIO()
    header = {f"k{number}": "v" for number in range(20_000)}
    with tarfile.open(fileobj=buffer, mode="w:gz", format=tarfile.PAX_FORMAT,
                      pax_headers=header) as tar:  # fmt: skip
        for number in range(600):
            tar.addfile(tarfile.TarInfo(f"f{number}"))
    buffer.seek(0)
    with pytest.raises(UploadError, match="refused entry"):
        unpack_repo(buffer, tmp_path / "repo")
    assert not (tmp_path / "repo").exists()
