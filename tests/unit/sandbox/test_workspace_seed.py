"""The workspace copy-in: which part root extracts, and credentials stripped from git config."""

from __future__ import annotations

import io
import tarfile

import pytest

from sandbox.git_credentials import scrub_config, strip_userinfo
from sandbox.workspace_seed import SeedError, split_archive

SECRET = "s3cr3t-token"  # noqa: S105 (a fake token the tests plant)


def _tar(entries: dict[str, bytes | None], symlinks: dict[str, str] | None = None) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, data in entries.items():
            info = tarfile.TarInfo(name)
            info.uid = info.gid = 1000
            if data is None:
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
            else:
                info.size, info.mode = len(data), 0o700
                tar.addfile(info, io.BytesIO(data))
        for name, target in (symlinks or {}).items():
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, target
            tar.addfile(info)
    return buffer.getvalue()


def _members(archive: bytes) -> dict[str, tarfile.TarInfo]:
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        return {m.name: m for m in tar.getmembers()}


def _read(archive: bytes, name: str) -> str:
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        stream = tar.extractfile(name)
        assert stream is not None
        return stream.read().decode()


def test_root_gets_git_dir_config_and_hooks_the_agent_the_rest() -> None:
    archive = _tar({
        "./": None, "./.git": None, "./.git/config": b"[core]\n\tbare = false\n",
        "./.git/HEAD": b"ref: refs/heads/main\n", "./.git/hooks": None,
        "./.git/hooks/pre-commit": b"#!/bin/sh\n", "./src": None, "./src/a.py": b"x\n",
    })  # fmt: skip
    split = split_archive(archive)
    root, agent = _members(split.root), _members(split.agent)
    assert set(root) == {".git", ".git/config", ".git/hooks", ".git/hooks/pre-commit"}
    assert all(m.uid == 0 and m.gid == 0 for m in root.values())
    assert root[".git"].mode == 0o1777 and root[".git/config"].mode == 0o644
    assert root[".git/hooks/pre-commit"].mode == 0o755  # readable by all, still executable
    assert set(agent) == {".git/HEAD", "src", "src/a.py"}  # no "." and no .git entry
    assert split.protected == [".git/config", ".git/hooks"]


def test_a_missing_config_or_hooks_is_created_empty_and_root_owned() -> None:
    split = split_archive(_tar({".git": None, ".git/HEAD": b"x"}))
    root = _members(split.root)
    assert root[".git/config"].size == 0 and root[".git/hooks"].isdir()


def test_no_git_directory_means_no_root_part() -> None:
    split = split_archive(_tar({"a.txt": b"a", ".git": b"gitdir: /elsewhere\n"}))
    assert split.root == b"" and set(_members(split.agent)) == {"a.txt", ".git"}


def test_a_symlinked_config_cannot_be_protected() -> None:
    with pytest.raises(SeedError):
        split_archive(_tar({".git": None}, symlinks={".git/config": "../evil"}))


def test_credentials_are_stripped_from_every_git_config_and_credential_files_dropped() -> None:
    config = (
        f'[http "https://github.com/"]\n\textraheader = AUTHORIZATION: basic {SECRET}\n'
        f'[remote "origin"]\n\turl = https://x:{SECRET}@github.com/o/r.git\n'
        f"[credential]\n\thelper = store\n"
    ).encode()
    split = split_archive(_tar({
        ".git": None, ".git/config": config, ".git/modules": None,
        ".git/modules/m": None, ".git/modules/m/config": config,
        ".git/.git-credentials": f"https://u:{SECRET}@h\n".encode(),
    }))  # fmt: skip
    assert SECRET not in _read(split.root, ".git/config")
    assert "https://github.com/o/r.git" in _read(split.root, ".git/config")
    assert SECRET not in _read(split.agent, ".git/modules/m/config")
    assert ".git/.git-credentials" not in _members(split.agent)
    assert all(SECRET not in note for note in split.stripped)
    assert ".git/config: http.extraheader" in split.stripped
    assert any(".git-credentials" in note for note in split.stripped)


def test_scrub_handles_continuations_legacy_sections_and_case() -> None:
    text = (
        "[HTTP]\n\tExtraHeader = a \\\n  " + SECRET + "\n\tsslVerify = true\n"
        "[credential.https://h]\n\tusername = me\n"
        f'[url "https://t:{SECRET}@h/"]\n\tinsteadOf = https://h/\n'
        "[core]\n\tbare = false\n"
    )
    clean, removed = scrub_config(text)
    assert SECRET not in clean and "sslVerify = true" in clean and "bare = false" in clean
    assert "credential.username" in removed
    assert strip_userinfo("ssh://git@host/x and https://a:b@c/d") == (
        "ssh://host/x and https://c/d",
        2,
    )
