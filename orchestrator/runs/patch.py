"""The changes an agent made, as a patch in git's format that `git apply` takes whole.

Both trees are read without following a link: a symbolic link is an entry of its own
(mode 120000, its target as content), never a way out of the tree. Each entry that
differs gets a ``diff --git`` section, as git writes it:

- mode lines for a new, deleted or re-moded entry (100644, 100755 or 120000);
- an ``index`` line with both blobs' full hashes (git's object ids);
- text as a unified diff; binary data (a NUL early on, not UTF-8, or larger than
  `MAX_TEXT_BYTES`) as a ``GIT binary patch`` of zlib-compressed literals in git's base85,
  forward and reverse, so nothing is ever summed up as "Binary files differ";
- an entry that turns from file to link (or back) is a deletion and an addition.
"""

from __future__ import annotations

import base64
import difflib
import hashlib
import os
import stat
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

SKIPPED_DIRS = frozenset({".git", "__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache"})
MAX_TEXT_BYTES = 2 << 20  # larger files go in as binary literals
# lines before x lines after past which a file's change is one hunk: difflib's matching
# is quadratic at worst (8,000 lines reordered took 25 s), one hunk is linear
MAX_DIFF_WORK = 4_000_000
NO_NEWLINE = "\\ No newline at end of file\n"
FILE, EXECUTABLE, LINK = "100644", "100755", "120000"
BINARY_LINE_BYTES = 52  # git's base85 lines: a length letter, then up to 52 bytes' worth


@dataclass(frozen=True)
class Entry:
    """One file or link of a tree: its git mode, and where to read its content."""

    mode: str
    path: Path

    def content(self) -> bytes:
        if self.mode == LINK:
            return os.fsencode(self.path.readlink())
        return self.path.read_bytes()


def scrub_tree(root: Path, scrub: Callable[[bytes], bytes]) -> list[str]:
    """Rewrite each regular file and each link's target under ``root`` (links never
    followed, ``.git`` left as it is) through ``scrub``; the paths it changed, relative
    to ``root``."""
    changed: list[str] = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = [name for name in dirs if name != ".git"]
        for name in [*files, *(d for d in dirs if Path(folder, d).is_symlink())]:
            path = Path(folder, name)
            mode = path.lstat().st_mode
            if stat.S_ISLNK(mode):
                target = os.fsencode(path.readlink())
                if (cleaned := scrub(target)) != target:
                    path.unlink()
                    path.symlink_to(os.fsdecode(cleaned))
                    changed.append(path.relative_to(root).as_posix())
            elif stat.S_ISREG(mode):
                data = path.read_bytes()
                if (cleaned := scrub(data)) != data:
                    path.write_bytes(cleaned)
                    changed.append(path.relative_to(root).as_posix())
    return sorted(changed)


@dataclass(frozen=True)
class TreeDiff:
    """The patch (``a/`` and ``b/`` prefixes, like git) and the entries it touches."""

    text: str
    changed: list[str]


def diff_trees(before: Path, after: Path, skip: frozenset[str] = frozenset()) -> TreeDiff:
    """Every entry that differs between the two folders: added, removed, changed in
    content or in mode. ``skip`` names more top-level paths to leave out."""
    old, new = _entries(before, skip), _entries(after, skip)
    sections: list[str] = []
    changed: list[str] = []
    for name in sorted(old.keys() | new.keys()):
        a, b = old.get(name), new.get(name)
        a_data = a.content() if a else b""
        b_data = b.content() if b else b""
        if a and b and a.mode == b.mode and a_data == b_data:
            continue
        changed.append(name)
        if a and b and (a.mode == LINK) != (b.mode == LINK):  # git: delete, then add
            sections.append(_section(name, a, None, a_data, b""))
            sections.append(_section(name, None, b, b"", b_data))
        else:
            sections.append(_section(name, a, b, a_data, b_data))
    return TreeDiff("".join(sections), changed)


def _entries(root: Path, skip: frozenset[str]) -> dict[str, Entry]:
    """Regular files and links under ``root``, by path; folders are walked, never links."""
    found: dict[str, Entry] = {}
    for folder, folders, files in os.walk(root, followlinks=False):
        here = Path(folder)
        relative = here.relative_to(root)
        walk_into = []
        for name in folders:  # a link to a folder is listed here: it is an entry, not a way in
            key = _name(relative, name)
            if name in SKIPPED_DIRS or key in skip:
                continue
            if (here / name).is_symlink():
                found[key] = Entry(LINK, here / name)
            else:
                walk_into.append(name)
        folders[:] = walk_into
        for name in files:
            key = _name(relative, name)
            mode = None if key in skip else _mode(here / name)
            if mode is not None:
                found[key] = Entry(mode, here / name)
    return found


