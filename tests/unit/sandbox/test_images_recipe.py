"""Recipe hashing and the busybox root filesystem, without the engine."""

from __future__ import annotations

import stat
import tarfile
from pathlib import Path

import pytest

from sandbox import images


def test_hash_is_stable_and_tracks_content_and_names(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM x\n")
    (tmp_path / "packages.txt").write_text("bash\n")
    first = images.hash_dir(tmp_path)
    assert first == images.hash_dir(tmp_path)
    assert len(first) == 12

    (tmp_path / "packages.txt").write_text("bash\njq\n")
    changed_content = images.hash_dir(tmp_path)
    assert changed_content != first

    (tmp_path / "packages.txt").rename(tmp_path / "pkgs.txt")
    assert images.hash_dir(tmp_path) != changed_content


def test_hash_ignores_bytecode_caches_that_pip_writes_on_install(tmp_path: Path) -> None:
    (tmp_path / "git_guard.py").write_text("print('guard')\n")
    before = images.hash_dir(tmp_path)
    cache = tmp_path / "__pycache__"
    cache.mkdir()
    (cache / "git_guard.cpython-311.pyc").write_bytes(b"\x00compiled")
    assert images.hash_dir(tmp_path) == before
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "__pycache__").mkdir()
    (tmp_path / "sub" / "__pycache__" / "x.pyc").write_bytes(b"\x00")
    assert images.hash_dir(tmp_path) == before
    (tmp_path / "git_guard.pyc").write_bytes(b"\x00")  # not in a cache folder: counted
    assert images.hash_dir(tmp_path) != before


def test_hash_depends_on_salt(tmp_path: Path) -> None:
    (tmp_path / "a").write_text("x")
    assert images.hash_dir(tmp_path, salt="bookworm") != images.hash_dir(tmp_path, salt="trixie")


def test_missing_recipe_folder_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(images.ImageBuildError, match="does not exist"):
        images.hash_dir(tmp_path / "nope")


def test_recipe_settings_change_the_hash(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "minimal").mkdir()
    (tmp_path / "minimal" / "passwd").write_text("root:x:0:0::/:/bin/sh\n")
    monkeypatch.setenv("AIRLOCK_IMAGES_DIR", str(tmp_path))
    plain = images.Recipe("t/minimal", "minimal", images.build_minimal)
    with_user = images.Recipe("t/minimal", "minimal", images.build_minimal, settings=("USER 1",))
    assert plain.recipe_hash() != with_user.recipe_hash()


def test_package_list_ignores_comments_and_blanks(tmp_path: Path) -> None:
    path = tmp_path / "packages.txt"
    path.write_text("# header\nbash\n\n  jq  # json\n#git\n")
    assert images.read_package_list(path) == ["bash", "jq"]


def test_every_recipe_folder_exists_and_is_hashable() -> None:
    for recipe in images.RECIPES:
        assert recipe.directory.is_dir(), recipe.directory
        assert len(recipe.recipe_hash()) == 12


def test_recipe_named_accepts_image_or_folder_and_rejects_unknown() -> None:
    assert images.recipe_named("minimal").name == "airlock/minimal"
    assert images.recipe_named("airlock/dev").folder == "dev"
    with pytest.raises(images.ImageBuildError, match="known: airlock/minimal"):
        images.recipe_named("airlock/nope")


def test_busybox_rootfs_layout(tmp_path: Path) -> None:
    # A stand-in busybox that lists two applets the way `busybox --list-full` does.
    fake = tmp_path / "busybox"
    fake.write_text("#!/bin/sh\nprintf 'bin/busybox\\nbin/sh\\nusr/bin/awk\\n'\n")
    fake.chmod(0o755)
    out = tmp_path / "rootfs.tar"
    images._busybox_rootfs(fake, images.images_dir() / "minimal", out)

    with tarfile.open(out) as tar:
        members = {m.name: m for m in tar.getmembers()}
    assert members["bin/busybox"].isfile()
    assert members["bin/busybox"].mode & stat.S_IXUSR
    assert members["bin/sh"].issym() and members["bin/sh"].linkname == "/bin/busybox"
    assert members["usr/bin/awk"].linkname == "/bin/busybox"
    # root-owned and sticky, like /tmp: the agent cannot rename the seeded .git away
    assert (members["workspace"].uid, members["workspace"].mode) == (0, 0o1777)
    assert members["tmp"].mode == 0o1777
    assert "etc/passwd" in members and "etc/group" in members
