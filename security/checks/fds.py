"""File descriptors: which file a write to ``/dev/stdout`` or ``/dev/fd/N`` opens.

On Linux, opening ``/dev/stdout``, ``/dev/stderr``, ``/dev/stdin`` or ``/dev/fd/N``
opens *again*, with the new mode, whatever descriptor N refers to at that moment:
``echo x 1<.git/config >/dev/stdout`` truncates and writes ``.git/config``, and so
does ``exec 1<.git/config`` anywhere before, a group's or a function call's
``1<FILE``, or ``3<FILE 1>&3``. A write through such a path is harmless only when
every file the descriptor may refer to is harmless: the session's own standard
output or error (pipes to the exec agent) or ``/dev/null``.

The analysis is deliberately flow-insensitive: every redirection anywhere in the
line (any command, any ``exec``, any group, loop or function) is assumed to be in
effect, in any order. That over-approximates what bash does, never under.
"""

from __future__ import annotations

import re
import threading
from typing import NamedTuple

from security.shell import Redirect
from security.unwrap import Scene

HARMLESS_DEVICES = frozenset({"/dev/null", "/dev/tty"})
_NAMED_ALIASES = {"/dev/stdin": 0, "/dev/stdout": 1, "/dev/stderr": 2}
_FD_ALIAS = re.compile(r"/dev/fd/(\d{1,4})")
_MOVED_FD = re.compile(r"(\d{1,4})-")
_ORIGINAL_OUTPUTS = frozenset({1, 2})  # pipes the exec agent reads


def alias_fd(path: str) -> int | None:
    """The descriptor an alias path (``/dev/stdout``, ``/dev/fd/3`` ...) reopens, or None.

    Only these exact spellings: any other path to a descriptor (``/proc/self/fd/1``,
    ``/dev//stdout``) is judged as an ordinary path, which never counts as harmless.
    """
    named = _NAMED_ALIASES.get(path)
    if named is not None:
        return named
    match = _FD_ALIAS.fullmatch(path)
    return int(match.group(1)) if match else None


class Source(NamedTuple):
    """Where a redirection points a descriptor."""

    kind: str  # "fd" (a duplicate of another), "file", "device", "data", "unknown"
    what: str


def destinations(redirect: Redirect) -> tuple[int, ...]:
    """The descriptors a redirection sets."""
    if redirect.fd is not None:
        return (redirect.fd,)
    op = redirect.op
    if op in ("&>", "&>>"):
        return (1, 2)
    if op == ">&" and redirect.target is not None and redirect.target.value != "-":
        return (1, 2) if not _MOVED_FD.fullmatch(redirect.target.value) else (1,)
    return (0,) if op.startswith("<") else (1,)


def source(redirect: Redirect) -> Source | None:
    """What a redirection points its descriptors at (None: it closes them)."""
    if redirect.target_fd is not None:
        return Source("fd", str(redirect.target_fd))
    target = redirect.target
    if target is None:
        return Source("unknown", redirect.op)
    if redirect.op in ("<<", "<<-", "<<<"):
        return Source("data", "a here-document")
    value = target.value
    if redirect.op in (">&", "<&"):
        if value == "-":
            return None
        moved = _MOVED_FD.fullmatch(value)
        if moved:
            return Source("fd", moved.group(1))
    if not target.literal:
        return Source("unknown", target.raw)
    fd = alias_fd(value)
    if fd is not None:
        return Source("fd", str(fd))
    if value in HARMLESS_DEVICES:
        return Source("device", value)
    return Source("file", value)


_MEMO = threading.local()


def descriptor_sources(scene: Scene) -> dict[int, list[Source]]:
    """Every source each descriptor may be given anywhere in the line (memoized)."""
    cached = getattr(_MEMO, "last", None)
    if cached is not None and cached[0] is scene:
        return cached[1]  # type: ignore[no-any-return]
    sources: dict[int, list[Source]] = {}
    for command in scene.commands:
        for redirect in command.redirects:
            found = source(redirect)
            if found is None:
                continue
            for fd in destinations(redirect):
                listed = sources.setdefault(fd, [])
                if found not in listed:
                    listed.append(found)
    _MEMO.last = (scene, sources)
    return sources


def referents(fd: int, scene: Scene) -> list[Source]:
    """Everything descriptor ``fd`` may refer to: files, devices, data, and the
    session's original descriptors (as ``Source("original", "N")``)."""
    sources = descriptor_sources(scene)
    seen: set[int] = set()
    found: list[Source] = []
    stack = [fd]
    while stack:
        current = stack.pop()
        if current in seen:
            continue
        seen.add(current)
        found.append(Source("original", str(current)))
        for item in sources.get(current, ()):
            if item.kind == "fd":
                stack.append(int(item.what))
            elif item not in found:
                found.append(item)
    return found


def harmful_referents(fd: int, scene: Scene) -> list[Source]:
    """What a write reopening ``fd`` may write other than the session's output."""
    return [
        item
        for item in referents(fd, scene)
        if not (
            (item.kind == "original" and int(item.what) in _ORIGINAL_OUTPUTS)
            or item.kind == "device"
        )
    ]


def describe(item: Source) -> str:
    if item.kind == "original":
        return f"the session's descriptor {item.what}"
    if item.kind == "file":
        return item.what
    return f"{item.what} ({item.kind})"