def _name(relative: Path, name: str) -> str:
    return (relative / name).as_posix()


def _mode(path: Path) -> str | None:
    """The git mode of a file or link; None for anything else (a FIFO, a socket)."""
    info = path.lstat()
    if stat.S_ISLNK(info.st_mode):
        return LINK
    if stat.S_ISREG(info.st_mode):
        return EXECUTABLE if info.st_mode & stat.S_IXUSR else FILE
    return None


def _section(name: str, a: Entry | None, b: Entry | None, a_data: bytes, b_data: bytes) -> str:
    lines = [f"diff --git a/{name} b/{name}\n"]
    if a is None and b is not None:
        lines.append(f"new file mode {b.mode}\n")
    elif b is None and a is not None:
        lines.append(f"deleted file mode {a.mode}\n")
    elif a is not None and b is not None and a.mode != b.mode:
        lines += [f"old mode {a.mode}\n", f"new mode {b.mode}\n"]
    if a_data == b_data and a is not None and b is not None:
        return "".join(lines)  # a mode change only
    same_mode = f" {a.mode}" if a is not None and b is not None and a.mode == b.mode else ""
    lines.append(f"index {_blob_id(a_data, a)}..{_blob_id(b_data, b)}{same_mode}\n")
    a_text, b_text = _text(a_data), _text(b_data)
    if a_text is None or b_text is None:
        lines.append("GIT binary patch\n")
        lines += _literal(b_data)
        lines += _literal(a_data)
        return "".join(lines)
    if len(a_text) * len(b_text) > MAX_DIFF_WORK:  # difflib could take minutes: one hunk
        hunks = _whole_file_hunk(a_text, b_text)
    else:
        hunks = list(difflib.unified_diff(a_text, b_text, lineterm="\n", n=3))[2:]
    if hunks:  # an empty file created or removed has none, and git writes no ---/+++
        lines.append(f"--- {'a/' + name if a is not None else '/dev/null'}\n")
        lines.append(f"+++ {'b/' + name if b is not None else '/dev/null'}\n")
        lines += [line if line.endswith("\n") else line + "\n" + NO_NEWLINE for line in hunks]
    return "".join(lines)


def _whole_file_hunk(a_text: list[str], b_text: list[str]) -> list[str]:
    """One hunk replacing every line: as correct as difflib's, and linear to make."""
    if a_text == b_text:
        return []
    old = f"-{1 if a_text else 0},{len(a_text)}"
    new = f"+{1 if b_text else 0},{len(b_text)}"
    return [f"@@ {old} {new} @@\n", *("-" + line for line in a_text),
            *("+" + line for line in b_text)]  # fmt: skip


def _blob_id(data: bytes, entry: Entry | None) -> str:
    """git's object id of a blob holding ``data`` (all zeros for no entry)."""
    if entry is None:
        return "0" * 40
    return hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()


def _text(data: bytes) -> list[str] | None:
    """The lines of ``data``; None when git would treat it as binary (or it is too large)."""
    if len(data) > MAX_TEXT_BYTES or b"\0" in data[:8192]:
        return None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    parts = text.split("\n")  # git's lines end at \n only (not \r, \f or \x1c)
    return [part + "\n" for part in parts[:-1]] + ([parts[-1]] if parts[-1] else [])


def _literal(data: bytes) -> Iterator[str]:
    """One side of a binary patch: ``literal SIZE``, zlib'd data in git's base85, a blank."""
    yield f"literal {len(data)}\n"
    packed = zlib.compress(data, 6)  # git's own default: level 9 costs far more on noise
    for start in range(0, len(packed), BINARY_LINE_BYTES):
        piece = packed[start : start + BINARY_LINE_BYTES]
        size = len(piece)
        letter = chr(ord("A") + size - 1) if size <= 26 else chr(ord("a") + size - 27)
        yield letter + base64.b85encode(piece, pad=True).decode("ascii") + "\n"
    yield "\n"
