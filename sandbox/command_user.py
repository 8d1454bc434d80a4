"""Whom the exec agent runs commands as: a user other than its own.

The agent holds the exec channel to the host (the container's stdin and stdout). It runs
as root with only the capabilities it needs to start commands as another user and to
signal them (`AGENT_CAPABILITIES`); every command runs as the session's user
(``AIRLOCK_USER``, by default ``1000:1000``) with no capabilities at all. A command then
cannot reach the channel: ``/proc/<agent>/fd`` (and the fds of tini and of the TTL
wrapper, also root) are another user's, the pipes the engine made are root's with mode
0600, and it cannot stop or trace the agent. Same-user separation (a non-dumpable agent)
does not hold under gVisor, whose ``/proc`` ignores dumpability; separate users hold
under both runtimes.

Standard-library-only: it ships inside the agent (`sandbox/agent_bundle.py`).
"""

from __future__ import annotations

import contextlib
import grp
import os
import pwd
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from collections.abc import Iterator

# What the container's root keeps (the engine drops every other capability): setuid and
# setgid to become the session's user in each command, kill to signal the commands'
# process groups. A command loses all three when it changes user (and no-new-privileges
# keeps it from gaining them back).
AGENT_CAPABILITIES = ("SETUID", "SETGID", "KILL")
ENV_NAME = "AIRLOCK_USER"


class CommandUserError(ValueError):
    """``AIRLOCK_USER`` names no user this container knows."""


class CommandUser(NamedTuple):
    """The identity commands get: numeric ids and the home directory of its passwd entry."""

    uid: int
    gid: int
    home: str

    def popen_options(self) -> dict[str, Any]:
        """`subprocess.Popen` keyword arguments that start a child as this user, when
        the agent is someone else (no supplementary groups: root's are not inherited)."""
        if self.uid == os.geteuid() and self.gid == os.getegid():
            return {}
        return {"user": self.uid, "group": self.gid, "extra_groups": []}

    @contextlib.contextmanager
    def owning(self) -> Iterator[None]:
        """What this process makes inside belongs to this user: its effective ids switch
        and come back (root's saved uid allows it, and the capabilities return with the
        effective uid 0). For the pipes of a command, which it may reopen by name
        (``/dev/stdout``); fsuid alone is not enough under gVisor. The agent has one
        thread; nothing else runs meanwhile."""
        if not self.popen_options():
            yield
            return
        uid, gid = os.geteuid(), os.getegid()
        os.setresgid(-1, self.gid, -1)
        try:
            os.setresuid(-1, self.uid, -1)
            try:
                yield
            finally:
                os.setresuid(-1, uid, -1)
        finally:
            os.setresgid(-1, gid, -1)

    def separated(self) -> bool:
        """True when commands run as a user that cannot reach the agent's channel."""
        return self.uid != os.geteuid() and self.uid != 0


def parse(spec: str | None) -> CommandUser:
    """``user[:group]`` (names or numbers, as the engine takes them); the agent's own
    user when unset or empty."""
    if not spec:
        uid = os.geteuid()
        return CommandUser(uid, os.getegid(), _home(uid))
    name, _, group = spec.partition(":")
    uid, default_gid = _uid(name)
    gid = _gid(group) if group else default_gid
    return CommandUser(uid, gid, _home(uid))


def _uid(name: str) -> tuple[int, int]:
    """The uid of ``name`` and its passwd entry's group (a number with no entry: the
    group of the same number, never root's)."""
    try:
        entry = pwd.getpwuid(int(name)) if name.isdigit() else pwd.getpwnam(name)
    except KeyError:
        if name.isdigit():
            return int(name), int(name)
        raise CommandUserError(f"no user {name!r} in this image's /etc/passwd") from None
    return entry.pw_uid, entry.pw_gid


def _gid(group: str) -> int:
    if group.isdigit():
        return int(group)
    try:
        return grp.getgrnam(group).gr_gid
    except KeyError:
        raise CommandUserError(f"no group {group!r} in this image's /etc/group") from None


def _home(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_dir or "/"
    except KeyError:
        return "/"
