"""The run's patch: two folders' differences in git's format, which `git apply` takes whole.

Each test builds a before and an after tree, writes the patch, applies it with the real
`git apply` to a clean copy of the before tree, and compares the result with the after
tree: content, executable bits, links and binary files included.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from orchestrator.runs.patch import diff_trees

GIT = shutil.which("git")
needs_git = pytest.mark.skipif(GIT is None, reason="git is not installed")


def _snapshot(root: Path) -> dict[str, tuple[str, bytes]]:
    """Every entry under ``root`` but .git: (kind and mode, content or link target)."""
    seen: dict[str, tuple[str, bytes]] = {}
    for folder, folders, files in os.walk(root):
        folders[:] = [d for d in folders if d != ".git" and not Path(folder, d).is_symlink()]
        links = [entry.name for entry in Path(folder).iterdir() if entry.is_symlink()]
        for name in {*files, *links}:
            path = Path(folder, name)
            key = path.relative_to(root).as_posix()
            if path.is_symlink():
                seen[key] = ("link", os.fsencode(path.readlink()))
            elif path.is_file():
                executable = bool(path.stat().st_mode & stat.S_IXUSR)
                seen[key] = ("exec" if executable else "file", path.read_bytes())
    return seen


def _apply(before: Path, patch: str, tmp_path: Path) -> Path:
    """A copy of ``before`` with ``patch`` applied by git (a repository of the test's own)."""
    target = tmp_path / "applied"
    shutil.copytree(before, target, symlinks=True)
    (tmp_path / "patch.diff").write_text(patch)
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "GIT_CONFIG_NOSYSTEM": "1"}
    subprocess.run(["git", "init", "-q"], cwd=target, check=True, env=env)
    subprocess.run(["git", "apply", "--whitespace=nowarn", str(tmp_path / "patch.diff")],
                   cwd=target, check=True, env=env, capture_output=True)  # fmt: skip
    return target


def _trees(tmp_path: Path) -> tuple[Path, Path]:
    before, after = tmp_path / "a", tmp_path / "b"
    before.mkdir()
    after.mkdir()
    return before, after


@needs_git
def test_git_apply_rebuilds_the_after_tree(tmp_path: Path) -> None:
    before, after = _trees(tmp_path)
    for root in (before, after):
        (root / "src").mkdir()
        (root / "src" / "same.py").write_text("x = 1\n")
    (before / "src" / "m.py").write_text("a\nb\n")
    (after / "src" / "m.py").write_text("a\nc")  # changed, no final newline
    (before / "gone.txt").write_text("bye\n")
    (after / "new.txt").write_text("hi\n")
    (after / "empty").write_text("")
    (before / "blob.bin").write_bytes(b"\0\1" * 100)
    (after / "blob.bin").write_bytes(b"\0\2" * 5000 + bytes(range(256)))
    (after / "added.bin").write_bytes(bytes(range(256)) * 3)
    (before / "run.sh").write_text("#!/bin/sh\necho hi\n")
    (after / "run.sh").write_text("#!/bin/sh\necho hi\n")
    (after / "run.sh").chmod(0o755)  # a mode change only
    (after / "tool.sh").write_text("#!/bin/sh\n")
    (after / "tool.sh").chmod(0o755)
    (after / "cr.txt").write_bytes(b"one\rtwo\x0cthree\n")  # \r and \f are not line ends
    (before / "cr.txt").write_bytes(b"one\rtwo\x0cthree\nfour\n")
    (after / "to-passwd").symlink_to("/etc/passwd")  # a link out of the tree, kept a link
    (after / "up").symlink_to("../..")
    (before / "was-file").write_text("x\n")
    (after / "was-file").symlink_to("src/same.py")  # file -> link
    diff = diff_trees(before, after)
    assert "new file mode 120000" in diff.text and "old mode 100644\nnew mode 100755" in diff.text
    assert "GIT binary patch" in diff.text and "Binary files" not in diff.text
    applied = _apply(before, diff.text, tmp_path)
    assert _snapshot(applied) == _snapshot(after)
    assert diff.changed == sorted(diff.changed) and "src/same.py" not in diff.changed


