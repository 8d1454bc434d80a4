"""Path arithmetic shared by the checks that care where a file is."""

from __future__ import annotations

import posixpath


def within(path: str, root: str) -> bool:
    """Whether the normalized absolute ``path`` is ``root`` or below it."""
    return path == root or path.startswith(root.rstrip("/") + "/")


def resolve(path: str, cwd: str) -> str:
    """``path`` made absolute against ``cwd``, with ``.`` and ``..`` resolved."""
    return posixpath.normpath(posixpath.join(cwd, path))
