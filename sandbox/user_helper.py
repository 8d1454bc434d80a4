"""Starting a command as the session's user without a fork of the agent.

A fork copies the agent's page tables: it made each command cost ~4 ms under runc and
~25 ms under runsc once commands ran as another user (CPython only vforks when the user
stays the same, since glibc cannot change ids in a vfork child safely). So, where the
image has them, the agent ``posix_spawn``s (a vfork) two programs instead:

- util-linux's ``setpriv``, as root with an empty environment (nothing of the command's,
  such as ``LD_PRELOAD``, is ever loaded as root), which changes to the user and execs
- GNU ``env``, now the user, which enters the working directory, sets the command's
  environment and execs the command through its ``PATH``, as ``execvpe`` would.

The agent waits only for ``setpriv``'s exec: a root process, which no process of the
session's user may stop. ``setpriv`` must be root's all the way up (no other user could
have replaced it), and the pair must work here: `probe` runs it once, before any command
exists, and the agent falls back to its own fork (`sandbox/command_spawn.py`) when it
does not (busybox's ``env`` has no ``-C``; a runtime may refuse ``setgroups``).

Standard-library-only and Python 3.8+: it ships inside the agent.
"""

from __future__ import annotations

import contextlib
import errno
import grp
import os
import pwd
import signal
import stat
import time
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from sandbox.command_user import CommandUser

SETPRIV = "/usr/bin/setpriv"
ENV = "/usr/bin/env"
PROBE_SECONDS = 5.0


class UserHelper(NamedTuple):
    """The two programs, found and proven to work for this user."""

    setpriv: str
    env: str
    user: CommandUser

    def accepts(self, argv: Sequence[str], env: Mapping[str, str], executable: str | None) -> bool:
        """Whether ``env`` runs this command as an ``execvpe`` would: no other
        executable than ``argv[0]``, and nothing ``env`` would read as an assignment.
        (One difference, by design: glibc's ``execvp`` runs a file that has no ``#!``
        line with ``/bin/sh``, as a shell would; Python's refuses it. Either way it
        runs as the user.)"""
        return (
            executable is None
            and "=" not in argv[0]
            and all(name and "=" not in name for name in env)
        )

    def arguments(self, argv: Sequence[str], env: Mapping[str, str], cwd: str | None) -> list[str]:
        """``setpriv``'s argument vector for ``argv`` (see `accepts`)."""
        user = self.user
        switch = [self.setpriv, f"--reuid={user.uid}", f"--regid={user.gid}", "--clear-groups"]
        enter = ["-C", cwd] if cwd else []
        assignments = [f"{name}={value}" for name, value in env.items()]
        return [*switch, "--", self.env, "-i", *enter, "--", *assignments, *argv]

    def spawn(
        self,
        argv: Sequence[str],
        env: Mapping[str, str],
        cwd: str | None,
        stdio: tuple[int, int, int],
    ) -> int:
        """Start ``argv`` in a session of its own on ``stdio``; returns its pid once
        ``setpriv`` runs. Raises, as an exec would, for a working directory or a
        command that is missing or out of the user's reach, found looking as the user
        (root's look would tell a command what exists where it may not see). What
        ``env`` finds later it reports on the command's stderr, exiting 125-127."""
        with self.user.owning():
            if cwd and not stat.S_ISDIR(Path(cwd).stat().st_mode):
                raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), cwd)
            _locate(argv[0], env.get("PATH", os.defpath), cwd)
        actions = [(os.POSIX_SPAWN_DUP2, fd, target) for target, fd in enumerate(stdio)]
        return os.posix_spawn(
            self.setpriv,
            self.arguments(argv, env, cwd),
            {},
            file_actions=actions,
            setsid=True,
            setsigmask=(),
            setsigdef=_not_default_signals(),
        )


def probe(user: CommandUser) -> UserHelper | None:
    """The helper for ``user`` when this image has one that is root's and works: one
    real run, waited for at most `PROBE_SECONDS`. Call it before any command exists."""
    if not user.popen_options() or not _root_owned(SETPRIV) or not os.access(ENV, os.X_OK):
        return None
    if _named_like_a_number(user):
        return None
    helper = UserHelper(SETPRIV, ENV, user)
    null = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
    try:
        pid = helper.spawn([ENV], {"PATH": "/usr/bin:/bin"}, "/", (null, null, null))
    except OSError:
        return None
    finally:
        os.close(null)
    return helper if _exit_status(pid, PROBE_SECONDS) == 0 else None


def keep_descriptors_from_commands() -> None:
    """Mark every fd above stdio close-on-exec: `UserHelper.spawn` passes a command
    whatever the agent left inheritable (a fork closes everything instead). Python
    makes its own fds so; this catches any inherited or duplicated one."""
    for entry in Path("/proc/self/fd").iterdir():
        with contextlib.suppress(OSError):  # the listing's own fd, gone by now
            if int(entry.name) > 2:  # above stdin, stdout and stderr
                os.set_inheritable(int(entry.name), False)


def _named_like_a_number(user: CommandUser) -> bool:
    """Whether this image names a user or group by the number of ours: setpriv reads
    ``--reuid=1000`` as a name first, so such an entry would choose the ids."""
    try:
        pwd.getpwnam(str(user.uid))
        return True
    except KeyError:
        pass
    try:
        grp.getgrnam(str(user.gid))
        return True
    except KeyError:
        return False


def _exit_status(pid: int, limit: float) -> int | None:
    """The child's exit code, or None when it did not exit within ``limit`` (then
    killed) or ended on a signal."""
    deadline = time.monotonic() + limit
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.WEXITSTATUS(status) if os.WIFEXITED(status) else None
        if time.monotonic() > deadline:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return None
        time.sleep(0.005)


def _root_owned(path: str) -> bool:
    """Whether ``path`` and every directory above it are root's and writable by no
    one else: nobody but root could have put another program there."""
    current = Path(path).resolve()
    for each in (current, *current.parents):
        try:
            info = each.stat()
        except OSError:
            return False
        if info.st_uid != 0 or info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
            return False
    return True


def _locate(name: str, path: str, cwd: str | None) -> None:
    """Raise FileNotFoundError when an ``execvp`` of ``name`` from ``cwd`` would find
    nothing, PermissionError when all it could find is out of reach (an empty ``PATH``
    entry is the directory itself, as for ``execvp``)."""
    here = Path(cwd or ".")
    if "/" in name:
        candidates = [here / name]
    else:
        candidates = [here / folder / name for folder in path.split(":")]
    denied = False
    for candidate in candidates:
        try:
            mode = candidate.stat().st_mode
            if "/" in name or stat.S_ISREG(mode):
                return
        except PermissionError:
            denied = True
        except OSError:
            continue
    error = errno.EACCES if denied else errno.ENOENT
    raise (PermissionError if denied else FileNotFoundError)(error, os.strerror(error), name)


def _not_default_signals() -> list[int]:
    """The agent's signals not at their default (its handlers; SIGPIPE and SIGXFSZ,
    which Python ignores): the child resets them before ``setpriv`` runs."""
    found: list[int] = []
    for number in signal.valid_signals():
        with contextlib.suppress(OSError, ValueError):
            if signal.getsignal(number) is not signal.SIG_DFL:  # None: a handler not Python's
                found.append(number)
    return found