@needs_git
def test_a_deleted_binary_and_a_link_retargeted(tmp_path: Path) -> None:
    before, after = _trees(tmp_path)
    (before / "old.bin").write_bytes(b"\0" * 10)
    (before / "l").symlink_to("a")
    (after / "l").symlink_to("b")
    (before / "keep").write_bytes("é\n".encode("latin-1"))  # not UTF-8: binary
    (after / "keep").write_bytes("è\n".encode("latin-1"))
    applied = _apply(before, diff_trees(before, after).text, tmp_path)
    assert _snapshot(applied) == _snapshot(after)


def test_links_are_never_followed(tmp_path: Path) -> None:
    before, after = _trees(tmp_path)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_text("not for the patch\n")
    (after / "door").symlink_to(outside)
    diff = diff_trees(before, after)
    assert diff.changed == ["door"]
    assert "secret" not in diff.text and f"+{outside}" in diff.text


def test_no_change_is_an_empty_patch(tmp_path: Path) -> None:
    before, after = _trees(tmp_path)
    for root in (before, after):
        (root / "f").write_text("same\n")
        (root / ".git").mkdir()
    (after / ".git" / "index").write_text("ignored\n")
    diff = diff_trees(before, after)
    assert diff.text == "" and diff.changed == []


def test_skipped_paths_are_left_out(tmp_path: Path) -> None:
    before, after = _trees(tmp_path)
    (before / ".airlock").mkdir()
    (before / ".airlock" / "old-run.jsonl").write_text("x\n")
    assert diff_trees(before, after, skip=frozenset({".airlock"})).changed == []
    assert diff_trees(before, after).changed == [".airlock/old-run.jsonl"]


def test_placeholders_go_into_the_patch_as_variables(tmp_path: Path) -> None:
    from orchestrator.runs.patch import scrub_tree
    from sandbox import scrub_placeholders
    from sandbox.egress.credentials import placeholder_for

    before, after = tmp_path / "before", tmp_path / "after"
    before.mkdir()
    (before / "keep.txt").write_text("same\n")
    shutil.copytree(before, after)
    placeholder = placeholder_for("NPM_TOKEN")
    (after / ".npmrc").write_text(f"//registry.test/:_authToken={placeholder}\n")
    (after / "link").symlink_to(f"/tmp/{placeholder}")
    assert scrub_tree(after, scrub_placeholders) == [".npmrc", "link"]
    patch = diff_trees(before, after).text
    assert "_authToken=${NPM_TOKEN}" in patch
    assert "/tmp/${NPM_TOKEN}" in patch
    assert placeholder not in patch and "keep.txt" not in patch


@needs_git
@pytest.mark.parametrize(
    ("old", "new"),
    [
        (
            "".join(f"line {n}\n" for n in range(3000)),
            "".join(f"line {n}\n" for n in range(2999, -1, -1)),
        ),
        ("".join(f"a{n}\n" for n in range(2100)), "".join(f"b{n}\n" for n in range(2100))),
        (
            "".join(f"{n}\n" for n in range(2500)),
            "x" * 5 + "\n" + "".join(f"{n}\n" for n in range(2500)) + "end",
        ),
    ],
    ids=["reordered", "replaced", "no-final-newline"],
)
def test_a_change_too_costly_to_match_is_one_hunk_git_applies(
    tmp_path: Path, old: str, new: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past MAX_DIFF_WORK, difflib (quadratic at worst) is not asked: the file's change
    is one hunk replacing every line, which git applies all the same."""
    from orchestrator.runs import patch as patch_module

    calls: list[int] = []
    monkeypatch.setattr(patch_module.difflib, "unified_diff",
                        lambda *a, **k: calls.append(1) or iter(()))  # fmt: skip
    before, after = _trees(tmp_path)
    (before / "big.txt").write_text(old)
    (after / "big.txt").write_text(new)
    diff = diff_trees(before, after)
    assert calls == []  # the whole-file hunk, not difflib
    assert (_apply(before, diff.text, tmp_path) / "big.txt").read_text() == new
