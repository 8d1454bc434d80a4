"""What the exec agent does after a confined exec: end its processes, remove its TMPDIR.

Standard-library-only and Python 3.8+ (it ships inside the agent). Code run inside the
domain chooses what it leaves behind, so neither step trusts it:

- every process of the exec shares the session the agent started it in (the syscall
  filter refuses ``setsid`` and ``setpgid``), so ending the session's processes ends all
  of them, a background one with closed output included;
- the TMPDIR may hold directories that its owner cannot list (made with mode 0300),
  trees deeper than any recursion limit, and symbolic links to anywhere: removal opens
  nothing by a followed link, needs no recursion, and makes each directory its own
  again before it lists it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path

from sandbox import command_spawn

MAX_KILL_ROUNDS = 1000  # each round kills every process found; new ones come only from
# processes not yet killed, so a few rounds suffice even for a fork loop
PROC = "/proc"
OWN_DIR_MODE = 0o700
HOISTED = ".airlock-rm-"  # what a subdirectory is renamed to in the TMPDIR's top level
EMPTY_AS_LIMIT_S = 5.0  # for the session user's child to empty a TMPDIR (it may be stopped)
EMPTY_AS_POLL_S = 0.002


def _session_of(pid: str) -> tuple[int, bool] | None:
    """The session id of process ``pid`` and whether it is a zombie, or None (gone)."""
    try:
        raw = Path(PROC, pid, "stat").read_bytes()
    except OSError:
        return None
    # pid (comm) state ppid pgrp session ...: comm may hold anything but ends at the last ')'
    fields = raw[raw.rfind(b")") + 2 :].split()
    if len(fields) < 4 or not fields[3].isdigit():
        return None
    return int(fields[3]), fields[0] == b"Z"


def session_members(sid: int) -> list[int]:
    """The live (not zombie) processes of session ``sid``."""
    found = []
    for entry in Path(PROC).iterdir():
        if entry.name.isdigit():
            session = _session_of(entry.name)
            if session is not None and session[0] == sid and not session[1]:
                found.append(int(entry.name))
    return found


def end_session(sid: int) -> int:
    """SIGKILL every live process of session ``sid``, again for those started meanwhile,
    until a look finds none not yet killed (a killed process runs no more code and
    forks no more, even while it is still exiting); return how many were still new
    after the last round (0: every process of the session got its SIGKILL)."""
    killed: set[int] = set()
    fresh: list[int] = []
    for _ in range(MAX_KILL_ROUNDS):
        fresh = [pid for pid in session_members(sid) if pid not in killed]
        if not fresh:
            return 0
        for pid in fresh:
            with contextlib.suppress(OSError):  # it went away meanwhile
                os.kill(pid, signal.SIGKILL)
            killed.add(pid)
    return len(fresh)


def _open_own_dir(name: str, dir_fd: int | None) -> int:
    """Open directory ``name`` (never through a symbolic link) for listing, after
    giving it back to its owner (this process) in full."""
    flags = os.O_PATH | os.O_NOFOLLOW | os.O_DIRECTORY | os.O_CLOEXEC
    handle = os.open(name, flags, dir_fd=dir_fd)
    try:
        by_fd = Path(PROC, "self", "fd", str(handle))  # the very inode opened above
        by_fd.chmod(OWN_DIR_MODE)
        return os.open(by_fd, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    finally:
        os.close(handle)


def _free_name(root_fd: int, counter: list[int]) -> str:
    while True:
        counter[0] += 1
        name = f"{HOISTED}{counter[0]}"
        try:
            os.lstat(name, dir_fd=root_fd)
        except FileNotFoundError:
            return name


def _empty(dir_fd: int, root_fd: int, pending: list[str], counter: list[int]) -> None:
    """Unlink every non-directory in ``dir_fd``; move each subdirectory up to the top
    level (``root_fd``) under a fresh name, queued in ``pending``."""
    with os.scandir(dir_fd) as entries:
        names = [(e.name, e.is_dir(follow_symlinks=False)) for e in entries]
    for name, is_dir in names:
        try:
            if not is_dir:
                os.unlink(name, dir_fd=dir_fd)
                continue
            # a directory moved to another parent must be writable by the mover
            os.close(_open_own_dir(name, dir_fd))
            hoisted = _free_name(root_fd, counter)
            os.rename(name, hoisted, src_dir_fd=dir_fd, dst_dir_fd=root_fd)
            pending.append(hoisted)
        except OSError:
            continue


def _empty_tree(root_fd: int) -> None:
    """Empty the directory ``root_fd``, without recursion: every subdirectory moves up
    to it, is emptied in turn and removed."""
    counter = [0]
    pending: list[str] = []
    _empty(root_fd, root_fd, pending, counter)
    while pending:
        name = pending.pop()
        try:
            sub_fd = _open_own_dir(name, root_fd)
        except OSError:
            continue
        try:
            _empty(sub_fd, root_fd, pending, counter)
        finally:
            os.close(sub_fd)
        with contextlib.suppress(OSError):
            os.rmdir(name, dir_fd=root_fd)


def remove_tree(path: str, owner: tuple[int, int] | None = None) -> bool:
    """Remove directory ``path`` and everything in it; True when it is gone. Never
    raises: what cannot be removed stays, and the caller reports it.

    ``owner`` (uid, gid): ``path`` is this process's, sticky and world-writable, and what
    is in it was made by that user, who empties it (`_empty_as`); root may not enter or
    change another user's directories without capabilities it does not have, and does
    nothing as itself in a tree another user made.
    """
    if owner is not None and owner[0] != os.geteuid():
        with contextlib.suppress(OSError):
            Path(path).rmdir()  # most commands leave their TMPDIR empty
        if os.path.lexists(path):
            _empty_as(path, *owner)
            with contextlib.suppress(OSError):
                Path(path).rmdir()
        return not os.path.lexists(path)
    parent, base = os.path.split(path.rstrip("/"))
    try:
        parent_fd = os.open(parent or "/", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return not os.path.lexists(path)
    try:
        root_fd = _open_own_dir(base, parent_fd)
        try:
            _empty_tree(root_fd)
        finally:
            os.close(root_fd)
        os.rmdir(base, dir_fd=parent_fd)
    except OSError:
        pass
    finally:
        os.close(parent_fd)
    return not os.path.lexists(path)


def _empty_as(path: str, uid: int, gid: int, limit: float = EMPTY_AS_LIMIT_S) -> None:
    """Empty directory ``path`` in a forked child that is user ``uid`` (the agent has no
    threads, so the child may run Python); the child's failures only leave files.

    The child closes every descriptor it inherited (the channel to the host among them)
    before it changes user, and a process of that user may stop it: the agent waits
    ``limit`` seconds at most, then kills it (what is left is reported by the caller).
    """
    pid = os.fork()
    if pid == 0:  # pragma: no cover (a forked child; the integration tests observe it)
        code = 1
        try:
            # the agent's signal handling is not the child's: a signal from the user
            # ends the child alone, never wakes the agent's loop (its wake-up fd)
            command_spawn.leave_agent_signals()
            os.closerange(0, command_spawn.max_fds())
            os.setgroups([])
            os.setgid(gid)
            os.setuid(uid)
            flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
            _empty_tree(os.open(path, flags))
            code = 0
        finally:
            os._exit(code)
    deadline = time.monotonic() + limit
    while True:
        try:
            done, _ = os.waitpid(pid, os.WNOHANG)
        except InterruptedError:
            continue
        except ChildProcessError:
            return
        if done:
            return
        if time.monotonic() >= deadline:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
            return
        time.sleep(EMPTY_AS_POLL_S)
