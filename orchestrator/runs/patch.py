"""The changes an agent made: a unified diff of the project before and after a run."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path

SKIPPED_DIRS = frozenset({".git", "__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache"})
MAX_TEXT_BYTES = 2 << 20  # larger files are reported as changed, not diffed
NO_NEWLINE = "\n\\ No newline at end of file\n"


def _files(root: Path) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root)
        if any(part in SKIPPED_DIRS for part in relative.parts):
            continue
        if path.is_file() and not path.is_symlink():
            found[relative.as_posix()] = path
    return found


def _text(path: Path | None) -> list[str] | None:
    """The file's lines, [] for a missing file, None if it is binary or too large."""
    if path is None:
        return []
    data = path.read_bytes()
    if len(data) > MAX_TEXT_BYTES or b"\0" in data[:8192]:
        return None
    try:
        return data.decode("utf-8").splitlines(keepends=True)
    except UnicodeDecodeError:
        return None


@dataclass(frozen=True)
class TreeDiff:
    """A unified diff (``a/`` and ``b/`` prefixes, like git) and the files it touches."""

    text: str
    changed: list[str]


def diff_trees(before: Path, after: Path) -> TreeDiff:
    """Every file that differs between the two folders (added, removed or changed)."""
    old, new = _files(before), _files(after)
    chunks: list[str] = []
    changed: list[str] = []
    for name in sorted(old.keys() | new.keys()):
        a, b = old.get(name), new.get(name)
        if a is not None and b is not None and a.read_bytes() == b.read_bytes():
            continue
        changed.append(name)
        a_lines, b_lines = _text(a), _text(b)
        if a_lines is None or b_lines is None:
            chunks.append(f"Binary files a/{name} and b/{name} differ\n")
            continue
        old_name = f"a/{name}" if a is not None else "/dev/null"
        new_name = f"b/{name}" if b is not None else "/dev/null"
        lines = list(difflib.unified_diff(a_lines, b_lines, fromfile=old_name, tofile=new_name))
        if not lines:  # an empty file created or removed: headers only, as git shows it
            lines = [f"--- {old_name}\n", f"+++ {new_name}\n"]
        chunks.extend(line if line.endswith("\n") else line + NO_NEWLINE for line in lines)
    return TreeDiff("".join(chunks), changed)
