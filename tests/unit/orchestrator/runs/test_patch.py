"""The run's patch: a diff of two folders."""

from __future__ import annotations

from pathlib import Path

from orchestrator.runs.patch import diff_trees


def test_diff_trees_reports_changed_added_removed_and_binary_files(tmp_path: Path) -> None:
    before, after = tmp_path / "a", tmp_path / "b"
    for root in (before, after):
        (root / "src").mkdir(parents=True)
        (root / ".git").mkdir()
    (before / "src" / "same.py").write_text("x = 1\n")
    (after / "src" / "same.py").write_text("x = 1\n")
    (before / "src" / "m.py").write_text("a\nb\n")
    (after / "src" / "m.py").write_text("a\nc")  # changed, no final newline
    (before / "gone.txt").write_text("bye\n")
    (after / "new.txt").write_text("hi\n")
    (before / "blob.bin").write_bytes(b"\0\1")
    (after / "blob.bin").write_bytes(b"\0\2")
    (after / ".git" / "index").write_text("ignored\n")
    (after / "empty").write_text("")
    diff = diff_trees(before, after)
    assert diff.changed == ["blob.bin", "empty", "gone.txt", "new.txt", "src/m.py"]
    assert "--- /dev/null\n+++ b/empty\n" in diff.text
    assert "Binary files a/blob.bin and b/blob.bin differ" in diff.text
    assert "--- a/gone.txt\n+++ /dev/null\n" in diff.text
    assert "--- /dev/null\n+++ b/new.txt\n" in diff.text
    assert "-b\n+c\n\\ No newline at end of file\n" in diff.text


def test_no_change_is_an_empty_patch(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "f").write_text("same\n")
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "f").write_text("same\n")
    diff = diff_trees(tmp_path / "a", tmp_path / "b")
    assert diff.text == "" and diff.changed == []
